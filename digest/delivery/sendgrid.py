"""SendGrid v3 Mail Send: one request per batch of up to 1,000 recipients of one segment.

The segment's HTML and text go once per request; each recipient is a
personalization with its own ``to``, substitutions for the per-recipient
values and its own ``List-Unsubscribe`` headers. Building the request body
(``build_payload``, pure, testable against SendGrid's JSON Schema) is kept
apart from moving it (``SendGridProvider._post``: the sendgrid client, retries).

Responses: 202 → all sent, with ``X-Message-Id``; 429 → wait for
``X-RateLimit-Reset`` (bounded) or back off, then retry; 5xx, timeouts and
connection errors → back off and retry up to a limit, then the batch fails;
400 → the batch fails at once with SendGrid's own message; 401/403 → the whole
send stops ("SendGrid rejected the API key"): every further request would
fail the same way.
"""

from __future__ import annotations

import json
import random
import re
import time
import urllib.error
from collections.abc import Callable

import python_http_client.exceptions as http_errors
import sendgrid

from digest.config import Settings, secret
from digest.delivery.base import (
    BaseProvider,
    Outgoing,
    display_name,
    list_unsubscribe_headers,
    subject_of,
)
from digest.errors import ConfigError, DeliveryError, FatalDeliveryError
from digest.ledger import Outcome
from digest.render import escape_attr, escape_text, greeting_for

HOSTS = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
MAX_RECIPIENTS = 1000  # personalizations and total recipients per request (documented limit)
NEEDS_ESCAPE = re.compile(r'[&<>"]')


def build_payload(batch: Outgoing, settings: Settings) -> dict:
    """The Mail Send body for one batch: content once, one personalization per recipient."""
    if len(batch.recipients) > MAX_RECIPIENTS:
        raise ValueError(f"a SendGrid request carries at most {MAX_RECIPIENTS} recipients")
    greeting, unsubscribe = (
        batch.renderer.placeholders[k] for k in ("greeting", "unsubscribe_url")
    )
    values = [(greeting_for(r.name), r.unsubscribe_url) for r in batch.recipients]
    text = batch.content.text
    # Substitutions apply to both parts alike, but HTML needs escaped values and
    # text does not. Only when some value in the batch differs once escaped does
    # the text part get placeholders of its own.
    split = any(NEEDS_ESCAPE.search(hello + url) for hello, url in values)
    if split:
        text_greeting, text_unsubscribe = (
            batch.renderer.text_placeholders[k] for k in ("greeting", "unsubscribe_url")
        )
        text = batch.renderer.with_text_placeholders(text)
    edition_id = str(batch.edition.id)
    personalizations = []
    for recipient, (hello, url) in zip(batch.recipients, values, strict=True):
        to = {"email": recipient.email}
        name = display_name(recipient.name)
        if name:
            to["name"] = name
        substitutions = {greeting: escape_text(hello), unsubscribe: escape_attr(url)}
        if split:
            substitutions[text_greeting] = hello
            substitutions[text_unsubscribe] = url
        personalizations.append(
            {
                "to": [to],
                "substitutions": substitutions,
                "headers": list_unsubscribe_headers(url),
                # SendGrid wants every custom_args value as a string (a number is a 400).
                "custom_args": {
                    "edition_id": edition_id,
                    "subscriber_id": str(recipient.subscriber_id),
                },
            }
        )
    sender = {"email": batch.sender.addr_spec}
    if batch.sender.display_name:
        sender["name"] = batch.sender.display_name
    payload: dict = {
        "from": sender,
        "subject": subject_of(batch),
        "content": [  # text/plain must come before text/html
            {"type": "text/plain", "value": text},
            {"type": "text/html", "value": batch.content.html},
        ],
        "personalizations": personalizations,
        "categories": list(
            dict.fromkeys([*settings.sendgrid.categories, batch.edition.date.isoformat()])
        )[:10],
    }
    if settings.sendgrid.asm_group_id is not None:
        payload["asm"] = {"group_id": settings.sendgrid.asm_group_id}
    if settings.sendgrid.sandbox_mode:
        payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return payload


class SendGridProvider(BaseProvider):
    name = "sendgrid"
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
        self.client = sendgrid.SendGridAPIClient(api_key=api_key, host=self.host)
        self.sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridProvider:
        key = secret("SENDGRID_API_KEY")
        if key is None:
            raise ConfigError("the sendgrid provider needs SENDGRID_API_KEY in the environment")
        host = secret("SENDGRID_API_HOST") or HOSTS[settings.sendgrid.data_residency]
        return cls(key, settings, host)

    def prepare(self, batch: Outgoing) -> tuple[dict, list[int]]:
        return build_payload(batch, self.settings), [r.subscriber_id for r in batch.recipients]

    def deliver(self, prepared: tuple[dict, list[int]]) -> list[Outcome]:
        payload, subscriber_ids = prepared
        response = self._post(payload)
        message_id = response.headers.get("X-Message-Id")
        return [Outcome(s, "sent", message_id) for s in subscriber_ids]

    def _post(self, payload: dict):
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.client.client.mail.send.post(
                    request_body=payload, timeout=self.options.timeout
                )
            except http_errors.HTTPError as err:
                status = err.status_code
                if status in (401, 403):
                    raise FatalDeliveryError(
                        f"SendGrid rejected the API key ({status}): check SENDGRID_API_KEY "
                        "and its Mail Send permission",
                        status=status,
                    ) from None
                if status == 429 or status >= 500:
                    problem = f"SendGrid answered {status}{_first_error(err)}"
                    wait = self._wait(attempt, err.headers if status == 429 else None)
                else:
                    raise DeliveryError(
                        f"SendGrid refused the batch ({status}){_first_error(err)}", status=status
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                problem = f"cannot reach SendGrid at {self.host}: {getattr(err, 'reason', err)}"
                wait = self._wait(attempt, None)
            if attempt > self.options.max_retries:
                raise DeliveryError(f"{problem} (gave up after {attempt} attempts)")
            self.sleep(wait)

    def _wait(self, attempt: int, headers) -> float:
        """Seconds before the next try: the rate-limit reset if given, else back-off."""
        cap = self.options.max_wait
        reset = headers.get("X-RateLimit-Reset") if headers is not None else None
        if reset and str(reset).isdigit():
            return min(max(int(reset) - time.time(), 0.0) + random.uniform(0, 0.25), cap)
        return min(0.5 * 2 ** (attempt - 1), cap) * random.uniform(0.5, 1.0)


def _first_error(err: http_errors.HTTPError) -> str:
    """SendGrid's own words for a refusal: ': field: message' (first of its errors)."""
    try:
        errors = json.loads(err.body or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return ""
    if not errors:
        return ""
    first = errors[0]
    field = f"{first['field']}: " if first.get("field") else ""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f": {field}{first.get('message', '')}{more}"
