"""Timezones: which names this machine can use, the one place a name becomes a zone,
and the zone a subscriber is sent in.

A stored zone can stop being usable without anyone touching the database: a
tzdata update removes it, or ``localtime`` (which exists only where a
distribution links it) is read on another host. Every stage that turns a
zone's name into a zone asks here (``zone_of``), so one subscriber's zone is
refused at the edge (import, ``subscribers add``, ``--timezone``, settings)
and, once stored, folds into the default zone (``delivery_timezone``) rather
than stopping a send for everyone. Imports nothing of digest's.
"""

from __future__ import annotations

import functools
import zoneinfo


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# Names in the tz database that are no place: ``localtime`` is whatever the machine
# it is read on is set to (and exists only where a distribution links it),
# ``Factory`` is the "zone not set" placeholder (shown as "-00"), ``posixrules``
# the template POSIX TZ strings borrow their rules from.
NOT_PLACES = {
    "localtime": "is this machine's own setting, not a place",
    "Factory": "is the tz database's placeholder for a zone not set",
    "posixrules": "is the tz database's template for POSIX rules, not a place",
}


def check_timezone(name: str) -> str:
    """An IANA timezone name this machine can use, or ValueError saying what is wrong."""
    name = name.strip()
    zone_of(name)
    return name


@functools.cache
def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The zone named ``name``, or ValueError saying why it cannot be used.

    The one place a stored or typed zone name becomes a zone, so every
    stage refuses the same names (``NOT_PLACES``, and anything the tz
    database on this machine does not have, as after a tzdata update
    removed a zone). Checked against the list of zones before opening one: a
    folder of the tz database (``America``, ``Etc``) would otherwise raise
    ``IsADirectoryError``, and a name with ``..`` could look outside it. Kept
    for good once loaded (ZoneInfo's own cache holds only 8 strongly), so a
    zone file removed under a running scheduler does not stop it.
    """
    problem = _zone_problem(name)
    if problem is None:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            problem = _not_here(name)
    raise ValueError(f"{problem} (use an IANA name such as Europe/London)")


def _zone_problem(name: str) -> str | None:
    if name in NOT_PLACES:
        return f"timezone {_shown_zone(name)} {NOT_PLACES[name]}"
    if name not in _timezones() and name != "UTC":
        return f"unknown timezone {_shown_zone(name)}"
    return None


def _not_here(name: str) -> str:
    return f"timezone {_shown_zone(name)} is not in this machine's tz database"


def _shown_zone(name: str) -> str:
    return repr(name[:80])  # repr shows a control character as an escape, never raw


def usable_timezone(name: str) -> bool:
    """Whether ``zone_of(name)`` gives a zone (see there for what is refused)."""
    try:
        zone_of(name)
    except ValueError:
        return False
    return True


def delivery_timezone(stored: str | None, default: str) -> str:
    """The zone a subscriber is sent in: their own, or ``default`` when they have none
    or theirs cannot be used here (a zone a tzdata update removed, ``localtime``
    stored before it was refused): one person's zone never stops everyone's send."""
    return stored if stored and usable_timezone(stored) else default


def fallback_line(zone: str, default: str, addresses: list[str], count: int) -> str:
    """The one warning for the ``count`` active subscribers stored in ``zone``, which
    cannot be used here, a few of them named: why, where they are sent instead, and
    how to change it."""
    who = ", ".join(addresses)
    if count > len(addresses):
        who = f"{count} subscribers ({who}, …)" if addresses else f"{count} subscribers"
    problem = _zone_problem(zone) or _not_here(zone)
    address = addresses[0] if count == len(addresses) == 1 else "ADDRESS"
    return (
        f"{who}: {problem}: sent in {default}, the default timezone, until it is changed "
        f"(digest subscribers add {address} --timezone ZONE)"
    )


def fallback_lines(
    found: list[tuple[str, int, list[str]]], default: str, most: int = 20
) -> list[str]:
    """``fallback_line`` for each unusable zone (``Store.unusable_timezones``), the
    first ``most`` of them; the rest in one line, counted."""
    lines = [fallback_line(zone, default, named, count) for zone, count, named in found[:most]]
    rest = found[most:]
    if rest:
        people = sum(count for _, count, _ in rest)
        lines.append(
            f"and {len(rest)} more timezones that cannot be used here, {people} subscribers "
            f"in all: sent in {default}, the default timezone (digest subscribers list shows "
            "their timezones)"
        )
    return lines
