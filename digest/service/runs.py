"""Which editions run when: the coming runs per (zone, send time), and what a start
catches up.

A run is one (delivery zone, send time) pair's time on one local date: the site's
``send_time`` for the subscribers with none of their own, and each personal time
anyone chose. It sends that pair's daily edition and, on ``weekly_day``, its
weekly one. Read by ``digest schedule`` (its jobs and ``--list``) and ``digest
status``. The instants come from ``sendtimes``; whether an edition was already
sent is the ledger's to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from digest.config.settings import Settings
from digest.models import Run
from digest.sending.ledger import Ledger
from digest.service.heartbeat import first_start
from digest.service.sendtimes import describe_delay, format_time, last_run, next_run, upcoming
from digest.store import audience
from digest.store.editions import find_edition, first_created
from digest.store.store import Store

Pair = tuple[str, time | None]  # (delivery zone, send time; None: the site's)


def delivery_zones(store: Store, settings: Settings) -> list[str]:
    """Every active subscriber's timezone, plus the default."""
    return sorted({*store.subscriber_timezones(settings.timezone), settings.timezone})


def delivery_pairs(store: Store, settings: Settings) -> list[Pair]:
    """Every (zone, send time) with an active subscriber, plus the default zone at the
    site's time: one scheduler job each. One ``SELECT DISTINCT`` of an index."""
    found = set(audience.pairs(store.engine, settings.timezone))
    found.add((settings.timezone, None))
    return sorted(found, key=audience.pair_order)


def at_time(settings: Settings, send_time: time | None) -> time:
    """The local time a pair's run fires at."""
    return send_time or settings.send_time


def pair_next(settings: Settings, pair: Pair, after: datetime) -> Run:
    zone, send_time = pair
    return next_run(zone, at_time(settings, send_time), after)._replace(send_time=send_time)


def pair_last(settings: Settings, pair: Pair, now: datetime) -> Run:
    zone, send_time = pair
    return last_run(zone, at_time(settings, send_time), now)._replace(send_time=send_time)


def is_weekly(settings: Settings, day: date) -> bool:
    """Whether a run on local date ``day`` sends the weekly edition too."""
    return day.weekday() == settings.weekly_weekday


@dataclass(frozen=True)
class Listed:
    """One coming run, as ``digest schedule --list`` shows it."""

    run: Run
    daily: int  # subscribers of its daily edition (the paused counted in)
    weekly: int  # subscribers of its weekly edition
    sends_weekly: bool  # this date is ``weekly_day``: the weekly edition goes too


def listing(store: Store, settings: Settings, now: datetime, days: int = 1) -> list[Listed]:
    """The coming runs (``days`` ahead, at least one per pair), each with how many
    daily and weekly subscribers it serves and whether it sends the weekly edition."""
    series = audience.by_series(store.engine, settings.timezone)
    found = []
    for pair in delivery_pairs(store, settings):
        zone, send_time = pair
        for run in upcoming([zone], at_time(settings, send_time), now, days):
            found.append(
                Listed(
                    run._replace(send_time=send_time),
                    series.get((zone, send_time, "daily"), 0),
                    series.get((zone, send_time, "weekly"), 0),
                    is_weekly(settings, run.date),
                )
            )
    return sorted(found, key=lambda r: (r.run.at, *audience.pair_order(r.run.pair)))


def run_cadences(settings: Settings, day: date) -> list[str]:
    """The cadences a run on local date ``day`` sends: daily, and weekly on ``weekly_day``."""
    return ["daily", "weekly"] if is_weekly(settings, day) else ["daily"]


def missed(
    store: Store, settings: Settings, now: datetime
) -> tuple[list[Run], list[tuple[Run, str]]]:
    """What a start at ``now`` does about each pair's latest due run.

    Returns (to send now, skipped with the reason). A run whose editions the
    ledger has with nobody pending and nobody a later try may cure
    (``Ledger.retryable``) was sent, or tried to the end, and is neither. Nor is
    one never started that nobody missed: due before digest first ran here (no
    scheduler had started and no edition been sent: a fresh install's
    yesterday), or of a pair with nobody in it. A part-sent edition is always
    missed, whenever it was due.
    """
    ledger = Ledger(store, settings.timezone)
    window = timedelta(hours=settings.catch_up_hours)
    since = in_service_since(store, now)
    series = audience.by_series(store.engine, settings.timezone)
    send, skip = [], []
    for pair in delivery_pairs(store, settings):
        run = pair_last(settings, pair, now)
        # The editions of the run that have anyone: a pair of weekly subscribers
        # only has nothing due on another day.
        due = [c for c in run_cadences(settings, run.date) if series.get((*pair, c), 0)]
        editions = [find_edition(store.engine, run.date, *pair, c) for c in due]
        counts = [ledger.counts(e) if e is not None else {} for e in editions]
        pending = sum(c.get("pending", 0) for c in counts)
        pending += sum(ledger.retryable(e) for e in editions if e is not None)
        if not pending and due and all(any(c.values()) for c in counts):
            continue
        if not pending and (run.at < since or not due):
            continue
        if now - run.at <= window:
            send.append(run)
        else:
            left = f"{pending} recipient(s) not yet sent" if pending else "never sent"
            skip.append((run, too_late(run, now, settings, left)))
    return send, skip


def in_service_since(store: Store, now: datetime) -> datetime:
    """When digest first ran here: its first scheduler's start or its first edition,
    whichever came first (``now`` if neither: this is the first start)."""
    found = [t for t in (first_start(store), first_created(store.engine)) if t is not None]
    return min(found, default=now)


def too_late(run: Run, now: datetime, settings: Settings, left: str = "") -> str:
    """Why ``run`` is not sent at ``now``, and how the operator can send it anyway."""
    return (
        f"due {describe_run(run)}, {describe_delay(now - run.at)} ago: more than "
        f"catch_up_hours = {settings.catch_up_hours}{'; ' + left if left else ''} "
        f"(`digest send --date {run.date} --timezone {run.timezone}` sends it)"
    )


def describe_run(run: Run) -> str:
    """``at 07:00 local (2026-11-25 06:00 UTC)``: the edition's label has the date."""
    local, utc = format_time(run.local.time()), format_time(run.at.time())
    return f"at {local} local ({run.at:%Y-%m-%d} {utc} UTC)"
