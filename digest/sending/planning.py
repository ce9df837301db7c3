"""Planning an edition: every recipient a ledger row, every row in a batch.

Done by the database in a few set-based statements rather than row by row in
Python, since a large edition plans a million recipients before the first is
sent:

1. the distinct topics strings of the recipients still to plan are read (a few
   hundred at most, from the audience index), each with the "since" of those who
   need one (below), and each pair is mapped, in Python, to its segment and
   whether that segment's digest is empty: a temporary table;
2. the recipients are numbered within their segment in id order (a window
   function), so recipient *n* of a segment goes to its batch *n // size*;
3. the batches are created, in segment and number order, and their ids noted in
   a second temporary table;
4. one ``INSERT … SELECT`` writes every ledger row, ordered by batch, so that a
   batch's rows lie together and recording its outcome later touches one run
   of pages instead of a page per recipient.

Recipients of an empty segment are written ``skipped`` ("empty"), in no batch.

Each story at most once per person: someone whose last edition sent (or in
doubt) of *any* series was cut off after this edition's window start (they
switched daily and weekly, or changed their send time or zone, since) has had
the window's articles up to that cut-off. One set-based statement (the ledger
joined to the editions cut off inside this window, for this edition's audience)
notes each such person's latest cut-off; they go into the segment of their
topics with ``@<cut-off>`` after it, whose sections hold only articles first
ingested later (``EditionContent.sections``). Everyone else needs none: their
own series' last edition stopped exactly where this one starts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from digest.models import Edition
from digest.store.database import write_transaction
from digest.store.schema import ACTIVE, batches, editions, subscribers, to_db
from digest.store.schema import ledger as ledger_rows  # the table; ``ledger`` is the Ledger

if TYPE_CHECKING:
    from digest.sending.ledger import Ledger

# Per-planning scratch tables, one set per connection (TEMPORARY): two planners
# on PostgreSQL never see each other's, and SQLite keeps them out of the file.
_scratch = sa.MetaData()
segment_map = sa.Table(
    "plan_segments",
    _scratch,
    sa.Column("topics", sa.Text, primary_key=True),
    sa.Column("since", sa.Text, primary_key=True),  # "" for the whole window
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("empty", sa.Boolean, nullable=False),
    prefixes=["TEMPORARY"],
)
planned = sa.Table(
    "plan_recipients",
    _scratch,
    sa.Column("subscriber_id", sa.Integer, nullable=False),
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("empty", sa.Boolean, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
# Those who had part of this window in another series' edition: its cut-off,
# as text ("" is nobody's), so the segment map is joined on equal values.
since_map = sa.Table(
    "plan_since",
    _scratch,
    sa.Column("subscriber_id", sa.Integer, primary_key=True),
    sa.Column("since", sa.Text, nullable=False),
    prefixes=["TEMPORARY"],
)
batch_map = sa.Table(
    "plan_batches",
    _scratch,
    sa.Column("segment", sa.Text, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("batch_id", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


def plan(
    ledger: Ledger,
    edition: Edition,
    segment_of: Callable[[str, datetime | None], tuple[str, bool]],
    batch_size: int,
) -> int:
    """Plan ``edition`` in the ledger; returns how many recipients were planned.

    Only subscribers without a row yet are planned, so this is safe to run
    again (after a crash, or to take in people who subscribed since: they go
    into batches of their own). ``segment_of(raw_topics, since)`` says which
    segment a topics string belongs to (for those who had the window's articles
    up to ``since``, None for the rest) and whether that segment's digest is empty.
    """
    audience = [ledger.audience_clause(edition), ACTIVE]
    with write_transaction(ledger.engine) as conn:
        # One planner per edition at a time: on PostgreSQL a second sender waits
        # here, then sees the first one's rows as planned (SQLite: BEGIN IMMEDIATE).
        conn.execute(sa.select(editions.c.id).where(editions.c.id == edition.id).with_for_update())
        now = to_db(ledger.now())  # every row written here is stamped with it (naive UTC)
        _skip_those_with_another_edition(conn, edition, audience, now)
        started = sa.select(ledger_rows.c.subscriber_id).where(
            ledger_rows.c.edition_id == edition.id
        )
        if conn.execute(started.limit(1)).first() is not None:
            # A re-run plans only those without a row; the first run need not ask.
            audience.append(
                sa.not_(
                    sa.exists().where(
                        ledger_rows.c.edition_id == edition.id,
                        ledger_rows.c.subscriber_id == subscribers.c.id,
                    )
                )
            )
        _scratch.create_all(conn)
        try:
            _note_since(conn, edition, audience)
            since = sa.func.coalesce(since_map.c.since, "")
            raw = conn.execute(
                sa.select(subscribers.c.topics, since)
                .select_from(_with_since())
                .where(*audience)
                .distinct()
            ).all()
            mapping = [
                {"topics": t, "since": after, "segment": key, "empty": empty}
                for t, after in raw
                for key, empty in [segment_of(t, _instant(after))]
            ]
            if not mapping:
                return 0
            conn.execute(segment_map.insert(), mapping)
            # Numbered once (the window function sorts every recipient), used twice.
            numbered = _numbered(audience, batch_size)
            columns = ["subscriber_id", "segment", "empty", "number"]
            conn.execute(planned.insert().from_select(columns, numbered))
            _create_batches(conn, edition)
            return _write_ledger(conn, edition, now)
        finally:
            _scratch.drop_all(conn)


def _skip_those_with_another_edition(
    conn: sa.Connection, edition: Edition, audience: list, now: datetime
) -> None:
    """One digest a day: someone already in another zone's edition of this date (they
    moved timezone since) is written ``skipped`` here, naming that edition."""
    others = conn.execute(
        sa.select(editions.c.id, editions.c.timezone).where(
            editions.c.date == edition.date.isoformat(), editions.c.id != edition.id
        )
    ).all()
    if not others:
        return

    def had(ids: list[int]) -> sa.Exists:
        return sa.exists().where(
            ledger_rows.c.edition_id.in_(ids),
            ledger_rows.c.subscriber_id == subscribers.c.id,
            ledger_rows.c.status != "skipped",
        )

    # Asked once for all of them first: nobody but those who moved is in one, and a
    # statement each, each a pass over the audience, made this step grow with the
    # zones planned before (6.0 s against 2.4 s for a day of 5 zones of 200,000 on
    # PostgreSQL, docs/performance.md).
    anyone = sa.select(subscribers.c.id).where(*audience, had([i for i, _ in others])).limit(1)
    if conn.execute(anyone).first() is None:
        return
    for other_id, zone in others:
        mine = sa.exists().where(
            ledger_rows.c.edition_id == edition.id, ledger_rows.c.subscriber_id == subscribers.c.id
        )
        rows = sa.select(
            sa.literal(edition.id),
            subscribers.c.id,
            sa.literal("skipped"),
            sa.literal(f"already in the {edition.date} {zone} edition"),
            sa.false(),
            sa.literal(now, sa.DateTime),
        ).where(*audience, had([other_id]), sa.not_(mine))
        columns = ["edition_id", "subscriber_id", "status", "error", "retry", "updated_at"]
        conn.execute(ledger_rows.insert().from_select(columns, rows))


def _note_since(conn: sa.Connection, edition: Edition, audience: list) -> None:
    """Each of the audience whose latest edition sent or in doubt, of another series,
    was cut off after this one's window start: that cut-off. One statement; the
    editions it looks at are those cut off inside the window (a day's, for a daily
    edition), and their ledger rows are read by its key."""
    # Not those of this date: whoever had one of them was written ``skipped`` here
    # already (``_skip_those_with_another_edition``), so only other days' can count.
    other = sa.select(editions.c.id).where(
        editions.c.cutoff > to_db(edition.window_start),
        editions.c.id != edition.id,
        editions.c.date != edition.date.isoformat(),
    )
    ids = conn.execute(other).scalars().all()
    if not ids:
        return  # the common case: nobody can have had part of this window
    # Driven by those editions' rows, read by the ledger's key (edition first), each
    # tested against the audience's ids: joining the audience to the ledger instead
    # made SQLite scan the whole ledger, every edition's (2.7 s against 0.4 s, for
    # 200,000 readers and two such editions of 200,000 rows; docs/performance.md).
    recent = sa.select(editions.c.id, editions.c.cutoff).where(editions.c.id.in_(ids)).subquery()
    had = ledger_rows.alias("had")  # not the audience's own (re-run) test of the ledger
    rows = (
        sa.select(had.c.subscriber_id, sa.func.max(recent.c.cutoff))
        .select_from(had)
        .join(recent, recent.c.id == had.c.edition_id)
        .where(
            had.c.edition_id.in_(ids),
            had.c.subscriber_id.in_(sa.select(subscribers.c.id).where(*audience)),
            had.c.status.in_(("sent", "in_doubt")),
        )
        .group_by(had.c.subscriber_id)
    )
    found = conn.execute(rows).all()
    if found:
        conn.execute(
            since_map.insert(),
            [{"subscriber_id": sid, "since": _text(at)} for sid, at in found],
        )


def _text(value: datetime) -> str:
    """A cut-off as the database gave it (naive UTC), as text to join on."""
    return value.replace(tzinfo=None).isoformat()


def _instant(text: str) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None


def _with_since():
    return subscribers.outerjoin(since_map, since_map.c.subscriber_id == subscribers.c.id)


def _numbered(audience: list, batch_size: int) -> sa.Select:
    """Each recipient to plan, with its segment and its batch number within it."""
    position = sa.func.row_number().over(
        partition_by=segment_map.c.segment, order_by=subscribers.c.id
    )
    return (
        sa.select(
            subscribers.c.id.label("subscriber_id"),
            segment_map.c.segment,
            segment_map.c.empty,
            ((position - 1) // batch_size).label("number"),  # integer division, both databases
        )
        .select_from(_with_since())
        .join(
            segment_map,
            sa.and_(
                segment_map.c.topics == subscribers.c.topics,
                segment_map.c.since == sa.func.coalesce(since_map.c.since, ""),
            ),
        )
        .where(*audience)
    )


def _create_batches(conn: sa.Connection, edition: Edition) -> None:
    """One batch per (segment, number), created in that order: ids ascend as they are sent."""
    wanted = conn.execute(
        sa.select(planned.c.segment, planned.c.number)
        .where(planned.c.empty == sa.false())
        .distinct()
        .order_by(planned.c.segment, planned.c.number)
    ).all()
    if not wanted:
        return
    ids = conn.execute(
        batches.insert().returning(batches.c.id, sort_by_parameter_order=True),
        [
            {"edition_id": edition.id, "segment": segment, "state": "pending", "attempts": 0}
            for segment, _ in wanted
        ],
    ).scalars()
    conn.execute(
        batch_map.insert(),
        [
            {"segment": segment, "number": number, "batch_id": batch_id}
            for (segment, number), batch_id in zip(wanted, ids, strict=True)
        ],
    )


def _write_ledger(conn: sa.Connection, edition: Edition, now: datetime) -> int:
    """Every recipient's ledger row, in one statement, batch by batch."""
    empty = planned.c.empty == sa.true()
    rows = (
        sa.select(
            sa.literal(edition.id).label("edition_id"),
            planned.c.subscriber_id,
            batch_map.c.batch_id,
            sa.case((empty, "skipped"), else_="pending").label("status"),
            sa.case((empty, "empty"), else_=sa.null()).label("error"),
            sa.false().label("retry"),
            sa.literal(now, sa.DateTime).label("updated_at"),
        )
        .select_from(planned)
        .outerjoin(
            batch_map,
            sa.and_(
                batch_map.c.segment == planned.c.segment,
                batch_map.c.number == planned.c.number,
            ),
        )
        .order_by(batch_map.c.batch_id, planned.c.subscriber_id)
    )
    columns = ["edition_id", "subscriber_id", "batch_id", "status", "error", "retry", "updated_at"]
    # SQLAlchemy keeps an INSERT's row count only when asked (else -1 on PostgreSQL).
    written = (
        ledger_rows.insert().from_select(columns, rows).execution_options(preserve_rowcount=True)
    )
    return conn.execute(written).rowcount
