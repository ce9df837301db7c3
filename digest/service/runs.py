"""Which editions run when: the coming runs per zone, and what a start catches up.

Read by ``digest schedule`` (its jobs and ``--list``) and ``digest status``.
The instants come from ``sendtimes``; whether an edition was already sent is
the ledger's to say.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from digest.config.settings import Settings
from digest.models import Run
from digest.sending.ledger import Ledger
from digest.service.heartbeat import first_start
from digest.service.sendtimes import describe_delay, format_time, last_run, upcoming
from digest.store.editions import find_edition, first_created
from digest.store.store import Store


def delivery_zones(store: Store, settings: Settings) -> list[str]:
    """Every active subscriber's timezone, plus the default."""
    return sorted({*store.subscriber_timezones(settings.timezone), settings.timezone})


def listing(
    store: Store, settings: Settings, now: datetime, days: int = 1
) -> list[tuple[Run, int]]:
    """The coming runs (``days`` ahead, at least one per zone) with each zone's audience."""
    audience = store.audience_by_timezone(settings.timezone)
    runs = upcoming(delivery_zones(store, settings), settings.send_time, now, days)
    return [(run, audience.get(run.timezone, 0)) for run in runs]


def missed(
    store: Store, settings: Settings, now: datetime
) -> tuple[list[Run], list[tuple[Run, str]]]:
    """What a start at ``now`` does about each zone's latest due edition.

    Returns (to send now, skipped with the reason). An edition the ledger has
    with nobody pending and nobody a later try may cure (``Ledger.retryable``)
    was sent, or tried to the end, and is neither. Nor is one never started
    that nobody missed: due before digest first ran here (no scheduler had
    started and no edition been sent: a fresh install's yesterday), or in a
    zone with nobody in it. A part-sent edition is always missed, whenever it
    was due.
    """
    ledger = Ledger(store, settings.timezone)
    window = timedelta(hours=settings.catch_up_hours)
    since = in_service_since(store, now)
    audience = store.audience_by_timezone(settings.timezone)
    send, skip = [], []
    for zone in delivery_zones(store, settings):
        run = last_run(zone, settings.send_time, now)
        edition = find_edition(store.engine, run.date, zone)
        counts = ledger.counts(edition) if edition is not None else {}
        pending = counts.get("pending", 0)
        if edition is not None:
            pending += ledger.retryable(edition)
        if not pending and any(counts.values()):
            continue
        if not pending and (run.at < since or not audience.get(zone)):
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
