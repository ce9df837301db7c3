"""SendGrid v3 Mail Send: one request per batch of up to 1,000 recipients of one segment.

The segment's HTML and text go once per request; each recipient is a
personalization with its own ``to``, substitutions for the per-recipient
values and its own ``List-Unsubscribe`` headers. Building the request body
(``build_payload``, pure, testable against SendGrid's JSON Schema) is kept
apart from moving it (``SendGridProvider._post``: the sendgrid client, retries).

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
people twice). httpx, rather than SendGrid's own client, because it tells
those cases apart and keeps one connection alive across requests.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from digest import __version__
from digest.config.settings import Settings, secret
from digest.delivery.base import (
    BaseProvider,
    Notice,
    Outgoing,
    display_name,
    list_id,
    parse_sender,
    subject_of,
)
from digest.delivery.notices import notice_payload
from digest.delivery.sendgrid_answers import (
    MAX_BODY,
    Answer,
    LooksAccepted,
    NotSendGrid,
    judge,
    sendgrid_shaped,
)
from digest.errors import ConfigError, DeliveryError, DeliveryInDoubt, FatalDeliveryError
from digest.hosts import check_host
from digest.models import Outcome
from digest.rendering.personal import escaped
from digest.rendering.renderer import Rendered
from digest.validate import mail_address

HOSTS = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
SEND_PATH = "/v3/mail/send"
MAX_RECIPIENTS = 1000  # personalizations and total recipients per request (documented limit)


class EncodedContent:
    """The last segment's content as JSON text, for that segment's next batches.

    A segment of 5,000 recipients is five requests with the same HTML and text:
    escaped once, not five times. Kept as one tuple, replaced whole, so a
    second thread (``_split`` on the delivery thread) never reads half of it.
    """

    def __init__(self) -> None:
        self.last: tuple[Rendered, bool, str] | None = None

    def content(self, batch: Outgoing, split: bool) -> str:
        last = self.last
        if last is not None and last[0] is batch.content and last[1] == split:
            return last[2]
        encoded = _content(batch, split)
        self.last = (batch.content, split, encoded)
        return encoded


def _content(batch: Outgoing, split: bool) -> str:
    """The ``content`` array: text/plain first, as SendGrid requires, then text/html.

    Unless ``split``, the text part carries the HTML placeholders' names, so
    one set of substitutions serves both parts."""
    text = batch.content.text
    if not split:
        text = batch.renderer.personal.text_with_html_placeholders(text)
    return (
        f'[{{"type":"text/plain","value":{_json(text)}}},'
        f'{{"type":"text/html","value":{_json(batch.content.html)}}}]'
    )


def build_payload(
    batch: Outgoing, settings: Settings, encoded: EncodedContent | None = None
) -> bytes:
    """The Mail Send body for one batch: content once, one personalization per recipient.

    Written as JSON text directly rather than built as dicts for ``json.dumps``:
    at a thousand personalizations a request this is a sixth of the time, and it
    is the largest part of a send's own work. ``json.encoder.encode_basestring``
    escapes every string exactly as ``json.dumps(..., ensure_ascii=False)`` does;
    the tests load each body and check it against SendGrid's JSON Schema.
    """
    if len(batch.recipients) > MAX_RECIPIENTS:
        raise ValueError(f"a SendGrid request carries at most {MAX_RECIPIENTS} recipients")
    personal = batch.renderer.personal
    keys = [_json(p) for p in personal.placeholders.values()]
    rows = []
    split = False
    for recipient in batch.recipients:
        values = personal.values(recipient.name, recipient.token, recipient.first_name)
        in_html = escaped(values)
        html = [f"{key}:{_json(v)}" for key, v in zip(keys, in_html, strict=True)]
        rows.append((recipient, values, html))
        # Substitutions apply to both parts alike, but HTML needs escaped values and
        # text does not. Only when some value in the batch changes once escaped does
        # the text part keep placeholders of its own (half the bytes a recipient, else).
        split = split or in_html != values
    text_keys = [_json(p) for p in personal.text_placeholders.values()]
    # SendGrid wants every custom_args value as a string (a number is a 400).
    edition_arg = f'"edition_id":{_json(str(batch.edition.id))}'
    one_click = ',"List-Unsubscribe-Post":"List-Unsubscribe=One-Click"'
    parts = []
    for recipient, values, subs in rows:
        name = display_name(recipient.name)
        to = _json(mail_address(recipient.email)) + (f',"name":{_json(name)}' if name else "")
        if split:
            subs += [f"{k}:{_json(v)}" for k, v in zip(text_keys, values, strict=True)]
        unsubscribe = _json(f"<{values.unsubscribe_url}>")
        parts.append(
            f'{{"to":[{{"email":{to}}}],"substitutions":{{{",".join(subs)}}},'
            f'"headers":{{"List-Unsubscribe":{unsubscribe}{one_click}}},'
            f'"custom_args":{{{edition_arg},"subscriber_id":"{recipient.subscriber_id}"}}}}'
        )
    sender = {"email": batch.sender.addr_spec}
    if batch.sender.display_name:
        sender["name"] = batch.sender.display_name
    content = encoded.content(batch, split) if encoded is not None else _content(batch, split)
    payload: dict = {
        "headers": {"List-Id": list_id(batch)},
        "categories": list(
            dict.fromkeys([*settings.sendgrid.categories, batch.edition.date.isoformat()])
        )[:10],
    }
    if settings.sendgrid.asm_group_id is not None:
        payload["asm"] = {"group_id": settings.sendgrid.asm_group_id}
    if settings.sendgrid.sandbox_mode:
        payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
    head = json.dumps({"from": sender, "subject": subject_of(batch)}, ensure_ascii=False)
    rest = json.dumps(payload, ensure_ascii=False)
    body = f'{head[:-1]},"content":{content},{rest[1:-1]},"personalizations":[{",".join(parts)}]}}'
    return body.encode("utf-8")


_json = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as it is


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
        self.client = httpx.Client(
            base_url=self.host,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "User-Agent": f"digest/{__version__}",
            },
            timeout=httpx.Timeout(self.options.timeout),
            # Short, so an idle connection the server may have closed is not reused
            # for a request whose loss would put a batch in doubt.
            limits=httpx.Limits(max_keepalive_connections=1, keepalive_expiry=5.0),
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


def api_key() -> str:
    """``SENDGRID_API_KEY``, trimmed; refused (without echoing it) if it cannot be a key."""
    key = (secret("SENDGRID_API_KEY") or "").strip()
    if not key:
        raise ConfigError("the sendgrid provider needs SENDGRID_API_KEY in the environment")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise ConfigError(
            "SENDGRID_API_KEY contains spaces, control or non-ASCII characters; "
            "copy the key again (it is not shown here)"
        )
    return key


def api_host(settings: Settings) -> str:
    """``SENDGRID_API_HOST`` (an http(s) base URL) or the data-residency default."""
    host = secret("SENDGRID_API_HOST")
    if host is None:
        return HOSTS[settings.sendgrid.data_residency]
    try:
        parts = urlsplit(host.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        ok = ok and bool(check_host(parts.hostname)) and host.isascii()
    except ValueError:  # a bad port, an unclosed [IPv6 bracket, a host that is no name
        ok = False
    if not ok or parts.query or parts.fragment:
        raise ConfigError(
            "SENDGRID_API_HOST: expected an http(s) base URL such as "
            f"https://api.sendgrid.com, got {host.strip()[:100]!r}"
        )
    return host.strip()


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
