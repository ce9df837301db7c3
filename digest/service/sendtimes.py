"""When each timezone's edition goes out: ``send_time`` local time, once every local date.

Computed here with ``zoneinfo`` rather than by APScheduler's ``CronTrigger``,
which (3.11) gets both daylight-saving changes wrong for a daily job: on a
spring-forward day a send time inside the missing hour fires as if the clocks
had not gone forward (01:30 Europe/London at 02:30 BST, not at 02:00), and on
a fall-back day a repeated time fires twice (once in summer time, once in
winter time). The rules here, one instant per local date:

- a time that exists once is that instant;
- a time that exists twice (fall back) is its first occurrence;
- a time that does not exist (spring forward) is the first instant that does:
  the moment the clocks go forward.

Every function takes "now" as an argument, so the whole schedule can be
checked against any clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from digest.models import Run
from digest.zones import zone_of


def fire_time(day: date, zone: ZoneInfo, at: time) -> datetime:
    """The UTC instant of ``at`` local time on ``day`` in ``zone`` (see the rules above)."""
    wall = datetime.combine(day, at.replace(tzinfo=None))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first  # fold=0 is the earlier of a repeated time
    # In a gap: fold=0 and fold=1 read the wall time with the offsets from either
    # side of the change, so the change itself lies between the two. Find the
    # first second whose wall time is at or past the one asked for.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((int(first.timestamp()), int(other.timestamp())))
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def next_run(timezone: str, at: time, after: datetime) -> Run:
    """The first run of ``timezone``'s edition strictly after ``after``."""
    zone = zone_of(timezone)
    day = after.astimezone(zone).date() - timedelta(days=1)
    while True:
        instant = fire_time(day, zone, at)
        if instant > after:
            return Run(timezone, day, instant)
        day += timedelta(days=1)


def last_run(timezone: str, at: time, now: datetime) -> Run:
    """The latest run of ``timezone``'s edition at or before ``now``: the one due."""
    zone = zone_of(timezone)
    day = now.astimezone(zone).date() + timedelta(days=1)
    while True:
        instant = fire_time(day, zone, at)
        if instant <= now:
            return Run(timezone, day, instant)
        day -= timedelta(days=1)


def upcoming(timezones: Iterable[str], at: time, now: datetime, days: int = 1) -> list[Run]:
    """Every run within ``days`` days after ``now`` (at least the next of each zone), in time
    order: the order the editions go out."""
    horizon = now + timedelta(days=days)
    runs = []
    for timezone in timezones:
        zone = zone_of(timezone)
        run = next_run(timezone, at, now)
        while run.at <= horizon or not runs or runs[-1].timezone != timezone:
            runs.append(run)
            day = run.date + timedelta(days=1)
            run = Run(timezone, day, fire_time(day, zone, at))
    return sorted(runs, key=lambda r: (r.at, r.timezone))


def describe_delay(delay: timedelta) -> str:
    """``3 h 5 min`` / ``42 s``: how late a run is, for a log line."""
    seconds = int(delay.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def format_time(at: time) -> str:
    """``07:00``, or ``07:00:05`` for a send time with seconds (a TOML local time)."""
    return f"{at:%H:%M:%S}" if at.second else f"{at:%H:%M}"


class DailyTrigger(BaseTrigger):
    """``send_time`` local time in one zone, once each local date (see ``sendtimes``)."""

    def __init__(self, timezone: str, at) -> None:
        self.timezone = timezone
        self.at = at

    def get_next_fire_time(self, previous_fire_time, now):
        after = previous_fire_time or now - timedelta(microseconds=1)
        return next_run(self.timezone, self.at, after).at

    def __str__(self) -> str:
        return f"daily at {format_time(self.at)} {self.timezone}"
