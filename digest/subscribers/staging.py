"""The good rows of a subscribers file, sorted by address in a private temporary SQLite file.

Kept apart from reading the file (``csv_import``) because it answers a
different question: not what a line says, but what a million of them add up
to without holding them in memory. Rows go in in line order; one index built
once the file is read finds repeated addresses (an error on the later line)
and gives the rows back in the order of the store's unique index, which is
what makes the bulk write fast (see ``digest.store.subscriber_writer``).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator

from digest import validate
from digest.models import Subscriber
from digest.subscribers.fields import (
    format_cadence,
    format_left,
    parse_left,
    parse_paused_until,
    parse_send_time,
)

_STAGING_CACHE_KIB = 8_192  # page cache (and sort memory) of the temporary file
_WIDTH = 11  # columns of ``staged``


class Staging:
    """The good rows and the problems of one file, in a private temporary SQLite file.

    SQLite deletes the file when the connection closes. Rows are appended in
    line order (cheap); one index, built by sorting once the file is read,
    then finds repeated addresses and yields the rows in address order. Its
    memory is a fixed page cache, whatever the size of the file.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": a private temporary file
        for pragma in (f"cache_size=-{_STAGING_CACHE_KIB}", "journal_mode=OFF", "synchronous=OFF"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(
            """
            CREATE TABLE staged (line INTEGER PRIMARY KEY, key TEXT NOT NULL, email TEXT NOT NULL,
                                 name TEXT NOT NULL, topics TEXT NOT NULL, timezone TEXT,
                                 left TEXT, first_name TEXT NOT NULL, frequency TEXT,
                                 send_time TEXT, paused_until TEXT);
            CREATE TABLE notes (line INTEGER NOT NULL, error INTEGER NOT NULL,
                                message TEXT NOT NULL);
            """
        )
        self._db.execute("BEGIN")  # never committed: a commit would write every page out
        limit = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._per_statement = min(500, limit // _WIDTH)
        self._rows: list[tuple] = []

    def add(self, line: int, sub: Subscriber) -> None:
        key = validate.email_key(sub.email)
        left = format_left(sub.unsubscribed_at) if sub.unsubscribed_at else None
        self._rows.append(
            (
                line,
                key,
                sub.email,
                sub.name,
                ";".join(sub.topics),
                sub.timezone,
                left,
                sub.first_name,
                *format_cadence(sub),
            )
        )
        if len(self._rows) == self._per_statement:
            self._flush()

    def note(self, line: int, is_error: bool, message: str) -> None:
        self._db.execute("INSERT INTO notes VALUES (?, ?, ?)", (line, is_error, message))

    def _flush(self) -> None:
        # Many rows a statement: the driver takes Python's lock back after each
        # (see ``digest.store.subscriber_writer``).
        if self._rows:
            marks = ", ".join([f"({', '.join('?' * _WIDTH)})"] * len(self._rows))
            flat = tuple(itertools.chain.from_iterable(self._rows))
            self._db.execute(f"INSERT INTO staged VALUES {marks}", flat)
            self._rows = []

    def finish(self) -> Iterator[tuple[int, bool, str]]:
        """Sort by address, drop the repeats, and list every problem in line order."""
        self._flush()
        # Statement by statement: executescript() would commit first. The index
        # holds whole rows, so reading them in its order is one sequential scan.
        self._db.execute(
            "CREATE INDEX staged_by_key "
            "ON staged (key, line, email, name, topics, timezone, left, first_name, "
            "frequency, send_time, paused_until)"
        )
        self._db.execute(
            """
            INSERT INTO notes
            SELECT s.line, 1, 'duplicate email ' || s.email || ' (first on line ' || f.first || ')'
            FROM (SELECT key, min(line) AS first FROM staged GROUP BY key HAVING count(*) > 1) AS f
            JOIN staged AS s ON s.key = f.key AND s.line > f.first
            """
        )
        self._db.execute("DELETE FROM staged WHERE line IN (SELECT line FROM notes WHERE error)")
        for line, error, message in self._db.execute(
            "SELECT line, error, message FROM notes ORDER BY line, error DESC"
        ):
            yield line, bool(error), message

    def subscribers(self) -> Iterator[Subscriber]:
        rows = self._db.execute(
            "SELECT email, name, topics, timezone, left, first_name, frequency, send_time, "
            "paused_until FROM staged ORDER BY key"
        )
        while page := rows.fetchmany(1000):
            for email, name, topics, timezone, left, first_name, often, at, until in page:
                yield Subscriber(
                    email,
                    name,
                    topics.split(";") if topics else [],
                    timezone,
                    unsubscribed_at=left and parse_left(left),
                    first_name=first_name,
                    frequency=often or None,
                    send_time=parse_send_time(at),
                    paused_until=parse_paused_until(until),
                )

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM staged").fetchone()[0]

    def line_of(self, key: str) -> int | None:
        found = self._db.execute("SELECT min(line) FROM staged WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def close(self) -> None:
        self._db.close()
