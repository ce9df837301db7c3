"""Writing subscribers in bulk: a million-row import at driver speed, a bad row lost alone.

``Store.save_subscribers`` hands its stream here. Where the time goes in a
large import, and what this does about it (each measured on a million rows):

* Rows in file order update the unique index on ``email_key`` (and, on
  updates, the table) at random, a page per row. The CSV import hands rows
  over already in address order (``subscribers.staging``), other callers'
  are sorted a chunk at a time, and a transaction spans many chunks, so a
  page is written back about once per commit: 2.5 times faster on SQLite.
* The database works outside Python's lock, so a thread writes one chunk
  while the caller's thread reads and checks the next.
* That thread must take the lock back after every statement and waits its
  turn behind the reader each time, so statements are few and large: many
  rows each, never the driver's executemany (one statement a row).

A statement runs inside a SAVEPOINT. Should the database refuse it (it
should not: ``validate`` checks values first), its rows are written again
one by one, each in its own SAVEPOINT, and only the refused row is lost.
"""

from __future__ import annotations

import itertools
import sqlite3
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import sqlalchemy as sa

from digest.clock import utcnow
from digest.models import Subscriber, time_text
from digest.store.database import first_line, for_writing, record_error, write_transaction
from digest.store.membership import EDITABLE
from digest.store.schema import subscribers, to_db
from digest.validate import email_key

# How often and when (version 15): the columns a stream may leave as stored.
CADENCE = ("frequency", "send_time", "paused_until")
CHUNK = 10_000  # rows sorted and handed to the writing thread together
# Rows per transaction: on SQLite about 2 s of the write lock, which a sender
# waits out; ten times fewer commits than one per chunk halved the time. On
# PostgreSQL its 50 statements' SAVEPOINTs stay within the 64 subtransactions
# a backend keeps in memory (past that, every other session's reads slow down).
COMMIT_ROWS = 200_000
# Rows per statement, at most (SQLite before 3.32 allows 999 parameters a
# statement: fewer there).
ROWS_PER_STATEMENT = 4_000
# SQLite's page cache for the writing connection (KiB). The default 2 MB holds
# fewer pages than the audience index has hot ones (one per timezone and topics
# choice); with it a million-row import took twice as long.
SQLITE_CACHE_KIB = 16_384
# Rows written at once past which PostgreSQL's statistics of the table are taken
# again at the end. Autovacuum would, within a minute or so; a send started
# before then plans from the old figures (an empty table's): a million-recipient
# edition's planning took 1.2 s longer (docs/performance.md).
ANALYZE_ROWS = 10_000
# What the database may refuse one row for (a value too long, a NUL on
# PostgreSQL). Anything else (a lost connection, a locked file) is not the
# row's fault and stops the import.

Row = tuple[Subscriber, tuple]


def save(
    engine: sa.Engine,
    items: Iterable[Subscriber],
    resubscribe: bool,
    on_refused: Callable[[Subscriber, str], None],
    progress: Callable[[int], None] | None = None,
    keep_first_names: bool = False,
    now: datetime | None = None,
    keep_cadence: bool | Collection[str] = False,
) -> dict[str, int]:
    """Write ``items``; see ``Store.save_subscribers``. ``progress`` gets the number
    of rows written so far, after each chunk."""
    writer = SubscriberWriter(engine, resubscribe, keep_first_names, now, keep_cadence)
    # A private in-memory SQLite database exists once per thread: write it inline.
    inline = engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="subscribers") as pool:

        def run(task: Callable, *args) -> Future:
            if not inline:
                return pool.submit(task, *args)
            done: Future = Future()
            done.set_result(task(*args))
            return done

        pending: Future | None = None
        written = in_flight = 0
        try:
            for chunk in chunks(items, CHUNK):
                rows = writer.prepare(chunk)
                if pending is not None:
                    pending.result()  # one chunk in flight at most: memory stays flat
                    written += in_flight
                    if progress:
                        progress(written)
                pending, in_flight = run(writer.write, rows), len(chunk)
            if pending is not None:
                pending.result()
            run(writer.commit).result()
            if progress:
                progress(written + in_flight)
            if written + in_flight >= ANALYZE_ROWS:
                refresh_statistics(engine)
        finally:
            # Whatever stopped the stream, the open transaction is rolled back
            # (earlier ones stay) and the connection goes back to the pool.
            run(writer.close).result()
    for sub, reason in writer.refused:
        on_refused(sub, reason)
    return {
        "added": writer.added,
        "updated": writer.updated + writer.replaced,
        "unchanged": writer.unchanged,
    }


def refresh_statistics(engine: sa.Engine) -> None:
    """PostgreSQL's planner figures for the subscribers table, taken now (a sample:
    about 0.2 s for a million rows). SQLite plans without them.

    Only a speed-up, taken after the rows are committed: if the server will not
    (a lock held past the operator's ``lock_timeout``, say), the write stands
    and a warning says so.
    """
    if engine.dialect.name != "postgresql":
        return
    try:
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("ANALYZE subscribers")
    except sa.exc.DBAPIError as err:
        warnings.warn(
            "subscribers are saved, but PostgreSQL's statistics of them were not "
            f"refreshed ({first_line(err, engine.url)}): autovacuum will, and a send before "
            "then plans more slowly",
            stacklevel=2,
        )


class SubscriberWriter:
    """Chunks of subscribers into their table: one connection, used by one thread.

    The upsert is rendered once for the dialect and its usual values (active,
    the time) converted once with SQLAlchemy's own type processors; the driver gets
    plain tuples (SQLAlchemy's executemany would convert every value of every
    row in Python, ~10 µs a row).
    """

    # A person's own choices are membership's EDITABLE: one list, so a field added
    # there is written by an import too.
    COLUMNS = (
        "email",
        "email_key",
        *EDITABLE,
        "active",
        "unsubscribed_at",
        "updated_at",
        "subscribed_at",
    )

    def __init__(
        self,
        engine: sa.Engine,
        resubscribe: bool,
        keep_first_names: bool = False,
        now: datetime | None = None,
        keep_cadence: bool | Collection[str] = False,
    ) -> None:
        self.engine = engine
        dialect = engine.dialect
        prepare = dialect.identifier_preparer
        table = prepare.format_table(subscribers)
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        differs = "IS NOT" if dialect.name == "sqlite" else "IS DISTINCT FROM"
        names = ", ".join(prepare.quote(c) for c in self.COLUMNS)
        self.insert = f"INSERT INTO {table} ({names}) "
        self.count = f"SELECT count(*) FROM {table} WHERE email_key "
        # On PostgreSQL rows go as one array a column: psycopg parses a query's
        # placeholders in Python and remembers only short queries, so 4,000
        # rows of them cost more than the database's work.
        self.arrays = dialect.name == "postgresql"
        self.row_marks = f"({', '.join([self.mark] * len(self.COLUMNS))})"

        def on_conflict(columns: list[str], extra: dict[str, str] | None = None) -> str:
            # The WHERE leaves rows alone whose values are the same: importing
            # a file again rewrites nothing.
            assign = {c: f"excluded.{c}" for c in [*columns, "updated_at"]} | (extra or {})
            changed = [f"{table}.{c} {differs} excluded.{c}" for c in columns]
            if extra:
                changed.append(f"(excluded.active AND NOT {table}.active)")
            return (
                " ON CONFLICT (email_key) DO UPDATE SET "
                + ", ".join(f"{c} = {value}" for c, value in assign.items())
                + " WHERE "
                + " OR ".join(changed)
            )

        # "active" and "unsubscribed_at" are set on insert only: an import
        # never re-activates someone who unsubscribed, unless asked to, and
        # then only from a row that does not itself say they unsubscribed.
        # A suppressed address (a bounce, a complaint) stays unmailed even then.
        back = {
            "active": (f"{table}.active OR (excluded.active AND {table}.suppressed_at IS NULL)"),
            "unsubscribed_at": (
                f"CASE WHEN excluded.active THEN NULL ELSE {table}.unsubscribed_at END"
            ),
            # Re-activated now: a provider's event from before this changes nothing.
            "subscribed_at": (
                f"CASE WHEN excluded.active AND NOT {table}.active AND {table}.suppressed_at "
                f"IS NULL THEN excluded.subscribed_at ELSE {table}.subscribed_at END"
            ),
        }
        # How often and when (version 15), with the segment's columns: a stream that
        # does not carry them (a CSV without the columns) leaves them as stored;
        # ``keep_cadence`` is True (all three) or the names of those it leaves.
        kept = CADENCE if keep_cadence is True else (keep_cadence or ())
        cadence = [c for c in CADENCE if c not in kept]
        segment = (["topics", "timezone", *cadence], back if resubscribe else None)
        # A stream without first names (a CSV without the column) leaves the
        # stored ones alone: a first name given by hand survives the nightly file.
        names = ["email", "name"] if keep_first_names else ["email", "name", "first_name"]
        if self.arrays:
            self.on_conflict: tuple[str, ...] = (on_conflict([*names, *segment[0]], segment[1]),)
        else:
            # Two statements over the same rows: the first inserts new rows and
            # updates address and name, the second the columns of the segment
            # index. SQLite rewrites an index whenever its columns are assigned,
            # even to the same value: one statement made renaming everyone take
            # twice as long. (PostgreSQL compares the values, so one will do.)
            self.on_conflict = (on_conflict(names), on_conflict(*segment))
        self.dialect = dialect
        self.subscribed = (_bind(subscribers.c.active, dialect, True), None)
        # updated_at and subscribed_at (which only an insert or a resubscribe keeps).
        started = _bind(subscribers.c.updated_at, dialect, to_db(now or utcnow()))
        self.constants = (started, started)
        self.per_statement = ROWS_PER_STATEMENT
        self._conn: sa.Connection | None = None
        self._transaction: sa.RootTransaction | None = None
        self._uncommitted = 0
        self.added = self.updated = self.replaced = self.unchanged = 0
        self.refused: list[tuple[Subscriber, str]] = []

    def prepare(self, chunk: list[Subscriber]) -> list[Row]:
        """Each subscriber with its row, in address order, one row per address.

        An address twice in one statement would fail it on PostgreSQL; as in
        a stream of updates, the last one wins (and the first counts as updated).
        """
        rows: dict[str, Row] = {}
        active = self.subscribed[0]
        for sub in chunk:
            key = email_key(sub.email)
            if sub.unsubscribed_at is None:
                values = (
                    sub.email,
                    key,
                    sub.name,
                    sub.first_name,
                    ";".join(sub.topics),
                    sub.timezone,
                    *_cadence(sub),
                    active,
                    None,
                )
            else:
                topics = ";".join(sub.topics)
                values = (sub.email, key, sub.name, sub.first_name, topics, sub.timezone)
                values += _cadence(sub) + self._left(sub)
            rows[key] = (sub, values)
        self.replaced += len(chunk) - len(rows)  # this thread's own count
        return [rows[key] for key in sorted(rows)]

    def _left(self, sub: Subscriber) -> tuple:
        """``active`` and ``unsubscribed_at`` of a row that says they unsubscribed."""
        when = to_db(sub.unsubscribed_at)
        if self.arrays:  # goes in a text array, cast back in the statement
            return (False, when.isoformat(sep=" ") if when else None)
        return (
            _bind(subscribers.c.active, self.dialect, False),
            _bind(subscribers.c.unsubscribed_at, self.dialect, when),
        )

    def write(self, rows: list[Row]) -> None:
        conn = self._connection()
        for start in range(0, len(rows), self.per_statement):
            part = rows[start : start + self.per_statement]
            try:
                with conn.begin_nested():
                    existing = self._existing(conn, [values[1] for _, values in part])
                    written = self._upsert(conn, [values for _, values in part])
            except sa.exc.DBAPIError as err:
                if not record_error(err):
                    raise
                self._row_by_row(conn, part)
                continue
            self._count(len(part), existing, written)
        self._uncommitted += len(rows)
        if self._uncommitted >= COMMIT_ROWS:
            self.commit()

    def commit(self) -> None:
        if self._transaction is not None:
            self._transaction.commit()
            self._transaction = None
        self._uncommitted = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # rolls back what was not committed
            self._conn = None

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = for_writing(self.engine.connect())
            if self._conn.dialect.name == "sqlite":  # on the driver's connection: no transaction
                raw = self._conn.connection.driver_connection
                raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                self.per_statement = min(ROWS_PER_STATEMENT, limit // len(self.COLUMNS))
        if self._transaction is None:
            self._transaction = self._conn.begin()
        return self._conn

    def _count(self, rows: int, existing: int, written: int) -> None:
        """Of ``rows``, ``existing`` were stored before and ``written`` were inserted or
        changed: a row stored as given is unchanged, not updated (an unchanged file
        imported again says so)."""
        self.added += rows - existing
        changed = written - (rows - existing)
        self.updated += changed
        self.unchanged += existing - changed

    def _upsert(self, conn: sa.Connection, rows: list[tuple]) -> int:
        """Insert or update ``rows``; returns how many were inserted or changed (the
        upsert's WHERE leaves a row with the same values alone, and RETURNING names
        only the rows it wrote)."""
        if self.arrays:
            # "active" is worked out from the date (one array fewer to send).
            source = (
                "SELECT e, k, n, f, t, z, fr, st, pu, u IS NULL, u::timestamp, %s, %s "
                "FROM unnest("
                + ", ".join(["%b::text[]"] * 10)
                + ") AS r(e, k, n, f, t, z, fr, st, pu, u)"
            )
            columns = list(zip(*rows, strict=True))
            del columns[9]  # active
            params = (*self.constants, *(list(column) for column in columns))
        else:
            source = "VALUES " + ", ".join([self.row_marks] * len(rows))
            params = tuple(itertools.chain.from_iterable(row + self.constants for row in rows))
        written: set[str] = set()
        for tail in self.on_conflict:
            statement = self.insert + source + tail + " RETURNING email_key"
            written.update(conn.exec_driver_sql(statement, params).scalars())
        return len(written)

    def _existing(self, conn: sa.Connection, keys: list[str]) -> int:
        """How many of ``keys`` are stored already (a count: one step, not one a row)."""
        if self.arrays:
            return conn.exec_driver_sql(f"{self.count}= ANY(%b::text[])", (keys,)).scalar_one()
        marks = ", ".join([self.mark] * len(keys))
        return conn.exec_driver_sql(f"{self.count}IN ({marks})", tuple(keys)).scalar_one()

    def _row_by_row(self, conn: sa.Connection, rows: list[Row]) -> None:
        for sub, values in rows:
            try:
                with conn.begin_nested():
                    existed = self._existing(conn, [values[1]])
                    written = self._upsert(conn, [values])
            except sa.exc.DBAPIError as err:
                if not record_error(err):
                    raise
                self.refused.append((sub, _reason(err)))
                continue
            self._count(1, existed, written)


def _cadence(sub: Subscriber) -> tuple[str | None, str | None, str | None]:
    """frequency, send_time and paused_until as stored: text, NULL for the site's."""
    return (
        sub.frequency,
        time_text(sub.send_time) or None,
        sub.paused_until.isoformat() if sub.paused_until else None,
    )


def _bind(column: sa.Column, dialect: sa.Dialect, value):
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


def _reason(err: sa.exc.DBAPIError) -> str:
    """The driver's own first line, e.g. "value too long for type character varying(320)"."""
    lines = str(err.orig).strip().splitlines()
    return " ".join(lines[0].split())[:200] if lines else type(err.orig).__name__


def chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
