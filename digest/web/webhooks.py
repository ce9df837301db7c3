"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook, on the web side.

The route only moves bytes: it reads the body (at most ``events.MAX_BODY``,
within ``BODY_DEADLINE``), and hands it with the two signature headers to
``receive``, a plain function run on a worker thread (checking, parsing and
the database all block). What each answer means to SendGrid, which retries
anything but a 2xx for up to a day:

* 200 — applied (or seen before): JSON counts of what changed.
* 400 — not a batch of SendGrid events; 413 — larger than any SendGrid posts;
  403 — not signed by the configured key, or signed too long ago.
  Nothing is applied for any of these.
* 503 — no ``SENDGRID_WEBHOOK_PUBLIC_KEY``: events are refused, never taken
  unsigned (anyone could suppress any address), unless the operator sets
  ``DIGEST_WEBHOOK_INSECURE=1`` (a test setup). SendGrid keeps retrying, so
  events sent while the key was missing arrive once it is set (within a day).
* 500 — the database failed: rolled back, and SendGrid's retry applies it.

Log lines name counts and reasons, never an address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from digest.models import Applied
from digest.web import events

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from digest.store.store import Store

PATH = "/webhooks/sendgrid"
BODY_DEADLINE = 60.0  # seconds for the whole body: a trickling client is cut off
log = logging.getLogger("digest.webhooks")


class Answer(Exception):
    """An answer other than 200, with the reason SendGrid (and the log) are given."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def routes(web) -> list[Route]:
    """The route, for ``digest.web.app``'s ``ROUTE_MODULES``: ``web.store`` is the store.

    The key is read once, here: a key that cannot be one stops ``digest serve``
    at start-up (``ConfigError``), rather than refusing every event later.
    """
    return [sendgrid_route(web.store)]


def sendgrid_route(
    store: Store,
    key: EllipticCurvePublicKey | None = None,
    insecure: bool | None = None,
    epoch_seconds: Callable[[], float] = time.time,  # now, to judge a signature's age
) -> Route:
    """``POST /webhooks/sendgrid`` for ``store``; ``key`` and ``insecure`` default to
    the environment (``SENDGRID_WEBHOOK_PUBLIC_KEY``, ``DIGEST_WEBHOOK_INSECURE``)."""
    if key is None:
        key = events.configured_key()
    if insecure is None:
        insecure = events.insecure_allowed()
    if key is None and insecure:
        log.warning(
            "%s: %s=1 and no %s: unsigned events are accepted; anyone who can reach this "
            "server can suppress any address",
            PATH,
            events.INSECURE_VARIABLE,
            events.KEY_VARIABLE,
        )

    async def sendgrid(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        try:
            if key is None and not insecure:
                raise Answer(
                    503,
                    f"not configured: set {events.KEY_VARIABLE} (see docs/web.md, Event Webhook)",
                )
            signature = request.headers.get(events.SIGNATURE_HEADER)
            timestamp = request.headers.get(events.TIMESTAMP_HEADER)
            if key is not None and not (signature and timestamp):
                raise Answer(403, "unsigned request")  # no need to read what it sends
            body = await _read(request)
            applied = await run_in_threadpool(
                receive, store, key, body, signature, timestamp, epoch_seconds()
            )
        except Answer as answer:
            level = logging.ERROR if answer.status >= 500 else logging.WARNING
            log.log(level, "%s from %s: %s %s", PATH, client, answer.status, answer.reason)
            return JSONResponse({"error": answer.reason}, status_code=answer.status)
        log.info(
            "%s from %s: %d events: %d applied, %d seen before, %d ignored; "
            "%d suppressed, %d unsubscribed",
            PATH,
            client,
            applied.received,
            applied.applied,
            applied.duplicates,
            applied.ignored,
            applied.suppressed,
            applied.unsubscribed,
        )
        return JSONResponse(
            {
                "received": applied.received,
                "applied": applied.applied,
                "duplicates": applied.duplicates,
                "ignored": applied.ignored,
                "suppressed": applied.suppressed,
                "unsubscribed": applied.unsubscribed,
            }
        )

    return Route(PATH, sendgrid, methods=["POST"])


def receive(
    store: Store,
    key: EllipticCurvePublicKey | None,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
) -> Applied:
    """Check, read and apply one request's body; ``Answer`` when it is refused.

    Without ``key`` (``DIGEST_WEBHOOK_INSECURE=1``) nothing is checked.
    """
    if key is not None:
        try:
            events.verify(key, body, signature, timestamp, now)
        except events.Refused as err:
            raise Answer(403, str(err)) from None
    received = datetime.fromtimestamp(now, UTC)
    try:
        found, ignored = events.parse(body, received)
    except events.BadBody as err:
        raise Answer(400, str(err)) from None
    try:
        applied = store.apply_events(found, received)
    except sa.exc.SQLAlchemyError as err:
        raise Answer(500, f"database error: {store.describe(err)}") from None
    return Applied(
        received=applied.received + ignored,
        applied=applied.applied,
        duplicates=applied.duplicates,
        ignored=ignored,
        suppressed=applied.suppressed,
        unsubscribed=applied.unsubscribed,
    )


async def _read(request: Request) -> bytes:
    """The body, at most ``MAX_BODY`` bytes, all of it within ``BODY_DEADLINE``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > events.MAX_BODY:
        raise Answer(413, f"larger than {events.MAX_BODY} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_DEADLINE):
            async for chunk in request.stream():
                size += len(chunk)
                if size > events.MAX_BODY:
                    raise Answer(413, f"larger than {events.MAX_BODY} bytes")
                parts.append(chunk)
    except TimeoutError:
        raise Answer(408, f"the body did not arrive within {BODY_DEADLINE:g} s") from None
    except ClientDisconnect:
        raise Answer(400, "the client left before the body was sent") from None
    return b"".join(parts)
