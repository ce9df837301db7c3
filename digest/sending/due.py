"""Which editions a date has: for each (zone, send time) with subscribers, its daily
edition, and on ``weekly_day`` its weekly one.

Asked of the subscribers' series (``store.audience.by_series``: one grouped read
of an index), so a pair whose people are all weekly has no daily edition to
start, and a date that is not ``weekly_day`` no weekly one.
"""

from __future__ import annotations

from datetime import date, datetime, time

from digest.config.settings import Settings
from digest.editions.windows import local_today, propose_edition
from digest.models import Edition
from digest.store import audience
from digest.store.store import Store


def editions_due(
    store: Store,
    settings: Settings,
    day: date | None,
    now: datetime,
    timezones: list[str] | None = None,
    pairs: list[tuple[str, time | None]] | None = None,
) -> list[Edition]:
    """Every edition due ``day`` (or each zone's own today), as recorded or as it would
    be if sent ``now``; only those of ``timezones``, or of ``pairs``, if given. In
    zone, send time (the site's first) and cadence order."""
    found = []
    for zone, at, cadence in sorted(
        audience.by_series(store.engine, settings.timezone), key=_order
    ):
        if timezones and zone not in timezones:
            continue
        if pairs is not None and (zone, at) not in pairs:
            continue
        when = day or local_today(zone, now)
        if cadence == "weekly" and when.weekday() != settings.weekly_weekday:
            continue
        found.append(propose_edition(store, settings, when, zone, now, at, cadence))
    return found


def zones_served(store: Store, settings: Settings) -> set[str]:
    """The delivery zones anyone is in, whatever their cadence."""
    return {zone for zone, _, _ in audience.by_series(store.engine, settings.timezone)}


def _order(series: tuple[str, time | None, str]) -> tuple:
    zone, at, cadence = series
    return (*audience.pair_order((zone, at)), cadence)
