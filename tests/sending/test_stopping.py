"""SIGINT and SIGTERM in the middle of a real ``digest send``, then the same command again.

The promise: the first signal stops the send after the batch with the provider is
answered and recorded (exit 130 for SIGINT, 143 for SIGTERM, one line saying so);
nothing the provider accepted is forgotten, so resuming mails nobody twice. A second
signal exits at once, and the batch it abandoned is in doubt, never silently resent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sites import (
    BATCH,
    LIVE_LINKS,
    SUBSCRIBERS,
    Site,
    everyone,
    sendgrid_process,
    sqlite_site,
)
from standins.smtp_server import SMTPStandIn


def wait_for(condition, process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the send finished before the signal"
        assert time.monotonic() < deadline, "the send made no progress"
        time.sleep(0.01)


def assert_stopped_cleanly(site: Site, log: str, name: str) -> None:
    out, err = site.output(log)
    assert "Traceback" not in err
    assert f"{name}: stopping after the batch with the provider is recorded" in err
    assert f"stopped by {name}: " in err and "run the same command again to resume" in err
    assert "sent via sendgrid" in out or "sent via smtp" in out  # the usual summary table


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_send_finishes_the_batch_with_sendgrid_then_stops(
    tmp_path, sqlite_template, signum, code
):
    with sendgrid_process(tmp_path, "--answer-delay-ms", "200") as server:
        site = sqlite_site(tmp_path, sqlite_template, server.url)
        send = site.start("send", "--provider", "sendgrid")
        wait_for(lambda: len(server.lines()) >= 2 * BATCH, send)

        send.send_signal(signum)
        signalled = time.monotonic()
        assert send.wait(timeout=30) == code
        took = time.monotonic() - signalled

        assert took < 3  # one batch's answer, not the whole send
        assert_stopped_cleanly(site, "send", signal.Signals(signum).name)
        accepted = server.deliveries()
        assert max(accepted.values()) == 1
        assert len(accepted) < SUBSCRIBERS  # it did stop early
        counts = site.ledger_counts()
        # Everything SendGrid accepted, and only that, is recorded as sent.
        assert site.addresses("sent") == set(accepted)
        assert counts["in_doubt"] == counts["failed"] == 0
        assert counts["pending"] == SUBSCRIBERS - len(accepted)

        again = site.run("send", "--provider", "sendgrid")

        assert again.returncode == 0, again.stderr
        assert server.deliveries() == Counter(dict.fromkeys(everyone(), 1))


def test_sigterm_mid_smtp_send_records_every_message_the_server_took(tmp_path, sqlite_template):
    with SMTPStandIn() as server:
        site = sqlite_site(tmp_path, sqlite_template)
        site.env["DIGEST_SMTP_URL"] = server.url()
        (tmp_path / "digest.toml").write_text(LIVE_LINKS + "[smtp]\nrate = 400\nconnections = 2\n")
        send = site.start("send", "--provider", "smtp")
        wait_for(lambda: sum(server.deliveries().values()) >= 300, send)

        send.send_signal(signal.SIGTERM)
        assert send.wait(timeout=30) == 143

        assert_stopped_cleanly(site, "send", "SIGTERM")
        got = server.deliveries()
        assert max(got.values()) == 1
        assert site.addresses("sent") == set(got)
        assert site.ledger_counts()["in_doubt"] == 0

        (tmp_path / "digest.toml").write_text(
            LIVE_LINKS + "[smtp]\nconnections = 4\n"
        )  # no need to dawdle
        again = site.run("send", "--provider", "smtp")

        assert again.returncode == 0, again.stderr
        assert server.deliveries() == Counter(dict.fromkeys(everyone(), 1))


def test_a_second_signal_exits_at_once_and_leaves_that_batch_in_doubt(
    tmp_path: Path, sqlite_template
):
    options = ("--answer-delay-ms", "4000", "--slow-answers", "1")
    with sendgrid_process(tmp_path, *options) as server:
        site = sqlite_site(tmp_path, sqlite_template, server.url)
        send = site.start("send", "--provider", "sendgrid")
        wait_for(lambda: len(server.lines()) >= BATCH, send)  # accepted, answer on its way

        send.send_signal(signal.SIGINT)
        time.sleep(0.2)
        send.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        assert send.wait(timeout=30) == 130
        assert time.monotonic() - signalled < 2  # did not wait for the 4-second answer

        _, err = site.output("send")
        assert "stopping at once" in err and "Traceback" not in err
        first = set(server.deliveries())

        again = site.run("send", "--provider", "sendgrid")

        assert again.returncode == 1  # some recipients are in doubt
        assert "in doubt" in again.stderr and "--resend-in-doubt" in again.stderr
        got = server.deliveries()
        assert max(got.values()) == 1  # the abandoned batch was not resent
        assert site.addresses("in_doubt") == first
        assert set(got) == everyone()


def test_ctrl_c_in_any_other_command_exits_130_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'digest.db'}"
    # An import reading from a pipe that stays open: it waits for more lines.
    importing = subprocess.Popen(
        [sys.executable, "-m", "digest", "subscribers", "import", "/dev/stdin"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    importing.stdin.write("email,name,topics,timezone\nana@example.com,Ana,,\n")
    importing.stdin.flush()
    # Started (imports done, the store opened) before the signal, however busy the machine.
    deadline = time.monotonic() + 30
    while not (tmp_path / "digest.db").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)

    importing.send_signal(signal.SIGINT)
    _, err = importing.communicate(timeout=30)

    assert importing.returncode == 130
    assert "Traceback" not in err and "Aborted!" not in err
    assert err.strip().splitlines()[-1].startswith("Error: interrupted (SIGINT)")


def _two_zone_site(tmp_path: Path, env_extra: dict[str, str]) -> tuple[dict[str, str], Path]:
    """Two subscribers in two zones (two editions), today's news, through the CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'digest.db'}",
        DIGEST_SECRET="stop-test",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
        **env_extra,
    )
    (tmp_path / "digest.toml").write_text(LIVE_LINKS)
    (tmp_path / "news.jsonl").write_text(
        '{"title": "A story of the day", "url": "https://news.example.org/a"}\n'
    )
    (tmp_path / "people.csv").write_text(
        "email,name,topics,timezone\nann@example.com,Ann,,UTC\nbob@example.com,Bob,,Asia/Tokyo\n"
    )
    for args in (("ingest", "news.jsonl"), ("subscribers", "import", "people.csv")):
        done = subprocess.run(
            [sys.executable, "-m", "digest", *args], cwd=tmp_path, env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr
    return env, tmp_path


def _interrupt_when(
    ready: Callable[[], bool], args: list[str], cwd: Path, env: dict
) -> tuple[int, str, float]:
    """SIGINT the send once ``ready()`` says it is waiting on the provider (its
    handler is installed before the first request), and time how long it takes to end."""
    send = subprocess.Popen(
        [sys.executable, "-m", "digest", *args], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not ready():
        assert send.poll() is None, send.communicate()[1]
        assert time.monotonic() < deadline, "the send never reached the provider"
        time.sleep(0.05)
    send.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    _, err = send.communicate(timeout=60)
    return send.returncode, err, time.monotonic() - signalled


def test_a_stop_does_not_wait_out_a_rate_limit_back_off(tmp_path):
    from standins.sendgrid_server import SendGridStandIn

    with SendGridStandIn("SG.stop-key") as standin:
        env, cwd = _two_zone_site(
            tmp_path, {"SENDGRID_API_KEY": "SG.stop-key", "SENDGRID_API_HOST": standin.url}
        )
        (cwd / "digest.toml").write_text(
            LIVE_LINKS + "[sendgrid]\nmax_wait = 60\nmax_retries = 5\n"
        )
        far = str(int(time.time()) + 3600)
        standin.fail_next(429, count=10, headers={"X-RateLimit-Reset": far})

        code, err, took = _interrupt_when(
            lambda: standin.requests >= 1, ["send", "--provider", "sendgrid"], cwd, env
        )

    assert code == 130 and took < 5, err  # not the minute's back-off, nor the retries after
    assert "Traceback" not in err
    assert "stopped by SIGINT: 0 sent by this run, 2 not yet sent" in err
    assert standin.accepted == []


def test_a_stop_does_not_wait_out_smtp_retry_rounds(tmp_path):
    with SMTPStandIn() as server:
        env, cwd = _two_zone_site(tmp_path, {"DIGEST_SMTP_URL": server.url()})
        (cwd / "digest.toml").write_text(LIVE_LINKS + "[smtp]\nmax_retries = 10\n")
        server.tempfail("ann@example.com", 1000)
        server.tempfail("bob@example.com", 1000)

        code, err, took = _interrupt_when(
            lambda: server.tempfails_given >= 2, ["send", "--provider", "smtp"], cwd, env
        )

    assert code == 130 and took < 5, err
    assert "stopped by SIGINT: 0 sent by this run, 2 not yet sent" in err


def _start_on_a_terminal(site: Site, *args: str) -> tuple[subprocess.Popen, int]:
    """``digest`` as started from an SSH session: the leader of its own session, on a
    terminal (a pty) that is its controlling one. Closing the returned master end is
    the session closing: the kernel sends SIGHUP, and the terminal is gone (EIO)."""
    import fcntl
    import pty
    import termios
    import threading

    master, slave = pty.openpty()

    def controlling_terminal() -> None:  # runs in the child, after setsid
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        site.command(*args),
        cwd=site.folder,
        env=site.env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    STARTED_HERE.append(process)

    def drain() -> None:  # what the terminal shows; a full pty would block the send
        with contextlib.suppress(OSError):
            while os.read(master, 65536):
                pass

    threading.Thread(target=drain, daemon=True).start()
    return process, master


STARTED_HERE: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _reap_here():
    yield
    while STARTED_HERE:
        process = STARTED_HERE.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_closed_ssh_session_stops_a_send_like_sigterm_nothing_in_doubt(tmp_path, sqlite_template):
    with SMTPStandIn() as server:
        site = sqlite_site(tmp_path, sqlite_template)
        site.env["DIGEST_SMTP_URL"] = server.url()
        (tmp_path / "digest.toml").write_text(LIVE_LINKS + "[smtp]\nrate = 400\nconnections = 2\n")
        send, terminal = _start_on_a_terminal(site, "send", "--provider", "smtp")
        wait_for(lambda: sum(server.deliveries().values()) >= 300, send)

        os.close(terminal)  # the SSH session closes: SIGHUP, and no terminal to write to
        assert send.wait(timeout=30) == 128 + signal.SIGHUP

        got = server.deliveries()
        assert max(got.values()) == 1
        assert len(got) < SUBSCRIBERS  # it did stop early
        counts = site.ledger_counts()
        assert site.addresses("sent") == set(got)  # every message the server took, recorded
        assert counts["in_doubt"] == counts["failed"] == 0
        assert counts["pending"] == SUBSCRIBERS - len(got)
