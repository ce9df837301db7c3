"""The provider's events in the store: applied once each, and counted per edition.

``apply`` takes events already verified and parsed (``digest.web.events``) and, in
one transaction:

1. records each event's id in ``provider_events`` (``INSERT … ON CONFLICT DO
   NOTHING RETURNING``): what comes back is what was never seen, and only that
   goes on. A retried or replayed request, or two copies of it racing on two
   workers, changes nothing the second time: the second insert waits for the
   first transaction and then finds the ids taken;
2. suppresses the addresses of new bounces, drops and complaints, and
   unsubscribes those of new unsubscribes, matched by address (any case): the
   address stopped working, whoever holds it now. The rows are read ``FOR
   UPDATE`` first, so the counts are what this request itself changed. An
   event is applied by its own time: one from before the person last
   subscribed (added, resubscribed, unsuppressed: ``subscribed_at``) is
   recorded but changes nothing, since SendGrid may post it a day late, after
   a resubscribe it would otherwise undo and backdate.

A failure anywhere rolls all of it back, ids included, and the provider's
retry applies it whole. Set-based throughout: ten thousand events are a few
dozen statements, not ten thousand.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from digest.models import Applied, EditionEvents, ProviderEvent
from digest.store.database import write_transaction
from digest.store.schema import ledger, provider_events, subscribers, to_db

ROWS_PER_STATEMENT = 500  # addresses looked up a statement
MAX_DETAIL = 300  # characters of the provider's words kept
SECOND = timedelta(seconds=1)  # the precision of SendGrid's event times


def apply(engine: sa.Engine, events: list[ProviderEvent], now: datetime) -> Applied:
    """Apply ``events`` once each; see the module's docstring."""
    unique: dict[str, ProviderEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    with write_transaction(engine) as conn:
        holders = _holders(conn, _addresses_to_look_up(unique.values()))
        fresh = _record(conn, list(unique.values()), holders, now)
        suppressed = _suppress(conn, [e for e in fresh if e.suppress], holders, now)
        unsubscribed = _unsubscribe(conn, [e for e in fresh if e.unsubscribe], holders, now)
    return Applied(
        received=len(events),
        applied=len(fresh),
        duplicates=len(events) - len(fresh),
        suppressed=suppressed,
        unsubscribed=unsubscribed,
    )


def _addresses_to_look_up(events: Iterable[ProviderEvent]) -> set[str]:
    """Addresses whose row is needed: to change it, or to name the subscriber an
    event counts for when its custom_args did not."""
    return {
        e.email.lower() for e in events if e.suppress or e.unsubscribe or e.subscriber_id is None
    }


def _holders(conn: sa.Connection, keys: set[str]) -> dict[str, sa.Row]:
    """The subscriber row of each address, locked until the transaction ends."""
    found: dict[str, sa.Row] = {}
    columns = (
        subscribers.c.id,
        subscribers.c.email_key,
        subscribers.c.unsubscribed_at,
        subscribers.c.suppressed_at,
        subscribers.c.subscribed_at,
    )
    for part in _chunks(sorted(keys), ROWS_PER_STATEMENT):
        query = sa.select(*columns).where(subscribers.c.email_key.in_(part))
        # Locked in address order, as every request locks them: two requests
        # sharing addresses queue on PostgreSQL instead of deadlocking.
        for row in conn.execute(query.order_by(subscribers.c.email_key).with_for_update()):
            found[row.email_key] = row
    return found


def _record(
    conn: sa.Connection, events: list[ProviderEvent], holders: dict[str, sa.Row], now: datetime
) -> list[ProviderEvent]:
    """Insert each event's id; the events whose id was not there before, in their order."""
    received = to_db(now)
    rows = []
    for event in events:
        holder = holders.get(event.email.lower())
        rows.append(
            {
                "event_id": event.event_id,
                "kind": event.kind,
                "edition_id": event.edition_id,
                "subscriber_id": event.subscriber_id or (holder and holder.id),
                "occurred_at": to_db(event.occurred_at),
                "received_at": received,
            }
        )
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        # One statement over arrays, one per column: psycopg parses a query's
        # placeholders in Python, and a 10,000-row VALUES list cost a second.
        columns = {name: [r[name] for r in rows] for name in rows[0] if name != "received_at"}
        found = conn.execute(UNNEST_INSERT, {**columns, "received_at": received}).scalars()
    else:
        # Many rows a statement, compiled once (SQLAlchemy's "insertmanyvalues").
        found = conn.execute(SQLITE_INSERT, rows).scalars()
    # RETURNING names only the rows that went in: the events never seen before.
    taken = set(found)
    return [e for e in events if e.event_id in taken]


SQLITE_INSERT = (
    sqlite.insert(provider_events)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(provider_events.c.event_id)
)
UNNEST_INSERT = sa.text(
    """
    INSERT INTO provider_events
        (event_id, kind, edition_id, subscriber_id, occurred_at, received_at)
    SELECT e, k, n, s, o, :received_at
    FROM unnest(CAST(:event_id AS text[]), CAST(:kind AS text[]), CAST(:edition_id AS int[]),
                CAST(:subscriber_id AS int[]), CAST(:occurred_at AS timestamp[]))
         AS r(e, k, n, s, o)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)


def _earliest(events: list[ProviderEvent], holders: dict[str, sa.Row], column: str) -> dict:
    """Per stored address whose ``column`` is not yet set, its earliest event of
    those not older than the person's latest (re)subscription (``_since``)."""
    first: dict[str, ProviderEvent] = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        key = event.email.lower()
        holder = holders.get(key)
        if holder is not None and getattr(holder, column) is None and _since(event, holder):
            first.setdefault(key, event)
    return first


def _since(event: ProviderEvent, holder: sa.Row) -> bool:
    """Whether ``event`` may have happened after the person last subscribed.

    SendGrid's times are whole seconds (an event at 12:00:00 happened before
    12:00:01): only one surely older than the resubscribe is passed over, and
    one in the same second, in doubt, is applied (an unsubscribe is never lost
    for a guess). When they subscribed is not known for rows from before
    schema version 12: every event applies, as it did then.
    """
    if holder.subscribed_at is None:
        return True
    return to_db(event.occurred_at) + SECOND > holder.subscribed_at


def _suppress(
    conn: sa.Connection, events: list[ProviderEvent], holders: dict[str, sa.Row], now: datetime
) -> int:
    """Suppress each address not yet suppressed, with its earliest event's time and reason."""
    changes = [
        {
            "_id": holders[key].id,
            "_at": to_db(event.occurred_at),
            "_why": event.suppress,
            "_detail": event.detail[:MAX_DETAIL] or None,
        }
        for key, event in _earliest(events, holders, "suppressed_at").items()
    ]
    if changes:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == sa.bindparam("_id"))
            .values(
                active=False,
                suppressed_at=sa.bindparam("_at"),
                suppressed_reason=sa.bindparam("_why"),
                suppressed_detail=sa.bindparam("_detail"),
                updated_at=to_db(now),
            ),
            changes,
        )
    return len(changes)


def _unsubscribe(
    conn: sa.Connection, events: list[ProviderEvent], holders: dict[str, sa.Row], now: datetime
) -> int:
    """Unsubscribe each address not yet unsubscribed, as of its earliest such event."""
    changes = [
        {"_id": holders[key].id, "_at": to_db(event.occurred_at)}
        for key, event in _earliest(events, holders, "unsubscribed_at").items()
    ]
    if changes:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == sa.bindparam("_id"))
            .values(active=False, unsubscribed_at=sa.bindparam("_at"), updated_at=to_db(now)),
            changes,
        )
    return len(changes)


def edition_events(engine: sa.Engine, edition_id: int) -> EditionEvents:
    """What the provider reported about one edition, and who left since it was sent."""
    counts = sa.select(
        provider_events.c.kind,
        sa.func.count(),
        sa.func.count(sa.distinct(provider_events.c.subscriber_id)),
    ).where(provider_events.c.edition_id == edition_id)
    # Recipients who unsubscribed after their copy was recorded sent, however they left.
    left = (
        sa.select(sa.func.count())
        .select_from(ledger.join(subscribers, subscribers.c.id == ledger.c.subscriber_id))
        .where(
            ledger.c.edition_id == edition_id,
            ledger.c.status == "sent",
            subscribers.c.unsubscribed_at.is_not(None),
            subscribers.c.unsubscribed_at >= ledger.c.updated_at,
        )
    )
    with engine.connect() as conn:
        found = {kind: (n, people) for kind, n, people in conn.execute(counts.group_by("kind"))}
        unsubscribed = conn.execute(left).scalar_one()
    return EditionEvents(
        delivered=found.get("delivered", (0, 0))[0],
        bounced=found.get("bounce", (0, 0))[0],
        dropped=found.get("dropped", (0, 0))[0],
        complaints=found.get("spamreport", (0, 0))[0],
        unsubscribed=unsubscribed,
        opened=found.get("open", (0, 0))[1],
        clicked=found.get("click", (0, 0))[1],
    )


def _chunks(items, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
