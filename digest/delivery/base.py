"""The one small interface every provider implements, and the MIME builder they share.

A provider gets an ``Outgoing`` batch: one segment's content, rendered once
with placeholders, and up to ``max_batch`` recipients. It returns one
``Outcome`` per recipient. Per-message providers (outbox, SMTP) call
``Outgoing.wire_bytes()``: the segment's message built once with
``email.message``, each copy made by substitution; SendGrid sends the
segment once with per-recipient substitutions instead.

A ``Notice`` is one transactional message to one address (the sign-up page's
mails): ``send_notice`` sends it alone, built by ``notices``.

Failures: an ``Outcome(status="failed")`` for a recipient the provider refused
(``"in_doubt"`` for one whose answer never came), ``DeliveryError`` when the
whole batch provably failed, ``DeliveryInDoubt`` when the whole batch reached
the provider and its answer was lost, ``FatalDeliveryError`` when nothing more
can be sent in this run (bad credentials).
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any, Protocol

from digest import validate
from digest.clock import utcnow
from digest.errors import ConfigError
from digest.models import Edition, Outcome, Recipient
from digest.rendering.personal import Lines
from digest.rendering.renderer import Rendered, Renderer
from digest.validate import mail_address

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_LINE = 998  # octets in a line of a message, CRLF apart (RFC 5322 2.1.1, RFC 5321)
# CRLF line ends as on the wire; lines folded only past 998 (RFC 5322's hard limit),
# because folding at 78 turns a long List-Unsubscribe URL into RFC 2047 encoded
# words, which mail clients do not decode in that header.
POLICY = SMTP.clone(max_line_length=998)


@dataclass
class Outgoing:
    """One provider request's worth: a segment's content and its recipients."""

    edition: Edition
    segment: str
    content: Rendered  # with the renderer's placeholders still in it
    recipients: list[Recipient]
    renderer: Renderer
    sender: Address
    test: bool = False  # a --to test copy: not recorded, subject marked
    headers: dict[str, str] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def personalised(self, recipient: Recipient) -> Rendered:
        return self.renderer.personal.fill(
            self.content, recipient.name, recipient.token, recipient.first_name
        )

    def wire_bytes(self, recipient: Recipient, eight_bit: bool = True) -> tuple[bytes, str]:
        """(the message as it goes on the wire, its Message-ID), cheaply.

        The segment's message is built once by ``email.message`` with 8-bit
        bodies and placeholders (``MessageTemplate``); each copy is then a few
        string replacements, a hundred times cheaper than building it anew.
        Where 8-bit is not allowed (a server without 8BITMIME) or a line is
        too long for it (``MAX_LINE``: a long link does it), the copy is built
        in full instead, encoded so that no line is too long.
        """
        template = self._template() if eight_bit else None
        copy = template.personalise(recipient) if template is not None else None
        if copy is None:
            return build_message(self, recipient, self.personalised(recipient))
        return copy

    def _template(self) -> MessageTemplate | None:
        if "template" not in self._cache:
            self._cache["template"] = MessageTemplate.build(self)
        return self._cache["template"]


NOTICE_KINDS = ("confirm", "subscribed", "manage", "welcome")


@dataclass(frozen=True)
class Notice:
    """One message to ``to`` alone (no display name: nothing a stranger typed).

    ``sender`` is ``from_address`` as configured; ``kind`` (of ``NOTICE_KINDS``) names
    the outbox file and SendGrid's category.
    """

    to: str
    subject: str
    text: str
    sender: str
    kind: str
    html: str = ""

    def __post_init__(self) -> None:
        if self.kind not in NOTICE_KINDS:
            raise ValueError(f"a notice is one of {', '.join(NOTICE_KINDS)}, not {self.kind!r}")


class Provider(Protocol):
    """Where mail goes. ``prepare`` is CPU work (build the request or messages);
    ``deliver`` is the I/O, run on a worker thread so the next batch is prepared
    meanwhile; ``send`` is both, for one-off sends."""

    name: str
    # Puts mail in real people's inboxes: sending.preflight then wants the sender's
    # postal address and unsubscribe links that work before a send may start.
    mails_people: bool
    max_batch: int  # recipients per batch
    resendable: bool  # sending a batch again cannot mail anyone twice (see recovery.recover)
    # Rounds in one run for recipients refused for now (an SMTP 4xx): the dispatcher
    # sends them again after a pause, this many times. An API retries inside deliver.
    retry_rounds: int
    stopping: threading.Event

    def prepare(self, batch: Outgoing) -> Any: ...

    def deliver(self, prepared: Any) -> list[Outcome]: ...

    def send(self, batch: Outgoing) -> list[Outcome]: ...

    def send_notice(self, notice: Notice) -> Outcome: ...

    def close(self) -> None: ...


class BaseProvider:
    """The shared shape: a provider fills in ``deliver`` and, if it has CPU work
    worth doing ahead of the network, ``prepare``; ``from_settings`` builds it."""

    name = "base"
    # True unless a provider says otherwise: a new provider that forgets to say
    # gets the postal-address and live-link checks, not a send without them.
    mails_people = True
    max_batch = 100
    resendable = False
    retry_rounds = 0
    # Set by the dispatcher: a provider that waits (to retry) stops waiting when it is.
    stopping: threading.Event = threading.Event()

    def prepare(self, batch: Outgoing) -> Any:
        return batch

    def deliver(self, prepared: Any) -> list[Outcome]:
        raise NotImplementedError

    def send(self, batch: Outgoing) -> list[Outcome]:
        return self.deliver(self.prepare(batch))

    def send_notice(self, notice: Notice) -> Outcome:
        """One transactional message (``Notice``): ``sent`` with its Message-ID, or
        ``failed`` with why. Every provider says how; one that does not fails loudly
        rather than dropping a confirmation mail."""
        raise NotImplementedError(f"the {self.name} provider cannot send a single notice")

    def close(self) -> None:
        pass


def parse_sender(value: str) -> Address:
    """The From address from config (``validate.parse_mailbox``, as the config
    checked it at start-up: one mailbox, never the first of two)."""
    if CONTROL.search(value):
        raise ConfigError(f"from_address: not an email address: {value!r}")
    try:
        name, addr = validate.parse_mailbox(value)
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as err:
        raise ConfigError(f"from_address: {err}") from None


def clean_header(value: str) -> str:
    """One line of text that stays text in a header.

    No CR/LF or other control characters; and no ``=?`` either, because
    ``email``'s policy decodes an RFC 2047 encoded word it finds in a value it is
    given (``=?utf-8?q?News=0D=0ABcc:_x?=`` in an article keyword became a real
    ``Bcc:`` header) and mail clients decode them too. A word joiner between the
    two characters keeps them visible and inert.
    """
    if value.isprintable() and "  " not in value and value == value.strip() and "=?" not in value:
        return value  # the usual case, without the regex
    return " ".join(CONTROL.sub(" ", value).split()).replace("=?", "=\u2060?")


def display_name(name: str) -> str:
    """The name as it goes in To: one line, and short enough that even fully
    RFC 2047-encoded it stays far inside the 998-character line limit."""
    return clean_header(name)[:100].strip()


def address_header(name: str, email: str) -> str:
    """A ``To:`` value whose encoded words stay within RFC 2047's 75 characters.

    ``email.headerregistry`` would make one encoded word as long as the line
    allows (998 here, so that a long List-Unsubscribe URL is never folded into
    encoded words), which mail clients may refuse to decode; ``Header`` splits
    a non-ASCII name into several short words, folded onto lines of their own.
    """
    name = display_name(name)
    if not name:
        return email
    if name.isascii():
        return formataddr((name, email))
    words = Header(name, "utf-8", maxlinelen=76, header_name="To").encode(linesep="\r\n")
    last = len(words.rsplit("\n", 1)[-1])
    fold = "\r\n " if last + len(email) + 3 > 78 else " "
    return f"{words}{fold}<{email}>"


def recipient_head(recipient: Recipient, unsubscribe_url: str, message_id: str) -> str:
    """The header lines that differ per recipient, in wire form, put before the rest."""
    return (
        f"To: {address_header(recipient.name, mail_address(recipient.email))}\r\n"
        f"Message-ID: {message_id}\r\nList-Unsubscribe: <{unsubscribe_url}>\r\n"
    )


def list_id(batch: Outgoing) -> str:
    """``List-Id`` (RFC 2919): one name for every edition, so mail clients and
    filters can tell the digest apart ("Daily Digest <daily-digest.example.com>")."""
    return _list_id(batch.renderer.settings.title, batch.sender.domain)


@functools.lru_cache(maxsize=16)  # asked once a batch: 24,000 times in a large send
def _list_id(title: str, domain: str) -> str:
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c)
    )
    label = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:60].strip("-") or "digest"
    try:
        domain = (domain or "localhost").encode("idna").decode("ascii")
    except UnicodeError:
        domain = "localhost"
    # The phrase is optional: only a plain one goes in, so it needs no quoting or encoding.
    phrase = title if re.fullmatch(r"[A-Za-z0-9 ]{1,60}", title) else ""
    return f"{phrase} <{label}.{domain}>".lstrip()


def subject_of(batch: Outgoing) -> str:
    subject = clean_header(batch.content.subject)
    return f"[TEST] {subject}" if batch.test else subject


def build_message(batch: Outgoing, recipient: Recipient, content: Rendered) -> tuple[bytes, str]:
    """An RFC 5322 message built whole (7-bit safe): multipart/alternative, text
    then HTML. Returns (the message as it goes on the wire, its Message-ID)."""
    message = _shared_headers(batch)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(content.text, subtype="plain", charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    message_id = make_msgid("digest", domain=batch.sender.domain or "localhost")
    url = batch.renderer.personal.pages.unsubscribe(recipient.token)
    head = recipient_head(recipient, url, message_id).encode("ascii")
    return head + message.as_bytes(), message_id


def _shared_headers(batch: Outgoing) -> EmailMessage:
    """A message with the headers every copy of the batch has in common."""
    message = EmailMessage(policy=POLICY)
    message["From"] = batch.sender
    message["Subject"] = subject_of(batch)
    message["Date"] = format_datetime(utcnow())
    message["X-Digest-Edition"] = batch.edition.label
    message["List-Id"] = list_id(batch)
    for name, value in batch.headers.items():
        message[name] = clean_header(value)
    return message


class MessageTemplate:
    """One segment's message, built once; each recipient's copy by substitution.

    ``email.message`` builds the whole message (8-bit bodies, so placeholders
    survive encoding) without the three headers that differ per recipient;
    ``personalise`` puts those first and swaps the placeholders for the
    recipient's values (``Personalisation.substitutions``: escaped where they
    land in HTML, as they are in the text part).

    An 8-bit body is sent as it is, so no line may pass ``MAX_LINE`` octets
    (``email`` does not check, and an SMTP server answers "500 Line too
    long"). A segment with such a line is not templated at all; a line that a
    recipient's values would make too long makes only that copy built in full.
    """

    def __init__(self, wire: str, renderer: Renderer, domain: str, growing: Lines) -> None:
        self.personal = renderer.personal
        self.domain = domain
        self.growing = growing  # the lines holding a placeholder (Personalisation.lines)
        # The message in encoded pieces, a placeholder's name at each odd index, after
        # a first piece kept for the recipient's own header lines: a copy is one join.
        pieces = self.personal.cut(wire)
        self.pieces = [b"", *(p.encode("utf-8") for p in pieces)]
        self.slots = [(i + 1, pieces[i]) for i in range(1, len(pieces), 2)]

    @classmethod
    def build(cls, batch: Outgoing) -> MessageTemplate | None:
        personal = batch.renderer.personal
        longest, growing = personal.lines(batch.content.text, batch.content.html)
        if longest > MAX_LINE:
            return None
        message = _shared_headers(batch)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(batch.content.text, subtype="plain", charset="utf-8", cte="8bit")
        message.add_alternative(batch.content.html, subtype="html", charset="utf-8", cte="8bit")
        wire = message.as_bytes().decode("utf-8")
        return cls(wire, batch.renderer, batch.sender.domain or "localhost", growing)

    def personalise(self, recipient: Recipient) -> tuple[bytes, str] | None:
        """The copy on the wire and its Message-ID; None when a line would be too long."""
        personal = self.personal
        values = personal.values(recipient.name, recipient.token, recipient.first_name)
        html, text = personal.substitutions(values)
        filled = html | text
        if personal.grown(self.growing, filled) > MAX_LINE:
            return None
        message_id = make_msgid("digest", domain=self.domain)
        pieces = self.pieces.copy()
        pieces[0] = recipient_head(recipient, values.unsubscribe_url, message_id).encode("utf-8")
        for i, placeholder in self.slots:
            pieces[i] = filled[placeholder].encode("utf-8")
        return b"".join(pieces), message_id
