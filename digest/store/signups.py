"""The front door's tables: pending sign-ups, the per-client counters, the
per-address mail cooldown and the day's figures (schema version 14).

Every limit is kept here, in the database, and changed in one statement
(``INSERT … ON CONFLICT DO UPDATE``, on SQLite and PostgreSQL alike), so
several ``digest serve`` processes share them: two processes that count the
same client, or claim the same address's mail, at the same moment never both
get under the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from digest.models import PendingSignup
from digest.store.database import write_transaction
from digest.store.schema import (
    ACTIVE,
    address_mail,
    from_db,
    signup_counters,
    signup_events,
    signups,
    subscribers,
    to_db,
)
from digest.validate import email_key


def _insert(engine: sa.Engine | sa.Connection, table: sa.Table):
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(table)


def _pending(row) -> PendingSignup:
    return PendingSignup(
        id=row.id,
        email=row.email,
        name=row.name,
        first_name=row.first_name,
        topics=tuple(t for t in row.topics.split(";") if t),
        timezone=row.timezone,
        created_at=from_db(row.created_at),
        mailed_at=from_db(row.mailed_at),
        frequency=row.frequency,
    )


def save(
    engine: sa.Engine,
    signup: PendingSignup,
    now: datetime,
    expired_before: datetime,
) -> PendingSignup:
    """Keep ``signup`` pending: a new row, or the address's row with these choices.

    Signing up again changes the choices but not ``created_at``: resubmitting the
    form never keeps a sign-up alive past its expiry. A row that has already
    expired (``created_at`` before ``expired_before``, not yet forgotten) starts
    again as new, ``mailed_at`` cleared: its old link no longer works.
    """
    key = email_key(signup.email)
    values = {
        "email": signup.email,
        "name": signup.name,
        "first_name": signup.first_name,
        "topics": ";".join(signup.topics),
        "timezone": signup.timezone,
        "frequency": signup.frequency,
    }
    query = sa.select(signups).where(signups.c.email_key == key)
    for _ in range(2):
        with write_transaction(engine) as conn:
            row = conn.execute(query.with_for_update()).first()
            if row is None:
                inserted = (
                    _insert(conn, signups)
                    .values(email_key=key, created_at=to_db(now), **values)
                    .on_conflict_do_nothing()
                    .returning(signups.c.id)
                )
                if conn.execute(inserted).first() is None:
                    continue  # signed up by another process a moment ago: update theirs
            else:
                if from_db(row.created_at) < expired_before:
                    values |= {"created_at": to_db(now), "mailed_at": None}
                conn.execute(signups.update().where(signups.c.id == row.id).values(**values))
            return _pending(conn.execute(query).one())
    raise AssertionError("unreachable: the row was added, then could not be found")


def by_id(engine: sa.Engine, signup_id: int) -> PendingSignup | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(signups).where(signups.c.id == signup_id)).first()
    return None if row is None else _pending(row)


def by_address(engine: sa.Engine, address: str) -> PendingSignup | None:
    query = sa.select(signups).where(signups.c.email_key == email_key(address))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _pending(row)


def mark_mailed(engine: sa.Engine, signup_id: int, now: datetime) -> None:
    with write_transaction(engine) as conn:
        conn.execute(signups.update().where(signups.c.id == signup_id).values(mailed_at=to_db(now)))


def drop(engine: sa.Engine, address: str) -> bool:
    """Forget the pending sign-up of ``address`` (subscribed now); whether there was one."""
    with write_transaction(engine) as conn:
        gone = conn.execute(
            signups.delete()
            .where(signups.c.email_key == email_key(address))
            .returning(signups.c.id)
        ).all()
    return bool(gone)


def drop_many(engine: sa.Engine, addresses: Iterable[str]) -> int:
    """Forget the pending sign-ups of these addresses (an import subscribed them)."""
    keys = sorted({email_key(a) for a in addresses})
    dropped = 0
    with write_transaction(engine) as conn:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            dropped += len(
                conn.execute(
                    signups.delete().where(signups.c.email_key.in_(chunk)).returning(signups.c.id)
                ).all()
            )
    return dropped


def drop_subscribed(engine: sa.Engine) -> int:
    """Forget the pending sign-ups of addresses that are subscribed now (an import
    subscribed them): one statement, an index lookup per pending sign-up, so it
    costs nothing after a million-row import when none is pending."""
    active = (
        sa.select(subscribers.c.id)
        .where(subscribers.c.email_key == signups.c.email_key, ACTIVE)
        .exists()
    )
    with write_transaction(engine) as conn:
        gone = conn.execute(signups.delete().where(active).returning(signups.c.id)).all()
    return len(gone)


def listing(engine: sa.Engine) -> list[PendingSignup]:
    """Every pending sign-up, by address (``subscribers list --all``, ``export --all``)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(signups).order_by(signups.c.email_key)).all()
    return [_pending(row) for row in rows]


def pending_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(signups)).scalar_one()


def forget_before(engine: sa.Engine, before: datetime, now: datetime) -> int:
    """Remove the sign-ups begun before ``before`` (never confirmed) and counters and
    cooldowns no limit looks at any more; returns how many sign-ups went, counted
    as ``expired`` in the same transaction."""
    with write_transaction(engine) as conn:
        gone = len(
            conn.execute(
                signups.delete().where(signups.c.created_at < to_db(before)).returning(signups.c.id)
            ).all()
        )
        # A day counter lives a day, an hour counter an hour: yesterday's are done.
        conn.execute(
            signup_counters.delete().where(
                sa.or_(
                    sa.and_(
                        signup_counters.c.period.like("h:%"),
                        signup_counters.c.period < period("h", now - timedelta(hours=2)),
                    ),
                    sa.and_(
                        signup_counters.c.period.like("d:%"),
                        signup_counters.c.period < period("d", now - timedelta(days=2)),
                    ),
                )
            )
        )
        if gone:
            _count(conn, "expired", now, gone)
    return gone


def forget_mail_before(engine: sa.Engine, before: datetime) -> None:
    """Cooldowns that ended before ``before``: an address mailed then may be mailed again."""
    with write_transaction(engine) as conn:
        conn.execute(address_mail.delete().where(address_mail.c.sent_at < to_db(before)))


def period(kind: str, when: datetime) -> str:
    """The counter a moment falls in: ``h:2026-12-06T17`` (its UTC hour) or ``d:2026-12-06``."""
    when = when.astimezone(UTC)
    return f"h:{when:%Y-%m-%dT%H}" if kind == "h" else f"d:{when:%Y-%m-%d}"


def bump_client(
    engine: sa.Engine, client: str, now: datetime, limits: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Count one request for ``client``; its counts this hour and today, this one in.

    With ``limits`` (per hour, per day), the day's figure is counted in the same
    transaction: ``signup`` when both counts are within them, else ``client_limit``
    (one commit per accepted sign-up fewer).
    """
    counts = []
    with write_transaction(engine) as conn:
        for kind in ("h", "d"):
            insert = _insert(conn, signup_counters).values(
                client=client[:100], period=period(kind, now), count=1
            )
            upsert = insert.on_conflict_do_update(
                index_elements=["client", "period"],
                set_={"count": signup_counters.c.count + 1},
            ).returning(signup_counters.c.count)
            counts.append(conn.execute(upsert).scalar_one())
        if limits is not None:
            within = counts[0] <= limits[0] and counts[1] <= limits[1]
            _count(conn, "signup" if within else "client_limit", now, 1)
    return counts[0], counts[1]


def client_counts(engine: sa.Engine, client: str, now: datetime) -> tuple[int, int]:
    """``client``'s accepted sign-ups this hour and today, counting none."""
    hour, day = period("h", now), period("d", now)
    query = sa.select(signup_counters.c.period, signup_counters.c.count).where(
        signup_counters.c.client == client[:100], signup_counters.c.period.in_((hour, day))
    )
    with engine.connect() as conn:
        found = dict(conn.execute(query).all())
    return found.get(hour, 0), found.get(day, 0)


def claim_mail(engine: sa.Engine, address: str, kind: str, now: datetime, since: datetime) -> bool:
    """Whether ``kind`` of mail may go to ``address`` now: claimed (True) when none was
    sent since ``since``. One statement: of two processes asking at once, one gets it.
    Not claimed is counted ``address_cooldown`` in the same transaction."""
    insert = _insert(engine, address_mail).values(
        email_key=email_key(address), kind=kind, sent_at=to_db(now)
    )
    claim = insert.on_conflict_do_update(
        index_elements=["email_key", "kind"],
        set_={"sent_at": insert.excluded.sent_at},
        where=address_mail.c.sent_at < to_db(since),
    ).returning(address_mail.c.kind)
    with write_transaction(engine) as conn:
        claimed = conn.execute(claim).first() is not None
        if not claimed:
            _count(conn, "address_cooldown", now, 1)
    return claimed


def release_mail(engine: sa.Engine, address: str, kind: str, claimed_at: datetime) -> None:
    """Give back a claim whose mail could not be sent, so the next try is not cooled down."""
    with write_transaction(engine) as conn:
        conn.execute(
            address_mail.delete().where(
                address_mail.c.email_key == email_key(address),
                address_mail.c.kind == kind,
                address_mail.c.sent_at == to_db(claimed_at),
            )
        )


def count(engine: sa.Engine, kind: str, now: datetime, n: int = 1) -> None:
    """Add ``n`` to today's (UTC) figure of ``kind`` (``schema.SIGNUP_EVENTS``)."""
    with write_transaction(engine) as conn:
        _count(conn, kind, now, n)


def _count(conn: sa.Connection, kind: str, now: datetime, n: int) -> None:
    day = f"{now.astimezone(UTC):%Y-%m-%d}"
    insert = _insert(conn, signup_events).values(day=day, kind=kind, count=n)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["day", "kind"], set_={"count": signup_events.c.count + n}
        )
    )


def figures(engine: sa.Engine, first_day: str) -> dict[str, dict[str, int]]:
    """Each day from ``first_day`` (YYYY-MM-DD, UTC) on -> kind -> count, as counted."""
    query = sa.select(signup_events).where(signup_events.c.day >= first_day)
    found: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            found.setdefault(row.day, {})[row.kind] = row.count
    return found
