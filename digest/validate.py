"""The rules every value meets at the edge, before it is stored, printed or mailed.

One home for them, so a CSV row, a front matter block, a feed entry, a
setting and a ``--to`` address are held to the same limits on SQLite and on
PostgreSQL: a value that breaks a rule is refused (or shortened, with a
warning) here, never by a database error that would take other records with
it. This module imports nothing of digest's, so anything may use it. What a
host name means (connectable, this machine) is in ``hosts``.
"""

from __future__ import annotations

import hashlib
import re
from email.headerregistry import HeaderRegistry
from email.utils import getaddresses
from urllib.parse import urljoin, urlsplit, urlunsplit

# Lengths are in characters and sit inside the columns that hold them.
MAX_EMAIL = 254  # RFC 5321: a path is at most 256 octets, brackets included
MAX_NAME = 200
MAX_KEYWORD = 100
MAX_KEYWORDS = 50  # an article's keywords, and a subscriber's topics
MAX_TITLE = 300
MAX_SOURCE = 200
MAX_URL = 2048
MAX_GUID = 2048
# A value in a PostgreSQL btree index (a guid, a subscriber's topics) must fit in
# 2,704 bytes with the rest of its row's key: far below the characters above once
# text is Chinese or emoji, so these are counted in UTF-8 bytes.
MAX_KEY_BYTES = 1000
MAX_TIMEZONE = 64

# Control characters (C0 but tab/newline, DEL, C1), the bidirectional
# overrides that make a terminal or a mail client show text out of order, and
# lone surrogates (from a JSON "\\ud800" escape), which no database can encode.
_CONTROL_IN_BLOCK = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_LINE_BREAKS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Terminal escape sequences, whole: removing only ESC would leave "[31m" or
# "]0;title" behind. CSI (colours, cursor) and OSC (window title, links), in their
# 7-bit and C1 spellings; a C1 CSI needs a parameter, so a stray U+009B before a
# word takes nothing with it. Any ESC left over goes with the control characters.
_ESCAPES = re.compile(
    "(?:\x1b\\[[0-?]*|\x9b[0-?]+)[ -/]*[@-~]"
    "|(?:\x1b\\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\\\|\x9c)?"
)

# "scheme://user:password@" anywhere in a text, even in a URL no parser accepts
# (an unclosed "[", a port of 99999, spaces, a Unicode host). The user part stops
# at the first ":", the password runs to the last "@" before the authority ends
# (at "/", "?" or "#", as urlsplit and httpx read it), so a password holding "@"
# or ":" is hidden whole. A scheme starts only where no scheme character goes
# before it, which keeps the search linear on long runs of letters.
_PASSWORD_IN_URL = re.compile(
    r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*://[^/?#:\r\n]*):[^/?#\r\n]*@"
)


def hide_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it as ``***``.

    A regular expression rather than a URL parser: the URLs that most need
    hiding are the malformed ones a parser refuses, and error messages quote
    them whole.
    """
    if "://" not in text:
        return text
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


# Deliberately plain: one @, no spaces or control characters, a dotted domain.
# The local part is an ASCII dot-atom (RFC 5322 atext): no quoted strings, no
# "(comments)", nothing a mail server or client could read as another address.
_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL = re.compile(
    rf"^(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]{{0,62}}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
# The usual address: a dot-atom of ASCII letters, digits and RFC 5322 specials
# before the @. The email package's full parse cannot refuse one of these, and
# it costs ~30 µs an address; a million-row import checks a million.
LINK_SCHEMES = ("http", "https", "mailto")


def key_bytes(text: str) -> int:
    """How many bytes ``text`` takes in an index (see ``MAX_KEY_BYTES``)."""
    return len(text.encode("utf-8", "surrogatepass"))


def clean_line(text: str) -> str:
    """One line of plain text: no control characters, white space folded."""
    if text.isprintable() and "  " not in text and text == text.strip():
        return text  # the usual case, without a regex
    text = _LINE_BREAKS.sub(" ", _ESCAPES.sub("", text))
    return " ".join(_CONTROL_IN_BLOCK.sub("", text).split())


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character, a line break or a bidi override.

    For values that are refused rather than cleaned (settings): the operator
    can fix them, and a silently changed value would surprise them later.
    """
    return bool(_CONTROL_IN_BLOCK.search(text) or _LINE_BREAKS.search(text))


def clean_block(text: str) -> str:
    """Paragraphs of plain text: line ends kept (as ``\\n``), other controls removed."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Every escape sequence starts with a control character: without one, nothing to do.
    if _CONTROL_IN_BLOCK.search(text) is None:
        return text
    return _CONTROL_IN_BLOCK.sub("", _ESCAPES.sub("", text))


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;:.-— ") + "…"


def safe_link(url: str | None, base: str | None = None) -> str | None:
    """``url`` if it may become a clickable link, else None.

    Only http(s) and mailto links are kept; ``javascript:``, ``data:`` and
    every other scheme are dropped whatever their case or padding. A relative
    link is resolved against ``base`` when that is an http(s) address, and
    dropped otherwise (it would point nowhere from inside an email).
    """
    if not url:
        return None
    url = url.strip()
    if len(url) <= MAX_URL and _PLAIN_LINK.fullmatch(url):
        return url  # the usual link, checked without parsing it
    return _safe_link(url, base)


def _safe_link(url: str, base: str | None) -> str | None:
    """``safe_link`` by parsing: for any link (the fast path above gives the same)."""
    if not url or len(url) > MAX_URL or _CONTROL_IN_BLOCK.search(url) or _LINE_BREAKS.search(url):
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
        if not scheme and base and urlsplit(base).scheme.lower() in ("http", "https"):
            url = urljoin(base, url)
            scheme = urlsplit(url).scheme.lower()
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        return None
    if scheme not in LINK_SCHEMES or len(url) > MAX_URL or " " in url:
        return None
    if scheme in ("http", "https") and not parts.hostname:
        return None
    return url


# An absolute http(s) link of printable ASCII with a plain host name: what almost every
# link is. Such a link needs no parsing to be found safe (``safe_link``) ...
_PLAIN_LINK = re.compile(
    r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?:[/?#][!-~]*)?", re.A
)
# ... and one that is already canonical (lower case, no port, query or fragment) no
# rewriting (``canonical_url``).
_CANONICAL = re.compile(r"https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?P<path>/[!-\"$-~]*)?", re.A)

# Query parameters that only say where a click came from, never which page it is.
_TRACKING = re.compile(r"(?i)^(utm_[^=]*|fbclid|gclid)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """One spelling for the links that lead to the same page, to tell duplicates apart.

    Scheme and host are lower-cased, a default port, the fragment and
    click-tracking parameters (``utm_*``, ``fbclid``, ``gclid``) are removed,
    and an empty http(s) path becomes ``/``. The path and the other
    parameters are kept as they are: servers may treat their case and order
    as meaningful. Not a link to show anyone: only a key to compare with.
    """
    url = url.strip()
    plain = _CANONICAL.fullmatch(url)
    if plain and "?" not in url:
        return url if plain.group("path") else url + "/"
    return _canonical(url)


def _canonical(url: str) -> str:
    """``canonical_url`` by parsing: for any link (the fast path above gives the same)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed [IPv6 bracket, a port that is not a number
        return url
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    path = parts.path or ("/" if scheme in _DEFAULT_PORTS else "")
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _TRACKING.match(pair.split("=", 1)[0])
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def url_key(url: str) -> str:
    """A fixed-length key of ``canonical_url(url)``: sha256, hex."""
    return hashlib.sha256(canonical_url(url).encode("utf-8", "surrogatepass")).hexdigest()


def check_email(address: str) -> str:
    """A plain deliverable address (``user@example.org``), or ValueError.

    The domain may be an internationalised one (``user@bücher.de``): it is kept
    as given, and checked (and mailed: ``mail_address``) in its IDNA form. The
    part before the ``@`` stays ASCII: a non-ASCII one needs SMTPUTF8 of every
    server on the way, which digest does not ask for.
    """
    address = address.strip()
    if not address:
        raise ValueError("email is empty")
    if len(address) > MAX_EMAIL:
        raise ValueError(f"email address longer than {MAX_EMAIL} characters: {_shown(address)}")
    if EMAIL.match(address):
        return address
    wire = "" if address.isascii() else mail_address(address)
    if not EMAIL.match(wire):
        raise ValueError(f"not a valid email address: {_shown(address)}")
    if len(wire) > MAX_EMAIL:
        raise ValueError(
            f"email address longer than {MAX_EMAIL} characters in IDNA form: {_shown(address)}"
        )
    return address


def mail_address(address: str) -> str:
    """``address`` as it goes in a mail's envelope and headers: an internationalised
    domain in its IDNA (``xn--``) form, as the sender's domain already is; an ASCII
    address as it is. ValueError when the domain has no IDNA form."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    try:
        wire = domain.encode("idna").decode("ascii")
        # Only a domain its IDNA form names back: nameprep drops invisible characters
        # and maps some letters ("straße" to "strasse"), so another spelling would be
        # mailed at a domain the operator never saw, or twice under two spellings.
        same = wire.encode("ascii").decode("idna") == domain.lower()
    except UnicodeError:
        same = False
    if not same:
        raise ValueError(
            f"not a valid email address: {_shown(address)} "
            "(its domain does not have an IDNA form of its own)"
        )
    return f"{local}{at}{wire}"


def email_key(address: str) -> str:
    """What an address is matched by: lower case, in its mail form (``mail_address``),
    so ``user@bücher.de`` and ``user@xn--bcher-kva.de`` are one subscriber, and a
    provider's event naming the form it was sent to finds them."""
    if address.isascii():
        return address.lower()
    try:
        return mail_address(address).lower()
    except ValueError:
        return address.lower()


def _shown(address: str) -> str:
    return repr(clean_line(address)[: MAX_EMAIL + 20])


def parse_mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of the one mailbox in ``value``
    (``Name <user@example.org>`` or ``user@example.org``), or ValueError.

    Two addresses (``a@x.org, b@y.org``, ``a@x.org b@y.org``, ``A <a@x.org>
    <b@y.org>``), a group, or words around the address the parsers disagree
    on are refused: ``parseaddr`` silently keeps the first address, and mail
    would then go out from an address the operator never meant.
    """
    expected = "expected one address, as 'Name <user@example.org>'"
    try:
        header = HeaderRegistry()("From", value)
        found = [(a.display_name, a.addr_spec) for a in header.addresses]
        defects = header.defects or [g for g in header.groups if g.display_name is not None]
    except Exception:  # the email package raises more than ValueError on odd input
        raise ValueError(f"{expected}, not {_shown(value)}") from None
    others = [address for _name, address in getaddresses([value]) if address]
    if len(found) > 1 or len(others) > 1:
        count = max(len(found), len(others))
        hint = "(a name with a comma goes in quotes)"
        raise ValueError(f"holds {count} addresses; {expected} {hint}")
    if not found or defects or [a for _n, a in found] != others:
        raise ValueError(f"{expected}, not {_shown(value)}")
    name, address = found[0]
    try:
        return name, check_email(address)
    except ValueError as err:
        raise ValueError(f"{expected}: {err}") from None
