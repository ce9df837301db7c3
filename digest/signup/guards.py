"""What a sign-up must get past before anything is stored or mailed: its fields,
its form token, the optional proof-of-work, and its client's limits.

Each check says what it found in a word ``front`` counts per day (the kinds
of ``store.schema.SIGNUP_EVENTS``), so ``digest status`` shows which guard
dropped what.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import altcha

from digest import validate
from digest.config.signup import SignupSettings
from digest.rendering.links import version_key
from digest.signup.tokens import form_served
from digest.subscribers.fields import parse_frequency, parse_timezone, parse_topics

MAX_NAME = 100  # a sign-up's name and first name, in characters: one short line
MAX_FIELD = 2000  # anything longer is no one's name, address, topic or zone
ALTCHA = b"altcha challenges"


class Refused(Exception):
    """A field that cannot be used: ``field`` names it, the message says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Fields:
    email: str
    name: str
    first_name: str
    topics: tuple[str, ...]
    timezone: str | None
    frequency: str | None = None  # None: the site's default, daily


def _line(field: str, value: str, limit: int) -> str:
    """One line of text, refused (never cleaned) when it holds a line break, a
    control character or anything else a header could be made of."""
    if len(value) > MAX_FIELD:
        raise Refused(field, f"that is too long (at most {limit} characters)")
    if validate.has_control(value):
        raise Refused(field, "that holds a line break or a control character")
    value = validate.clean_line(value)
    if len(value) > limit:
        raise Refused(field, f"that is too long (at most {limit} characters)")
    return value


def check_fields(
    email: str,
    name: str,
    first_name: str,
    topics: tuple[str, ...],
    timezone: str,
    frequency: str = "",
) -> Fields:
    """The form's values as they will be stored, held to ``subscribers add``'s rules
    (``validate.check_email``, ``parse_topics``, ``parse_timezone``,
    ``parse_frequency``); else ``Refused``."""
    address = _line("email", email, validate.MAX_EMAIL)
    try:
        address = validate.check_email(address)
        validate.mail_address(address)
    except ValueError:
        raise Refused("email", "that is not an email address") from None
    if "=?" in address:
        raise Refused("email", "that is not an email address")
    if len(topics) > validate.MAX_KEYWORDS:
        raise Refused("topics", f"at most {validate.MAX_KEYWORDS} topics")
    picked = []
    for topic in topics:
        topic = _line("topics", topic, validate.MAX_KEYWORD)
        if ";" in topic:
            raise Refused("topics", "a topic holds no ';'")
        picked.append(topic)
    try:
        chosen = parse_topics(";".join(picked))
    except ValueError as err:
        raise Refused("topics", str(err)) from None
    zone = _line("timezone", timezone, validate.MAX_TIMEZONE)
    try:
        zone_name = parse_timezone(zone) if zone else None
    except ValueError:
        raise Refused("timezone", "that is not a time zone this site can send in") from None
    try:
        often = parse_frequency(_line("frequency", frequency, len("weekly")))
    except ValueError:
        raise Refused("frequency", "choose daily or weekly") from None
    return Fields(
        email=address,
        name=_line("name", name, MAX_NAME),
        first_name=_line("first_name", first_name, MAX_NAME),
        topics=chosen,
        timezone=zone_name,
        frequency=often,
    )


def form_age(token: str, key: bytes, settings: SignupSettings, now: datetime) -> str | None:
    """None when the form token lets the post through; else the kind it is dropped
    as: ``bad_form_token`` (not ours), ``too_fast`` or ``too_old``."""
    served = form_served(token, key)
    if served is None:
        return "bad_form_token"
    age = (now - served).total_seconds()
    if age < settings.min_seconds:
        return "too_fast"
    if age > settings.max_form_age_hours * 3600:
        return "too_old"
    return None


def _altcha_key(key: bytes) -> str:
    return version_key(key, 1, ALTCHA).hex()


def challenge(key: bytes, settings: SignupSettings, now: datetime) -> dict:
    """A new ALTCHA challenge (v1, SHA-256), valid as long as a form is."""
    made = altcha.create_challenge_v1(
        hmac_key=_altcha_key(key),
        max_number=settings.altcha_max_number,
        expires=now + timedelta(hours=settings.max_form_age_hours),
    )
    return made.to_dict()


def solved(payload: str, key: bytes) -> bool:
    """Whether ``payload`` (the widget's base64 JSON) solves one of our challenges."""
    if not payload or len(payload) > 4000:
        return False
    try:
        ok, _error = altcha.verify_solution_v1(payload, _altcha_key(key), check_expires=True)
    except Exception:  # whatever a stranger's JSON holds, it is a failed proof, not a 500
        return False
    return ok is True


def retry_after(kind: str, now: datetime) -> int:
    """Seconds until the hour (``h``) or the UTC day (``d``) a counter counts ends."""
    now = now.astimezone(UTC)
    if kind == "h":
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    else:
        end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return max(1, math.ceil((end - now).total_seconds()))
