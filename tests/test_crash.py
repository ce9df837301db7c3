"""Kill ``digest send`` with SIGKILL mid-run, run it again, and count what people got.

The README's promise: after a crash at any moment, running the same command again
mails everyone not yet mailed and nobody twice, except at most the one batch that
was in flight (handed to the provider, its outcome not yet written); the outbox
provider avoids even that. Everything here runs as an operator would: the real
``digest`` command in subprocesses, the SendGrid stand-in as a separate server
process that records every accepted recipient to a file and outlives the client.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import parseaddr
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.ledger import Ledger, ledger
from digest.store import Store, normalise_url

KEY = "SG.crash-test-key.V8n2pQ"
STANDIN = Path(__file__).resolve().parent / "standins" / "sendgrid_server.py"
LOOPBACK = "127.0.0.1,localhost"
KEYWORDS = ["Climate", "Energy", "Technology", "Health", "Science"]
# 15 segments (5 single topics, 10 pairs): 15 batches, since a batch is one segment.
TOPIC_SETS = [[k] for k in KEYWORDS] + [list(p) for p in itertools.combinations(KEYWORDS, 2)]
SUBSCRIBERS = 3000
BATCH = SUBSCRIBERS // len(TOPIC_SETS)  # 200 recipients per batch


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _reap():
    """No ``digest`` process outlives its test, whatever the test's outcome."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Site:
    """One operator's working folder: config-free, a database, the CLI's environment."""

    folder: Path
    database_url: str
    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "digest", *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args),
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, log: str = "send") -> subprocess.Popen:
        """Start a command in the background, its output going to ``<log>.out/.err``."""
        with (
            (self.folder / f"{log}.out").open("w") as out,
            (self.folder / f"{log}.err").open("w") as err,
        ):
            process = subprocess.Popen(
                self.command(*args), cwd=self.folder, env=self.env, stdout=out, stderr=err
            )
        STARTED.append(process)
        return process

    def output(self, log: str) -> tuple[str, str]:
        return tuple(  # type: ignore[return-value]
            (self.folder / f"{log}.{kind}").read_text(encoding="utf-8") for kind in ("out", "err")
        )

    def ledger_counts(self) -> dict[str, int]:
        store = Store(self.database_url)
        try:
            ledger = Ledger(store, "UTC")
            (edition,) = ledger.editions()
            return ledger.counts(edition)
        finally:
            store.close()


def cli_env(database_url: str, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        DIGEST_DATABASE_URL=database_url,
        DIGEST_SECRET="crash-test-secret",
        SENDGRID_API_KEY=KEY,
        SENDGRID_API_HOST=api_url,
        NO_PROXY=LOOPBACK,
        no_proxy=LOOPBACK,
        COLUMNS="200",
    )
    return env


def make_site(folder: Path, database_url: str, api_url: str = "http://127.0.0.1:9") -> Site:
    """Ingest today's articles and import SUBSCRIBERS subscribers, through the CLI."""
    site = Site(folder, database_url, cli_env(database_url, api_url))
    published = datetime.now(UTC) - timedelta(hours=1)
    articles = folder / "articles.jsonl"
    articles.write_text(
        "".join(
            json.dumps(
                {
                    "title": f"{keyword} story of the day",
                    "url": f"https://news.example.org/{keyword.lower()}",
                    "published": published.isoformat(),
                    "keywords": [keyword],
                    "summary": f"What happened in {keyword.lower()} today.",
                }
            )
            + "\n"
            for keyword in KEYWORDS
        ),
        encoding="utf-8",
    )
    people = folder / "subscribers.csv"
    with people.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "topics", "timezone"])
        for i in range(SUBSCRIBERS):
            topics = ";".join(TOPIC_SETS[i % len(TOPIC_SETS)])
            writer.writerow([f"reader{i:04}@example.com", f"Reader {i}", topics, ""])
    for args in (("ingest", str(articles)), ("subscribers", "import", str(people))):
        result = site.run(*args)
        assert result.returncode == 0, result.stderr
    return site


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory) -> Path:
    """One SQLite database set up through the CLI, copied for each SQLite test."""
    folder = tmp_path_factory.mktemp("template")
    make_site(folder, f"sqlite:///{folder / 'digest.db'}")
    return folder / "digest.db"


def sqlite_site(folder: Path, template: Path, api_url: str = "http://127.0.0.1:9") -> Site:
    target = folder / "digest.db"
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    url = f"sqlite:///{target}"
    return Site(folder, url, cli_env(url, api_url))


def everyone() -> set[str]:
    return {f"reader{i:04}@example.com" for i in range(SUBSCRIBERS)}


# -- the SendGrid stand-in, a process of its own -------------------------------------


@dataclass
class Server:
    url: str
    record: Path

    def lines(self) -> list[tuple[str, str]]:
        """(message id, recipient) per accepted recipient, complete lines only."""
        if not self.record.exists():
            return []
        text = self.record.read_text(encoding="utf-8")
        complete = text[: text.rfind("\n") + 1]
        return [tuple(line.split("\t")) for line in complete.splitlines()]  # type: ignore[misc]

    def deliveries(self) -> Counter[str]:
        return Counter(address for _, address in self.lines())


@pytest.fixture
def sendgrid(tmp_path) -> Iterator[Server]:
    record = tmp_path / "deliveries.tsv"
    command = [sys.executable, str(STANDIN), "--port", "0", "--api-key", KEY]
    command += ["--record", str(record), "--delay-ms", "150"]
    env = {**os.environ, "NO_PROXY": LOOPBACK, "no_proxy": LOOPBACK}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as server:
        try:
            assert server.stdout is not None
            ready, url = server.stdout.readline().split()
            assert ready == "READY"
            yield Server(url, record)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)


def kill_when(process: subprocess.Popen, done: Callable[[], bool], timeout: float = 30) -> None:
    """SIGKILL ``process`` as soon as ``done()``; fails if it finished first."""
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert process.poll() is None, "the send finished before it could be killed"
            assert time.monotonic() < deadline, "the send made no progress"
            time.sleep(0.005)
        assert process.poll() is None, "the send finished before it could be killed"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


# -- SendGrid: killed early, then killed late, then run to the end -----------------------


def by_message(lines: list[tuple[str, str]]) -> list[set[str]]:
    """The recipients of each accepted request."""
    found: dict[str, set[str]] = {}
    for message_id, address in lines:
        found.setdefault(message_id, set()).add(address)
    return list(found.values())


def mailed_again(before: list[tuple[str, str]], after: list[tuple[str, str]]) -> set[str]:
    """Who, among those mailed before a kill, was mailed again after it."""
    earlier = {address for _, address in before}
    return {address for _, address in after[len(before) :] if address in earlier}


class SentCount:
    """How many ledger rows say sent, read without taking any lock (watching a live send)."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(normalise_url(database_url))

    def __call__(self) -> int:
        query = sa.select(sa.func.count()).select_from(ledger).where(ledger.c.status == "sent")
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def close(self) -> None:
        self.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_sendgrid_send_resumes_without_losing_or_doubling(
    request, tmp_path, sqlite_template, sendgrid, backend
):
    if backend == "sqlite":
        site = sqlite_site(tmp_path, sqlite_template, sendgrid.url)
    else:
        site = make_site(tmp_path, request.getfixturevalue("pg_schema_url")(), sendgrid.url)
    sent_count = SentCount(site.database_url)

    # Early, at the worst moment: the first batch was just accepted, and the sender
    # has probably not written its outcome yet.
    send = site.start("send", "--provider", "sendgrid", log="early")
    kill_when(send, lambda: len(sendgrid.lines()) >= BATCH)
    early = sendgrid.lines()
    assert len(early) < SUBSCRIBERS  # killed with some, not all, mailed

    # Late, at a quiet moment: twelve batches in, every accepted one recorded as sent,
    # the next one still with the server.
    quiet_at: list[int] = []

    def twelve_in_and_recorded() -> bool:
        lines = sendgrid.lines()
        mailed = len({address for _, address in lines})
        if mailed >= 12 * BATCH and sent_count() == mailed:
            quiet_at.append(len(lines))
            return True
        return False

    send = site.start("send", "--provider", "sendgrid", log="late")
    try:
        kill_when(send, twelve_in_and_recorded)
    finally:
        sent_count.close()
    late = sendgrid.lines()
    assert len({address for _, address in late}) < SUBSCRIBERS

    again = site.run("send", "--provider", "sendgrid")

    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    final = sendgrid.lines()
    got = Counter(address for _, address in final)
    assert set(got) == everyone()  # nobody lost
    assert max(got.values()) <= 2
    # The early kill may double the one batch that was in flight, resent whole ...
    doubled = mailed_again(early, late)
    assert len(doubled) <= BATCH
    assert not doubled or doubled in by_message(early)
    # ... the late one nobody, unless the in-flight batch was accepted in the
    # few milliseconds between seeing the quiet moment and the kill.
    doubled = mailed_again(late, final)
    if len(late) == quiet_at[0]:
        assert doubled == set()
    else:
        assert doubled in by_message(late)
    assert site.ledger_counts() == {"sent": SUBSCRIBERS, "failed": 0, "skipped": 0, "pending": 0}
    status = site.run("status")
    assert status.returncode == 0
    row = next(line for line in status.stdout.splitlines() if " UTC " in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[-4:] == [str(SUBSCRIBERS), "0", "0", "0"]  # sent, failed, skipped, pending


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
    assert site.ledger_counts() == {"sent": SUBSCRIBERS, "failed": 0, "skipped": 0, "pending": 0}


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
    assert site.ledger_counts() == {"sent": SUBSCRIBERS, "failed": 0, "skipped": 0, "pending": 0}
