"""When each zone's edition goes out, against a fixed clock: order, instants and DST.

Pure functions of "now", so every case names its instant. The rules (README, "Never
twice"; docs/scheduling.md): send_time local time once every local date; a repeated
time (fall back) fires at its first occurrence, a missing one (spring forward) at the
first valid instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.service.sendtimes import describe_delay, fire_time, last_run, next_run, upcoming
from digest.zones import NOT_PLACES

LONDON = "Europe/London"
SEVEN = time(7, 0)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_several_zones_go_out_in_utc_order_at_their_own_seven_including_kathmandu():
    zones = ["UTC", LONDON, "America/New_York", "Asia/Tokyo", "Asia/Kathmandu"]
    runs = upcoming(zones, SEVEN, utc(2026, 11, 24, 12, 0))

    assert [(r.timezone, r.date, r.at) for r in runs] == [
        ("Asia/Tokyo", date(2026, 11, 25), utc(2026, 11, 24, 22, 0)),
        ("Asia/Kathmandu", date(2026, 11, 25), utc(2026, 11, 25, 1, 15)),  # +05:45
        (LONDON, date(2026, 11, 25), utc(2026, 11, 25, 7, 0)),
        ("UTC", date(2026, 11, 25), utc(2026, 11, 25, 7, 0)),
        ("America/New_York", date(2026, 11, 25), utc(2026, 11, 25, 12, 0)),
    ]
    assert all(r.local.time() == SEVEN and r.local.date() == r.date for r in runs)


def test_a_zone_whose_seven_is_still_ahead_today_goes_out_today():
    # 12:00 UTC is 02:00 in Honolulu (-10): its edition of the 24th is still to come.
    (run,) = upcoming(["Pacific/Honolulu"], SEVEN, utc(2026, 11, 24, 12, 0))
    assert (run.date, run.at) == (date(2026, 11, 24), utc(2026, 11, 24, 17, 0))


def test_days_ahead_lists_every_run_in_that_many_days():
    runs = upcoming(["Asia/Kathmandu", LONDON], SEVEN, utc(2026, 11, 24, 12, 0), days=3)
    assert [r.label for r in runs] == [
        "2026-11-25 Asia/Kathmandu",
        "2026-11-25 Europe/London",
        "2026-11-26 Asia/Kathmandu",
        "2026-11-26 Europe/London",
        "2026-11-27 Asia/Kathmandu",
        "2026-11-27 Europe/London",
    ]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Spring forward, 29 March 2026: 07:00 GMT the day before, 07:00 BST after.
        (utc(2026, 3, 27, 12), [utc(2026, 3, 28, 7), utc(2026, 3, 29, 6), utc(2026, 3, 30, 6)]),
        # Fall back, 25 October 2026: 07:00 BST the day before, 07:00 GMT after.
        (utc(2026, 10, 23, 12), [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7), utc(2026, 10, 26, 7)]),
    ],
)
def test_seven_in_london_stays_seven_local_across_both_changes(start, expected):
    runs = upcoming([LONDON], SEVEN, start, days=3)
    assert [r.at for r in runs] == expected
    assert {r.local.strftime("%H:%M") for r in runs} == {"07:00"}


def test_a_send_time_the_spring_change_skips_fires_once_at_the_first_valid_instant():
    # 01:30 does not exist on 29 March 2026 in London (01:00 GMT -> 02:00 BST).
    runs = upcoming([LONDON], time(1, 30), utc(2026, 3, 27, 12), days=3)
    assert [(r.date, r.at) for r in runs] == [
        (date(2026, 3, 28), utc(2026, 3, 28, 1, 30)),
        (date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),  # 02:00 BST, the moment clocks go on
        (date(2026, 3, 30), utc(2026, 3, 30, 0, 30)),
    ]
    assert runs[1].local.strftime("%H:%M %Z") == "02:00 BST"


def test_a_send_time_the_autumn_change_repeats_fires_once_at_its_first_occurrence():
    # 01:30 happens twice on 25 October 2026 in London: BST, then GMT.
    runs = upcoming([LONDON], time(1, 30), utc(2026, 10, 23, 12), days=3)
    assert [(r.date, r.at) for r in runs] == [
        (date(2026, 10, 24), utc(2026, 10, 24, 0, 30)),
        (date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),  # 01:30 BST; not again at 01:30 GMT
        (date(2026, 10, 26), utc(2026, 10, 26, 1, 30)),
    ]


def test_the_run_after_the_first_of_a_repeated_time_is_the_next_day():
    first = utc(2026, 10, 25, 0, 30)
    assert next_run(LONDON, time(1, 30), first).at == utc(2026, 10, 26, 1, 30)


def test_a_skipped_day_goes_out_once_at_the_start_of_the_next():
    # Samoa skipped 30 December 2011 (UTC-10 -> UTC+14).
    zone = ZoneInfo("Pacific/Apia")
    assert fire_time(date(2011, 12, 30), zone, SEVEN) == utc(2011, 12, 30, 10, 0)  # 31st 00:00
    assert fire_time(date(2011, 12, 31), zone, SEVEN) == utc(2011, 12, 30, 17, 0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 25, 7, 0), (date(2026, 11, 25), utc(2026, 11, 25, 7, 0))),  # on the dot
        (utc(2026, 11, 25, 6, 59, 59), (date(2026, 11, 24), utc(2026, 11, 24, 7, 0))),
        (utc(2026, 11, 25, 23, 0), (date(2026, 11, 25), utc(2026, 11, 25, 7, 0))),
    ],
)
def test_the_run_due_is_the_latest_at_or_before_now(now, expected):
    run = last_run(LONDON, SEVEN, now)
    assert (run.date, run.at) == expected


def test_the_due_run_in_kathmandu_is_judged_by_its_own_date():
    # 01:00 UTC on the 25th is 06:45 on the 25th in Kathmandu: the 24th's edition is due.
    run = last_run("Asia/Kathmandu", SEVEN, utc(2026, 11, 25, 1, 0))
    assert (run.date, run.at) == (date(2026, 11, 24), utc(2026, 11, 24, 1, 15))


def test_delays_read_as_hours_and_minutes():
    assert describe_delay(timedelta(seconds=42)) == "42 s"
    assert describe_delay(timedelta(minutes=39, seconds=5)) == "39 min"
    assert describe_delay(timedelta(hours=7, minutes=12)) == "7 h 12 min"


# Every zone a subscriber can be in: not localtime, Factory or posixrules (zones.NOT_PLACES).
ZONES = sorted(available_timezones() - NOT_PLACES.keys())


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
    at=st.times(),
)
def test_every_zone_every_day_one_instant_in_order_at_the_time_asked_when_it_exists(zone, day, at):
    tz = ZoneInfo(zone)
    at = at.replace(microsecond=0)
    days = [day + timedelta(days=n) for n in range(3)]
    instants = [fire_time(d, tz, at) for d in days]
    assert instants == sorted(set(instants)), "one instant a day, in order"
    for d, instant in zip(days, instants, strict=True):
        wall = datetime.combine(d, at)
        local = instant.astimezone(tz).replace(tzinfo=None)
        exists = (
            datetime.combine(d, at, tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
        )
        if exists:
            assert local == wall
            # the first occurrence: a repeated time's second reading is never earlier
            assert datetime.combine(d, at, tz).replace(fold=1).astimezone(UTC) >= instant
        else:
            # in a gap: the first instant at or past the wall time, and a second before
            # it the clock still read earlier than the wall time
            assert local >= wall
            before = (instant - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None)
            assert before < wall
        # and next_run / last_run agree with fire_time around it
        assert next_run(zone, at, instant - timedelta(seconds=1)).at == instant
        assert last_run(zone, at, instant).at == instant
