"""Reading subscribers from CSV a line at a time: every bad line named, the good rows kept.

Header ``email,name,topics,timezone`` (in any order; other columns are
ignored), with an optional ``first_name``: the name they are greeted by (also
spelt as mailing tools export it: "First Name", ``FNAME``; without the
column, stored first names are kept); ``topics`` separated by ``;`` (empty means everything);
``timezone`` an IANA name (empty means the configured default). UTF-8 (a BOM
is fine) or Windows-1252; ``\\r\\n``, ``\\n`` or ``\\r`` line ends; quoted
fields may hold commas and doubled quotes. Fields are separated by ``,``,
``;`` (Excel where the decimal separator is a comma) or tabs: the first that
gives the header an email column ("Email Address", as Mailchimp calls it).
Optional ``frequency`` (``daily`` or ``weekly``), ``send_time`` (``HH:MM``,
local to the subscriber's timezone) and ``paused_until`` (``YYYY-MM-DD``: no
edition on or before it) columns: an empty field is the site's (daily, its
``send_time``, not paused); without the column, the stored value is kept.
An optional ``unsubscribed_at`` column (written by ``subscribers export
--all``) marks people who left: they are added unsubscribed, and never
re-activated. A row whose ``status`` column (also written by ``export --all``)
is ``pending`` is a sign-up never confirmed: it is left out, with a warning,
since nobody's consent made it a subscriber. An imported address with a
pending sign-up is subscribed, and its pending sign-up goes.

A subscriber is one line, and each physical line is parsed on its own. A CSV
reader would take everything up to the next quote character as one field, so
one unbalanced quote could swallow the rest of a file without a word; here it
costs that one line, which is named.

The file is read as a stream, and its good rows are kept in a private
temporary SQLite file (``staging.Staging``) rather than in memory. Sorting them
there by address finds repeated addresses, and hands the rows to the store
in the order of its unique index, which makes writing a million of them
several times faster than in file order (see ``digest.store.subscriber_writer``).
"""

from __future__ import annotations

import csv
import operator
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from digest import validate
from digest.errors import ConfigError, InputError
from digest.models import Subscriber
from digest.sources.text import decode
from digest.store import signups
from digest.subscribers.fields import CADENCE_COLUMNS, parse_subscriber, shorten_name
from digest.subscribers.staging import Staging

__all__ = ["COLUMNS", "ImportResult", "SubscriberCSV", "import_csv", "parse_subscriber"]

if TYPE_CHECKING:
    from digest.store.store import Store

COLUMNS = (
    "email",
    "name",
    "topics",
    "timezone",
    "unsubscribed_at",
    "first_name",
    *CADENCE_COLUMNS,
    "status",
)
# Headers other tools write for a first name (Mailchimp "First Name" and its merge
# tag FNAME, others "firstname", "given name"), compared without case, spaces,
# "_" or "-".
FIRST_NAME_HEADERS = {"firstname", "fname", "givenname", "forename"}
# And for the address: Mailchimp's "Email Address", "E-mail", "email_address".
EMAIL_HEADERS = {"email", "emailaddress"}
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
EXPECTED = "expected a header line such as email,name,topics,timezone"
# Longest line read, in bytes. The longest valid row (a full name, 50 topics
# of 100 characters) is about 5 KB in UTF-8; a file without line ends, or
# not text at all, is read past in pieces of this size, never held whole.
MAX_LINE = 64 * 1024
_BLOCK = 1 << 20  # bytes read at a time

ErrorSink = Callable[[InputError], None]
WarningSink = Callable[[str], None]


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0  # stored already, exactly as given
    rejected: int = 0  # lines named as errors, each once
    warnings: int = 0  # values kept, but changed (a name shortened)


@dataclass(frozen=True)
class ImportProgress:
    """How far an import is, for a progress bar: told every 2,500 lines or 10,000 rows."""

    stage: str  # "reading" the file (done and total in bytes) or "writing" rows
    done: int
    total: int | None  # None: unknown (a pipe)
    rows: int  # lines read so far, or rows to write


def import_csv(
    path: Path,
    store: Store,
    on_error: ErrorSink,
    on_warning: WarningSink,
    *,
    resubscribe: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult:
    """Add or update the subscribers of ``path`` in ``store``.

    Each bad line goes to ``on_error`` as ``FILE:LINE: reason``, in line
    order, once the whole file is read; the rest are stored. Raises
    ``ConfigError`` when the file as a whole cannot be used (unreadable, no
    ``email`` column). People who unsubscribed stay unsubscribed unless
    ``resubscribe``; a row with an ``unsubscribed_at`` is never re-activated.
    ``progress`` is told how far the reading and then the writing is.
    """
    try:
        return _import(path, store, on_error, on_warning, resubscribe, progress)
    except sqlite3.Error as err:  # the temporary file's, not the store's (SQLAlchemy wraps those)
        raise InputError(
            str(path), f"sorting the rows in a temporary file failed: {err} (is TMPDIR full?)"
        ) from None


def _import(
    path: Path,
    store: Store,
    on_error: ErrorSink,
    on_warning: WarningSink,
    resubscribe: bool,
    progress: Callable[[ImportProgress], None] | None,
) -> ImportResult:
    result = ImportResult()
    with SubscriberCSV(path) as rows:
        for line, is_error, message in rows.read(progress):
            if is_error:
                result.rejected += 1
                on_error(InputError(f"{path}:{line}", message))
            else:
                result.warnings += 1
                on_warning(f"{path}:{line}: {message}")

        def refused(subscriber: Subscriber, reason: str) -> None:
            result.rejected += 1
            where = f"{path}:{rows.line_of(subscriber.email) or '?'}"
            on_error(InputError(where, f"refused by the database: {reason}"))

        written = None
        if progress:
            total = rows.count()
            progress(ImportProgress("writing", 0, total, total))
            written = lambda n: progress(ImportProgress("writing", n, total, total))  # noqa: E731
        counts = store.save_subscribers(
            rows,
            resubscribe=resubscribe,
            on_refused=refused,
            progress=written,
            keep_first_names=not rows.has_first_names,
            # A column the file does not have leaves each person's choice as stored.
            keep_cadence=[c for c in CADENCE_COLUMNS if c not in rows.columns],
        )
    result.added, result.updated = counts["added"], counts["updated"]
    result.unchanged = counts["unchanged"]
    signups.drop_subscribed(store.engine)
    return result


class SubscriberCSV:
    """An open subscribers file.

    ``read()`` reads it through and yields each problem as ``(line,
    is_error, message)`` in line order; iterating it afterwards yields the
    subscriber of each good line, one per address (the first), in address
    order. A repeated address is an error on the later line that names the
    line it was first on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: BinaryIO = path.open("rb")
        except OSError as err:
            raise ConfigError(f"{path}: {err.strerror or err}") from None
        self._lines = _numbered_lines(self._file)
        try:
            positions, self._width = self._header()
        except OSError as err:
            self._file.close()
            raise ConfigError(f"{path}: {err.strerror or err}") from None
        except BaseException:
            self._file.close()
            raise
        self._pick = operator.itemgetter(*positions)  # in the order of COLUMNS
        self._needed = max(positions) + 1  # fields a row is padded to with empty ones
        self._staging = Staging()

    def __enter__(self) -> SubscriberCSV:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._staging.close()

    def read(
        self, progress: Callable[[ImportProgress], None] | None = None
    ) -> Iterator[tuple[int, bool, str]]:
        size = self._size()
        try:
            for number, raw in self._lines:
                try:
                    self._stage(number, raw)
                except ValueError as err:
                    self._staging.note(number, True, str(err))
                if progress and not number % 2_500:
                    done = self._file.tell() if size is not None else 0
                    progress(ImportProgress("reading", done, size, number))
        except OSError as err:
            raise InputError(str(self.path), f"read failed: {err.strerror or err}") from None
        return self._staging.finish()

    def __iter__(self) -> Iterator[Subscriber]:
        return self._staging.subscribers()

    def count(self) -> int:
        """How many subscribers iterating will yield (after ``read``)."""
        return self._staging.count()

    def _size(self) -> int | None:
        """The file's size, when it is a regular file (not a pipe)."""
        try:
            info = os.fstat(self._file.fileno())
        except OSError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def line_of(self, email: str) -> int | None:
        """The line ``email`` was read from."""
        return self._staging.line_of(validate.email_key(email))

    def _header(self) -> tuple[tuple[int, ...], int]:
        for number, raw in self._lines:
            if raw is None:
                raise ConfigError(
                    f"{self.path}:{number}: first line longer than {MAX_LINE:,} bytes: "
                    f"not a CSV file? ({EXPECTED})"
                )
            if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise ConfigError(f"{self.path}: UTF-16 text; save it as CSV in UTF-8")
            if b"\x00" in raw:
                raise ConfigError(f"{self.path}: not a text file ({EXPECTED})")
            text = decode(raw)
            if text.strip():
                break
        else:
            raise ConfigError(f"{self.path}: empty file ({EXPECTED})")
        # Excel writes ";" where the decimal comma is usual (much of Europe), and
        # tab-separated text is the other common export: the separator is the
        # first of these that gives the header an email column.
        columns: list[str] = []
        for separator in SEPARATORS:
            try:
                columns = [_column(c) for c in _split(text, separator)]
            except ValueError as err:
                raise ConfigError(f"{self.path}:{number}: header: {err}") from None
            if "email" in columns:
                self._separator = separator
                break
        else:
            raise ConfigError(f"{self.path}: no 'email' column in the header ({EXPECTED})")
        for column in COLUMNS:
            if columns.count(column) > 1:
                raise ConfigError(f"{self.path}:{number}: column {column!r} appears twice")
        # A missing column reads as the empty field every row is padded with.
        self.has_first_names = "first_name" in columns
        self.columns = frozenset(c for c in COLUMNS if c in columns)
        width = len(columns)
        positions = tuple(columns.index(c) if c in columns else width for c in COLUMNS)
        return positions, width

    def _stage(self, number: int, raw: bytes | None) -> None:
        """Keep the subscriber on one line; ValueError says what is wrong with it."""
        if raw is None:
            raise ValueError(f"line longer than {MAX_LINE:,} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = decode(raw)
        if not text or text.isspace():
            return
        fields = _split(text.removeprefix("\ufeff"), self._separator)
        width = self._width
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            raise ValueError(
                f"{len(fields)} fields, but the header has {width} "
                f"(a {SEPARATORS[self._separator]} in an unquoted value? put the value in "
                "double quotes)"
            )
        if len(fields) < self._needed:
            fields.extend([""] * (self._needed - len(fields)))
        *values, status = self._pick(fields)
        if validate.clean_line(status).lower() == "pending":
            self._staging.note(number, False, "a pending sign-up, never confirmed: left out")
            return
        subscriber = parse_subscriber(*values)
        subscriber.name, warning = shorten_name(subscriber.name)
        if warning:
            self._staging.note(number, False, warning)
        subscriber.first_name, warning = shorten_name(subscriber.first_name, "first name")
        if warning:
            self._staging.note(number, False, warning)
        self._staging.add(number, subscriber)


def _column(header: str) -> str:
    """A header cell as ``COLUMNS`` names it: "Email" and Mailchimp's "Email Address"
    are ``email``, "First Name" ``first_name``."""
    name = validate.clean_line(header).lower()
    bare = "".join(c for c in name if c not in " _-")
    if bare in FIRST_NAME_HEADERS:
        return "first_name"
    if bare in EMAIL_HEADERS:
        return "email"
    return name


def _split(text: str, separator: str = ",") -> list[str]:
    """The fields of one line: a plain split unless the line has a quote in it."""
    if '"' not in text:
        return text.split(separator)
    try:
        return next(csv.reader((text,), strict=True, delimiter=separator))
    except csv.Error:
        if text.count('"') % 2:
            raise ValueError(
                "a quoted value does not end on this line (a subscriber must be on one line; "
                "a value with a comma needs a quote at each end)"
            ) from None
        raise ValueError(
            'text after a closing quote (write a quote inside a value as "")'
        ) from None


def _numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Each physical line with its number (from 1), line end removed.

    Lines end at ``\r\n``, ``\n`` or ``\r``. A line longer than
    ``MAX_LINE`` comes as None as soon as it is that long (so even an endless
    stream without line ends, such as /dev/zero, is answered at once), and
    the rest of it is passed over.
    """
    number = 0
    pending = b""
    skipping = False  # in the rest of a line already given as too long
    while block := stream.read(_BLOCK):
        lines = (pending + block).splitlines(keepends=True)
        pending = lines.pop()  # may be cut short; read again with the next block
        for line in lines:
            if skipping:  # the end of the long line
                skipping = False
                continue
            number += 1
            yield number, None if len(line) > MAX_LINE else line.rstrip(b"\r\n")
        if len(pending) > MAX_LINE and not skipping:
            number += 1
            yield number, None
            skipping = True
        if skipping:
            pending = pending[-1:]  # a "\r" here may pair with the next block's "\n"
    if pending and not skipping:
        yield number + 1, pending.rstrip(b"\r\n")
