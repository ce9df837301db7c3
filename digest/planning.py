"""Planning an edition: every recipient a ledger row, every row in a batch.

Subscribers are walked in id order, a page at a time (memory stays flat), and
each joins its segment's open batch of up to ``batch_size``. A batch's rows
are written together, so recording its outcome later touches one run of
pages instead of a page per recipient; and rows go to the driver as plain
tuples, since a million pass through here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from digest.clock import utcnow
from digest.models import Edition
from digest.schema import ACTIVE, batches, editions, ledger, subscribers, to_db

if TYPE_CHECKING:
    from digest.ledger import Ledger

PLAN_PAGE = 20_000
# Rows held back so each batch's rows are written together: a batch's outcome is
# then one run of pages to update, not a page per recipient.
PLAN_BUFFER = 100_000


def plan(
    owner: Ledger,
    edition: Edition,
    segment_of: Callable[[str], tuple[str, bool]],
    batch_size: int,
) -> int:
    """Plan ``edition`` in the ledger; returns how many recipients were planned.

    Only subscribers without a row yet are planned, so this is safe to run
    again (after a crash, or to take in people who subscribed since).
    ``segment_of(raw_topics)`` says which segment a topics string belongs to
    and whether that segment's digest is empty (then: skipped, "empty").
    """
    planned = 0
    now = to_db(utcnow())
    unplanned = sa.not_(
        sa.exists().where(
            ledger.c.edition_id == edition.id, ledger.c.subscriber_id == subscribers.c.id
        )
    )
    # coalesce() rather than "= tz OR IS NULL": it keeps the planner on the
    # primary key, walking subscribers in id order instead of sorting them.
    zone = sa.func.coalesce(subscribers.c.timezone, owner.default_timezone)
    conditions = [subscribers.c.id > sa.bindparam("after"), zone == edition.timezone, ACTIVE]
    insert = _BulkInsert(
        ledger,
        constant={"edition_id": edition.id, "retry": False, "updated_at": now},
        varying=("subscriber_id", "batch_id", "status", "error"),
    )
    segments: dict[str, tuple[str, bool]] = {}
    open_batches: dict[str, _OpenBatch] = {}  # segment -> its batch being filled
    with owner.engine.begin() as conn:
        # One planner per edition at a time: on PostgreSQL a second sender waits
        # here, then sees the first one's rows as planned (SQLite: BEGIN IMMEDIATE).
        conn.execute(sa.select(editions.c.id).where(editions.c.id == edition.id).with_for_update())
        # A re-run plans only those without a row; the first run need not ask.
        started = sa.select(ledger.c.subscriber_id).where(ledger.c.edition_id == edition.id)
        if conn.execute(started.limit(1)).first() is not None:
            conditions.append(unplanned)
        page_query = (
            sa.select(subscribers.c.id, subscribers.c.topics)
            .where(*conditions)
            .order_by(subscribers.c.id)
            .limit(PLAN_PAGE)
        )
        after = 0
        while page := conn.execute(page_query, {"after": after}).all():
            after = page[-1].id
            skipped = []
            for subscriber_id, raw in page:
                if raw not in segments:
                    segments[raw] = segment_of(raw)
                segment, empty = segments[raw]
                if empty:
                    skipped.append((subscriber_id, None, "skipped", "empty"))
                    continue
                slot = open_batches.get(segment)
                if slot is None:
                    slot = open_batches[segment] = _OpenBatch(_new_batch(conn, edition, segment))
                slot.rows.append((subscriber_id, slot.id, "pending", None))
                slot.count += 1
                if slot.count == batch_size:
                    insert.run(conn, slot.rows)
                    del open_batches[segment]
            insert.run(conn, skipped)
            planned += len(page)
            if sum(len(b.rows) for b in open_batches.values()) > PLAN_BUFFER:
                for slot in open_batches.values():  # bound memory; runs stay contiguous
                    insert.run(conn, slot.rows)
                    slot.rows = []
        for slot in open_batches.values():
            insert.run(conn, slot.rows)
    return planned


def _new_batch(conn: sa.Connection, edition: Edition, segment: str) -> int:
    return conn.execute(
        batches.insert()
        .values(edition_id=edition.id, segment=segment, state="pending", attempts=0)
        .returning(batches.c.id)
    ).scalar_one()


@dataclass
class _OpenBatch:
    id: int
    count: int = 0
    rows: list[tuple] = field(default_factory=list)


class _BulkInsert:
    """Many rows into one table at driver speed: the planner writes a million.

    SQLAlchemy's executemany processes every value of every row in Python
    (~10 µs a row here); this renders the INSERT once for the connection's
    driver, converts the per-plan constants once with SQLAlchemy's own type
    processors, and hands the driver plain tuples.
    """

    def __init__(self, table: sa.Table, constant: dict, varying: tuple[str, ...]) -> None:
        self.table = table
        self.constant = constant
        self.varying = varying

    def run(self, conn: sa.Connection, rows: list[tuple]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        names = [*self.constant, *self.varying]
        sql = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(self.table)} "
            f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join([mark] * len(names))})"
        )
        fixed = []
        for name, value in self.constant.items():
            process = self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            fixed.append(process(value) if process else value)
        prefix = tuple(fixed)
        conn.exec_driver_sql(sql, [prefix + row for row in rows])
