"""The body of a SendGrid Mail Send request: a segment's content once, a
personalization per recipient (up to 1,000).

Written as JSON text directly rather than built as dicts for ``json.dumps``:
at a thousand personalizations a request that is a sixth of the time, and a
send builds a million of them, on the loop that bounds it. ``_json``
(``json.encoder.encode_basestring``) escapes every string exactly as
``json.dumps(..., ensure_ascii=False)`` does; the tests load each body and check
it against SendGrid's JSON Schema, and that each recipient's copy reads exactly
like a render of their own.
"""

from __future__ import annotations

import json
import re

from digest.config.settings import Settings
from digest.delivery.base import Outgoing, display_name, list_id, subject_of
from digest.rendering.personal import escape_attr, escape_text, escaped
from digest.rendering.renderer import Rendered
from digest.validate import mail_address

MAX_RECIPIENTS = 1000  # personalizations and total recipients per request (documented limit)

_json = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as it is

# A token as ``Links.token`` makes it ("3.<id>.<base64url MAC>"): nothing in it is
# escaped in HTML or in JSON, so a link is its page's address, escaped once a
# request, and the token as it is. Any other token takes the long way.
_PLAIN_TOKEN = re.compile(r"[0-9A-Za-z._-]+\Z").match


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


class _Values:
    """Each recipient's substitutions as JSON text: for the HTML placeholders
    (values escaped as lxml would), for the text part's (values as they are,
    asked only when the batch needs them), and their ``List-Unsubscribe`` header."""

    def __init__(self, batch: Outgoing) -> None:
        personal = batch.renderer.personal
        self.personal = personal
        self.keys = [_json(p) for p in personal.placeholders.values()]
        self.text_keys = [_json(p) for p in personal.text_placeholders.values()]
        g, u, p = self.keys
        gt, ut, pt = self.text_keys
        unsubscribe, preferences = personal.pages.unsubscribe(""), personal.pages.preferences("")
        # Each link's JSON text but its closing quote: the token follows.
        self.html_links = (
            f"{u}:{_json(escape_attr(unsubscribe))[:-1]}",
            f"{p}:{_json(escape_attr(preferences))[:-1]}",
        )
        self.text_links = (f"{ut}:{_json(unsubscribe)[:-1]}", f"{pt}:{_json(preferences)[:-1]}")
        self.header = _json(f"<{unsubscribe}")[:-1]
        self.g, self.gt = g, gt
        # Whether the links read differently once escaped (an "&" in public_url).
        self.links_escape = escape_attr(unsubscribe + preferences) != unsubscribe + preferences

    def of(self, name: str, token: str, first_name: str) -> tuple[str, str, bool, tuple]:
        """A recipient's (HTML substitutions, ``List-Unsubscribe`` value, whether
        escaping changed a value, so that the batch's text part needs substitutions
        of its own, and what ``text`` makes those from)."""
        if not _PLAIN_TOKEN(token):
            values = self.personal.values(name, token, first_name)
            in_html = escaped(values)
            html = _pairs(self.keys, in_html)
            return html, _json(f"<{values.unsubscribe_url}>"), in_html != values, (values,)
        greeting = self.personal.greeting(name, first_name)
        in_html = escape_text(greeting)
        u, p = self.html_links
        return (
            f'{self.g}:{_json(in_html)},{u}{token}",{p}{token}"',
            f'{self.header}{token}>"',
            self.links_escape or in_html != greeting,
            (greeting, token),
        )

    def text(self, made: tuple) -> str:
        """The text part's substitutions, from what ``of`` said they are made of."""
        if len(made) == 1:
            return _pairs(self.text_keys, made[0])
        greeting, token = made
        ut, pt = self.text_links
        return f'{self.gt}:{_json(greeting)},{ut}{token}",{pt}{token}"'


def _pairs(keys: list[str], values: tuple[str, ...]) -> str:
    """``"key":"value"`` pairs of a JSON object's text, ``keys`` already JSON text."""
    return ",".join(f"{k}:{_json(v)}" for k, v in zip(keys, values, strict=True))


def build_payload(
    batch: Outgoing, settings: Settings, encoded: EncodedContent | None = None
) -> bytes:
    """The Mail Send body for one batch: content once, one personalization per recipient."""
    if len(batch.recipients) > MAX_RECIPIENTS:
        raise ValueError(f"a SendGrid request carries at most {MAX_RECIPIENTS} recipients")
    values = _Values(batch)
    rows = [(r, values.of(r.name, r.token, r.first_name)) for r in batch.recipients]
    # Substitutions apply to both parts alike, but HTML needs escaped values and
    # text does not. Only when some value in the batch changes once escaped does
    # the text part keep placeholders of its own (half the bytes a recipient, else).
    split = any(row[2] for _, row in rows)
    # SendGrid wants every custom_args value as a string (a number is a 400).
    edition_arg = f'"edition_id":{_json(str(batch.edition.id))}'
    one_click = ',"List-Unsubscribe-Post":"List-Unsubscribe=One-Click"'
    parts = []
    for recipient, (html, unsubscribe, _, made) in rows:
        name = display_name(recipient.name)
        to = _json(mail_address(recipient.email)) + (f',"name":{_json(name)}' if name else "")
        subs = f"{html},{values.text(made)}" if split else html
        parts.append(
            f'{{"to":[{{"email":{to}}}],"substitutions":{{{subs}}},'
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
