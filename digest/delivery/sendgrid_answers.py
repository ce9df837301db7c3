"""What an answer to ``POST /v3/mail/send`` means: SendGrid's acceptance, or not.

A batch is recorded sent only on SendGrid's own acceptance: ``202`` (``200``
when the request asked for ``sandbox_mode``; SendGrid answers that instead of
202, and delivers nothing) with SendGrid's shape of body: none, or a JSON
object. Anything else that is not an error SendGrid itself sends (a 4xx with
its ``{"errors": [...]}``, a 429 or 5xx that is retried) is one of two things:

*Not SendGrid's answer* (an HTML page, text, a body that is not a JSON object,
a redirect): something else answered in SendGrid's place — a wrong
``SENDGRID_API_HOST``, a captive portal, a filtering proxy's block page. Such
an answerer answers *instead of* forwarding: a proxy that forwards passes
SendGrid's own answer back, and one that forwarded and then failed says so
with a 502/504, never with a 2xx page of its own. So SendGrid never had the
request: nothing was sent, it is safe to send again, and the send stops
(``FatalDeliveryError``), its recipients left pending, since every further
batch would go to the same answerer. Marking them failed or in doubt would
only make more work for a problem that is the host's, not theirs.

*SendGrid's shape with the wrong status* (a ``200`` without ``sandbox_mode``,
a ``201`` or ``204`` with no body): it may well be SendGrid, or a forwarder of
it, and a 2xx from SendGrid means it took the mail. That batch is *in doubt*
and the send stops there too, so one batch is in doubt rather than every one.

Either way the operator reads one line naming what answered: status, content
type, the page's ``<title>`` or its first bytes, and the host.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from digest.validate import clean_line, shorten

MAX_BODY = 64 * 1024  # read of any answer: SendGrid's own are a few hundred bytes
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as read: its status, the headers that matter, at most ``MAX_BODY``."""

    status: int
    content_type: str
    body: bytes
    message_id: str | None = None
    location: str | None = None
    reset: str | None = None  # X-RateLimit-Reset


class NotSendGrid(Exception):
    """The answer was written by something other than SendGrid: nothing was sent."""


class LooksAccepted(Exception):
    """SendGrid's shape of answer with a status that is not its acceptance: in doubt."""


def sendgrid_shaped(answer: Answer) -> bool:
    """An empty body, or a JSON object: the only bodies SendGrid's Mail Send answers with."""
    text = answer.body.strip()
    if not text:
        return True
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def judge(answer: Answer, sandbox: bool, host: str) -> bool:
    """True if ``answer`` is SendGrid's acceptance of the request; False if it is
    SendGrid's own refusal (a 4xx in its shape, the caller's to word); else raise:
    ``NotSendGrid`` for an answer someone else wrote, ``LooksAccepted`` for a 2xx
    in SendGrid's shape that is not the acceptance this request expects.
    """
    status = answer.status
    shaped = sendgrid_shaped(answer)
    accepted = status == 202 or (status == 200 and sandbox)
    if accepted and shaped and not _has_errors(answer):
        return True
    if 300 <= status < 400 or not shaped:
        raise NotSendGrid(
            f"the answer from {where(host)} is not SendGrid's ({describe(answer)}): nothing "
            "was sent; check SENDGRID_API_HOST and any proxy or captive portal on the way"
        )
    if 200 <= status < 300:
        expected = "202 (or 200 with sandbox_mode)" if sandbox else "202"
        raise LooksAccepted(
            f"{where(host)} answered {describe(answer)} where SendGrid answers {expected}; "
            "it may have accepted the request"
        )
    return False


def describe(answer: Answer) -> str:
    """``200 text/html "Hotel WiFi – log in"``: status, type, and the title or first bytes."""
    parts = [str(answer.status), clean_line(answer.content_type)[:80] or "no content type"]
    if answer.location:
        parts.append(f"to {shorten(clean_line(answer.location), 120)}")
    title = _TITLE.search(answer.body)
    # The page's title, else its first bytes; odd bytes read as U+FFFD, controls dropped.
    raw = (title.group(1) if title else answer.body[:120]).decode("utf-8", "replace")
    text = clean_line(html.unescape(raw) if title else raw)
    if text:
        parts.append(f'"{shorten(text, 80)}"')
    elif not answer.body.strip():
        parts.append("empty body")
    return " ".join(parts)


def where(host: str) -> str:
    """The answering host as ``scheme://name[:port]``: never a user or password in the URL."""
    try:
        parts = urlsplit(host)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return "SENDGRID_API_HOST"


def _has_errors(answer: Answer) -> bool:
    """A JSON body naming errors: SendGrid's refusal shape, never its acceptance."""
    try:
        return bool(json.loads(answer.body).get("errors")) if answer.body.strip() else False
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return False
