"""``digest schedule`` as an operator runs it: real processes, real time, real signals.

The default timezone of each site is one where it is now mid-morning to late afternoon,
so "send_time half an hour ago" is today's edition there whatever time the tests run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import POSTAL, copy_database, scheduler_states, status_blocks
from sites import (
    SUBSCRIBERS,
    Server,
    Site,
    cli_env,
    everyone,
    in_service,
    make_site,
    sendgrid_process,
    sqlite_site,
)

from digest.sending.ledger import Ledger
from digest.service.heartbeat import Heartbeat
from digest.store.editions import list_editions
from digest.store.store import Store


def midday_zone() -> str:
    """A zone where it is between 09:00 and 18:00 now (``Etc/GMT-5`` is UTC+5)."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "UTC"
        if 9 <= now.astimezone(ZoneInfo(name)).hour < 18:
            return name
    raise AssertionError("some zone is always at midday")


def configure(folder: Path, zone: str, send_time: str, extra: str = "") -> None:
    (folder / "digest.toml").write_text(
        f'{POSTAL}timezone = "{zone}"\nsend_time = {send_time}\n{extra}', encoding="utf-8"
    )


def minutes_ago(zone: str, minutes: int) -> str:
    return (datetime.now(ZoneInfo(zone)) - timedelta(minutes=minutes)).strftime('"%H:%M"')


def wait_for(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
    process.send_signal(signum)
    return process.wait(timeout=timeout)


def err_of(site: Site, log: str) -> str:
    return site.output(log)[1]


@pytest.fixture(scope="module")
def small_template(tmp_path_factory) -> Path:
    """Five subscribers in the default zone, today's news: put in through the CLI once."""
    folder = tmp_path_factory.mktemp("small")
    env = cli_env(f"sqlite:///{folder / 'digest.db'}", "http://127.0.0.1:9")
    site = Site(folder, env["DIGEST_DATABASE_URL"], env)
    news = folder / "news.jsonl"
    news.write_text(
        '{"title": "Wind farm opens", "url": "https://news.example.org/wind", '
        '"keywords": ["Energy"]}\n'
    )
    people = folder / "people.csv"
    people.write_text(
        "email,name,topics,timezone\n" + "".join(f"p{i}@example.com,P {i},,\n" for i in range(5)),
        encoding="utf-8",
    )
    for args in (("ingest", str(news)), ("subscribers", "import", str(people))):
        assert site.run(*args).returncode == 0
    in_service(site.database_url)
    return folder / "digest.db"


@pytest.fixture
def small(tmp_path, small_template) -> Site:
    """A copy of the small site; the outbox provider."""
    url = copy_database(small_template, tmp_path / "digest.db")
    return Site(tmp_path, url, cli_env(url, "http://127.0.0.1:9"))


def sent_so_far(site: Site) -> int:
    """Recipients the ledger records as sent (0 before the edition exists)."""
    store = Store(site.database_url)
    try:
        ledger = Ledger(store, "UTC")
        return sum(ledger.counts(e)["sent"] for e in list_editions(store.engine))
    finally:
        store.close()


def outbox_files(site: Site) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in (site.folder / "outbox").rglob("*.eml")}


# -- catch-up, running on, SIGTERM, restart -------------------------------------------------


def test_a_missed_edition_is_caught_up_the_process_runs_on_and_a_restart_sends_nothing_twice(
    small,
):
    zone = midday_zone()
    configure(small.folder, zone, minutes_ago(zone, 30))
    first = small.start("schedule", log="first")
    wait_for(lambda: len(outbox_files(small)) == 5, "the caught-up edition")
    time.sleep(1.0)
    assert first.poll() is None, err_of(small, "first")  # a service: it keeps running
    files = outbox_files(small)

    assert stop(first) == 0
    log = err_of(small, "first")
    assert "Traceback" not in log
    today = datetime.now(ZoneInfo(zone)).date()
    assert f"catch-up: edition {today} {zone} was due at" in log
    assert f"edition {today} {zone}: sent 5, skipped 0, failed 0, in doubt 0" in log
    assert "SIGTERM: stopping after the batch with the provider is recorded" in log
    assert log.rstrip().endswith("info schedule: stopped")

    second = small.start("schedule", log="second")
    wait_for(lambda: "schedule: started" in err_of(small, "second"), "the second start")
    time.sleep(1.5)
    assert stop(second) == 0
    log = err_of(small, "second")
    assert "catch-up:" not in log and "sent 5" not in log, log
    assert outbox_files(small) == files  # not one file written again
    assert small.ledger_counts()["sent"] == 5


def test_an_edition_fires_at_its_send_time_while_running(small):
    zone = midday_zone()
    # Ten seconds ahead: time for the process to start on a busy machine, so the
    # edition is one it waits for, not one it catches up.
    at = datetime.now(ZoneInfo(zone)) + timedelta(seconds=10)
    configure(small.folder, zone, at.strftime("%H:%M:%S"))  # a TOML local time, to the second
    running = small.start("schedule", log="run")
    wait_for(lambda: len(outbox_files(small)) == 5, "the edition at its send time")
    assert stop(running) == 0
    log = err_of(small, "run")
    started = next(line for line in log.splitlines() if "schedule: started" in line)
    assert datetime.fromisoformat(started.split()[0].replace("Z", "+00:00")) < at, log
    sent = next(line for line in log.splitlines() if ": sent 5," in line)
    fired = datetime.fromisoformat(sent.split()[0].replace("Z", "+00:00"))
    assert timedelta(0) <= fired - at.replace(microsecond=0) < timedelta(seconds=3), log
    assert "catch-up:" not in log


def test_a_broken_source_is_named_and_the_edition_goes_out_as_json_lines(small):
    zone = midday_zone()
    (small.folder / "broken.jsonl").write_text("{nope\n")
    (small.folder / "more.jsonl").write_text(
        '{"title": "Heat pump sales", "keywords": ["Energy"]}\n'
    )
    sources = 'sources = ["missing-folder", "broken.jsonl", "more.jsonl"]\n'
    configure(small.folder, zone, minutes_ago(zone, 30), sources)
    running = small.start("schedule", "--log-format", "json", log="json")
    wait_for(lambda: len(outbox_files(small)) == 5, "the edition")
    time.sleep(0.5)
    assert running.poll() is None
    assert stop(running) == 0

    records = [json.loads(line) for line in err_of(small, "json").splitlines()]
    errors = [r["message"] for r in records if r["level"] == "error"]
    assert len(errors) == 2
    assert "missing-folder" in errors[0] and "broken.jsonl:1: not valid JSON" in errors[1]
    ingested = next(r for r in records if r["event"] == "ingested")
    assert (ingested["new"], ingested["failed"]) == (1, 2)
    (edition,) = [r for r in records if r["event"] == "edition"]
    assert (edition["sent"], edition["failed"]) == (5, 0)
    assert any(r["event"] == "signal" and r["message"].startswith("SIGTERM") for r in records)
    assert records[-1]["message"] == "schedule: stopped"
    # The edition carries the article read just before it, with what the others had.
    eml = next((small.folder / "outbox").rglob("*.eml")).read_text(encoding="utf-8")
    assert "Heat pump sales" in eml and "Wind farm opens" in eml


# -- never twice: a manual send alongside, a stop mid-edition, two schedulers ---------------


@pytest.fixture
def slow_sendgrid(tmp_path) -> Iterator[Server]:
    with sendgrid_process(tmp_path, "--delay-ms", "300") as server:
        yield server


PUBLIC_URL = 'public_url = "https://news.example.org"\n'  # POSTAL is in configure's


def sendgrid_config(site: Site, minutes: int = 30) -> str:
    zone = midday_zone()
    # A public_url that works: sendgrid refuses to mail dead unsubscribe links.
    configure(site.folder, zone, minutes_ago(zone, minutes), f'provider = "sendgrid"\n{PUBLIC_URL}')
    return zone


def sent_by(text: str, pattern: str) -> int:
    return sum(int(n) for n in re.findall(pattern, text, re.M))


def test_a_scheduled_edition_and_a_manual_send_at_once_mail_everyone_once(
    tmp_path, sqlite_template, slow_sendgrid
):
    site = sqlite_site(tmp_path, sqlite_template, slow_sendgrid.url)
    zone = sendgrid_config(site)
    scheduler = site.start("schedule", log="schedule")
    wait_for(lambda: ": start, due" in err_of(site, "schedule"), "the catch-up to start")
    manual = site.start("send", "--timezone", zone, log="send")
    assert manual.wait(timeout=60) == 0, site.output("send")
    wait_for(lambda: re.search(r": sent \d+,", err_of(site, "schedule")), "the scheduled send")
    assert stop(scheduler) == 0

    assert slow_sendgrid.deliveries() == Counter(dict.fromkeys(everyone(), 1))
    by_schedule = sent_by(err_of(site, "schedule"), r": sent (\d+),")
    by_hand = sent_by(site.output("send")[0], r"^(\d+) sent, ")
    assert by_schedule + by_hand == SUBSCRIBERS
    assert by_schedule and by_hand, f"they did not overlap: {by_schedule}, {by_hand}"
    log = err_of(site, "schedule")  # 3,000 recipients, but not a terminal: no progress bar
    assert "━" not in log and "\r" not in log
    assert all(
        re.match(r"\d{4}-\d\d-\d\dT[\d:]{8}Z (info|warning|error) ", x) for x in log.splitlines()
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_mid_edition_records_the_batch_exits_0_and_the_restart_finishes(
    tmp_path, sqlite_template, slow_sendgrid, signum
):
    site = sqlite_site(tmp_path, sqlite_template, slow_sendgrid.url)
    sendgrid_config(site)
    first = site.start("schedule", log="first")
    wait_for(lambda: len(slow_sendgrid.lines()) >= 400, "two batches accepted")
    assert stop(first, signum) == 0  # SIGHUP: the SSH session it was started from closed
    counts = site.ledger_counts()
    assert counts["in_doubt"] == 0 and 0 < counts["sent"] < SUBSCRIBERS
    assert counts["sent"] == len(slow_sendgrid.lines())  # every accepted batch recorded
    assert "stopped with" in err_of(site, "first")

    second = site.start("schedule", log="second")
    wait_for(lambda: sent_so_far(site) == SUBSCRIBERS, "the rest", timeout=60)
    assert stop(second) == 0
    assert "catch-up: edition" in err_of(site, "second")
    assert slow_sendgrid.deliveries() == Counter(dict.fromkeys(everyone(), 1))


def test_a_second_signal_exits_at_once(tmp_path, sqlite_template):
    with sendgrid_process(tmp_path, "--delay-ms", "5000") as server:
        site = sqlite_site(tmp_path, sqlite_template, server.url)
        sendgrid_config(site)
        running = site.start("schedule", log="run")
        wait_for(lambda: ": start, due" in err_of(site, "run"), "the edition to start")
        time.sleep(1.0)  # a batch is with the (slow) provider
        running.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        signalled = time.monotonic()
        assert stop(running) == 128 + signal.SIGTERM
        assert time.monotonic() - signalled < 2
    assert "stopping at once" in err_of(site, "run")


@pytest.mark.postgres
def test_two_schedulers_on_postgresql_mail_everyone_once(tmp_path, pg_schema_url, slow_sendgrid):
    site = make_site(tmp_path, pg_schema_url(), slow_sendgrid.url)
    sendgrid_config(site)
    one = site.start("schedule", "--tick", "0.5", log="one")
    two = site.start("schedule", "--tick", "0.5", log="two")
    wait_for(lambda: sent_so_far(site) == SUBSCRIBERS, "everyone", timeout=90)
    status = site.run("status")
    states = scheduler_states(status.stdout)
    assert states.count("alive") == 2, status.stdout
    assert stop(one) == 0 and stop(two) == 0

    assert slow_sendgrid.deliveries() == Counter(dict.fromkeys(everyone(), 1))
    shares = [sent_by(err_of(site, log), r": sent (\d+),") for log in ("one", "two")]
    assert sum(shares) == SUBSCRIBERS
    assert all(shares), f"the two schedulers did not share the edition: {shares}"


# -- the list, settings, status --------------------------------------------------------------


def test_list_prints_each_zones_next_run_and_what_a_start_would_catch_up(small):
    zone = midday_zone()
    send_time = minutes_ago(zone, 30)  # once: a minute may turn before the assertion
    configure(small.folder, zone, send_time)
    people = small.folder / "kathmandu.csv"
    people.write_text("email,name,topics,timezone\nk@example.com,K,,Asia/Kathmandu\n")
    assert small.run("subscribers", "import", str(people)).returncode == 0

    done = small.run("schedule", "--list", "--days", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("zone\tsend time\tedition\tlocal time\tUTC\tdaily\tweekly\tweekly edition")
    rows = [line.split("\t") for line in lines[1:5]]
    assert sorted((r[0], r[1], r[5], r[6]) for r in rows) == sorted(
        [("Asia/Kathmandu", "site", "1", "0")] * 2 + [(zone, "site", "5", "0")] * 2
    )
    assert all(r[3].startswith(("07:00", send_time.strip('"'))) for r in rows)
    today = datetime.now(ZoneInfo(zone)).date()
    assert f"on start: edition {today} {zone} (due at" in done.stdout


@pytest.mark.parametrize(
    ("args", "toml", "message"),
    [
        (["--days", "3"], "", "Error: --days goes with --list"),
        (["--list", "--days", "0"], "", "0 is not in the range 1<=x<=366"),
        ([], "catch_up_hours = 30\n", "catch_up_hours: must be from 0 to 23, got 30"),
        ([], "ingest_every = 0\n", "ingest_every: must be from 1 to 1440, got 0"),
        ([], 'provider = "sendgrid"\n', "SENDGRID_API_KEY"),
    ],
)
def test_bad_usage_and_settings_exit_2_naming_them(small, args, toml, message):
    (small.folder / "digest.toml").write_text(POSTAL + toml)
    env = {k: v for k, v in small.env.items() if k != "SENDGRID_API_KEY"}
    done = subprocess.run(
        small.command("schedule", *args), cwd=small.folder, env=env, capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_status_shows_a_live_scheduler_and_warns_when_none_beats(small):
    store = Store(small.database_url)
    try:
        old = datetime.now(UTC) - timedelta(minutes=12)
        Heartbeat(store, now=lambda: old).start([])
    finally:
        store.close()
    done = small.run("status")
    assert done.returncode == 0
    assert scheduler_states(done.stdout)[0] == "not beating", done.stdout  # the latest first
    assert "warning: no scheduler has beaten for more than 5 min" in done.stderr
    assert "last beat 12 min ago" in done.stderr

    zone = midday_zone()
    configure(small.folder, zone, '"07:00"')
    running = small.start("schedule", log="run")
    wait_for(lambda: "schedule: started" in err_of(small, "run"), "the start")
    done = small.run("status")
    assert stop(running) == 0
    blocks = status_blocks(done.stdout)
    alive = [b["scheduler"] for b in blocks["scheduler"] if b["state"] == "alive"]
    assert alive == [f"{os.uname().nodename}:{running.pid}"]
    assert zone in [run["zone"] for run in blocks["zone"]]  # its next editions
    assert "warning: no scheduler" not in done.stderr


def test_a_scheduler_killed_with_sigkill_is_not_running_in_status_at_once(small):
    zone = midday_zone()
    configure(small.folder, zone, '"07:00"')
    running = small.start("schedule", log="run")
    wait_for(lambda: "alive" in scheduler_states(small.run("status").stdout), "its heartbeat")
    running.kill()  # no clean stop: its last beat says it ran a moment ago
    running.wait(timeout=10)

    done = small.run("status")

    assert done.returncode == 0
    me = f"{os.uname().nodename}:{running.pid}"
    me_now = [b["state"] for b in status_blocks(done.stdout)["scheduler"] if b["scheduler"] == me]
    assert me_now == ["not running"] and "alive" not in scheduler_states(done.stdout), done.stdout
    assert f"warning: no scheduler is running ({me} is no longer running" in done.stderr


def test_sighup_stops_the_scheduler_cleanly_like_sigterm(small):
    zone = midday_zone()
    configure(small.folder, zone, '"07:00"')
    running = small.start("schedule", log="run")
    wait_for(lambda: "schedule: started" in err_of(small, "run"), "the start")

    assert stop(running, signal.SIGHUP) == 0  # a closed SSH session
    log = err_of(small, "run")
    assert "SIGHUP: stopping after the batch with the provider is recorded" in log
    assert log.rstrip().endswith("info schedule: stopped")
    assert "stopped" in small.run("status").stdout


def test_with_json_logs_a_bad_setting_is_a_json_line_too(small):
    (small.folder / "digest.toml").write_text("catch_up_hours = -1\n")
    done = small.run("schedule", "--log-format", "json")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["message"].endswith("catch_up_hours: must be from 0 to 23, got -1")


def test_a_service_that_would_mail_dead_unsubscribe_links_refuses_to_start(small):
    (small.folder / "digest.toml").write_text('provider = "sendgrid"\n')  # no https public_url
    env = {**small.env, "SENDGRID_API_KEY": "SG.test-key-not-a-real-one"}
    done = subprocess.run(
        small.command("schedule"), cwd=small.folder, env=env, capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "refusing to send through sendgrid: the unsubscribe links would not work" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("toml", "env", "words"),
    [
        (f'provider = "sendgrid"\n{PUBLIC_URL}{POSTAL}', {}, "needs SENDGRID_API_KEY"),
        ('provider = "sendgrid"\n' + POSTAL, {"SENDGRID_API_KEY": "SG.x"}, "links would not work"),
        (f'provider = "smtp"\n{PUBLIC_URL}', {"DIGEST_SMTP_URL": "smtp://127.0.0.1:9"}, "postal"),
    ],
)
def test_send_and_schedule_refuse_the_same_misconfiguration_with_the_same_line(
    small, toml, env, words
):
    (small.folder / "digest.toml").write_text(toml, encoding="utf-8")
    env = {**{k: v for k, v in small.env.items() if k != "SENDGRID_API_KEY"}, **env}
    said = [
        subprocess.run(
            small.command(command),
            cwd=small.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for command in ("send", "schedule")
    ]
    assert [done.returncode for done in said] == [2, 2]
    (line,) = said[0].stderr.splitlines()
    assert said[1].stderr.splitlines() == [line]
    assert line.startswith("Error: ") and words in line
    assert sent_so_far(small) == 0
