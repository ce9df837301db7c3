"""One subscriber's fields, from raw text: the same rules for a CSV line and for
``digest subscribers add`` (and any later form that edits a subscriber).

Control characters and bidirectional overrides are removed from every field and
white space folded (``validate.clean_line``); what cannot be used is a
ValueError that says why. The CSV export writes what these read
(``format_left``), so an export imports back unchanged.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, date, datetime, time

from digest import validate, zones
from digest.keywords import keyword_key, why_never_matched
from digest.models import Subscriber, time_text

EXAMPLE_TIME = "2026-11-24T07:30:00Z"
# How often someone is sent (``subscribers.frequency``): the site's default is daily.
FREQUENCIES = ("daily", "weekly")
# The CSV's columns for how often and when, in the order export writes them.
CADENCE_COLUMNS = ("frequency", "send_time", "paused_until")
# What clears a frequency, send time or pause back to the site's: an empty field
# (CSV, ``--send-time ""``) or the word, which a shell cannot lose.
DEFAULT_WORDS = ("", "default")
_HH_MM = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_subscriber(
    email: str,
    name: str = "",
    topics: str = "",
    timezone: str = "",
    left: str = "",
    first_name: str = "",
    frequency: str = "",
    send_time: str = "",
    paused_until: str = "",
) -> Subscriber:
    """A subscriber from the raw text of its fields, held to the rules in ``validate``.

    ``left`` is the ``unsubscribed_at`` of an export that includes those who
    left (empty: subscribed). ``first_name`` is the name they are greeted by,
    held to the name's rules. The names come back whole, however long: the
    caller shortens them with ``shorten_name`` and passes its warning on.
    ``frequency``, ``send_time`` and ``paused_until`` empty are the site's
    (``parse_frequency`` and its siblings).
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
        frequency=parse_frequency(frequency),
        send_time=parse_send_time(send_time),
        paused_until=parse_paused_until(paused_until),
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


@functools.lru_cache(maxsize=1024)  # a file repeats a few values a million times
def parse_frequency(raw: str) -> str | None:
    """``daily`` or ``weekly`` (any case), or None (the site's default) for an empty
    field or ``default``."""
    text = validate.clean_line(raw).lower()
    if text in DEFAULT_WORDS:
        return None
    if text not in FREQUENCIES:
        raise ValueError(f"frequency: not daily or weekly: {validate.shorten(text, 40)!r}")
    return text


@functools.lru_cache(maxsize=1024)
def parse_send_time(raw: str) -> time | None:
    """A local time ``HH:MM`` (00:00 to 23:59; ``7:30`` is 07:30), or None (the site's
    ``send_time``) for an empty field or ``default``."""
    text = validate.clean_line(raw)
    if text.lower() in DEFAULT_WORDS:
        return None
    found = _HH_MM.fullmatch(text)
    if found and int(found[1]) < 24 and int(found[2]) < 60:
        return time(int(found[1]), int(found[2]))
    raise ValueError(
        f"send_time: not a time of day HH:MM (00:00 to 23:59): {validate.shorten(text, 40)!r}"
    )


@functools.lru_cache(maxsize=1024)
def parse_paused_until(raw: str) -> date | None:
    """The last day of a pause, ``YYYY-MM-DD`` (no edition on or before it), or None
    (not paused) for an empty field or ``default``. A day gone by is kept: it
    pauses nothing, and an export of it imports back unchanged."""
    text = validate.clean_line(raw)
    if text.lower() in DEFAULT_WORDS:
        return None
    try:
        if not _ISO_DATE.fullmatch(text):  # fromisoformat also takes 20261207, 2026-W49-1
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"paused_until: not a date YYYY-MM-DD such as 2026-12-24: "
            f"{validate.shorten(text, 40)!r}"
        ) from None


def format_cadence(sub: Subscriber) -> tuple[str, str, str]:
    """``frequency``, ``send_time`` and ``paused_until`` as the export writes them
    (empty: the site's), which ``parse_subscriber`` reads back the same."""
    return (
        sub.frequency or "",
        time_text(sub.send_time),
        sub.paused_until.isoformat() if sub.paused_until is not None else "",
    )


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
