"""How often and when, across a week with both daylight-saving changes, on a controlled clock.

From Saturday 2026-10-24 to Tuesday 2026-11-03: Europe falls back on Sunday 25 October,
America on Sunday 1 November, Kathmandu never. ``weekly_day`` is Sunday, so both weekly
editions go out on a fall-back day. The scheduler's edition job is called at every run
the schedule names, with a story ingested every hour in between; people switch daily and
weekly, change their send time, pause, and the scheduler is restarted mid-week. What
each person was given is read back from the ledger and each edition's segment, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import article

from digest.config.settings import Settings
from digest.editions.contents import EditionContent
from digest.models import Subscriber
from digest.rendering.renderer import Renderer
from digest.service.heartbeat import Heartbeat
from digest.service.runs import delivery_pairs, missed, pair_next
from digest.service.scheduler import Service
from digest.service.sendtimes import DailyTrigger
from digest.store.editions import list_editions
from digest.store.schema import batches, ledger
from digest.store.store import Store

START = datetime(2026, 10, 24, 0, 0, tzinfo=UTC)
END = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
WORDS = ["glacier", "turbine", "clinic", "harbour", "orbit", "vaccine", "tariff", "drought"]
TOPICS = ["Climate", "Energy", "Health"]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "Zq8v-Kp3w-Rt5y")


def person(email, timezone, frequency=None, send_time=None, paused_until=None, topics=()):
    return Subscriber(
        email=email,
        timezone=timezone,
        topics=list(topics),
        frequency=frequency,
        send_time=send_time,
        paused_until=paused_until,
    )


PEOPLE = [
    person("ldn-daily@example.com", "Europe/London"),
    person("ldn-early@example.com", "Europe/London", send_time=time(6, 30), topics=["Climate"]),
    person("ldn-weekly@example.com", "Europe/London", "weekly", time(6, 30)),
    # 01:30 New York happens twice on 1 November: sent once, at the first.
    person("ny-night@example.com", "America/New_York", send_time=time(1, 30)),
    person("ny-weekly@example.com", "America/New_York", "weekly"),
    person("ktm-paused@example.com", "Asia/Kathmandu", paused_until=date(2026, 10, 28)),
    person("ktm-switch@example.com", "Asia/Kathmandu"),  # daily, then weekly from Wednesday
    person("ldn-mover@example.com", "Europe/London"),  # 07:00, then 06:30 from Thursday
    person("ny-back@example.com", "America/New_York", "weekly"),  # weekly, then daily
]
# (when, email, fields changed)
CHANGES = [
    (datetime(2026, 10, 28, 9, 0, tzinfo=UTC), "ktm-switch@example.com", {"frequency": "weekly"}),
    (datetime(2026, 10, 29, 8, 0, tzinfo=UTC), "ldn-mover@example.com", {"send_time": time(6, 30)}),
    (datetime(2026, 10, 27, 20, 0, tzinfo=UTC), "ny-back@example.com", {"frequency": "daily"}),
]


def title(hour: int) -> str:
    """A headline of words no other hour's shares: none is taken for another's duplicate."""
    a, b = divmod(hour, len(WORDS))
    return f"{WORDS[b].title()} report {hour} from desk {a * 7 + 3}x{hour * 13 % 97}q"


def ingest_until(store: Store, clock: Clock, done: list[int], until: datetime) -> None:
    """One story an hour, each ingested (and published) at its hour."""
    while START + timedelta(hours=len(done)) <= until:
        hour = len(done)
        at = START + timedelta(hours=hour)
        store.now = lambda at=at: at
        store.save_articles(
            [
                article(
                    title(hour),
                    [TOPICS[hour % 3]],
                    published=at,
                    guid=f"story-{hour}",
                    url=f"https://news.example.org/{hour}",
                )
            ]
        )
        done.append(hour)
    store.now = clock


def apply_changes(store: Store, until: datetime, applied: set[int]) -> None:
    for n, (when, email, fields) in enumerate(CHANGES):
        if n in applied or when > until:
            continue
        found = store.find_subscriber(email)
        for name, value in fields.items():
            setattr(found, name, value)
        store.add_subscriber(found, given=tuple(fields), now=when)
        applied.add(n)


def given(store: Store, settings: Settings) -> dict[str, list[tuple[str, list[int]]]]:
    """Each person's editions sent, in order, with the stories each one gave them."""
    renderer = Renderer(settings)
    people = {s.id: s.email for s in store.list_subscribers()}
    found: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)
    for edition in sorted(list_editions(store.engine), key=lambda e: e.cutoff):
        content = EditionContent(store, settings, edition, renderer)
        with store.engine.connect() as conn:
            rows = conn.execute(
                ledger.select()
                .with_only_columns(ledger.c.subscriber_id, batches.c.segment)
                .join(batches, batches.c.id == ledger.c.batch_id)
                .where(ledger.c.edition_id == edition.id, ledger.c.status == "sent")
            ).all()
        for sid, segment in rows:
            stories = [a.id for s in content.sections(segment, everything=True) for a in s.articles]
            found[people[sid]].append((edition.label, stories))
    return found


def run_week(store: Store, settings: Settings, restart_at: datetime | None = None):
    """Every run from START to END, as the scheduler's jobs call them; at ``restart_at``
    the scheduler is replaced by a new one, which first catches up what ``missed`` says,
    after being down for two hours."""
    clock = Clock(START)
    store.now = clock
    log = logging.getLogger("cadence-test")
    service = Service(store, settings, log, threading.Event(), now=clock)
    Heartbeat(store, now=clock).start([])  # in service since START: a missed run is missed
    store.save_subscribers(PEOPLE)
    done: list[int] = []
    applied: set[int] = set()
    fired: list[tuple[str, date, datetime]] = []
    caught_up = []
    while True:
        pairs = delivery_pairs(store, settings)
        run = min((pair_next(settings, p, clock.at) for p in pairs), key=lambda r: r.at)
        if restart_at is not None and run.at >= restart_at:
            # Down for two hours over whatever was due then; a new scheduler starts.
            clock.at = restart_at + timedelta(hours=2)
            ingest_until(store, clock, done, clock.at)
            service = Service(store, settings, log, threading.Event(), now=clock)
            to_send, _ = missed(store, settings, clock.at)
            for due in to_send:
                caught_up.append(due.label)
                service.send_edition(due.timezone, due.send_time)
            again, _ = missed(store, settings, clock.at)
            assert again == [], again  # a second restart would send nothing more
            restart_at = None
            continue
        if run.at > END:
            return fired, caught_up
        apply_changes(store, run.at, applied)
        clock.at = run.at
        ingest_until(store, clock, done, run.at)
        service.send_edition(run.timezone, run.send_time)
        fired.append((run.key, run.date, run.at))


@pytest.fixture
def week_settings(tmp_path) -> Settings:
    from conftest import ROOT

    return Settings(
        outbox_dir=tmp_path / "outbox",
        templates_dir=ROOT / "templates",
        weekly_day="sunday",
        catch_up_hours=6,
    )


def test_a_week_of_daily_weekly_and_paused_people_never_repeats_a_story(store, week_settings):
    fired, _ = run_week(store, week_settings)
    got = given(store, week_settings)

    for email, editions in got.items():
        stories = [s for _, ss in editions for s in ss]
        repeated = [s for s, n in Counter(stories).items() if n > 1]
        assert not repeated, (email, repeated)
        days = [label.split()[0] for label, _ in editions]
        assert len(days) == len(set(days)), (email, days)  # one email a day at most

    # The weekly ones: one edition each Sunday, a week of news in the second.
    weekly = got["ldn-weekly@example.com"]
    assert [label for label, _ in weekly] == [
        "2026-10-25 Europe/London 06:30 weekly",
        "2026-11-01 Europe/London 06:30 weekly",
    ]
    assert len(weekly[1][1]) == 7 * 24
    assert [label for label, _ in got["ny-weekly@example.com"]] == [
        "2026-10-25 America/New_York weekly",
        "2026-11-01 America/New_York weekly",
    ]
    # Paused until Wednesday 28th: nothing on or before it, then the next as usual,
    # a day's news and not the missed days' (36 hours at most, window_hours).
    paused = got["ktm-paused@example.com"]
    assert paused[0][0] == "2026-10-29 Asia/Kathmandu"
    assert [label.split()[0] for label, _ in paused[:5]] == [
        "2026-10-29",
        "2026-10-30",
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
    ]
    assert len(paused[0][1]) <= 36
    # Daily, then weekly from Wednesday: the weekly edition starts after its last daily.
    switch = got["ktm-switch@example.com"]
    assert [label for label, _ in switch][-1] == "2026-11-01 Asia/Kathmandu weekly"
    last_daily = max(switch[-2][1])
    assert switch[-1][1] and min(switch[-1][1]) > last_daily
    # Weekly, then daily from Tuesday: daily from Wednesday, nothing it had again.
    back = [label for label, _ in got["ny-back@example.com"]]
    assert back[:2] == ["2026-10-25 America/New_York weekly", "2026-10-28 America/New_York"]
    # 07:00, then 06:30 from Thursday: one email every day all the same.
    mover = [label for label, _ in got["ldn-mover@example.com"]]
    assert "2026-10-29 Europe/London" in mover and "2026-10-30 Europe/London 06:30" in mover
    assert len(mover) == len({label.split()[0] for label in mover})

    # Those who changed series mid-week were planned into "since" segments.
    with store.engine.connect() as conn:
        since = conn.execute(batches.select().where(batches.c.segment.contains("@"))).all()
    assert since

    # Each run fired once per local date, at the first of a repeated time.
    runs = Counter((key, day) for key, day, _ in fired)
    assert max(runs.values()) == 1
    ny_night = [at for key, day, at in fired if key == "America/New_York@01:30"]
    assert datetime(2026, 11, 1, 5, 30, tzinfo=UTC) in ny_night  # 01:30 EDT, not EST
    assert datetime(2026, 11, 1, 6, 30, tzinfo=UTC) not in ny_night


def test_a_scheduler_restart_mid_week_sends_nothing_twice(store, week_settings):
    # Down from Thursday 06:00 UTC for two hours: London's 06:30 and 07:00 runs are missed,
    # and caught up on the new scheduler's start.
    _, caught_up = run_week(
        store, week_settings, restart_at=datetime(2026, 10, 29, 6, 0, tzinfo=UTC)
    )
    assert set(caught_up) == {"2026-10-29 Europe/London", "2026-10-29 Europe/London 06:30"}
    got = given(store, week_settings)
    for email, editions in got.items():
        stories = [s for _, ss in editions for s in ss]
        assert len(stories) == len(set(stories)), email
        days = [label.split()[0] for label, _ in editions]
        assert len(days) == len(set(days)), (email, days)
    assert "2026-10-29 Europe/London" in [label for label, _ in got["ldn-daily@example.com"]]


def test_the_trigger_fires_each_personal_time_once_a_local_date_across_the_changes():
    for zone, at in [
        ("Europe/London", time(1, 30)),  # repeated on 25 October
        ("America/New_York", time(1, 30)),  # repeated on 1 November
        ("Europe/London", time(6, 30)),
        ("Asia/Kathmandu", time(7, 0)),
    ]:
        trigger = DailyTrigger(zone, at)
        fires, previous = [], None
        while True:
            previous = trigger.get_next_fire_time(previous, START)
            if previous > END:
                break
            fires.append(previous)
        local_days = [f.astimezone(trigger_zone(zone)).date() for f in fires]
        assert len(local_days) == len(set(local_days)) >= 10, (zone, at)
        assert all(f.astimezone(trigger_zone(zone)).time() == at for f in fires), (zone, at)


def trigger_zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
