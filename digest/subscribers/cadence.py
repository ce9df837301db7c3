"""How often and when, as a page offers it: the send times to pick from, and what
"pause for a week" or "for a month" means as a ``paused_until`` date.

Kept here, below the web, so the dates a click stands for are decided by the
library (and testable without a server); the page only passes the choice on,
and the value is stored by ``admin.add`` like ``subscribers add --paused-until``.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from digest import zones
from digest.models import Subscriber
from digest.subscribers.fields import parse_paused_until

# A page offers a send time every half hour: enough choice for a morning or an
# evening, few enough runs for the scheduler (at most 48 a zone).
STEP_MINUTES = 30
# A pause typed as a date reaches at most this far: for longer, unsubscribing is
# the honest choice, and a year-long pause forgotten is a surprise either way.
LONGEST_PAUSE = timedelta(days=366)
PRESETS = ("week", "month")


def send_times(stored: time | None) -> list[time]:
    """Every half hour of the day, and the subscriber's own time if it is not one of them
    (set by ``subscribers add --send-time 06:45``: shown, so saving keeps it)."""
    offered = [time(m // 60, m % 60) for m in range(0, 24 * 60, STEP_MINUTES)]
    if stored is not None and stored not in offered:
        offered = sorted([*offered, stored])
    return offered


def local_today(sub: Subscriber, default_zone: str, now: datetime) -> date:
    """The date where the subscriber is sent (their zone, else the site's): the date
    their editions carry, which ``paused_until`` is compared with."""
    return now.astimezone(zones.zone_of(zones.delivery_timezone(sub.timezone, default_zone))).date()


def pause_end(choice: str, today: date, typed: str = "") -> date:
    """The last day without an edition for a preset (``week``: the next seven days;
    ``month``: until this day next month) or a ``typed`` date.

    ValueError says what is wrong with a typed date: not a date, gone by, or
    more than a year ahead.
    """
    if choice == "week":
        return today + timedelta(days=7)
    if choice == "month":
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        return today.replace(year=year, month=month, day=_clamp(year, month, today.day))
    until = parse_paused_until(typed)
    if until is None:
        raise ValueError("choose the day the pause ends")
    if until < today:
        raise ValueError(f"{until:%-d %B %Y} has already passed")
    if until > today + LONGEST_PAUSE:
        raise ValueError("a pause can last a year at most; to stop for longer, unsubscribe")
    return until


def _clamp(year: int, month: int, day: int) -> int:
    return min(day, calendar.monthrange(year, month)[1])
