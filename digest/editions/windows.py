"""An edition's window: which articles it covers, and what it left out for age.

An edition (date D, timezone Z) covers the articles digest first ingested
after the previous edition's cut-off in Z and up to its own cut-off: D's
``send_time`` in Z, or the moment of sending for a one-off send of today's
edition. Of those, only articles published (or, undated, ingested) within
``window_hours`` of the cut-off are shown. Judging by ingest time puts each
article into the first edition cut off after it arrived: a late arrival
(published before yesterday's cut-off, ingested after it) goes out today,
and an edited article never goes out again. The cut-off is recorded when
the edition is sent, so previewing a past edition later shows the same
articles.

Each zone has a series of editions per send time (the site's, and each
personal one) and cadence: a weekly edition (on ``weekly_day``) starts where
its series' last weekly one stopped, at most 7 days back, and shows what was
published in the last 168 hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from digest.config.settings import WEEKLY_WINDOW_DAYS, Settings
from digest.models import Edition, LeftOut
from digest.zones import zone_of

if TYPE_CHECKING:
    from digest.store.store import Store

# The store's functions are imported where they are called: the render-ahead
# child (``ahead_child``) imports this module with the edition's content, and
# holds no database driver (SQLAlchemy is 28 MB of its memory).


def local_today(timezone: str, now: datetime) -> date:
    return now.astimezone(zone_of(timezone)).date()


def propose_edition(
    store: Store,
    settings: Settings,
    day: date,
    timezone: str,
    now: datetime,
    send_time: time | None = None,
    cadence: str = "daily",
) -> Edition:
    """The edition as recorded, or as it would be if it were sent ``now``
    (``send_time`` None: the site's time)."""
    from digest.store.editions import find_edition, previous_cutoff

    recorded = find_edition(store.engine, day, timezone, send_time, cadence)
    if recorded is not None:
        return recorded
    zone = zone_of(timezone)
    if day == local_today(timezone, now):
        cutoff = now  # a one-off send of today's edition takes everything so far
    else:
        # A past edition that was never sent, or a look ahead (preview, dry run: a
        # future edition cannot be sent): its scheduled cut-off, never "now".
        at = send_time or settings.send_time
        cutoff = datetime.combine(day, at, zone).astimezone(UTC)
    floor = oldest_shown(settings, cutoff, cadence)
    previous = previous_cutoff(store.engine, timezone, cutoff, send_time, cadence)
    start = max(previous, floor) if previous else floor
    return Edition(
        date=day,
        timezone=timezone,
        window_start=start,
        cutoff=cutoff,
        send_time=send_time,
        cadence=cadence,
    )


def window_hours(settings: Settings, cadence: str = "daily") -> int:
    """How far back an edition shows: ``window_hours``, or a week for a weekly one."""
    return WEEKLY_WINDOW_DAYS * 24 if cadence == "weekly" else settings.window_hours


def oldest_shown(settings: Settings, cutoff: datetime, cadence: str = "daily") -> datetime:
    """An edition shows only articles published (or, undated, ingested) after this."""
    return cutoff - timedelta(hours=window_hours(settings, cadence))


def left_out(store: Store, settings: Settings, edition: Edition) -> LeftOut:
    """The articles that arrived for ``edition`` but are too old for its window:
    what ``preview``, ``send --dry-run`` and ``status`` tell an operator whose
    feeds hold only old entries, instead of an unexplained empty digest."""
    since = oldest_shown(settings, edition.cutoff, edition.cadence)
    from digest.store.editions import older_arrivals

    count, newest = older_arrivals(store.engine, edition.window_start, edition.cutoff, since)
    return LeftOut(count, newest, since)


def describe_left_out(left: LeftOut, edition: Edition) -> str:
    """One sentence for ``left`` (empty when nothing was left out), in the edition's zone."""
    if not left.count or left.newest is None:
        return ""
    zone = edition.zone
    since = left.since.astimezone(zone)
    what = "article ingested for it is" if left.count == 1 else "articles ingested for it are"
    weekly = edition.cadence == "weekly"
    reach = "a weekly edition shows 7 days" if weekly else "window_hours sets how far back"
    return (
        f"{edition.label}: {left.count:,} {what} older than its window and left out "
        f"(it shows articles published since {since:%Y-%m-%d %H:%M} {edition.timezone}; "
        f"{reach}); the newest is from "
        f"{left.newest.astimezone(zone):%Y-%m-%d}"
    )
