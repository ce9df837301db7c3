"""Reads never wait for a writer; writers queue for each other instead of failing.

Each test holds a real write transaction (or a real listing) open on one
connection and shows that another connection's read, unsubscribe or health
check finishes *while* it is still open: the holder lets go only after the
other side has returned, and a deadline turns a wait into a failure. On SQLite
this is WAL with a deferred BEGIN for reads; on PostgreSQL it always was so.
"""

from __future__ import annotations

import ast
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import LIVE_LINKS, ROOT, run_digest, subscriber

from digest.store.database import sqlite_file, write_transaction
from digest.store.schema import subscribers
from digest.store.store import Store

DEADLINE = 30  # seconds: far beyond any of these steps, far below the 60 s busy timeout
SECRET = "Zq81xWv3pLm0"
DIGEST = ROOT / "digest"


def write_lock_taken(store: Store) -> bool:
    """Whether some connection holds SQLite's write lock on the store's file right now
    (a writer that asks for it without waiting is refused)."""
    with closing(sqlite3.connect(sqlite_file(store.engine.url), timeout=0)) as probe:
        probe.isolation_level = None
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            assert "locked" in str(err), err
            return True
        probe.execute("ROLLBACK")
        return False


def environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    return env | {"DIGEST_DATABASE_URL": url, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}


@pytest.fixture
def people(db_url):
    """A store with ann and bob, and a second store on the same database, as another
    process would open it (its own engine, its own connections)."""
    first = Store(db_url)
    first.save_subscribers([subscriber("ann@example.com"), subscriber("bob@example.org")])
    other = Store(db_url)
    yield first, other
    other.close()
    first.close()


def test_a_read_and_digest_status_finish_while_another_connection_holds_a_write(
    people, db_url, tmp_path
):
    store, writer = people
    with write_transaction(writer.engine) as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.email_key == "ann@example.com")
            .values(name="A")
        )
        if store.is_sqlite:
            assert write_lock_taken(store)
        # The reads see the last commit: ann as she was before the open write.
        assert store.find_subscriber("ann@example.com").name == ""
        assert [s.email for s in store.list_subscribers()] == ["ann@example.com", "bob@example.org"]
        status = run_digest("status", cwd=tmp_path, env=environment(db_url), timeout=DEADLINE)
        assert status.returncode == 0, status.stderr
        # And the write is still open, not committed: the reads did not wait for its end.
        assert store.find_subscriber("ann@example.com").name == ""
    assert store.find_subscriber("ann@example.com").name == "A"


def test_an_unsubscribe_finishes_while_a_listing_streams_into_a_pipe_nobody_reads(db_url, tmp_path):
    # `digest subscribers list | less`, with the reader at the first page: the
    # listing stops mid-table once the pipe is full and keeps its rows open.
    store = Store(db_url)
    emails = [f"reader{i:05}@example.org" for i in range(6000)]
    store.save_subscribers(subscriber(e, ["Climate"]) for e in emails)
    env = environment(db_url)
    listing = subprocess.Popen(
        [sys.executable, "-m", "digest", "subscribers", "list"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Unbuffered bytes: readline() takes the header and nothing more. A buffered
        # reader keeps what it read past the line, and communicate(), which reads
        # the pipe itself, never sees it: a row went missing that way, once in CI.
        bufsize=0,
    )
    try:
        assert listing.stdout.readline().startswith(b"email\t")
        last = emails[-1]
        removed = run_digest("subscribers", "remove", last, cwd=tmp_path, env=env, timeout=DEADLINE)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.startswith(f"unsubscribed: {last}")
        assert listing.poll() is None  # the listing was still streaming all the while
        out, err = listing.communicate(timeout=DEADLINE)
    finally:
        if listing.poll() is None:
            listing.kill()
            listing.communicate()
    assert listing.returncode == 0, err.decode()
    rest = out.decode()
    # It lists everyone as they were when it began: the one who left since included.
    assert rest.splitlines()[-1] == "6000 subscriber(s)"
    assert [line.split("\t")[0] for line in rest.splitlines()[:-1]] == emails
    assert store.find_subscriber(last).unsubscribed_at is not None
    store.close()


@contextmanager
def serving(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """``digest serve`` as a process of its own; yields its base URL."""
    (folder / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    log = folder / "serve.err"
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--port", "0"],
        cwd=folder,
        env=env | {"DIGEST_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        deadline = time.monotonic() + DEADLINE
        while not (found := re.search(r"serving on (http://\S+)", log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "digest serve did not start"
            time.sleep(0.05)
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(DEADLINE)


def test_healthz_answers_while_a_bulk_import_holds_its_transaction(db_url, tmp_path):
    store = Store(db_url)
    store.save_subscribers([subscriber("ann@example.com")])
    health: list[str] = []

    with serving(tmp_path, environment(db_url)) as base:
        watcher = Store(db_url)

        def imported(count: int):
            """The import's rows; part-way through, with its first rows written and
            not yet committed, the web server is asked whether it is healthy."""
            for i in range(count):
                if i == 25_000:  # two chunks of 10,000 handed over: the first is written
                    if store.is_sqlite:
                        assert write_lock_taken(store)
                    answer = httpx.get(f"{base}/healthz", timeout=DEADLINE)
                    health.append(f"{answer.status_code} {answer.text}")
                    # Still the import's open transaction: nothing of it is visible yet.
                    assert watcher.find_subscriber("bulk00000@example.org") is None
                yield subscriber(f"bulk{i:05}@example.org", ["Energy"])

        counts = store.save_subscribers(imported(40_000))
        watcher.close()
    assert counts == {"added": 40_000, "updated": 0, "unchanged": 0}
    assert health == ["200 ok\n"]
    assert store.find_subscriber("bulk00000@example.org") is not None
    store.close()


# -- which transactions take SQLite's write lock ---------------------------------------


def test_a_write_transaction_holds_the_lock_from_its_first_read_and_a_read_takes_none(
    sqlite_store,
):
    with sqlite_store.engine.connect() as conn:
        conn.execute(sa.select(subscribers.c.id)).all()
        assert conn.in_transaction()
        assert not write_lock_taken(sqlite_store)
    with write_transaction(sqlite_store.engine) as conn:
        conn.execute(sa.select(subscribers.c.id)).all()
        assert write_lock_taken(sqlite_store)
    assert not write_lock_taken(sqlite_store)


def test_concurrent_read_then_write_steps_queue_instead_of_failing(tmp_path):
    # Each add reads the stored row, then inserts or updates it. Had the first
    # read not taken the lock, two of them could each read, and the second to
    # write would fail at once with "database is locked", however long the timeout.
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    stores = [Store(url) for _ in range(4)]
    failures: list[BaseException] = []

    def add(store: Store, n: int) -> None:
        try:
            for i in range(40):
                store.add_subscriber(subscriber(f"p{i % 10}@example.org", name=f"{n}-{i}"))
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=add, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert len(list(stores[0].list_subscribers())) == 10
    for store in stores:
        store.close()


def begins_on_an_engine(path: Path) -> Iterator[str]:
    """``name.engine.begin()`` calls in ``path``, each as file:function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "begin"
                and ast.unparse(node.func.value).endswith("engine")
            ):
                yield f"{path.relative_to(DIGEST.parent)}:{function.name}"


def test_every_writer_in_digest_asks_for_a_write_transaction_by_name():
    # engine.begin() starts an SQLite transaction as a read (deferred): a writer
    # must say it writes (write_transaction, for_writing) to queue for the lock.
    found = {call for path in sorted(DIGEST.rglob("*.py")) for call in begins_on_an_engine(path)}
    assert found == set()


def test_an_in_memory_store_reads_and_writes():
    store = Store("sqlite://")
    store.save_subscribers([subscriber("ann@example.com")])
    assert store.unsubscribe("ann@example.com").outcome == "unsubscribed"
    assert list(store.list_subscribers()) == []
    store.close()


@pytest.mark.parametrize("idle", [True, False])
def test_a_pooled_postgresql_connection_the_server_ended_is_replaced_or_fails_once(
    pg_schema_url, monkeypatch, idle
):
    """Connections are tested only when taken from the pool idle (``ping_when_idle``):
    one the server ended while it sat there is replaced unseen. One ended between
    two uses a moment apart fails that one statement, as it would mid-transaction,
    and the pool starts afresh: the next use works."""
    url = pg_schema_url()
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with sa.create_engine(url).connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        if idle:
            monkeypatch.setattr("digest.store.database.IDLE_PING_SECONDS", 0.0)
        else:
            with pytest.raises(sa.exc.OperationalError), store.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
    finally:
        store.close()
