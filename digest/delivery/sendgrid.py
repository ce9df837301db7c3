"""SendGrid v3 Mail Send: one request per batch of up to 1,000 recipients of one segment.

The segment's HTML and text go once per request; each recipient is a
personalization with its own ``to``, substitutions for the per-recipient
values and its own ``List-Unsubscribe`` headers. Building the request body
(``sendgrid_body.build_payload``, pure, testable against SendGrid's JSON
Schema) is kept apart from moving it (``SendGridProvider._post``: the
connection, retries).

Responses: 202 (200 under ``sandbox_mode``) in SendGrid's shape → all sent,
with ``X-Message-Id``; anything else that is not SendGrid's own error stops
the send (``sendgrid_answers``: what counts as SendGrid's acceptance, and why
an answer from someone else is not in doubt); 429 → wait for
``X-RateLimit-Reset`` (bounded) or back off, then retry; 5xx and failures to
connect → back off and retry up to a limit, then the batch fails; 413 → the
batch is halved and each half sent again (``_split``); 400 → the
batch fails at once with SendGrid's own message; 401/403 → the whole send stops
("SendGrid rejected the API key"): every further request would fail the same way.

What is retried is only what provably did not reach SendGrid: a refused or
timed-out connection, a body that could not be written in full, or an answer
of 429/5xx. A request that was sent whole and whose answer never came (a read
timeout, a connection dropped while waiting) may have been accepted: the
batch is *in doubt* and is not retried (a retry is how one run used to mail
people twice). A plain socket kept alive across requests (``sendgrid_wire``),
or httpx through a proxy, rather than SendGrid's own client, because they tell
those cases apart.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable

import httpx

from digest import __version__
from digest.config.settings import Settings
from digest.delivery.base import BaseProvider, Notice, Outgoing, parse_sender
from digest.delivery.notices import notice_payload
from digest.delivery.sendgrid_answers import (
    MAX_BODY,
    Answer,
    LooksAccepted,
    NotSendGrid,
    judge,
    sendgrid_shaped,
)
from digest.delivery.sendgrid_body import MAX_RECIPIENTS, EncodedContent, build_payload
from digest.delivery.sendgrid_wire import KEEPALIVE, Wire, api_host, api_key, direct
from digest.errors import DeliveryError, DeliveryInDoubt, FatalDeliveryError
from digest.models import Outcome

SEND_PATH = "/v3/mail/send"


class PayloadTooLarge(DeliveryError):
    """One recipient's request alone was refused as too large: the content is."""

    outcomes: list[Outcome] = []  # noqa: RUF012  (what was delivered before; set per instance)


class SendGridProvider(BaseProvider):
    name = "sendgrid"
    mails_people = True
    max_batch = MAX_RECIPIENTS

    def __init__(
        self,
        api_key: str,
        settings: Settings,
        host: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.options = settings.sendgrid
        self.host = host.rstrip("/")
        self.sleep = sleep
        self.refused_size = float("inf")  # the smallest request refused as too large (413)
        self.encoded = EncodedContent()  # prepare's: the main thread's alone
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "User-Agent": f"digest/{__version__}",
        }
        # Straight to the host, one lean request a batch (``sendgrid_wire``); through
        # a proxy, httpx as before.
        self.wire = Wire(self.host, headers, self.options.timeout) if direct(self.host) else None
        self.client = None
        if self.wire is None:
            self.client = httpx.Client(
                base_url=self.host,
                headers=headers,
                timeout=httpx.Timeout(self.options.timeout),
                # Short, so an idle connection the server may have closed is not reused
                # for a request whose loss would put a batch in doubt.
                limits=httpx.Limits(max_keepalive_connections=1, keepalive_expiry=KEEPALIVE),
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridProvider:
        return cls(api_key(), settings, api_host(settings))

    def prepare(self, batch: Outgoing) -> tuple[bytes, Outgoing]:
        return build_payload(batch, self.settings, self.encoded), batch

    def deliver(self, prepared: tuple[bytes, Outgoing]) -> list[Outcome]:
        body, batch = prepared
        try:
            return self._deliver(batch, body)
        except PayloadTooLarge as err:
            # One recipient alone was too large: the content is, for everyone left.
            done = {o.subscriber_id for o in err.outcomes}
            rest = [r.subscriber_id for r in batch.recipients if r.subscriber_id not in done]
            return err.outcomes + [Outcome(s, "failed", error=str(err)) for s in rest]

    def _deliver(self, batch: Outgoing, body: bytes) -> list[Outcome]:
        ids = [r.subscriber_id for r in batch.recipients]
        # A request at least as large as one already refused as too large is not sent.
        answer = self._post(body) if len(body) < self.refused_size else None
        if answer is None or answer.status == 413:
            self.refused_size = min(self.refused_size, len(body))
            return self._split(batch, len(body))
        status = answer.status
        if status in (401, 403) and sendgrid_shaped(answer):
            raise FatalDeliveryError(
                f"SendGrid rejected the API key ({status}): check SENDGRID_API_KEY "
                "and its Mail Send permission",
                status=status,
            )
        try:
            accepted = judge(answer, self.options.sandbox_mode, self.host)
        except NotSendGrid as err:
            # Nobody at SendGrid saw it: the batch goes back to pending, the send stops.
            raise FatalDeliveryError(str(err), retry=True, status=status) from None
        except LooksAccepted as err:
            stop = FatalDeliveryError(str(err), status=status)
            stop.outcomes = [Outcome(s, "in_doubt", answer.message_id, error=str(err)) for s in ids]
            raise stop from None
        if not accepted:
            raise DeliveryError(
                f"SendGrid refused the batch ({status}){_first_error(answer)}", status=status
            )
        return [Outcome(s, "sent", answer.message_id) for s in ids]

    def _split(self, batch: Outgoing, size: int) -> list[Outcome]:
        """A request refused as too large (413), sent again as two halves, each halved
        again if it is refused too: failing it whole, as before, only invited a retry
        that could only fail the same way. A half that fails otherwise fails alone;
        one recipient still too large ends it (``PayloadTooLarge``)."""
        recipients = batch.recipients
        if len(recipients) == 1:
            raise PayloadTooLarge(
                f"SendGrid refuses the edition as too large (413) even for one recipient "
                f"(a request of {size:,} bytes); fewer or shorter articles would fit",
                status=413,
            )
        outcomes: list[Outcome] = []
        half = len(recipients) // 2
        for part in (recipients[:half], recipients[half:]):
            if self.stopping.is_set():  # nothing of this half was sent: it stays pending
                outcomes += [Outcome(r.subscriber_id, "unsent") for r in part]
                continue
            piece = dataclasses.replace(batch, recipients=part)
            try:
                outcomes += self._deliver(piece, build_payload(piece, self.settings))
            except (FatalDeliveryError, PayloadTooLarge) as err:
                err.outcomes = outcomes + list(err.outcomes)  # what went before it counts
                raise
            except DeliveryError as err:
                status = "in_doubt" if isinstance(err, DeliveryInDoubt) else "failed"
                outcomes += [
                    Outcome(r.subscriber_id, status, error=str(err), retry=err.retry) for r in part
                ]
        return outcomes

    def send_notice(self, notice: Notice) -> Outcome:
        """One request for one notice, retried as a batch is (429, 5xx, not sent);
        anything but SendGrid's acceptance is ``failed`` with its words."""
        options = self.options
        body = notice_payload(
            notice, parse_sender(notice.sender), options.categories, options.sandbox_mode
        )
        try:
            answer = self._post(body)
            if judge(answer, options.sandbox_mode, self.host):
                return Outcome(0, "sent", answer.message_id)
            problem = f"SendGrid refused it ({answer.status}){_first_error(answer)}"
        except (DeliveryError, NotSendGrid, LooksAccepted) as err:
            problem = str(err)
        return Outcome(0, "failed", error=problem)

    def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
        if self.client is not None:
            self.client.close()

    def _post(self, body: bytes) -> Answer:
        """The answer to ``body``, after the retries that are safe (429, 5xx, not sent)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self._exchange(body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                # Never connected: nothing reached SendGrid.
                problem = f"cannot reach SendGrid at {self.host}: {_reason(err)}"
                wait = self._wait(attempt, None)
            except (httpx.WriteError, httpx.WriteTimeout) as err:
                # The body was not written in full: SendGrid cannot have accepted it.
                problem = f"the request to SendGrid at {self.host} broke off: {_reason(err)}"
                wait = self._wait(attempt, None)
            except httpx.ReadTimeout:
                raise DeliveryInDoubt(
                    f"SendGrid did not answer within {self.options.timeout:g} s after the "
                    "request was sent; it may have accepted it"
                ) from None
            except httpx.TransportError as err:
                raise DeliveryInDoubt(
                    f"the connection to SendGrid broke after the request was sent "
                    f"({_reason(err)}); it may have accepted it"
                ) from None
            else:
                status = answer.status
                if status != 429 and status < 500:
                    return answer
                problem = f"SendGrid answered {status}{_first_error(answer)}"
                wait = self._wait(attempt, answer.reset if status == 429 else None)
            if attempt > self.options.max_retries:
                raise DeliveryError(f"{problem} (gave up after {attempt} attempts)")
            if self._pause(wait):  # nothing of this batch reached SendGrid: safe to stop
                raise DeliveryError(f"{problem} (stopped before trying again)")

    def _exchange(self, body: bytes) -> Answer:
        """One request; at most ``MAX_BODY`` of the answer is read, whoever sends it."""
        if self.wire is not None:
            return self.wire.post(SEND_PATH, body)
        assert self.client is not None
        with self.client.stream("POST", SEND_PATH, content=body) as response:
            read = bytearray()
            for chunk in response.iter_bytes():
                read += chunk
                if len(read) >= MAX_BODY:
                    break
            headers = response.headers
            return Answer(
                response.status_code,
                headers.get("Content-Type", ""),
                bytes(read[:MAX_BODY]),
                message_id=headers.get("X-Message-Id"),
                location=headers.get("Location"),
                reset=headers.get("X-RateLimit-Reset"),
            )

    def _pause(self, seconds: float) -> bool:
        """Wait before a retry, or less if the send is asked to stop; True if it was."""
        if self.sleep is time.sleep:
            return self.stopping.wait(seconds)
        self.sleep(seconds)  # a test's clock
        return self.stopping.is_set()

    def _wait(self, attempt: int, reset: str | None) -> float:
        """Seconds before the next try: the rate-limit reset if given, else back-off."""
        cap = self.options.max_wait
        if reset and str(reset).isdigit():
            return min(max(int(reset) - time.time(), 0.0) + random.uniform(0, 0.25), cap)
        return min(0.5 * 2 ** (attempt - 1), cap) * random.uniform(0.5, 1.0)


def _reason(err: Exception) -> str:
    return str(err) or type(err).__name__


def _first_error(answer: Answer) -> str:
    """SendGrid's own words for a refusal: ': field: message' (first of its errors)."""
    try:
        errors = json.loads(answer.body).get("errors") or []
    except (ValueError, AttributeError, RecursionError):
        return ""
    if not errors or not isinstance(errors, list) or not isinstance(errors[0], dict):
        return ""
    first = errors[0]
    field = f"{first['field']}: " if first.get("field") else ""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f": {field}{first.get('message', '')}{more}"


PROVIDER = SendGridProvider
