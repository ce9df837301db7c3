"""One subscriber's row: added, changed or unsubscribed, one transaction each.

``Store.add_subscriber`` and ``Store.unsubscribe`` come here; the CLI's
``subscribers add``/``remove`` and the web's unsubscribe link go through
them, so unsubscribing has one home. The rule is the bulk import's
(``digest.store.subscriber_writer``): nothing re-activates someone who unsubscribed unless
the caller asks, and nothing but an explicit ``unsuppress`` lifts a bounce or
complaint (``suppression``); ``active`` is false exactly when
``unsubscribed_at`` or ``suppressed_at`` is set.

The row is read ``FOR UPDATE`` on PostgreSQL (on SQLite every transaction
already holds the write lock), so two changes to one person at once queue.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from digest.errors import StillSuppressed, StillUnsubscribed
from digest.models import Change, Subscriber, time_text
from digest.store.database import write_transaction
from digest.store.schema import from_db, subscribers, to_db
from digest.validate import clean_line, email_key

EDITABLE = (
    "name",
    "first_name",
    "topics",
    "timezone",
    "frequency",
    "send_time",
    "paused_until",
)


def add_one(
    engine: sa.Engine,
    sub: Subscriber,
    given: Collection[str],
    resubscribe: bool,
    now: datetime,
    unsuppress: bool = False,
) -> Change:
    """Add ``sub``, or change the fields named in ``given`` (of ``EDITABLE``) of the
    stored subscriber with that address; see ``Store.add_subscriber``."""
    key = email_key(sub.email)
    topics = ";".join(sub.topics)
    wanted = {
        "email": sub.email,
        "name": sub.name,
        "first_name": sub.first_name,
        "topics": topics,
        "timezone": sub.timezone,
        "frequency": sub.frequency,
        "send_time": time_text(sub.send_time) or None,
        "paused_until": sub.paused_until.isoformat() if sub.paused_until else None,
    }
    for _ in range(2):
        with write_transaction(engine) as conn:
            row = _locked(conn, key)
            if row is None:
                insert = _insert(engine).values(
                    email_key=key,
                    active=True,
                    updated_at=to_db(now),
                    subscribed_at=to_db(now),
                    **wanted,
                )
                # RETURNING, not rowcount: SQLAlchemy adds a RETURNING of its own
                # on PostgreSQL, and then rowcount is -1 whether a row went in or not.
                inserted = insert.on_conflict_do_nothing().returning(subscribers.c.id)
                if conn.execute(inserted).first() is not None:
                    return Change("added", to_subscriber(_locked(conn, key)))
                continue  # added by someone else a moment ago: update theirs
            changes = {
                name: wanted[name]
                for name in ("email", *EDITABLE)
                if (name == "email" or name in given) and getattr(row, name) != wanted[name]
            }
            outcome = "updated" if changes else "unchanged"
            left = _left_at(row)
            if left is not None:
                if not resubscribe:
                    raise StillUnsubscribed(row.email, left)
                changes |= {"active": True, "unsubscribed_at": None, "subscribed_at": to_db(now)}
                outcome = "resubscribed"
            if row.suppressed_at is not None:
                if not unsuppress:
                    raise StillSuppressed(
                        row.email,
                        from_db(row.suppressed_at),
                        row.suppressed_reason or "suppressed",
                        row.suppressed_detail or "",
                    )
                changes |= {
                    "active": True,
                    "suppressed_at": None,
                    "suppressed_reason": None,
                    "suppressed_detail": None,
                    "subscribed_at": to_db(now),
                }
                outcome = "resubscribed"
            if changes:
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == row.id)
                    .values(updated_at=to_db(now), **changes)
                )
            fields = tuple(f for f in ("email", *EDITABLE) if f in changes)
            return Change(outcome, to_subscriber(_locked(conn, key)), fields)
    raise AssertionError("unreachable: the row was added, then could not be found")


def unsubscribe(engine: sa.Engine, email: str, now: datetime) -> Change:
    """Mark one subscriber unsubscribed; see ``Store.unsubscribe``."""
    key = email_key(clean_line(email))
    with write_transaction(engine) as conn:
        row = _locked(conn, key)
        if row is None:
            return Change("unknown", None)
        if _left_at(row) is not None:
            return Change("already", to_subscriber(row))
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == row.id)
            .values(active=False, unsubscribed_at=to_db(now), updated_at=to_db(now))
        )
        return Change("unsubscribed", to_subscriber(_locked(conn, key)))


def to_subscriber(row) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        first_name=row.first_name,
        topics=[t for t in row.topics.split(";") if t],
        timezone=row.timezone,
        unsubscribed_at=_left_at(row),
        suppressed_at=from_db(row.suppressed_at),
        suppressed=row.suppressed_reason if row.suppressed_at is not None else None,
        suppressed_detail=row.suppressed_detail or "",
        frequency=row.frequency,
        send_time=time.fromisoformat(row.send_time) if row.send_time else None,
        paused_until=date.fromisoformat(row.paused_until) if row.paused_until else None,
    )


def _left_at(row) -> datetime | None:
    """When they unsubscribed, or None. A row some other tool turned off (inactive,
    neither date set) has only the time it last changed."""
    if row.unsubscribed_at is not None:
        return from_db(row.unsubscribed_at)
    if row.active or row.suppressed_at is not None:
        return None
    return from_db(row.updated_at)


def _locked(conn: sa.Connection, key: str):
    """The row of ``key``, locked until the transaction ends (on SQLite the whole
    database already is: every transaction begins IMMEDIATE)."""
    query = sa.select(subscribers).where(subscribers.c.email_key == key)
    return conn.execute(query.with_for_update()).first()


def _insert(engine: sa.Engine):
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(subscribers)
