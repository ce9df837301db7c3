"""The statements a send runs for every group of batches, built and compiled once.

At 24,000 segments a send runs each of these thousands of times: building a
SQLAlchemy expression anew each time cost more than running it, so they are
module constants (SQLAlchemy caches their compiled SQL per dialect), and the
one that reads a million rows is run as the driver's own SQL (``raw``).
"""

from __future__ import annotations

import sqlalchemy as sa

from digest.store.schema import OPEN, batches, ledger, subscribers

_PENDING = batches.c.state == "pending"
# The next ``count`` pending batches, locked (skipping those another sender holds)
# in a CTE that runs once: as ``id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)``
# PostgreSQL may run the subquery again for each row it updates, and claimed
# every pending batch at once.
_NEXT = (
    sa.select(batches.c.id)
    .where(batches.c.edition_id == sa.bindparam("edition"), _PENDING)
    .order_by(batches.c.id)
    .limit(sa.bindparam("count", type_=sa.Integer))
    .with_for_update(skip_locked=True)
    .cte("next_batches")
)
CLAIM = (
    batches.update()
    .where(batches.c.id == _NEXT.c.id, _PENDING)
    .values(
        state="sending",
        owner=sa.bindparam("b_owner", type_=batches.c.owner.type),
        attempts=batches.c.attempts + 1,
        lease_until=sa.bindparam("lease", type_=batches.c.lease_until.type),
    )
    .returning(batches.c.id, batches.c.segment, batches.c.attempts)
)
HAND_OVER = (
    batches.update()
    .where(
        batches.c.id.in_(sa.bindparam("ids", expanding=True)),
        batches.c.owner == sa.bindparam("b_owner"),
        batches.c.state == "sending",
    )
    .values(state="handed")
    .returning(batches.c.id)
)
# Back to pending: claimed or handed over with a group, never sent.
RELEASE = (
    batches.update()
    .where(batches.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(state="pending", owner=None, lease_until=None)
)
ALL_SENT = (
    ledger.update()
    # The statuses written into the SQL, not bound: a group's batches are one executemany.
    .where(
        ledger.c.batch_id == sa.bindparam("batch"),
        ledger.c.status.in_([sa.literal_column(f"'{status}'") for status in OPEN]),
    )
    .values(
        status="sent",
        message_id=sa.bindparam("b_message_id", type_=ledger.c.message_id.type),
        error=None,
        retry=False,
        updated_at=sa.bindparam("now", type_=ledger.c.updated_at.type),
    )
)
DONE = (
    batches.update()
    .where(batches.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(state="done", lease_until=None)
)
RECIPIENTS = (
    sa.select(
        ledger.c.batch_id,
        ledger.c.subscriber_id,
        subscribers.c.email,
        subscribers.c.name,
        subscribers.c.first_name,
        subscribers.c.active,
        subscribers.c.suppressed_reason,
    )
    .join(subscribers, subscribers.c.id == ledger.c.subscriber_id)
    .where(
        ledger.c.batch_id >= sa.bindparam("low"),
        ledger.c.batch_id <= sa.bindparam("high"),
        ledger.c.status == sa.literal_column("'pending'"),
    )
    .order_by(ledger.c.batch_id, ledger.c.subscriber_id)
)
# PostgreSQL: ``ALL_SENT`` of a group's batches, ``DONE`` of them and ``HAND_OVER`` of
# the next group, as one statement run on its own (autocommit): its own transaction,
# durable like any, in one round trip instead of five (BEGIN, three statements,
# COMMIT). Each round trip waits for the server to be scheduled on a busy machine,
# and this is between two requests (``Ledger.finish_group``). Every part of a WITH
# that writes runs, read or not; the two updates of ``batches`` touch different rows.
# The ledger's rows are found by ``batch_id = ANY``, which its index answers: joined
# to the batches unnested instead, PostgreSQL read the whole ledger for each group
# (the rows' statistics said few were pending), and a 24,000-segment send took 140 s.
ALL_SENT_AND_HAND_OVER = sa.text(
    f"""
    WITH sent AS (
        UPDATE ledger
        SET status = 'sent', error = NULL, retry = false, updated_at = :now,
            message_id = (CAST(:message_ids AS varchar[]))[
                array_position(CAST(:batches AS integer[]), ledger.batch_id)
            ]
        WHERE ledger.batch_id = ANY(CAST(:batches AS integer[]))
            AND ledger.status IN ({", ".join(f"'{status}'" for status in OPEN)})
        RETURNING 1
    ), closed AS (
        UPDATE batches SET state = 'done', lease_until = NULL
        WHERE id = ANY(CAST(:batches AS integer[]))
        RETURNING 1
    )
    UPDATE batches SET state = 'handed'
    WHERE id = ANY(CAST(:following AS integer[])) AND owner = :owner AND state = 'sending'
    RETURNING id
    """
)
# PostgreSQL: ``CLAIM`` and ``RECIPIENTS`` as one statement run on its own (autocommit),
# one round trip instead of five (``Ledger.claim_group``): each claimed batch, then
# its pending recipients (none: one row of NULLs). The query after the WITH sees the
# batches as they were, so it reads the ledger by what the claim returned.
_CLAIMED = CLAIM.cte("claimed")
_PEOPLE = ledger.join(subscribers, subscribers.c.id == ledger.c.subscriber_id)
CLAIM_WITH_RECIPIENTS = (
    sa.select(
        _CLAIMED.c.id,
        _CLAIMED.c.segment,
        _CLAIMED.c.attempts,
        *RECIPIENTS.selected_columns[1:],  # the recipients' columns, after their batch's id
    )
    .select_from(
        _CLAIMED.outerjoin(
            _PEOPLE,
            sa.and_(
                ledger.c.batch_id == _CLAIMED.c.id,
                ledger.c.status == sa.literal_column("'pending'"),
            ),
        )
    )
    .order_by(_CLAIMED.c.id, ledger.c.subscriber_id)
)
_COMPILED: dict[tuple[int, str], tuple[str, tuple[str, ...] | None, dict]] = {}


def raw(conn: sa.Connection, statement: sa.Select, **values):
    """Run ``statement`` as its dialect's SQL text, compiled once, rows as driver tuples.

    For queries that a large send runs a thousand times over a million rows,
    where SQLAlchemy's per-row processing was a tenth of the time.
    """
    key = (id(statement), conn.dialect.name)
    if key not in _COMPILED:
        compiled = statement.compile(dialect=conn.dialect)
        # The values the statement itself binds (a state it sets, a count it adds).
        _COMPILED[key] = (str(compiled), compiled.positiontup, compiled.params)
    sql, order, own = _COMPILED[key]
    values = {**own, **values}
    return conn.exec_driver_sql(sql, tuple(values[n] for n in order) if order else values)
