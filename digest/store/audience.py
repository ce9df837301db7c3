"""Who the subscribers are, counted rather than listed: per delivery timezone,
per series (zone, send time, cadence) and so per scheduler run, the stored
zones this machine cannot use, and the widest values a listing must
lay out. Reads only, each one query, so a send, the scheduler and a listing ask
them of a million subscribers without reading the rows. And who is sent an
edition (``audience_clause``): the one place that says it, so planning, the
ledger's counts and ``digest status`` agree."""

from __future__ import annotations

from datetime import date, time

import sqlalchemy as sa

from digest.models import Edition, time_text
from digest.store.schema import ACTIVE, subscribers
from digest.zones import delivery_timezone, usable_timezone


def by_timezone(engine: sa.Engine, default: str) -> dict[str, int]:
    """Active subscribers per delivery timezone: those with none, or with one this
    machine cannot use, count in ``default`` (``zones.delivery_timezone``)."""
    found: dict[str, int] = {}
    for stored, count in _stored_timezones(engine):
        zone = delivery_timezone(stored, default)
        found[zone] = found.get(zone, 0) + count
    return found


Series = tuple[str, time | None, str]  # (delivery zone, send time or None, cadence)


def by_series(engine: sa.Engine, default: str) -> dict[Series, int]:
    """Active subscribers per (delivery zone, send time, cadence): each series that has
    anyone, and so each edition a date can have. One grouped read of the index on
    (timezone, send_time, frequency, active); the paused are counted in (a pause
    skips an edition, not a series)."""
    c = subscribers.c
    query = (
        sa.select(c.timezone, c.send_time, c.frequency, sa.func.count())
        .where(ACTIVE)
        .group_by(c.timezone, c.send_time, c.frequency)
    )
    found: dict[Series, int] = {}
    with engine.connect() as conn:
        for stored, at, often, count in conn.execute(query):
            key = (
                delivery_timezone(stored, default),
                time.fromisoformat(at) if at else None,
                "weekly" if often == "weekly" else "daily",
            )
            found[key] = found.get(key, 0) + count
    return found


def pairs(engine: sa.Engine, default: str) -> list[tuple[str, time | None]]:
    """Every (delivery zone, send time) with an active subscriber: the scheduler's
    runs, one job each. ``SELECT DISTINCT`` over the same index."""
    c = subscribers.c
    query = sa.select(c.timezone, c.send_time).where(ACTIVE).distinct()
    with engine.connect() as conn:
        found = {
            (delivery_timezone(stored, default), time.fromisoformat(at) if at else None)
            for stored, at in conn.execute(query)
        }
    return sorted(found, key=pair_order)


def by_frequency(engine: sa.Engine, today: date) -> dict[str, int]:
    """Active subscribers who are sent daily, weekly, and of those how many are paused
    on ``today`` (``paused_until`` on or after it): what ``digest status`` shows."""
    c = subscribers.c
    weekly = c.frequency == "weekly"
    paused = c.paused_until >= today.isoformat()
    query = sa.select(
        sa.func.count(),
        sa.func.count().filter(weekly),
        sa.func.count().filter(paused),
    ).where(ACTIVE)
    with engine.connect() as conn:
        everyone, weeklies, resting = conn.execute(query).one()
    return {"daily": everyone - weeklies, "weekly": weeklies, "paused": resting}


def pair_order(pair: tuple[str, time | None]) -> tuple[str, str]:
    """Zones by name, the site's time (None) first within one."""
    return (pair[0], "" if pair[1] is None else pair[1].isoformat())


def unusable_timezones(
    engine: sa.Engine, named: int = 3, zones: int = 20
) -> list[tuple[str, int, list[str]]]:
    """The stored zones of active subscribers that this machine cannot use, each
    with how many have it and the first ``named`` of their addresses (asked of the
    first ``zones`` zones only: a database full of junk zones is one query each)."""
    found = []
    for stored, count in _stored_timezones(engine):
        if stored is None or usable_timezone(stored):
            continue
        first: list[str] = []
        if named and len(found) < zones:
            with engine.connect() as conn:
                first = list(
                    conn.execute(
                        sa.select(subscribers.c.email)
                        .where(subscribers.c.active, subscribers.c.timezone == stored)
                        .order_by(subscribers.c.id)
                        .limit(named)
                    ).scalars()
                )
        found.append((stored, count, first))
    return found


def _stored_timezones(engine: sa.Engine) -> list[tuple[str | None, int]]:
    with engine.connect() as conn:
        return [
            (zone, count)
            for zone, count in conn.execute(
                sa.select(subscribers.c.timezone, sa.func.count())
                .where(subscribers.c.active)
                .group_by(subscribers.c.timezone)
                .order_by(subscribers.c.timezone)
            )
        ]


def widths(engine: sa.Engine, active_only: bool = True) -> dict[str, int]:
    """The longest email, name, first name, topics ("; "-joined) and timezone, in characters.

    So a listing can be laid out before its rows are read, and printed a
    page at a time instead of held whole.
    """
    c = subscribers.c
    separators = sa.func.length(c.topics) - sa.func.length(sa.func.replace(c.topics, ";", ""))
    query = sa.select(
        sa.func.max(sa.func.length(c.email)),
        sa.func.max(sa.func.length(c.name)),
        sa.func.max(sa.func.length(c.first_name)),
        sa.func.max(sa.func.length(c.topics) + separators),
        sa.func.max(sa.func.length(c.timezone)),
    )
    if active_only:
        query = query.where(c.active)
    with engine.connect() as conn:
        found = conn.execute(query).one()
    return {
        k: v or 0
        for k, v in zip(("email", "name", "first_name", "topics", "timezone"), found, strict=True)
    }


def timezone_clause(engine: sa.Engine, default_timezone: str, timezone: str):
    """Who is sent ``timezone``'s edition: those stored in it, and in the default
    zone's also those with none or with a zone this machine cannot use
    (``zones.delivery_timezone``, as ``Store.audience_by_timezone`` counts)."""
    if timezone == default_timezone:
        unusable = [zone for zone, _, _ in unusable_timezones(engine, named=0)]
        return sa.or_(
            subscribers.c.timezone == timezone,
            subscribers.c.timezone.is_(None),
            subscribers.c.timezone.in_(unusable),
        )
    if not usable_timezone(timezone):
        return sa.false()
    return subscribers.c.timezone == timezone


def audience_clause(engine: sa.Engine, default_timezone: str, edition: Edition):
    """Who is sent ``edition``: the one place that says it (planning, the counts,
    ``digest status``). Its zone's people (``timezone_clause``) with its send time
    (none of their own for the site's edition), its cadence (daily: none chosen,
    or daily), and not paused on its date (``paused_until`` before it)."""
    c = subscribers.c
    if edition.send_time is None:
        at = c.send_time.is_(None)
    else:
        at = c.send_time == time_text(edition.send_time)
    if edition.cadence == "weekly":
        often = c.frequency == "weekly"
    else:
        often = sa.or_(c.frequency.is_(None), c.frequency == "daily")
    awake = sa.or_(c.paused_until.is_(None), c.paused_until < edition.date.isoformat())
    return sa.and_(timezone_clause(engine, default_timezone, edition.timezone), at, often, awake)
