"""The scheduler's jobs against a controlled clock, on SQLite and PostgreSQL.

``Service`` takes its clock as an argument (APScheduler 3 has none to inject), so the
jobs run here at exactly the instants the schedule names: editions sent in the right
order at the right UTC instants (a +05:45 zone among them), a missed edition caught up
inside ``catch_up_hours`` and skipped, with its reason, outside it, DST days. One test
runs the real APScheduler in real time, with a send time a few seconds ahead.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time as clock_time
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from conftest import article, run_digest, subscriber
from rich.console import Console
from standins.sendgrid_server import SendGridStandIn

from digest.cli.app import Failed
from digest.cli.send import run_send
from digest.clock import utcnow
from digest.config.settings import Settings
from digest.editions.contents import EditionContent, propose_edition
from digest.models import Edition
from digest.rendering.renderer import Renderer
from digest.sending.failures import named_lines
from digest.sending.ledger import Ledger
from digest.sending.planning import plan
from digest.sending.reports import EditionReport
from digest.service.heartbeat import Heartbeat, alive, recorded
from digest.service.joblog import make_logger
from digest.service.runs import listing, missed
from digest.service.scheduler import Service
from digest.service.sendtimes import DailyTrigger, upcoming
from digest.store.editions import list_editions, start_edition
from digest.store.schema import subscribers
from digest.store.store import Store

DAY = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "Asia/Kathmandu", "America/New_York", "Asia/Tokyo"]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "Zq8v-Kp3w-Rt5y")


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY)


@pytest.fixture
def lines() -> list[str]:
    return []


def make_service(store, settings: Settings, clock, lines: list[str], fmt: str = "text"):
    store.now = clock
    return Service(store, settings, make_logger(lines.append, fmt), threading.Event(), now=clock)


def fill(store, clock: Clock, zones=ZONES, per_zone: int = 2) -> None:
    """Subscribers in each zone, and today's news ingested at the clock's time."""
    store.now = clock
    store.save_articles(
        [
            article("Glacier melt", ["Climate"], published=clock.at - timedelta(hours=2)),
            article("Solar surge", ["Energy"], published=clock.at - timedelta(hours=1)),
        ]
    )
    store.save_subscribers(
        [
            subscriber(f"r{i}-{z.replace('/', '-').lower()}@example.com", timezone=z)
            for z in zones
            for i in range(per_zone)
        ]
    )


def ran_before(store, clock: Clock) -> None:
    """A scheduler started here at the clock's time (and stopped): digest was in service."""
    beat = Heartbeat(store, now=clock)
    beat.start([])
    beat.stop()


def editions(store, settings) -> list:
    return sorted(list_editions(store.engine), key=lambda e: e.id)


# -- the right editions, in the right order, at the right instants --------------------------


def test_each_zone_is_sent_at_its_instant_in_order_with_the_cut_off_it_fired_at(
    store, settings, clock, lines
):
    fill(store, clock)
    service = make_service(store, settings, clock, lines)
    runs = upcoming(ZONES, settings.send_time, clock.at)

    for run in runs:
        clock.at = run.at
        service.send_edition(run.timezone)

    sent = editions(store, settings)
    assert [(e.timezone, e.date, e.cutoff) for e in sent] == [
        ("Asia/Tokyo", date(2026, 11, 25), datetime(2026, 11, 24, 22, 0, tzinfo=UTC)),
        ("Asia/Kathmandu", date(2026, 11, 25), datetime(2026, 11, 25, 1, 15, tzinfo=UTC)),
        ("UTC", date(2026, 11, 25), datetime(2026, 11, 25, 7, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 11, 25), datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
    ]
    ledger = Ledger(store, settings.timezone)
    assert [ledger.counts(e)["sent"] for e in sent] == [2, 2, 2, 2]
    outbox = sorted(p.name for p in Path(settings.outbox_dir).iterdir())
    assert outbox == sorted(e.slug for e in sent)
    assert any("edition 2026-11-25 Asia/Kathmandu: sent 2, skipped 0" in line for line in lines)


def test_the_job_firing_again_the_same_day_mails_nobody_twice(store, settings, clock, lines):
    fill(store, clock, zones=["UTC"])
    service = make_service(store, settings, clock, lines)
    clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    service.send_edition("UTC")
    clock.at += timedelta(minutes=5)
    service.send_edition("UTC")

    (edition,) = editions(store, settings)
    assert Ledger(store, "UTC").counts(edition)["sent"] == 2
    assert "sent 0, skipped 0, failed 0, in doubt 0, already sent 2" in lines[-1]


def test_listing_counts_each_zones_active_subscribers(store, settings, clock):
    fill(store, clock, zones=["UTC", "Asia/Kathmandu"], per_zone=3)
    store.save_subscribers([subscriber("nozone@example.com")])  # the default zone: UTC
    rows = listing(store, settings, clock.at, days=2)
    assert [(r.run.label, r.daily) for r in rows] == [
        ("2026-11-25 Asia/Kathmandu", 3),
        ("2026-11-25 UTC", 4),
        ("2026-11-26 Asia/Kathmandu", 3),
        ("2026-11-26 UTC", 4),
    ]


# -- missed runs ---------------------------------------------------------------------------


def test_a_start_inside_the_window_catches_up_and_the_cut_off_is_the_moment_sent(
    store, settings, clock, lines
):
    fill(store, clock, zones=["UTC", "Asia/Tokyo"])
    ran_before(store, clock)
    clock.at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # UTC's 07:00 was 2.5 h ago

    to_send, skipped = missed(store, settings, clock.at)

    assert [r.label for r in to_send] == ["2026-11-25 UTC"]
    # Tokyo's 07:00 on the 25th was 22:00 UTC on the 24th: 11.5 hours ago.
    ((run, reason),) = skipped
    assert run.label == "2026-11-25 Asia/Tokyo"
    assert reason == (
        "due at 07:00 local (2026-11-24 22:00 UTC), 11 h 30 min ago: more than "
        "catch_up_hours = 6; never sent "
        "(`digest send --date 2026-11-25 --timezone Asia/Tokyo` sends it)"
    )
    make_service(store, settings, clock, lines).send_edition("UTC")
    (edition,) = editions(store, settings)
    assert edition.cutoff == clock.at  # like a one-off send: up to the moment it went
    assert Ledger(store, "UTC").counts(edition)["sent"] == 2
    assert missed(store, settings, clock.at) == ([], skipped)  # sent: not caught up again


def test_a_job_run_later_than_the_window_skips_the_edition_and_says_why(
    store, settings, clock, lines
):
    fill(store, clock, zones=["UTC"])
    clock.at = datetime(2026, 11, 25, 13, 1, tzinfo=UTC)  # 6 h 1 min after 07:00
    make_service(store, settings, clock, lines).send_edition("UTC")

    assert editions(store, settings) == []
    assert lines[-1].endswith(
        "warning skipped: edition 2026-11-25 UTC: due at 07:00 local (2026-11-25 07:00 UTC), "
        "6 h 1 min ago: more than catch_up_hours = 6 "
        "(`digest send --date 2026-11-25 --timezone UTC` sends it)"
    )


def test_a_part_sent_edition_is_resumed_inside_the_window_and_named_outside_it(
    store, settings, clock, lines
):
    fill(store, clock, zones=["UTC"], per_zone=3)
    clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    ledger = Ledger(store, "UTC")
    edition = start_edition(
        store.engine, propose_edition(store, settings, clock.at.date(), "UTC", clock.at)
    )
    content = EditionContent(store, settings, edition, Renderer(settings))
    plan(ledger, edition, content.segment_of, 500)  # planned, then the process died

    clock.at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert [r.label for r in missed(store, settings, clock.at)[0]] == ["2026-11-25 UTC"]
    clock.at = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    ((_, reason),) = missed(store, settings, clock.at)[1]
    assert "3 recipient(s) not yet sent" in reason

    clock.at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    make_service(store, settings, clock, lines).send_edition("UTC")
    assert ledger.counts(edition)["sent"] == 3
    assert edition.cutoff == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # as first recorded


def test_catch_up_hours_zero_never_catches_up(store, settings, clock):
    fill(store, clock, zones=["UTC"])
    ran_before(store, clock)
    settings.catch_up_hours = 0
    to_send, skipped = missed(store, settings, datetime(2026, 11, 25, 7, 1, tzinfo=UTC))
    assert to_send == [] and len(skipped) == 1


def test_a_fresh_install_misses_nothing_before_its_first_start_then_counts_from_it(
    store, settings, clock, lines
):
    # Subscribers imported, no scheduler ever started, no edition ever sent: a fresh
    # install first started after today's (and yesterday's) send time.
    fill(store, clock, zones=["UTC", "Asia/Tokyo"])
    clock.at = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert missed(store, settings, clock.at) == ([], [])  # what `schedule --list` says too

    first = make_service(store, settings, clock, lines)
    first.start()
    first.shutdown()
    assert not any("skipped:" in line or "catch-up:" in line for line in lines), lines
    assert editions(store, settings) == []  # nothing sent that was never meant to exist

    # Down all the next day: the 26th's editions were missed, and a start says so.
    clock.at = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    _, skipped = missed(store, settings, clock.at)
    assert [run.label for run, _ in skipped] == ["2026-11-26 Asia/Tokyo", "2026-11-26 UTC"]


def test_a_zone_nobody_is_in_misses_nothing(store, settings, clock):
    fill(store, clock, zones=["Asia/Tokyo"])  # the default zone, UTC, has nobody
    ran_before(store, clock)
    clock.at = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    _, skipped = missed(store, settings, clock.at)
    assert [run.label for run, _ in skipped] == ["2026-11-25 Asia/Tokyo"]


def test_a_part_sent_edition_from_before_the_first_start_is_still_resumed(store, settings, clock):
    # `digest send` by hand at 08:00, stopped part-way; the scheduler first starts at 09:00.
    fill(store, clock, zones=["UTC"], per_zone=3)
    clock.at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    edition = start_edition(
        store.engine, propose_edition(store, settings, clock.at.date(), "UTC", clock.at)
    )
    content = EditionContent(store, settings, edition, Renderer(settings))
    plan(Ledger(store, "UTC"), edition, content.segment_of, 500)
    clock.at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert [r.label for r in missed(store, settings, clock.at)[0]] == ["2026-11-25 UTC"]


# -- daylight saving -----------------------------------------------------------------------


def test_london_editions_on_both_change_days_fire_once_at_the_right_instants(
    store, settings, clock, lines
):
    settings.send_time = time(1, 30)
    settings.timezone = "Europe/London"
    trigger = DailyTrigger("Europe/London", settings.send_time)
    fired = []
    for start in (datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 10, 24, 12, tzinfo=UTC)):
        instant = trigger.get_next_fire_time(None, start)
        fired.append(instant)
        fired.append(trigger.get_next_fire_time(instant, instant))
    assert fired == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 02:00 BST: 01:30 does not exist
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # the first 01:30 (BST) ...
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # ... and not the second (GMT)
    ]

    clock.at = datetime(2026, 3, 28, 12, tzinfo=UTC)
    fill(store, clock, zones=["Europe/London"])
    service = make_service(store, settings, clock, lines)
    clock.at = fired[0]
    service.send_edition("Europe/London")
    (edition,) = editions(store, settings)
    assert (edition.date, edition.cutoff) == (date(2026, 3, 29), fired[0])
    assert Ledger(store, "UTC").counts(edition)["sent"] == 2


# -- ingest, failures, logs -----------------------------------------------------------------


def test_a_broken_source_is_logged_and_the_edition_goes_out_with_the_rest(
    store, settings, clock, lines, tmp_path
):
    good = tmp_path / "good.jsonl"
    good.write_text('{"title": "Wind farm opens", "keywords": ["Energy"]}\n')
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    settings.sources = [str(tmp_path / "missing"), str(broken), str(good)]
    store.save_subscribers([subscriber("ann@example.com", timezone="UTC")])
    clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    make_service(store, settings, clock, lines).send_edition("UTC")

    errors = [line for line in lines if " error " in line]
    assert len(errors) == 2
    assert "missing" in errors[0] and "broken.jsonl:1: not valid JSON" in errors[1]
    assert any("ingest: 1 new, 0 updated, 0 skipped, 2 failed" in line for line in lines)
    (edition,) = editions(store, settings)
    assert Ledger(store, "UTC").counts(edition)["sent"] == 1


def test_an_edition_the_provider_refuses_is_logged_and_tried_again(
    store, settings, clock, lines, monkeypatch
):
    with SendGridStandIn("SG.the-right-key") as standin:
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.a-wrong-key")
        monkeypatch.setenv("SENDGRID_API_HOST", standin.url)
        settings.provider = "sendgrid"
        fill(store, clock, zones=["UTC"])
        clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
        service = make_service(store, settings, clock, lines)
        service.send_edition("UTC")

    failed = [line for line in lines if "failed: " in line]
    assert failed and "SendGrid rejected the API key" in failed[-1]
    assert "trying again in 1 min" in failed[-1]
    retry = service.scheduler.get_job("retry:UTC")
    assert retry.trigger.run_date == clock.at + timedelta(minutes=1)
    assert "SG.a-wrong-key" not in "\n".join(lines)


def test_json_logs_are_one_object_a_line_with_the_counts_as_fields(store, settings, clock, lines):
    fill(store, clock, zones=["UTC"])
    clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    make_service(store, settings, clock, lines, fmt="json").send_edition("UTC")

    records = [json.loads(line) for line in lines]
    done = [r for r in records if r["event"] == "edition"]
    assert done[0]["edition"] == "2026-11-25 UTC"
    assert (done[0]["sent"], done[0]["failed"], done[0]["in_doubt"]) == (2, 0, 0)
    assert isinstance(done[0]["seconds"], float)
    assert {r["level"] for r in records} <= {"info", "warning", "error"}


# -- the real APScheduler, in real time ----------------------------------------------------


def test_the_running_scheduler_fires_at_the_send_time_beats_and_stops(store, settings, lines):
    now = datetime.now(UTC)
    store.now = utcnow  # the real time
    store.save_articles([article("Solar surge", ["Energy"], published=now)])
    store.save_subscribers([subscriber(f"r{i}@example.com", timezone="UTC") for i in range(3)])
    fire = now + timedelta(seconds=3)
    settings.send_time = fire.time().replace(microsecond=0, tzinfo=None)
    stop = threading.Event()
    service = Service(store, settings, make_logger(lines.append), stop, tick=0.5)
    service.start()
    try:
        beat = recorded(store)[0]
        assert alive(beat, datetime.now(UTC))
        assert [r.timezone for r in beat.next_runs] == ["UTC"]
        store.save_subscribers([subscriber("new@example.com", timezone="Asia/Kathmandu")])
        deadline = clock_time.monotonic() + 20
        while not any(": sent 3," in line for line in lines):
            assert clock_time.monotonic() < deadline, "\n".join(lines)
            clock_time.sleep(0.1)
        while service.scheduler.get_job("edition:Asia/Kathmandu") is None:
            assert clock_time.monotonic() < deadline, "a new zone got no job"
            clock_time.sleep(0.1)
        fired_at = datetime.fromisoformat(
            next(line for line in lines if ": sent 3," in line).split()[0].replace("Z", "+00:00")
        )
        assert timedelta(0) <= fired_at - fire.replace(microsecond=0) < timedelta(seconds=3)
    finally:
        stop.set()
        service.shutdown()
    assert recorded(store)[0].stopped is not None
    assert any("new run Asia/Kathmandu: next edition" in line for line in lines)
    assert lines[-1].endswith("info schedule: stopped")


def test_a_heartbeat_the_database_refuses_is_logged_once_and_its_return_too(
    store, settings, clock, lines
):
    from digest.store.schema import metadata, schedulers

    service = make_service(store, settings, clock, lines)
    service.heartbeat.start([])
    with store.engine.begin() as conn:
        schedulers.drop(conn)
    for _ in range(3):
        service.beat_job()
    errors = [line for line in lines if " error heartbeat: database error:" in line]
    assert len(errors) == 1, lines
    with store.engine.begin() as conn:
        metadata.create_all(conn, tables=[schedulers])
    service.heartbeat.start([])
    service.beat_job()
    assert lines[-1].endswith("info heartbeat: the database answers again")


def test_a_refused_recipient_is_named_in_the_log_as_digest_send_names_it(
    store, settings, clock, lines, monkeypatch
):
    from standins.smtp_server import SMTPStandIn

    with SMTPStandIn() as server:
        monkeypatch.setenv("DIGEST_SMTP_URL", server.url())
        settings.provider = "smtp"
        fill(store, clock, zones=["UTC"], per_zone=3)
        server.reject("r1-utc@example.com")
        clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
        make_service(store, settings, clock, lines).send_edition("UTC")

    (named,) = [line for line in lines if " failed: 2026-11-25 UTC: " in line]
    assert named.split(" error ", 1)[1].startswith("failed: 2026-11-25 UTC: r1-utc@example.com: ")
    summary = next(line for line in lines if "edition 2026-11-25 UTC: sent" in line)
    assert " error edition 2026-11-25 UTC: sent 2, skipped 0, failed 1, in doubt 0" in summary
    assert "`digest send --date 2026-11-25 --timezone UTC` retries those failed" in summary


def test_a_batch_another_host_holds_is_sent_once_its_lease_runs_out(store, settings, clock, lines):
    fill(store, clock, zones=["UTC"], per_zone=2)
    store.save_subscribers([subscriber(f"e{i}@example.com", ["Energy"], "UTC") for i in range(2)])
    clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    ledger = Ledger(store, "UTC", now=clock)  # the other host's clock agrees with ours
    edition = start_edition(
        store.engine, propose_edition(store, settings, clock.at.date(), "UTC", clock.at)
    )
    content = EditionContent(store, settings, edition, Renderer(settings))
    plan(ledger, edition, content.segment_of, 500)
    # A scheduler on another machine claimed one batch (two recipients), then its host died.
    assert ledger.claim(edition, "elsewhere:4242", 600, lambda sid, email: "https://u") is not None

    service = make_service(store, settings, clock, lines)
    service.send_edition("UTC")
    assert ledger.counts(edition)["sent"] == 2
    assert any(
        "edition 2026-11-25 UTC: 2 recipient(s) held by another sender; looking again in 10 min"
        in line
        for line in lines
    )
    follow_up = service.scheduler.get_job("follow-up:UTC")
    assert follow_up.trigger.run_date == clock.at + timedelta(seconds=630)

    clock.at = follow_up.trigger.run_date  # ... when its 600 s lease has run out
    service.send_edition("UTC")
    assert ledger.counts(edition) == {
        "sent": 4, "failed": 0, "in_doubt": 0, "skipped": 0, "pending": 0
    }  # fmt: skip
    assert len(list(Path(settings.outbox_dir).rglob("*.eml"))) == 4


# -- one wording for the log and the terminal ---------------------------------------------


def terminal() -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, width=200, soft_wrap=True, markup=False, highlight=False), text


def messages(lines: list[str], level: str) -> list[str]:
    """The log lines at ``level``, without their time and level."""
    return [line.split(f" {level} ", 1)[1] for line in lines if f" {level} " in line]


def test_refused_recipients_read_the_same_in_the_log_as_digest_send_prints_them(
    store, settings, clock, lines, monkeypatch
):
    """Five refused for one reason: one line naming three, the same in both places."""
    from standins.smtp_server import SMTPStandIn

    settings.public_url, settings.postal_address = "https://news.example.org", "1 Main St"
    with SMTPStandIn() as server:
        monkeypatch.setenv("DIGEST_SMTP_URL", server.url())
        settings.provider = "smtp"
        fill(store, clock, zones=["UTC"], per_zone=6)
        for i in range(5):
            server.reject(f"r{i}-utc@example.com")
        clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
        make_service(store, settings, clock, lines).send_edition("UTC")
        console, text = terminal()
        with pytest.raises(Failed, match=r"^5 recipient\(s\) failed"):  # sent again, refused again
            run_send(store, settings, date(2026, 11, 25), None, False, None, console, console)

    logged = [m for m in messages(lines, "error") if m.startswith("failed: ")]
    printed = [line for line in text.getvalue().splitlines() if line.startswith("failed: ")]
    assert logged == printed
    (line,) = printed
    assert line.startswith("failed: 2026-11-25 UTC: 5 recipients (r")
    assert line.count("@example.com") == 3 and "@example.com, …): 550 " in line


def test_those_not_listed_are_counted_with_where_to_see_them():
    cutoff = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    edition = Edition(date(2026, 11, 25), "Europe/London", cutoff - timedelta(days=1), cutoff)
    report = EditionReport(
        edition,
        failed=1000,
        failures=[(f"p{i}@example.com", "550 No such user") for i in range(200)],
        in_doubt=1,
        doubts=[("q@example.com", "no answer within 30 s")],
    )
    assert named_lines(report) == [
        (
            "failed",
            "failed: 2026-11-25 Europe/London: 200 recipients (p0@example.com, "
            "p1@example.com, p2@example.com, …): 550 No such user",
        ),
        (
            "failed",
            "failed: 2026-11-25 Europe/London: … and 800 more (digest status --date 2026-11-25)",
        ),
        ("in doubt", "in doubt: 2026-11-25 Europe/London: q@example.com: no answer within 30 s"),
    ]


def test_links_that_work_only_here_are_a_warning_in_the_log_as_on_the_terminal(
    store, settings, clock, lines
):
    settings.postal_address = "1 Main St"  # the default public_url: http://localhost:8000
    settings.catch_up_hours = 0  # nothing to send on start: only what a start says
    console, text = terminal()
    run_send(store, settings, None, None, False, None, console, console)
    service = make_service(store, settings, clock, lines)
    try:
        service.start()
    finally:
        service.stop.set()
        service.shutdown()
    printed = [line for line in text.getvalue().splitlines() if line.startswith("warning: ")]
    assert printed == [
        "warning: public_url http://localhost:8000 is not https; public_url "
        "http://localhost:8000 is this machine (loopback): the links in these emails work "
        "only on this machine (fine for trying digest out; smtp and sendgrid refuse it)"
    ]
    assert messages(lines, "warning")[0] == printed[0].removeprefix("warning: ")


def test_a_damaged_database_file_is_named_in_the_log_as_the_cli_names_it(
    tmp_path, settings, clock, lines
):
    path = tmp_path / "digest.db"
    url = f"sqlite:///{path}"
    store = Store(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    try:
        service = make_service(store, settings, clock, lines)
        service.heartbeat.start([])
        store.engine.dispose()  # the last connection closed writes the WAL back first
        path.write_bytes(b"not a database " * 1000)
        service.beat_job()
        cli = run_digest("status", cwd=tmp_path, env={**env, "DIGEST_DATABASE_URL": url})
    finally:
        store.close()
    assert cli.returncode == 2
    (said,) = cli.stderr.splitlines()
    assert said == f"Error: the database file {path} is not a SQLite database"
    assert messages(lines, "error") == [f"heartbeat: {said.removeprefix('Error: ')}"]


def test_a_subscriber_whose_zone_no_longer_exists_is_sent_in_the_default_edition_and_logged(
    store, settings, clock, lines
):
    """A tzdata update removed a stored zone: the service neither crashes nor skips
    anyone; the zone's people go out with the default zone's edition, said once."""
    fill(store, clock, zones=["UTC", "Asia/Tokyo"])
    with store.engine.begin() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.timezone == "Asia/Tokyo")
            .values(timezone="Asia/Atlantis")
        )
    clock.at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    service = make_service(store, settings, clock, lines)
    service.refresh_pairs(announce=True)

    service.send_edition("UTC")

    (edition,) = editions(store, settings)
    assert edition.timezone == "UTC"
    assert Ledger(store, "UTC").counts(edition)["sent"] == 4
    warned = [line for line in lines if "Asia/Atlantis" in line]
    assert len(warned) == 1
    assert "r0-asia-tokyo@example.com, r1-asia-tokyo@example.com: unknown timezone" in warned[0]
    assert "sent in UTC, the default timezone" in warned[0]
    assert not any("Traceback" in line or "ZoneInfo" in line for line in lines)
