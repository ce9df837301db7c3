"""SendGrid's Event Webhook: its signature checked as SendGrid signs, its body read as
SendGrid writes it. Plain functions; the web route (``digest.web.webhooks``) reads
the request and calls them, and ``Store.apply_events`` records what they return.

**The signature.** SendGrid signs each POST with the private half of an ECDSA
P-256 key pair it keeps per account, over the bytes of the timestamp header
followed by the raw body, SHA-256, the signature DER-encoded and then base64
(as its own ``EventWebhook.verify_signature`` checks, and the key's public half
is what its console shows: base64 of the DER SubjectPublicKeyInfo). The
timestamp is part of what is signed, so an old request cannot be given a new
one: requests older than ``MAX_AGE`` are refused, which bounds how long a copy
captured on the way can be replayed. Within that window a replay changes
nothing either, since each event is applied once (by ``sg_event_id``).

**Why not SendGrid's helper.** ``sendgrid.helpers.eventwebhook.EventWebhook``
checks the same signature with the same library (``cryptography``), and
tests/web/test_events.py holds the two to the same answers. But it takes the body
as ``str`` and hashes ``(timestamp + payload).encode()``: the body decoded, then
copied twice more, before a byte is hashed. On a body of ``MAX_BODY`` (16 MB)
that was 48 MiB at its peak, 81 MiB when the body holds non-ASCII text (Python
keeps such text at 2 or 4 bytes a character), and 40-78 ms; here the timestamp
and the body are hashed where they lie: 0 MiB, 10-12 ms. Its key loader takes
any PEM key (RSA, P-384) and says only "Could not deserialize key data"; and a
body that is not UTF-8 it cannot check at all, where here it is refused as
unsigned (403) or unreadable (400) like any other. Figures: ``benchmarks/webhook_benchmark.py
--signature``, and docs/providers.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from digest.config.values import secret
from digest.errors import ConfigError, DigestError
from digest.models import ProviderEvent
from digest.validate import clean_line

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
KEY_VARIABLE = "SENDGRID_WEBHOOK_PUBLIC_KEY"
INSECURE_VARIABLE = "DIGEST_WEBHOOK_INSECURE"
MAX_AGE = 600  # seconds a signed request stays acceptable
MAX_AHEAD = 300  # seconds a timestamp may lie ahead of this clock (skew)
# Bytes: SendGrid posts a batch every 30 seconds or so, typically under 1 MB;
# ten thousand events with long links are about 6 MB.
MAX_BODY = 16 * 1024 * 1024
MAX_EVENTS = 200_000
MAX_ID = 100  # characters of an sg_event_id (SendGrid: "a string up to 100 characters")

SUPPRESS = {"bounce": "bounced", "dropped": "dropped", "spamreport": "complaint"}
LEAVE = frozenset({"unsubscribe", "group_unsubscribe"})
COUNT = frozenset({"delivered", "open", "click"})
# Drops for a reason of the message or the account, not of the address: the
# next edition to the same address may well be delivered (SendGrid's reasons).
MESSAGE_DROPS = ("spam content", "invalid smtpapi header", "recipient list over package quota")
# A "blocked" bounce is the receiving server refusing for now, mostly for the
# sender's reputation or the content; SendGrid itself keeps mailing such an
# address. Only a block that classifies the address as invalid suppresses it.
DEAD_BLOCK = "invalid address"


class Refused(DigestError):
    """The request is not SendGrid's (unsigned, badly signed, stale): HTTP 403."""


class BadBody(DigestError):
    """The body is not a batch of SendGrid events: HTTP 400, nothing applied."""


# -- the key -------------------------------------------------------------------


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid's console shows it (base64 of DER), or PEM.

    Line breaks and spaces inside are ignored (a key pasted across lines).
    ``ConfigError`` names the variable, never the value.
    """
    lines = [line for line in text.strip().splitlines() if not line.startswith("-----")]
    compact = "".join("".join(lines).split())
    problem = f"{KEY_VARIABLE}: not an ECDSA P-256 public key"
    try:
        key = load_der_public_key(base64.b64decode(compact, validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            f"{problem} (expected the base64 text SendGrid shows as the verification key "
            "of its Signed Event Webhook)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{problem} (a key of another kind)")
    return key


def configured_key() -> ec.EllipticCurvePublicKey | None:
    """``SENDGRID_WEBHOOK_PUBLIC_KEY``, loaded; None when it is not set."""
    text = secret(KEY_VARIABLE)
    return load_public_key(text) if text and text.strip() else None


def insecure_allowed() -> bool:
    """``DIGEST_WEBHOOK_INSECURE=1``: accept unsigned events (testing only)."""
    value = (secret(INSECURE_VARIABLE) or "0").strip()
    if value not in ("0", "1"):
        raise ConfigError(f"{INSECURE_VARIABLE}: expected 1 or 0, got {value[:20]!r}")
    return value == "1"


# -- the signature -------------------------------------------------------------


def verify(
    key: ec.EllipticCurvePublicKey,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
) -> None:
    """Raise ``Refused`` unless SendGrid signed ``timestamp`` + ``body`` within ``MAX_AGE``."""
    decoded = check_headers(signature, timestamp, now)
    signed = signed_hash(timestamp)
    signed.update(body)  # hashed where it lies: ``timestamp + body`` would copy the body
    check_digest(key, decoded, signed.digest())


def check_headers(signature: str | None, timestamp: str | None, now: float) -> bytes:
    """The signature, decoded; ``Refused`` for what can be refused without the body
    (no headers, a stale timestamp, a signature that is not one), so that a junk
    request is answered before a byte of its body is read."""
    if not signature or not timestamp:
        missing = SIGNATURE_HEADER if not signature else TIMESTAMP_HEADER
        raise Refused(f"unsigned request (no {missing} header)")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refused(f"{TIMESTAMP_HEADER} is not a Unix time: {clean_line(timestamp)[:40]!r}")
    age = now - int(timestamp)
    if age > MAX_AGE:
        raise Refused(f"signed {age:.0f} s ago: older than the {MAX_AGE} s allowed")
    if age < -MAX_AHEAD:
        raise Refused(f"signed {-age:.0f} s in the future: check this machine's clock")
    try:
        decoded = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        decode_dss_signature(decoded)
    except ValueError:
        raise Refused(f"{SIGNATURE_HEADER} does not hold an ECDSA signature") from None
    return decoded


def signed_hash(timestamp: str):
    """SHA-256 over what SendGrid signs, begun: the body is added as it arrives."""
    return hashlib.sha256(timestamp.encode("ascii"))


def check_digest(key: ec.EllipticCurvePublicKey, decoded: bytes, digest: bytes) -> None:
    """``Refused`` unless ``decoded`` (from ``check_headers``) signs ``digest``."""
    try:
        key.verify(decoded, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        raise Refused("the signature does not match (wrong key, or the body was changed)") from None


# -- the body ------------------------------------------------------------------


def parse(body: bytes, received: datetime) -> tuple[list[ProviderEvent], int]:
    """The events digest acts on, and how many others were ignored; ``BadBody`` if
    the body is not SendGrid's. Times are clamped to ``received``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadBody(f"not UTF-8 text (byte {err.start})") from None
    try:
        found = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise BadBody(f"not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except RecursionError:
        raise BadBody("not SendGrid's events: nested too deeply") from None
    except ValueError as err:  # a number of thousands of digits, NaN
        raise BadBody(f"not JSON ({str(err).splitlines()[0][:100]})") from None
    if not isinstance(found, list):
        raise BadBody(f"expected a JSON array of events, got {_kind(found)}")
    if len(found) > MAX_EVENTS:
        raise BadBody(f"{len(found)} events in one request; at most {MAX_EVENTS} are read")
    events = []
    ignored = 0
    for number, item in enumerate(found, 1):
        event = _event(number, item, received)
        if event is None:
            ignored += 1
        else:
            events.append(event)
    return events, ignored


def _event(number: int, item: object, received: datetime) -> ProviderEvent | None:
    if not isinstance(item, dict):
        raise BadBody(f"event {number}: expected an object, got {_kind(item)}")
    kind = item.get("event")
    if not isinstance(kind, str) or not kind:
        raise BadBody(f"event {number}: no event name")
    suppress = SUPPRESS.get(kind)
    if suppress is None and kind not in LEAVE and kind not in COUNT:
        return None
    detail = _text(item.get("reason")) or _text(item.get("status"))
    blocked = kind == "bounce" and _text(item.get("type")).lower() == "blocked"
    if blocked and _text(item.get("bounce_classification")).lower() != DEAD_BLOCK:
        return None
    if kind == "dropped" and detail.lower().startswith(MESSAGE_DROPS):
        suppress = None  # counted as dropped; the address is fine
    # A test copy (``digest send --to``) carries subscriber_id "0": it belongs to
    # no edition's counts, though what it says about the address still holds.
    test_copy = item.get("subscriber_id") == "0"
    return ProviderEvent(
        event_id=_event_id(number, item),
        kind=kind,
        email=_email(number, kind, item.get("email")),
        occurred_at=_when(item.get("timestamp"), received),
        edition_id=None if test_copy else _number(item.get("edition_id")),
        subscriber_id=_number(item.get("subscriber_id")),
        detail=detail[:300],
        suppress=suppress,
        unsubscribe=kind in LEAVE,
    )


def _event_id(number: int, item: dict) -> str:
    """``sg_event_id``; a longer one by its hash, and an event without one by the hash
    of its content (so the same event posted twice is still applied once)."""
    given = item.get("sg_event_id")
    if given is None:
        canonical = json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    if not isinstance(given, str) or not given.strip():
        raise BadBody(f"event {number}: sg_event_id: expected text, got {_kind(given)}")
    given = given.strip()
    if len(given) > MAX_ID or not given.isprintable():
        return "sha256:" + hashlib.sha256(given.encode("utf-8", "surrogatepass")).hexdigest()
    return given


def _email(number: int, kind: str, value: object) -> str:
    address = clean_line(value[:1000]) if isinstance(value, str) else ""
    if not address or len(address) > 320 or "@" not in address:
        shown = clean_line(value)[:60] if isinstance(value, str) else _kind(value)
        raise BadBody(f"event {number} ({kind[:30]}): email: not an address: {shown!r}")
    return address


def _when(value: object, received: datetime) -> datetime:
    """The event's Unix time, never later than it was received; received if unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return received
    if not math.isfinite(value) or not 0 < value < 253_402_300_799:  # up to year 9999
        return received
    return min(datetime.fromtimestamp(value, UTC), received)


def _number(value: object) -> int | None:
    """A custom_args id ("123"): a positive integer the database can hold, else None
    (``"0"`` is a test copy's subscriber: counted for nobody)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
        return number if 0 < number < 2**31 else None
    return None


def _text(value: object) -> str:
    # Cut before cleaning: a reason of megabytes is kept to a line either way.
    return clean_line(value[:2000]) if isinstance(value, str) else ""


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true or false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
