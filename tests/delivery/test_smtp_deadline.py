"""A whole deadline per SMTP message, and a stop that leaves the untried pending
(issue 22, delivery 5).

``smtp.timeout`` bounds one wait; a server trickling its replies a byte at a
time never reaches it. Against a real trickling server on loopback
(tests/standins/trickle_smtp.py): a message past ``smtp.message_deadline_seconds``
before its final dot fails (retryable, nothing was queued); after it, it is in
doubt; and a SIGTERM to a real ``digest send`` ends it within seconds, the
recipients it never tried still pending and at most the one on the wire in doubt.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from conftest import LIVE_LINKS, NOW, subscriber
from standins.smtp_server import SMTPStandIn
from standins.trickle_smtp import TrickleSMTP
from test_smtp import _env, cli_env, ledger_rows, save_news, smtp_send

from digest.sending.ledger import Ledger
from digest.store.editions import list_editions
from digest.store.store import Store

_env = _env  # test_smtp's autouse fixture: DIGEST_SECRET set, no DIGEST_SMTP_URL


def everyone_in_one_segment(store, count: int, when: datetime = NOW) -> list[str]:
    save_news(store, when)
    people = [subscriber(f"reader{i:02}@example.com", [], name=f"Reader {i}") for i in range(count)]
    store.save_subscribers(people)
    return [p.email for p in people]


@pytest.fixture
def slow_settings(settings):
    settings.smtp.connections = 1
    settings.smtp.max_retries = 0  # no second round: each message is tried once here
    settings.smtp.timeout = 5  # never reached: a byte comes well within it
    return settings


def test_a_message_trickled_past_its_deadline_before_data_fails_retryable(store, slow_settings):
    addresses = everyone_in_one_segment(store, 2)
    slow_settings.smtp.message_deadline_seconds = 1
    # "250 OK" to RCPT at a byte every 0.4 s: 3.2 s, against a 1 s deadline.
    with TrickleSMTP(slow=("rcpt",), byte_every=0.4) as server:
        started = time.monotonic()
        report, result = smtp_send(store, slow_settings, server.url())
        took = time.monotonic() - started

        assert server.taken == []  # nothing reached the server whole
    assert took < 5.5  # each message its 1 s deadline, not the trickle's 3.2 s (6.4 s)
    rows = ledger_rows(store, slow_settings, result.edition)
    for address in addresses:
        assert rows[address].status == "failed"
        assert rows[address].retry  # the next run (or the scheduler) tries again
        assert "smtp.message_deadline_seconds (1 s)" in rows[address].error
        assert "not sent" in rows[address].error
    assert report.aborted is None and result.failed == 2


def test_a_reply_to_the_message_trickled_past_the_deadline_is_in_doubt(store, slow_settings):
    addresses = everyone_in_one_segment(store, 2)
    slow_settings.smtp.message_deadline_seconds = 1.5
    # "250 OK queued" to the final dot at a byte every 0.4 s: 6 s.
    with TrickleSMTP(slow=("dot",), byte_every=0.4) as server:
        started = time.monotonic()
        _, result = smtp_send(store, slow_settings, server.url())
        took = time.monotonic() - started

        assert sorted(server.taken) == sorted(addresses)  # both queued by the server
    assert took < 8  # each message its 1.5 s deadline, not the trickle's 6 s (12 s)
    rows = ledger_rows(store, slow_settings, result.edition)
    for address in addresses:
        assert rows[address].status == "in_doubt"  # never "failed": it may have gone
        assert "did not reply within smtp.message_deadline_seconds (1.5 s)" in rows[address].error
    assert result.in_doubt == 2


def test_sigterm_to_a_send_held_by_a_trickling_server_ends_it_within_seconds(db_url, tmp_path):
    """The reported case: 30 recipients, a server at a few bytes a second, SIGTERM."""
    (tmp_path / "digest.toml").write_text(
        LIVE_LINKS + "[smtp]\nconnections = 1\ntimeout = 5\n", encoding="utf-8"
    )
    store = Store(db_url)
    try:
        addresses = everyone_in_one_segment(store, 30, when=datetime.now(UTC))
    finally:
        store.close()
    with TrickleSMTP(byte_every=0.05) as server:  # each message ~2 s; 30 would be a minute
        env = cli_env(db_url, server.url())
        send = subprocess.Popen(
            [sys.executable, "-m", "digest", "send", "--provider", "smtp"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while len(server.taken) < 2:
                assert send.poll() is None, send.communicate()
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.02)

            send.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _, err = send.communicate(timeout=30)
            took = time.monotonic() - signalled
        finally:
            if send.poll() is None:
                send.kill()
                send.communicate()
        taken = set(server.taken)

    assert send.returncode == 143, err
    assert took < 6, f"took {took:.1f} s after SIGTERM"
    assert "Traceback" not in err and "stopped by SIGTERM" in err
    store = Store(db_url)
    try:
        (edition,) = list_editions(store.engine)
        ledger = Ledger(store, "UTC")
        status = {row.email: row.status for row in ledger.entries(edition)}
    finally:
        store.close()
    by_status = Counter(status.values())
    assert by_status["in_doubt"] <= 1  # only the message on the wire, if any
    assert by_status["failed"] == 0
    assert by_status["pending"] >= 30 - len(taken) - 1  # the untried: pending, not in doubt
    assert {a for a, s in status.items() if s == "sent"} <= taken
    assert not taken & {a for a, s in status.items() if s == "pending"}  # none taken is resent

    # The same command again, the server fast now: the rest, once each.
    with SMTPStandIn() as fast:
        again = subprocess.run(
            [sys.executable, "-m", "digest", "send", "--provider", "smtp"],
            cwd=tmp_path,
            env=cli_env(db_url, fast.url()),
            capture_output=True,
            text=True,
            timeout=120,
        )
        delivered = fast.deliveries()
    assert again.returncode in (0, 1), again.stderr  # 1 only for one left in doubt
    # Those left pending are sent (not stranded in a batch closed as done), once each.
    assert delivered == Counter(a for a in addresses if status[a] == "pending")
