"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook, on the web side.

The route refuses what it can from the headers alone (no signature, a stale
timestamp, a signature that is not one, a declared length over
``events.MAX_BODY``) before reading a byte of the body. Then it reads the
body (within ``BODY_DEADLINE``) into a spool that keeps ``IN_MEMORY`` bytes in
memory and the rest on disk, hashing it as it comes, and checks the signature
against that hash; only a body SendGrid signed is read back, parsed and
applied by ``receive`` on a worker thread (parsing and the database block).
At most ``MAX_BODIES`` bodies are read at once. So junk posts cost the
server a bounded amount of memory, whatever their number and size (30 junk
posts of 16 MB at once: a peak of 92 MB from 84 MB; before, 843-889 MB, and
689-804 MB stayed: benchmarks/webhook_memory_benchmark.py).
What each answer means to SendGrid, which retries anything but a 2xx for up
to a day:

* 200 — applied (or seen before): JSON counts of what changed.
* 400 — not a batch of SendGrid events; 413 — larger than any SendGrid posts;
  403 — not signed by the configured key, or signed too long ago.
  Nothing is applied for any of these.
* 503 with Retry-After — ``MAX_BODIES`` requests are being read already, the
  spool's disk is full, or the server stopped while the body was arriving:
  SendGrid retries later.
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
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

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
# Bodies read at once: SendGrid posts a batch every 30 s or so, so more than a
# few at a time is someone else; beyond it, 503 and Retry-After (SendGrid retries).
MAX_BODIES = 4
RETRY_AFTER = 30  # seconds, in a 503's Retry-After
# Bytes of a body kept in memory; the rest goes to a temporary file, so that
# MAX_BODIES bodies of MAX_BODY cost disk, not memory, until one is verified.
IN_MEMORY = 1024 * 1024
log = logging.getLogger("digest.webhooks")


class Answer(Exception):
    """An answer other than 200, with the reason SendGrid (and the log) are given."""

    def __init__(self, status: int, reason: str, retry_after: int = 0) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


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

    reading = 0  # bodies being read now, against MAX_BODIES

    async def sendgrid(request: Request) -> JSONResponse:
        nonlocal reading
        client = request.client.host if request.client else "?"
        try:
            if key is None and not insecure:
                raise Answer(
                    503,
                    f"not configured: set {events.KEY_VARIABLE} (see docs/web.md, Event Webhook)",
                )
            # Everything that can be refused without the body is refused before it.
            signature = request.headers.get(events.SIGNATURE_HEADER)
            timestamp = request.headers.get(events.TIMESTAMP_HEADER)
            now = epoch_seconds()
            decoded = b""
            if key is not None:
                try:
                    decoded = events.check_headers(signature, timestamp, now)
                except events.Refused as err:
                    raise Answer(403, str(err)) from None
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > events.MAX_BODY:
                raise Answer(413, f"larger than {events.MAX_BODY} bytes")
            if reading >= MAX_BODIES:
                raise Answer(503, f"busy: {reading} requests being read; retry", RETRY_AFTER)
            reading += 1
            try:
                with tempfile.SpooledTemporaryFile(max_size=IN_MEMORY) as spool:
                    digest = await _read(request, spool, timestamp if key is not None else "")
                    if key is not None:
                        try:
                            events.check_digest(key, decoded, digest)
                        except events.Refused as err:
                            raise Answer(403, str(err)) from None
                    applied = await run_in_threadpool(receive, store, spool, now)
            finally:
                reading -= 1
        except Answer as answer:
            level = logging.ERROR if answer.status >= 500 else logging.WARNING
            log.log(level, "%s from %s: %s %s", PATH, client, answer.status, answer.reason)
            headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after else None
            return JSONResponse({"error": answer.reason}, answer.status, headers)
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


def receive(store: Store, spool: IO[bytes], now: float) -> Applied:
    """Read and apply a body already checked; ``Answer`` when it is refused."""
    spool.seek(0)
    body = spool.read()
    received = datetime.fromtimestamp(now, UTC)
    try:
        found, ignored = events.parse(body, received)
    except events.BadBody as err:
        raise Answer(400, str(err)) from None
    del body
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


async def _read(request: Request, spool: IO[bytes], timestamp: str) -> bytes:
    """Copy the body into ``spool`` (at most ``MAX_BODY`` bytes, all of it within
    ``BODY_DEADLINE``), hashing it as it comes: the SHA-256 of ``timestamp`` + body."""
    signed = events.signed_hash(timestamp)
    size = 0
    try:
        async with asyncio.timeout(BODY_DEADLINE):
            async for chunk in request.stream():
                size += len(chunk)
                if size > events.MAX_BODY:
                    raise Answer(413, f"larger than {events.MAX_BODY} bytes")
                signed.update(chunk)
                spool.write(chunk)
    except TimeoutError:
        raise Answer(408, f"the body did not arrive within {BODY_DEADLINE:g} s") from None
    except ClientDisconnect:
        raise Answer(400, "the client left before the body was sent") from None
    except asyncio.CancelledError:
        # ``digest serve`` is stopping and its grace period is up: nothing was
        # applied, and SendGrid's retry reaches the next server (no traceback).
        raise Answer(503, "the server is stopping; retry", RETRY_AFTER) from None
    except OSError as err:  # the spool's disk is full
        raise Answer(503, f"cannot hold the body: {err.strerror or err}", RETRY_AFTER) from None
    return signed.digest()
