"""Shared fixtures: a store on SQLite *and* on the local PostgreSQL, settings, articles."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.config.settings import Settings
from digest.models import Article, Subscriber
from digest.store.schema import schema_version
from digest.store.store import Store, normalise_url

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PG_SERVER = os.environ.get("DIGEST_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as err:  # no driver, no server: say why the tests skip
        return f"PostgreSQL at {PG_SERVER} unavailable: {type(err).__name__}"


def pytest_addoption(parser):
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite tests/data/render/*/expected.* from the current templates (then review)",
    )


class PgSchemas:
    """Throwaway schemas on the local PostgreSQL, each dropped in a transaction of its own.

    One ``DROP SCHEMA … CASCADE`` locks every table, index, sequence and TOAST
    relation in the schema until it commits, and the server's lock table is
    shared and small (``max_locks_per_transaction`` × connections, 6,400 by
    default): dropping a whole run's schemas in one transaction ran out of it
    ("out of shared memory") once the suite passed a few hundred PostgreSQL
    tests. So a test's schema goes when the test ends, one at a time.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.names: dict[str, str] = {}  # url -> schema

    def __call__(self) -> str:
        name = f"digest_test_{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = f"{PG_SERVER}?options=-csearch_path%3D{name}"
        self.names[url] = name
        return url

    def drop(self, url: str) -> None:
        """Drop one schema now; one a lingering connection still holds waits for the end."""
        name = self.names.get(url)
        if name is None:
            return
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        except sa.exc.OperationalError:
            return
        del self.names[url]

    def drop_all(self) -> None:
        for name in list(self.names.values()):
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self.names.clear()


@pytest.fixture(scope="session")
def pg_schema_url():
    """A factory of throwaway schemas on the local PostgreSQL (see ``PgSchemas``).

    Skips where no server runs (a user's laptop), but fails in CI, where the
    server is part of the machine and a skip would hide a broken store.
    """
    problem = _pg_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    engine = sa.create_engine(PG_SERVER)
    schemas = PgSchemas(engine)
    yield schemas
    schemas.drop_all()
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database URL: SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.db'}"
        return
    schemas = request.getfixturevalue("pg_schema_url")
    url = schemas()
    yield url
    schemas.drop(url)


@pytest.fixture
def store(db_url):
    """A store whose articles are ingested at ``NOW`` unless a test says otherwise."""
    s = Store(db_url)
    s.now = lambda: NOW
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'digest.db'}")
    s.now = lambda: NOW
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(outbox_dir=tmp_path / "outbox", templates_dir=ROOT / "templates")


def article(title: str, keywords=(), *, published: datetime | None = None, **extra) -> Article:
    """An article as a source would produce it; guid from the title unless given."""
    slug = title.lower().replace(" ", "-")
    fields = {
        "guid": f"https://news.example.org/{slug}",
        "url": f"https://news.example.org/{slug}",
        "summary": f"Summary of {title}.",
        "body": f"Body of {title}.",
        "source": "Example Times",
    }
    fields.update(extra)
    return Article(title=title, keywords=list(keywords), published=published, **fields)


def subscriber(
    email: str, topics=(), timezone: str | None = None, name: str = "", first_name: str = ""
) -> Subscriber:
    return Subscriber(
        email=email, name=name, topics=list(topics), timezone=timezone, first_name=first_name
    )


# A site that mails real people needs the sender's postal address (digest send refuses
# to start through smtp or sendgrid without one): the CLI tests' digest.toml has it.
POSTAL = 'postal_address = "Example Media Ltd, 1 High Street, London N1 1AA, UK"\n'

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
# What a site that mails real people has in its digest.toml: links that work and the
# postal address (smtp and sendgrid refuse to send without them).
LIVE_LINKS = 'public_url = "https://news.example.org"\n' + POSTAL
EVER = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))


def every_article(store: Store) -> list:
    """Everything stored, whenever ingested or published (newest first)."""
    return store.window_articles(EVER[0], EVER[1], EVER[0])


@pytest.fixture(autouse=True)
def _reap():
    """No ``digest`` process a test started in the background outlives the test."""
    yield
    from sites import reap

    reap()


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory) -> Path:
    """One SQLite site set up through the CLI (``sites.make_site``), copied per test."""
    from sites import make_site

    folder = tmp_path_factory.mktemp("template")
    make_site(folder, f"sqlite:///{folder / 'digest.db'}")
    return folder / "digest.db"


# What schema version 16 changed, undone: the audience index was the segment index.
AUDIENCE_INDEX_15 = (
    "DROP INDEX ix_subscribers_audience",
    "CREATE INDEX ix_subscribers_segment ON subscribers (timezone, topics, active, id)",
)


def as_release(db_url: str, version: int, *statements: str, postgresql: tuple = ()) -> None:
    """Make the database at ``db_url`` what the release of schema ``version`` left:
    ``statements`` (and on PostgreSQL ``postgresql`` too) undo what came since, and
    the recorded version goes back, so that the next ``Store`` upgrades it."""
    engine = sa.create_engine(normalise_url(db_url))
    try:
        with engine.begin() as conn:
            extra = postgresql if engine.dialect.name == "postgresql" else ()
            for statement in (*statements, *extra):
                conn.exec_driver_sql(statement)
            conn.execute(schema_version.update().values(version=version))
    finally:
        engine.dispose()


def copy_database(template: Path, target: Path) -> str:
    """A copy of a SQLite database built once (through the CLI) for a module's tests.

    Building a site costs two ``digest`` processes (about a second); a test that
    only needs the state they leave behind gets its own copy of it instead.
    """
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"


def status_blocks(stdout: str) -> dict[str, list[dict[str, str]]]:
    """``digest status`` piped: its tab-separated blocks (editions, schedulers, next
    editions), each a header line and its rows, by the name of its first column."""
    blocks = {}
    for block in stdout.rstrip("\n").split("\n\n"):
        header, *rows = block.split("\n")
        columns = header.split("\t")
        blocks[columns[0]] = [dict(zip(columns, row.split("\t"), strict=True)) for row in rows]
    return blocks


def scheduler_states(stdout: str) -> list[str]:
    """The schedulers' states in piped ``digest status``, the latest first."""
    return [b["state"] for b in status_blocks(stdout)["scheduler"]]


def run_digest(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
