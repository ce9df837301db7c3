"""Kill ``digest send`` with SIGKILL mid-run, run it again, and count what people got.

The README's promise: after a crash at any moment, running the same command again
mails everyone not yet mailed and nobody twice. The one batch, or group of small
batches, that was in flight (handed over, its outcome not yet written) is in doubt and
sent again only with ``--resend-in-doubt``; the outbox provider finds the files it
wrote and needs no such word. Everything here runs as an operator would: the real
``digest`` command in subprocesses, the SendGrid stand-in as a separate server
process that records every accepted recipient to a file and outlives the client.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import parseaddr
from pathlib import Path

import pytest
from conftest import status_blocks
from sites import (
    BATCH,
    SUBSCRIBERS,
    Recorded,
    Server,
    by_message,
    everyone,
    kill_when,
    mailed_again,
    make_site,
    sendgrid_process,
    sqlite_site,
)

from digest.delivery.sendgrid import MAX_RECIPIENTS


@pytest.fixture
def sendgrid(tmp_path) -> Iterator[Server]:
    # Each request held 300 ms before it is accepted: the quiet moments the kills
    # wait for are long enough to be caught on a busy machine (tests run in parallel).
    with sendgrid_process(tmp_path, "--delay-ms", "300") as server:
        yield server


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_sendgrid_send_resumes_without_losing_or_doubling(
    request, tmp_path, sqlite_template, sendgrid, backend
):
    if backend == "sqlite":
        site = sqlite_site(tmp_path, sqlite_template, sendgrid.url)
    else:
        site = make_site(tmp_path, request.getfixturevalue("pg_schema_url")(), sendgrid.url)
    recorded = Recorded(site.database_url)

    # Early, at the worst moment: the first batch was just accepted, and the sender
    # has probably not written its outcome yet.
    send = site.start("send", "--provider", "sendgrid", log="early")
    kill_when(send, lambda: len(sendgrid.lines()) >= BATCH)
    early = sendgrid.lines()
    assert len(early) < SUBSCRIBERS  # killed with some, not all, mailed

    # Late, at a quiet moment: ten batches in, every accepted one recorded, the next one
    # still with the server. Recorded, not counted: the batch the early kill caught may
    # never have reached the server, and is in doubt all the same.
    quiet_at: list[int] = []

    def ten_in_and_recorded() -> bool:
        lines = sendgrid.lines()
        mailed = {address for _, address in lines}
        if len(mailed) >= 10 * BATCH and mailed <= recorded():
            quiet_at.append(len(lines))
            return True
        return False

    send = site.start("send", "--provider", "sendgrid", log="late")
    try:
        kill_when(send, ten_in_and_recorded)
    finally:
        recorded.close()
    late = sendgrid.lines()
    assert len({address for _, address in late}) < SUBSCRIBERS

    again = site.run("send", "--provider", "sendgrid")

    # Whatever was with SendGrid when a kill came is in doubt: reported, exit 1, not resent.
    assert again.returncode == 1, again.stderr
    assert "Traceback" not in again.stderr
    assert "in doubt" in again.stderr and "--resend-in-doubt" in again.stderr
    final = sendgrid.lines()
    got = Counter(address for _, address in final)
    assert max(got.values()) == 1  # nobody mailed twice
    counts = site.ledger_counts()
    doubted = site.addresses("in_doubt")
    assert counts["pending"] == counts["failed"] == 0
    assert counts["sent"] + counts["in_doubt"] == SUBSCRIBERS  # nobody lost
    assert set(got) | doubted == everyone()
    # At most the one group each kill caught handed over: a group of these 200-reader
    # segments holds at most one full SendGrid batch's worth of people, as one batch of
    # a large segment always could, and is in doubt whole, request by request.
    assert len(doubted) <= 2 * MAX_RECIPIENTS
    assert all(batch <= doubted or not batch & doubted for batch in by_message(final))
    assert set(got) - doubted == site.addresses("sent")
    # The early kill came just as the first batch was accepted: unless its answer was
    # recorded in the few milliseconds before the kill, it is in doubt (and it was in
    # fact delivered, once).
    first = by_message(early)[0]
    assert first <= doubted or first <= site.addresses("sent")
    if len(late) == quiet_at[0]:  # the late kill found nothing unrecorded
        assert mailed_again(late, final) == set()

    # The operator checks the provider's log and decides to send them again.
    resent = site.run("send", "--provider", "sendgrid", "--resend-in-doubt")

    assert resent.returncode == 0, resent.stderr
    got = Counter(address for _, address in sendgrid.lines())
    assert set(got) == everyone()
    assert {a for a, n in got.items() if n > 1} <= doubted
    assert site.ledger_counts() == {
        "sent": SUBSCRIBERS,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 0,
        "pending": 0,
    }
    status = site.run("status")
    assert status.returncode == 0
    (row,) = status_blocks(status.stdout)["edition"]
    states = ("sent", "failed", "in_doubt", "skipped", "pending")
    assert [row[k] for k in states] == [str(SUBSCRIBERS), "0", "0", "0", "0"]


# -- the outbox: finds the files it already wrote ---------------------------------------


def eml_recipients(folder: Path) -> Counter[str]:
    parser = BytesHeaderParser(policy=default)
    found: Counter[str] = Counter()
    for path in folder.rglob("*.eml"):
        with path.open("rb") as handle:
            found[parseaddr(str(parser.parse(handle)["To"]))[1]] += 1
    return found


def test_a_killed_outbox_send_resumes_with_exactly_one_file_each(tmp_path, sqlite_template):
    site = sqlite_site(tmp_path, sqlite_template)
    outbox = tmp_path / "outbox"
    send = site.start("send")

    def some_written() -> bool:
        return outbox.exists() and sum(1 for _ in outbox.rglob("*.eml")) >= 700

    kill_when(send, some_written)
    assert sum(1 for _ in outbox.rglob("*.eml")) < SUBSCRIBERS

    again = site.run("send")

    assert again.returncode == 0, again.stderr
    got = eml_recipients(outbox)
    assert got == Counter(dict.fromkeys(everyone(), 1))
    assert site.ledger_counts() == {
        "sent": SUBSCRIBERS,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 0,
        "pending": 0,
    }


# -- two senders at once on SQLite ----------------------------------------------------------


def test_two_concurrent_sends_on_sqlite_mail_nobody_twice(tmp_path, sqlite_template, sendgrid):
    site = sqlite_site(tmp_path, sqlite_template, sendgrid.url)

    first = site.start("send", "--provider", "sendgrid", log="first")
    second = site.start("send", "--provider", "sendgrid", log="second")

    assert first.wait(timeout=60) == 0, site.output("first")
    assert second.wait(timeout=60) == 0, site.output("second")
    got = sendgrid.deliveries()
    assert got == Counter(dict.fromkeys(everyone(), 1))
    # Each reports only what it sent itself; together, everyone once.
    sent = []
    for log in ("first", "second"):
        out, err = site.output(log)
        assert "Traceback" not in err
        sent.append(int(re.search(r"^(\d+) sent, ", out, re.M).group(1)))
    assert sum(sent) == SUBSCRIBERS
    assert all(sent), f"the two sends did not overlap: {sent}"
    assert site.ledger_counts() == {
        "sent": SUBSCRIBERS,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 0,
        "pending": 0,
    }
