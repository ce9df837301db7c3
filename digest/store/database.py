"""What is wrong with the database, said in one line an operator can act on.

SQLAlchemy's own errors are several lines long, carry the SQL and its
parameters, and say "file is not a database" without saying which file. The
store and the CLI turn them into one line here: the file (or the URL, its
password hidden) and what to do about it. Nothing here prints a password:
URLs are shown redacted, and the password is also cut out of any driver
message that happens to repeat it.

And how a transaction starts: on SQLite a writer names itself
(``write_transaction``, ``for_writing``) and takes the write lock at BEGIN,
while a read takes none and never waits (see docs/database.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from digest.errors import ConfigError, DigestError
from digest.validate import clean_line, shorten

URL_EXAMPLES = "sqlite:///path/to/digest.db or postgresql://user@host/dbname"

# The execution option a connection that writes is marked with (``for_writing``).
WRITES = "digest_writes"

# How long an SQLite writer waits for another's write lock before "database is
# locked": a large import commits every few seconds, so a sender waits its turn.
BUSY_TIMEOUT = 60

# The WAL file is cut back to this after a checkpoint empties it: an import of a
# million rows (or writes during a long listing, which holds back checkpoints)
# would otherwise leave it at its largest for good.
WAL_SIZE_LIMIT = 64 * 1024 * 1024

# Each SQLite connection's page cache, in KiB. SQLite's 2 MB re-read even the
# B-tree's inner pages on every claim of a million-recipient send; 16 MB was no
# faster than 4 (a send of 24,000 segments: 56.9-57.9 s against 52.5-55.3 s)
# and cost 36 MB over the send's connections, taking it with its render-ahead
# child past 200 MB (190-215 MB PSS against 148-149); an ingest of 20,000
# entries past 120 MB (124 against 110). docs/performance.md has the runs.
PAGE_CACHE_KIB = 4096

# SQLite's words for problems with the file itself, which no retry will fix.
_SQLITE_FILE_PROBLEMS = {
    "file is not a database": "is not a SQLite database",
    "database disk image is malformed": "is damaged (database disk image is malformed)",
    "readonly database": "is read-only",
}


# What the driver says when the server did not answer, as opposed to one that
# answered no (a wrong password, an unknown database or role: "FATAL: ..."). psycopg
# gives no SQLSTATE for a connection that failed, so its words are what there is.
_UNREACHABLE = (
    "connection refused",
    "timeout expired",
    "timed out",
    "no route to host",
    "network is unreachable",
    "temporary failure in name resolution",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "server closed the connection unexpectedly",
    "too many clients already",
    "remaining connection slots are reserved",
)


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` is a server that did not answer (yet): worth waiting for."""
    original = getattr(error, "orig", None) or error
    text = str(original).lower()
    return isinstance(error, sa.exc.OperationalError) and any(w in text for w in _UNREACHABLE)


class Expected(NamedTuple):
    """An expected failure, as the operator sees it: one line, and the exit code."""

    line: str
    exit_code: int  # 2: configuration or the database file, to fix first; 1: a run failed


def expected(error: BaseException, url: sa.URL | None = None) -> Expected | None:
    """The one line for an expected failure; None for anything else (a bug, whose
    traceback the operator needs). The CLI and the scheduler both ask here.

    ``ConfigError`` is for the operator to fix (exit 2); a ``DigestError`` is a run
    that failed (exit 1). A database error is one line without SQL, parameters or
    password (``url``, the store's, names the file and hides the password): a
    problem with the SQLite file itself (read-only, damaged) is the operator's to
    fix, as when it is found on opening; anything else happened mid-run, and the
    transaction it broke was rolled back.
    """
    if isinstance(error, ConfigError):
        return Expected(str(error) or type(error).__name__, 2)
    if isinstance(error, DigestError):
        return Expected(str(error) or type(error).__name__, 1)
    if isinstance(error, sa.exc.SQLAlchemyError):
        known = known_problem(error, url) if url is not None else None
        if known:
            return Expected(known, 2)
        return Expected(f"database error: {first_line(error, url)}", 1)
    return None


def parse_url(url: str) -> sa.URL:
    """``url`` parsed, or ConfigError that does not repeat it (it may hold a password)."""
    try:
        return sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as err:
        reason = "cannot read its host or port" if isinstance(err, ValueError) else "not a URL"
        raise ConfigError(
            f"DIGEST_DATABASE_URL: not a database URL ({reason}); expected {URL_EXAMPLES}"
        ) from None


def no_driver(url: sa.URL, error: BaseException) -> str:
    """The line for a database URL whose driver is not installed: with the exact
    command that installs it into the Python digest runs in (a service's venv is
    rarely the one on the operator's PATH)."""
    line = f"no driver for {url.drivername} in {sys.prefix} ({clean_line(str(error))[:120]})"
    if url.get_backend_name() != "postgresql":
        return line
    return (
        f"{line}; install PostgreSQL's with: {sys.executable} -m pip install "
        f"'{postgres_requirement()}' (what digest[postgres] adds)"
    )


def postgres_requirement() -> str:
    """The driver the ``postgres`` extra asks for, as the installed digest declares it."""
    try:
        for requirement in metadata.requires("digest") or []:
            wanted, _, marker = requirement.partition(";")
            if "extra" in marker and "postgres" in marker:
                return wanted.strip()
    except metadata.PackageNotFoundError:
        pass
    return "psycopg[binary]>=3.1"


def sqlite_file(url: sa.URL) -> Path | None:
    """The file an SQLite URL names, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    name = url.database
    if name.startswith("file:") and str(url.query.get("uri", "")).lower() in ("true", "1"):
        name = unquote(urlsplit(name).path)  # sqlite:///file:/x/digest.db?mode=ro&uri=true
    return Path(name) if name else None


def make_folder(path: Path) -> None:
    """Create the folder an SQLite file goes in, or say why it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"the database file {path}: its folder cannot be created ({err.strerror})"
        ) from None


def known_problem(error: sa.exc.SQLAlchemyError, url: sa.URL) -> str | None:
    """A one-line description of a problem with the SQLite file itself, or None.

    Those are for the operator to fix (a file that is not a database, is
    damaged or read-only, or cannot be opened), whenever they show up.
    """
    path = sqlite_file(url)
    if path is None:
        return None
    reason = first_line(error, url)
    for words, problem in _SQLITE_FILE_PROBLEMS.items():
        if words in reason:
            return f"the database file {path} {problem}"
    if "unable to open database file" in reason:
        return f"the database file {path} {_why_unopenable(path)}"
    return None


def first_line(error: BaseException, url: sa.URL | None = None) -> str:
    """The driver's own first line, without SQL, parameters or the password."""
    original = getattr(error, "orig", None) or error
    lines = [line for line in str(original).splitlines() if line.strip()]
    text = clean_line(lines[0]) if lines else type(original).__name__
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return shorten(text, 300)


def redact(url: sa.URL) -> str:
    """The URL as it may be shown: its password hidden, in the userinfo or the query
    (PostgreSQL takes ``?password=…`` too)."""
    hidden = {k: "***" for k in url.query if "pass" in k.lower()}
    return url.update_query_dict(hidden).render_as_string(hide_password=True)


def _why_unopenable(path: Path) -> str:
    if path.is_dir():
        return "is a folder, not a file"
    if not path.parent.is_dir():
        return f"cannot be opened: no folder {path.parent}"
    if not path.exists():
        return "does not exist and cannot be created"
    return "cannot be opened (check that digest may read and write it and its folder)"


def record_error(error: Exception) -> bool:
    """Whether the database refused one record rather than failing as a whole.

    A constraint or a value it cannot hold, and on PostgreSQL also a value over
    one of its program limits (SQLSTATE class 54: an index row too large), which
    psycopg reports as an OperationalError like a lost connection.
    """
    if isinstance(error, (sa.exc.IntegrityError, sa.exc.DataError)):
        return True
    state = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
    return isinstance(error, sa.exc.OperationalError) and state[:2] in ("54", "22")


def for_writing(conn: sa.Connection) -> sa.Connection:
    """Mark ``conn``: its transactions write, so on SQLite they take the write lock at BEGIN.

    A read-then-write step (planning an edition, claiming a batch, an upsert
    that counts first) must hold the lock from its first read: a transaction
    that read under a deferred BEGIN and then finds another writer committed
    since cannot upgrade, and fails half-way with "database is locked" however
    long the busy timeout. Taken up front, concurrent writers queue instead.
    Set before the connection's first statement (it begins then).
    """
    return conn.execution_options(**{WRITES: True})


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction that writes, committed at the end of the block (rolled back on
    an error): what every writer asks for, instead of the engine's ``begin()``.

    Reads use ``engine.connect()``: on SQLite their BEGIN is deferred, a
    snapshot of the WAL that neither waits for a writer nor blocks one. On
    PostgreSQL the two are the same; its row locks do the work.
    """
    with engine.connect() as conn:
        for_writing(conn)
        with conn.begin():
            yield conn


# A pooled PostgreSQL connection unused for longer is tested before it is handed out.
IDLE_PING_SECONDS = 2.0


def ping_when_idle(engine: sa.Engine) -> None:
    """Test a pooled connection before use only if it sat idle: one that was in use a
    moment ago is alive, or the error that broke it has already invalidated the pool.

    SQLAlchemy's ``pool_pre_ping`` tests every one: a round trip before each
    transaction, and a send then committed twice a group, 8,000 times at 24,000
    segments with groups of 250 (6 % of the delivery thread on PostgreSQL). A connection the
    server dropped while it sat in the pool (a restart, an idle timeout) is
    still found here and replaced, as ``pool_pre_ping`` would.
    """
    dialect = engine.dialect

    def checked_out(dbapi_conn, record, _proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as err:
            # The pool discards it and connects anew (up to three times).
            raise sa.exc.DisconnectionError(f"a pooled connection was gone: {err}") from err

    sa.event.listen(engine, "checkin", _checked_in)
    sa.event.listen(engine, "checkout", checked_out)


def _checked_in(_dbapi_conn, record) -> None:
    record.info["idle_since"] = time.monotonic()


def sqlite_transactions(engine: sa.Engine) -> None:
    """Set up ``engine``'s SQLite connections: WAL, and a BEGIN that knows writes from reads.

    Registered on this engine only; SQLAlchemy's Engine class is shared with
    every other user of it in the process.
    """
    sa.event.listen(engine, "connect", _sqlite_connected)
    sa.event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connected(dbapi_conn, _record) -> None:
    # WAL: readers see the last commit while a writer works, and the writer
    # does not wait for them. The driver's own transaction handling is
    # switched off so that the "begin" hook decides how each one starts.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # pysqlite would not BEGIN before a SELECT, so a read of several statements
    # would see several states; a writer's read-then-write would not be atomic.
    if conn.get_execution_options().get(WRITES):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")
