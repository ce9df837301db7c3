"""The front door's signed tokens: the form's (when it was served) and the
confirmation link's (which pending sign-up, begun when).

Each is signed with a key of its own, derived from ``DIGEST_SECRET`` for its
purpose as ``rendering.links`` derives the subscription pages' key
(``version_key``): a form token is never a confirmation token, and neither is
ever an unsubscribe link. MACs are 18 bytes (24 base64url characters),
compared in constant time. Neither token holds an address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from digest.rendering.links import version_key

FORM = b"sign-up form"
CONFIRM = b"sign-up confirmation"
_FORM = re.compile(r"f1\.([0-9]{1,12})\.([A-Za-z0-9_-]{24})")
_CONFIRM = re.compile(r"c1\.([1-9][0-9]{0,17})\.([0-9]{1,18})\.([A-Za-z0-9_-]{24})")
MAX_TOKEN = 100


def _mac(key: bytes, purpose: bytes, message: str) -> str:
    digest = hmac.new(version_key(key, 1, purpose), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def form_token(key: bytes, now: datetime) -> str:
    """``f1.<unix seconds served>.<mac>``: the form carries when it was served."""
    served = int(now.timestamp())
    return f"f1.{served}.{_mac(key, FORM, f'f1.{served}')}"


def form_served(token: str, key: bytes) -> datetime | None:
    """When a form token says its form was served; None when it is not ours."""
    shape = _FORM.fullmatch(token) if len(token) <= MAX_TOKEN else None
    if shape is None:
        return None
    expected = _mac(key, FORM, f"f1.{shape[1]}")
    if not hmac.compare_digest(expected, shape[2]):
        return None
    return datetime.fromtimestamp(int(shape[1]), UTC)


def _micros(when: datetime) -> int:
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def confirm_token(key: bytes, signup_id: int, created_at: datetime, address_key: str) -> str:
    """``c1.<id>.<created, µs>.<mac>``: the MAC also covers the address (lower case)
    without showing it, so a row deleted and its id reused for someone else, even
    in the same microsecond, never confirms with this link."""
    stamp = _micros(created_at)
    return f"c1.{signup_id}.{stamp}.{_mac(key, CONFIRM, f'c1.{signup_id}.{stamp}.{address_key}')}"


def confirm_parts(token: str) -> tuple[int, datetime] | None:
    """(the sign-up's id, when it began) a token names, not yet checked; None when
    it cannot be one of ours."""
    shape = _CONFIRM.fullmatch(token) if len(token) <= MAX_TOKEN else None
    if shape is None:
        return None
    try:
        created = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(shape[2]))
    except OverflowError:
        return None
    return int(shape[1]), created


def confirm_matches(token: str, key: bytes, created_at: datetime, address_key: str) -> bool:
    """Whether ``token`` is the confirmation token of the sign-up it names, as stored."""
    parts = confirm_parts(token)
    if parts is None:
        return False
    expected = confirm_token(key, parts[0], created_at, address_key)
    return hmac.compare_digest(expected, token)
