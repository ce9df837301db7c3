"""A database server that is not up yet when ``digest schedule`` or ``digest serve``
starts (a reboot: the service before PostgreSQL), and one that goes away mid-run.

Real processes against the real PostgreSQL, reached through a TCP proxy on a port
nobody listens on until the proxy starts there: the services wait, saying so once
a try, and work once it appears. A server that answers "no" (an unknown database)
is a setting to fix (exit 2 at once); one that never appears is given up on with
exit 1, which systemd restarts (the unit's RestartPreventExitStatus is 2).
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request

import pytest
from conftest import POSTAL, scheduler_states
from sites import Site, cli_env
from standins.tcp_proxy import TCPProxy, free_port

from digest.service.heartbeat import recorded
from digest.store.store import Store

pytestmark = pytest.mark.postgres


def wait_for(done, what: str, process=None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert process is None or process.poll() is None, f"exited before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# The local server trusts loopback, so any password works; the log must never show it.
PASSWORD = "Pw-never-shown-7Qx"


def site_behind(tmp_path, real_url: str, port: int, toml: str = "") -> Site:
    """A site whose database URL goes through ``port`` instead of PostgreSQL's own."""
    url = real_url.replace("postgres@127.0.0.1:5432/", f"postgres:{PASSWORD}@127.0.0.1:{port}/")
    (tmp_path / "digest.toml").write_text(POSTAL + toml, encoding="utf-8")
    return Site(tmp_path, url, cli_env(url, "http://127.0.0.1:9"))


def err_of(site: Site, log: str) -> str:
    return site.output(log)[1]


def test_the_scheduler_waits_for_a_database_that_comes_up_late_then_runs(tmp_path, pg_schema_url):
    real = pg_schema_url()
    port = free_port()
    site = site_behind(tmp_path, real, port)
    running = site.start("schedule", "--tick", "0.5", "--log-format", "json", log="run")
    wait_for(lambda: "attempt 2, next in 2 s" in err_of(site, "run"), "a second try", running)

    with TCPProxy(port, ("127.0.0.1", 5432)).start():
        wait_for(lambda: "schedule: started" in err_of(site, "run"), "the start", running)
        status = site.run("status")
        assert status.returncode == 0, status.stderr
        assert "alive" in scheduler_states(status.stdout), status.stdout
        running.send_signal(signal.SIGTERM)
        assert running.wait(timeout=30) == 0

    records = [json.loads(line) for line in err_of(site, "run").splitlines()]
    tries = [r["message"] for r in records if r["event"] == "database"]
    assert len(tries) >= 2
    shown = (
        f"cannot connect to the database postgresql+psycopg://postgres:***@127.0.0.1:{port}/test"
    )
    for n, line in enumerate(tries, 1):  # one line a try: which database, n, the next wait
        assert line.startswith(shown), line
        assert "Connection refused" in line
        assert re.search(rf"; attempt {n}, next in [\d.]+ s$", line), line
    assert records[-1]["message"] == "schedule: stopped"
    assert PASSWORD not in err_of(site, "run")


def test_the_web_side_waits_for_a_database_that_comes_up_late_then_serves(tmp_path, pg_schema_url):
    port = free_port()
    site = site_behind(tmp_path, pg_schema_url(), port)
    serving = site.start("serve", "--port", "0", log="serve")
    wait_for(lambda: "attempt 1, next in 1 s" in err_of(site, "serve"), "a first try", serving)

    with TCPProxy(port, ("127.0.0.1", 5432)).start():
        wait_for(lambda: "serving on " in err_of(site, "serve"), "the server", serving)
        address = re.search(r"serving on (http://\S+)", err_of(site, "serve")).group(1)
        with urllib.request.urlopen(f"{address}/healthz", timeout=10) as answer:
            assert answer.status == 200
        serving.send_signal(signal.SIGTERM)
        assert serving.wait(timeout=30) == 0
    assert "Traceback" not in err_of(site, "serve")


@pytest.mark.parametrize("command", [("schedule",), ("serve", "--port", "0")])
def test_a_database_that_never_comes_up_is_given_up_on_with_exit_1(
    tmp_path, pg_schema_url, command
):
    site = site_behind(
        tmp_path, pg_schema_url(), free_port(), "[database]\nstartup_wait_seconds = 2\n"
    )
    started = time.monotonic()
    done = site.run(*command, timeout=60)
    assert done.returncode == 1, done.stderr  # systemd restarts it (not 2)
    assert time.monotonic() - started < 30
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot connect to the database") and "Connection refused" in last
    assert "gave up after" in last and "startup_wait_seconds" in last
    assert "attempt 1, next in 1 s" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [("schedule",), ("serve", "--port", "0")])
def test_a_database_that_answers_no_is_a_setting_to_fix_exit_2_at_once(
    tmp_path, pg_schema_url, command
):
    site = site_behind(tmp_path, pg_schema_url(), 5432)
    site.env["DIGEST_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/no_such_database"
    done = site.run(*command, timeout=60)
    assert done.returncode == 2, done.stderr
    assert 'database "no_such_database" does not exist' in done.stderr
    assert "attempt" not in done.stderr  # no waiting for what no wait makes right


def beaten(real_url: str) -> bool:
    """Whether a scheduler has beaten since its start: its start-up is over."""
    store = Store(real_url)
    try:
        return any(beat.last > beat.started for beat in recorded(store))
    finally:
        store.close()


def test_a_database_that_goes_away_mid_run_does_not_stop_the_scheduler(tmp_path, pg_schema_url):
    port, real = free_port(), pg_schema_url()
    site = site_behind(tmp_path, real, port)
    proxy = TCPProxy(port, ("127.0.0.1", 5432)).start()
    try:
        running = site.start("schedule", "--tick", "0.5", log="run")
        wait_for(lambda: beaten(real), "the first beat", running)

        proxy.stop()  # the server goes away: its connections cut, the port refusing
        wait_for(lambda: "error heartbeat: " in err_of(site, "run"), "the lost beat", running)
        proxy.start()  # and comes back
        wait_for(
            lambda: "heartbeat: the database answers again" in err_of(site, "run"),
            "the beat again",
            running,
        )
        status = site.run("status")
        assert "alive" in scheduler_states(status.stdout), status.stdout + status.stderr
        running.send_signal(signal.SIGTERM)
        assert running.wait(timeout=30) == 0
    finally:
        proxy.stop()
    assert "Traceback" not in err_of(site, "run")


def test_a_stop_while_waiting_for_the_database_exits_0_at_once(tmp_path, pg_schema_url):
    site = site_behind(tmp_path, pg_schema_url(), free_port())
    running = site.start("schedule", log="run")
    wait_for(lambda: "attempt 1, next in 1 s" in err_of(site, "run"), "a first try", running)
    running.send_signal(signal.SIGTERM)
    assert running.wait(timeout=15) == 0
    assert (
        err_of(site, "run").rstrip().endswith("info schedule: stopped before the database answered")
    )
