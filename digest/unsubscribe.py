"""Signed unsubscribe tokens: a link that works without a login and cannot be forged.

The token is the address plus an HMAC-SHA256 of it under ``DIGEST_SECRET``,
both base64url, so it survives every mail client's URL handling and needs no
lookup table. ``digest serve`` (a later release) verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import warnings
from urllib.parse import quote, urlsplit, urlunsplit

from digest.config import secret
from digest.models import Edition

# Used only when DIGEST_SECRET is unset (demo, tests): links still work, but
# anyone who reads this file could forge them, so the CLI warns about it.
DEVELOPMENT_SECRET = "digest-development-secret-do-not-use"


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


def make_token(email: str, key: bytes | hmac.HMAC) -> str:
    """``key`` may be a prepared ``hmac.new(key, digestmod=sha256)``: copying it
    skips the key set-up, which matters at a million links a send."""
    address = email.strip().lower().encode("utf-8")
    mac = key.copy() if isinstance(key, hmac.HMAC) else hmac.new(key, digestmod=hashlib.sha256)
    mac.update(address)
    return f"{_b64(address)}.{_b64(mac.digest()[:18])}"


def read_token(token: str, key: bytes) -> str | None:
    """The address a token was made for, or None if it was not made with ``key``."""
    try:
        encoded, _ = token.split(".", 1)
        address = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return address if hmac.compare_digest(make_token(address, key), token) else None


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


class Links:
    """Builds each recipient's unsubscribe URL under ``public_url``."""

    def __init__(self, public_url: str, key: bytes) -> None:
        self.base = ascii_url(public_url.rstrip("/")) + "/unsubscribe/"
        self.mac = hmac.new(key, digestmod=hashlib.sha256)

    def unsubscribe(self, email: str) -> str:
        return self.base + make_token(email, self.mac)


def preferences_url(unsubscribe_url: str) -> str:
    """ "Manage topics": the preferences page of the subscriber an unsubscribe
    link names, by the same signed token (a link not made by ``Links`` is kept:
    its page is the one that offers the topics)."""
    base, found, token = unsubscribe_url.rpartition("/unsubscribe/")
    return f"{base}/preferences/{token}" if found else unsubscribe_url


def view_url(public_url: str, edition: Edition, segment: str) -> str:
    """ "View in your browser": the edition's copy for ``segment`` in the archive."""
    return ascii_url(public_url.rstrip("/")) + archive_path(edition, segment)


def archive_path(edition: Edition, segment: str) -> str:
    """``/archive/<date>/<timezone>``, and ``?topics=<segment>`` for a segment
    other than everything; ASCII, as every link in an email must be."""
    path = f"/archive/{edition.date.isoformat()}/{quote(edition.timezone, safe='/')}"
    if segment:
        path += "?topics=" + quote(segment, safe=";")
    return path
