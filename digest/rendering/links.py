"""Signed links in an email: unsubscribe tokens that work without a login and
cannot be forged, and the address of the edition's copy on the web.

A token is versioned, so a link in an email sent years ago keeps working
after the format changes: ``READERS`` holds a reader for every version ever
sent, and a new format is a new version, never a change to an old one.

- **Version 3** (current): ``3.<subscriber id>.<mac>``. It names the
  subscriber by id, so the address is not in the link for anyone who sees it
  (a forwarded email, a proxy's log). The HMAC-SHA256 covers the version, the
  id and the subscriber's address (lower-cased), so a token for id 5 cannot
  unsubscribe whoever holds id 5 in a rebuilt database; and its key is derived
  from ``DIGEST_SECRET`` for this version and purpose (``version_key``), so no
  MAC of any other version, or of a later purpose, is ever one of these.
- **Version 2**: ``2.<id>.<mac>``, the same message, but signed with
  ``DIGEST_SECRET`` itself, as version 1 was. A version 1 MAC of the address
  ``2.<id>.<address>`` is therefore the version 2 MAC of that id and
  address, and the other way round. Both are still read, each refusing the one
  case where it could be the other's: version 1 never accepts an address of
  that shape, and version 2 never accepts a token for someone when
  ``2.<id>.<their address>`` is a stored address (whose version 1 link would
  forge it). Read, never made for an email again.
- **Version 1** (digest before ``digest serve``): ``<address>.<mac>``, both
  base64url: the address in the clear. Read, never made for an email again.

Every mac is 18 bytes (24 base64url characters), compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import warnings
from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

from digest.config.settings import secret
from digest.models import Edition, Subscriber

# Used only when DIGEST_SECRET is unset (demo, tests): links still work, but
# anyone who reads this file could forge them, so the CLI warns about it.
DEVELOPMENT_SECRET = "digest-development-secret-do-not-use"
VERSION = 3
# What version 3 tokens open: the unsubscribe, topics and resubscribe pages. A
# token for anything else would get a key of its own (``version_key``).
PURPOSE = b"subscription pages"
# Far longer than any token made (a v1 token of a 254-character address is
# about 370): anything longer is refused before it is decoded.
MAX_TOKEN = 600


def signing_key() -> bytes:
    value = secret("DIGEST_SECRET")
    if value is None:
        warnings.warn(
            "DIGEST_SECRET is not set: unsubscribe links are signed with a development key",
            stacklevel=2,
        )
        value = DEVELOPMENT_SECRET
    return value.encode("utf-8")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


class Signer:
    """HMAC-SHA256 under one key, keyed once: a million links a send.

    RFC 2104 by hand, from the two SHA-256 states the key sets up (inner and
    outer): copying a ``hashlib`` state is done in C, where copying an
    ``hmac.HMAC`` is Python, so a MAC costs 0.8 µs instead of 2.1
    (``tests/rendering/test_unsubscribe.py`` checks it against ``hmac``).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # SHA-256's block: a longer key is hashed first (RFC 2104)
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def _mac(key: bytes | Signer, message: bytes) -> str:
    """``key`` may be a ``Signer`` made once for many messages."""
    signer = key if isinstance(key, Signer) else Signer(key)
    return _b64(signer.digest(message)[:18])


def version_key(key: bytes, version: int = VERSION, purpose: bytes = PURPOSE) -> bytes:
    """The key tokens of ``version`` for ``purpose`` are signed with, derived from
    ``key`` (``DIGEST_SECRET``): what one version or purpose signs is never a
    valid MAC of another, whatever the messages look like."""
    label = b"digest link key: version %d, %s" % (version, purpose)
    return hmac.new(key, label, hashlib.sha256).digest()


def _message(version: int, subscriber_id: int, email: str) -> bytes:
    return b"%d.%d.%s" % (version, subscriber_id, email.strip().lower().encode("utf-8"))


def make_token(subscriber_id: int, email: str, key: bytes) -> str:
    """The current (version 3) token for this subscriber, under ``DIGEST_SECRET``."""
    return _signed(subscriber_id, email, Signer(version_key(key)))


def _signed(subscriber_id: int, email: str, prepared: Signer) -> str:
    """A version 3 token with ``prepared``, a ``Signer`` keyed with ``version_key``."""
    return f"{VERSION}.{subscriber_id}.{_mac(prepared, _message(VERSION, subscriber_id, email))}"


def make_v2_token(subscriber_id: int, email: str, key: bytes) -> str:
    """A version 2 token, as digest made them before version 3: for tests of old links."""
    return f"2.{subscriber_id}.{_mac(key, _message(2, subscriber_id, email))}"


def make_v1_token(email: str, key: bytes | Signer) -> str:
    """A version 1 token, as digest made them before version 2: for tests of old links."""
    address = email.strip().lower().encode("utf-8")
    return f"{_b64(address)}.{_mac(key, address)}"


_BY_ID = re.compile(r"([23])\.(0|[1-9][0-9]{0,17})\.[A-Za-z0-9_-]{24}")
_V1 = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{24}")
# What a version 2 MAC signs: a version 1 token for an address of this shape
# could be a version 2 token's MAC moved into a version 1 token.
_V2_MESSAGE = re.compile(r"2\.(0|[1-9][0-9]*)\.")


def _read_v3(token: str, key: bytes, by_id: Callable, by_email: Callable) -> Subscriber | None:
    return _read_by_id(token, 3, key, by_id)


def _read_v2(token: str, key: bytes, by_id: Callable, by_email: Callable) -> Subscriber | None:
    found = _read_by_id(token, 2, key, by_id)
    if found is not None and by_email(_message(2, found.id, found.email).decode()) is not None:
        return None  # the stored address "2.<id>.<address>" had a v1 link with this very MAC
    return found


def _read_by_id(token: str, version: int, key: bytes, by_id: Callable) -> Subscriber | None:
    shape = _BY_ID.fullmatch(token)
    if not shape or int(shape[1]) != version:
        return None
    found = by_id(int(shape[2]))
    # Compared even for an id that is not there, so its absence takes as long.
    email = found.email if found else ""
    signer = version_key(key) if version == VERSION else key
    message = _message(version, found.id if found else 0, email)
    expected = f"{version}.{found.id if found else 0}.{_mac(signer, message)}"
    return found if hmac.compare_digest(expected, token) and found else None


def _read_v1(token: str, key: bytes, by_id: Callable, by_email: Callable) -> Subscriber | None:
    if not _V1.fullmatch(token):
        return None
    encoded = token.split(".", 1)[0]
    try:
        address = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(make_v1_token(address, key), token):
        return None
    if _V2_MESSAGE.match(address.strip().lower()):
        return None  # a version 2 token's MAC under another name
    return by_email(address)


# Every version ever sent in an email, by the version its token starts with.
READERS = {3: _read_v3, 2: _read_v2, 1: _read_v1}


def token_version(token: str) -> int:
    """3 for ``3.…``, 2 for ``2.…``; 1 for a token without a version (version 1 never had one:
    its first part, an address in base64, is at least 4 characters long)."""
    head, dot, _ = token.partition(".")
    return int(head) if dot and head.isdigit() and len(head) < 4 else 1


def read_token(
    token: str,
    key: bytes,
    by_id: Callable[[int], Subscriber | None],
    by_email: Callable[[str], Subscriber | None],
) -> Subscriber | None:
    """The subscriber a token was made for with ``key``, looked up with ``by_id``
    or ``by_email``; None for a token that is not one of ours, altered, cut
    short, of a version never made, or for someone no longer stored."""
    if len(token) > MAX_TOKEN or not token.isascii():
        return None
    reader = READERS.get(token_version(token))
    return None if reader is None else reader(token, key, by_id, by_email)


def ascii_url(url: str) -> str:
    """``url`` as plain ASCII: IDNA host, %-escaped path, query and fragment.

    A mail header must be ASCII (else it is RFC 2047-encoded, which mail clients
    do not decode in List-Unsubscribe), and lxml %-escapes non-ASCII in an
    href, which the per-recipient substitution in ``render`` does not.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            host = quote(host, safe="")
        netloc = f"{quote(userinfo, safe=':%')}{at}{host}{colon}{port}"
    safe = "/:@!$&'()*+,;=%~"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=safe),
            quote(parts.query, safe=safe + "?"),
            quote(parts.fragment, safe=safe + "?"),
        )
    )


class PageLinks:
    """The pages a subscriber's token opens under ``public_url``: the one place
    their addresses are made (an email's links, its List-Unsubscribe header)."""

    def __init__(self, public_url: str) -> None:
        root = ascii_url(public_url.rstrip("/"))
        self._unsubscribe = root + "/unsubscribe/"
        self._preferences = root + "/preferences/"

    def unsubscribe(self, token: str) -> str:
        return self._unsubscribe + token

    def preferences(self, token: str) -> str:
        """ "Manage topics": the same signed token as the unsubscribe link."""
        return self._preferences + token


class Links:
    """Each subscriber's token under the signing key, and the pages it opens."""

    def __init__(self, public_url: str, key: bytes) -> None:
        self.pages = PageLinks(public_url)
        self.mac = Signer(version_key(key))  # keyed once, a million links a send

    def token(self, subscriber_id: int, email: str) -> str:
        return _signed(subscriber_id, email, self.mac)

    def unsubscribe(self, subscriber_id: int, email: str) -> str:
        """The unsubscribe link in this subscriber's emails."""
        return self.pages.unsubscribe(self.token(subscriber_id, email))


def view_url(public_url: str, edition: Edition, segment: str) -> str:
    """ "View in your browser": the edition's copy for ``segment`` in the archive."""
    return ascii_url(public_url.rstrip("/")) + archive_path(edition, segment)


def archive_path(edition: Edition, segment: str) -> str:
    """``/archive/<date>/<timezone>``, with ``time=<HH:MM>`` for a personal send
    time's edition, ``cadence=weekly`` for a weekly one and ``topics=<segment>``
    for a segment other than everything; ASCII, as every link in an email must be."""
    path = f"/archive/{edition.date.isoformat()}/{quote(edition.timezone, safe='/')}"
    query = []
    if edition.send_time is not None:
        query.append(f"time={edition.send_time:%H:%M}")
    if edition.cadence != "daily":
        query.append(f"cadence={edition.cadence}")
    if segment:
        query.append("topics=" + quote(segment, safe=";"))
    return path + ("?" + "&".join(query) if query else "")
