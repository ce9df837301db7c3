"""One subscriber's fields, from raw text: the same rules for a CSV line and for
``digest subscribers add`` (and any later form that edits a subscriber).

Control characters and bidirectional overrides are removed from every field and
white space folded (``validate.clean_line``); what cannot be used is a
ValueError that says why. The CSV export writes what these read
(``format_left``), so an export imports back unchanged.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime

from digest import validate, zones
from digest.keywords import keyword_key, why_never_matched
from digest.models import Subscriber

EXAMPLE_TIME = "2026-11-24T07:30:00Z"


def parse_subscriber(
    email: str,
    name: str = "",
    topics: str = "",
    timezone: str = "",
    left: str = "",
    first_name: str = "",
) -> Subscriber:
    """A subscriber from the raw text of its fields, held to the rules in ``validate``.

    ``left`` is the ``unsubscribed_at`` of an export that includes those who
    left (empty: subscribed). ``first_name`` is the name they are greeted by,
    held to the name's rules. The names come back whole, however long: the
    caller shortens them with ``shorten_name`` and passes its warning on.
    """
    address = validate.clean_line(email)
    if "".join(c for c in address.lower() if c not in " _-") in ("email", "emailaddress"):
        raise ValueError("a second header line (were two files joined?)")
    return Subscriber(
        email=validate.check_email(address),
        name=validate.clean_line(name),
        topics=list(parse_topics(topics)),
        timezone=parse_timezone(timezone),
        unsubscribed_at=parse_left(left) if left else None,
        first_name=validate.clean_line(first_name),
    )


def shorten_name(name: str, field: str = "name") -> tuple[str, str | None]:
    """``name`` cut to ``validate.MAX_NAME`` at a word, and the warning to give if it was.

    A long name is kept, shortened, rather than refused: the address is what
    matters. The import and ``subscribers add`` both call this, for the name
    and the first name (``field``, as the warning names it), so a name and
    its warning are the same whichever way it came in.
    """
    if len(name) <= validate.MAX_NAME:
        return name, None
    shortened = validate.shorten(name, validate.MAX_NAME)
    return shortened, f"{field} longer than {validate.MAX_NAME} characters, shortened"


@functools.lru_cache(maxsize=4096)
def parse_topics(raw: str) -> tuple[str, ...]:
    """A topics field: ``;``-separated, each cleaned, repeats (by keyword key) dropped."""
    found: dict[str, str] = {}
    for part in raw.split(";"):
        topic = validate.clean_line(part)
        if not topic:
            continue
        never = why_never_matched(topic)
        if never:
            raise ValueError(f"topic {validate.shorten(topic, 40)!r} {never}")
        if len(topic) > validate.MAX_KEYWORD:
            raise ValueError(
                f"topic longer than {validate.MAX_KEYWORD} characters: "
                f"{validate.shorten(topic, 40)!r}"
            )
        found.setdefault(keyword_key(topic), topic)
    if len(found) > validate.MAX_KEYWORDS:
        raise ValueError(f"{len(found)} topics; at most {validate.MAX_KEYWORDS} are allowed")
    size = validate.key_bytes(";".join(found.values()))
    if size > validate.MAX_KEY_BYTES:
        raise ValueError(
            f"the topics take {size} bytes in all; at most {validate.MAX_KEY_BYTES} are allowed"
        )
    return tuple(found.values())


@functools.lru_cache(maxsize=1024)
def parse_timezone(raw: str) -> str | None:
    """An IANA name, or None (the configured default) for an empty field."""
    name = validate.clean_line(raw)
    if not name:
        return None
    try:
        return zones.check_timezone(name)
    except ValueError as err:
        meant = _zones_by_folded_name().get(name.casefold())
        raise ValueError(f"{err}; did you mean {meant!r}?" if meant else str(err)) from None


@functools.cache
def _zones_by_folded_name() -> dict[str, str]:
    names = zoneinfo.available_timezones() - zones.NOT_PLACES.keys()
    return {zone.casefold(): zone for zone in names}


def parse_left(raw: str) -> datetime | None:
    """When someone unsubscribed: ISO 8601 (a time without offset is UTC), aware UTC."""
    text = validate.clean_line(raw)
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"unsubscribed_at: not a date and time such as {EXAMPLE_TIME}: "
            f"{validate.shorten(text, 40)!r}"
        ) from None


def format_left(when: datetime | None) -> str:
    """``unsubscribed_at`` as the export writes it: UTC, ``Z``, microseconds only if any."""
    if when is None:
        return ""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def describe_status(sub: Subscriber) -> str:
    """Whether they are mailed, and if not since when and why, in one line: e.g.
    ``bounced 2026-11-25 08:00 UTC: 550 5.1.1 user unknown``, or both
    ``unsubscribed … UTC; complaint … UTC`` when they left and later complained."""
    parts = []
    if sub.unsubscribed_at is not None:
        parts.append(f"unsubscribed {sub.unsubscribed_at:%Y-%m-%d %H:%M} UTC")
    if sub.suppressed_at is not None:
        detail = validate.clean_line(sub.suppressed_detail)
        parts.append(
            f"{sub.suppressed or 'suppressed'} {sub.suppressed_at:%Y-%m-%d %H:%M} UTC"
            + (f": {validate.shorten(detail, 120)}" if detail else "")
        )
    return "; ".join(parts) or "subscribed"
