"""Operators' working folders for tests that run the real ``digest`` in subprocesses.

A ``Site`` is a folder with a database set up through the CLI (3,000 subscribers in 15
segments, one article per keyword), and the SendGrid stand-in runs as a process of its
own that records every accepted recipient to a file and outlives any client. Shared by
the crash and signal tests.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from conftest import LIVE_LINKS, POSTAL, copy_database

from digest.sending.ledger import Ledger
from digest.service.heartbeat import Heartbeat
from digest.store.editions import list_editions
from digest.store.schema import ledger, subscribers
from digest.store.store import Store, normalise_url

KEY = "SG.crash-test-key.V8n2pQ"
STANDIN = Path(__file__).resolve().parent / "standins" / "sendgrid_server.py"
LOOPBACK = "127.0.0.1,localhost"
KEYWORDS = ["Climate", "Energy", "Technology", "Health", "Science"]
# 15 segments (5 single topics, 10 pairs): 15 batches, since a batch is one segment.
TOPIC_SETS = [[k] for k in KEYWORDS] + [list(p) for p in itertools.combinations(KEYWORDS, 2)]
SUBSCRIBERS = 3000
BATCH = SUBSCRIBERS // len(TOPIC_SETS)  # 200 recipients per batch


STARTED: list[subprocess.Popen] = []


def reap() -> None:
    """Kill every ``digest`` process a test started and left running."""
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

    def __post_init__(self) -> None:
        config = self.folder / "digest.toml"
        if not config.exists():
            config.write_text(POSTAL, encoding="utf-8")

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

    def addresses(self, status: str) -> set[str]:
        store = Store(self.database_url)
        try:
            ledger = Ledger(store, "UTC")
            (edition,) = list_editions(store.engine)
            return {row.email for row in ledger.entries(edition, status)}
        finally:
            store.close()

    def ledger_counts(self) -> dict[str, int]:
        store = Store(self.database_url)
        try:
            ledger = Ledger(store, "UTC")
            (edition,) = list_editions(store.engine)
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
    (folder / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
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
    in_service(database_url)
    return site


def in_service(database_url: str) -> None:
    """A scheduler ran here yesterday and stopped: digest is in service, so an edition
    due since is missed (a fresh install's first start misses nothing before it)."""
    store = Store(database_url)
    try:
        yesterday = datetime.now(UTC) - timedelta(days=1)
        beat = Heartbeat(store, now=lambda: yesterday)
        beat.start([])
        beat.stop()
    finally:
        store.close()


def sqlite_site(folder: Path, template: Path, api_url: str = "http://127.0.0.1:9") -> Site:
    url = copy_database(template, folder / "digest.db")
    (folder / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
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


@contextmanager
def sendgrid_process(folder: Path, *options: str) -> Iterator[Server]:
    """The SendGrid stand-in as a process of its own, recording every accepted recipient."""
    record = folder / "deliveries.tsv"
    command = [sys.executable, str(STANDIN), "--port", "0", "--api-key", KEY]
    command += ["--record", str(record), *options]
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


class Recorded:
    """The addresses whose outcome the ledger records (sent or in doubt), read without
    taking any lock (watching a live send)."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(normalise_url(database_url))

    def __call__(self) -> set[str]:
        query = (
            sa.select(subscribers.c.email)
            .select_from(ledger.join(subscribers, ledger.c.subscriber_id == subscribers.c.id))
            .where(ledger.c.status.in_(("sent", "in_doubt")))
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def close(self) -> None:
        self.engine.dispose()
