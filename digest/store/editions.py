"""Which editions exist: one row per (date, timezone), with the window it covers.

An edition is recorded when it is first sent, and from then on its window is
fixed: previewing it later shows the same articles, and the next edition of
the zone starts where it stopped. Who was mailed what in it is the ledger's
(``digest.sending.ledger``); this module knows only the editions themselves,
and what their windows leave out.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from digest.clock import utcnow
from digest.models import Edition
from digest.store.database import write_transaction
from digest.store.schema import articles, editions, from_db, to_db


def find_edition(engine: sa.Engine, day: date, timezone: str) -> Edition | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(editions).where(
                editions.c.date == day.isoformat(), editions.c.timezone == timezone
            )
        ).first()
    return _edition(row) if row else None


def previous_cutoff(engine: sa.Engine, timezone: str, before: datetime) -> datetime | None:
    """Where the zone's last edition before ``before`` stopped: the next one starts there."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(editions.c.cutoff)).where(
                editions.c.timezone == timezone, editions.c.cutoff < to_db(before)
            )
        ).scalar()
    return from_db(value)


def older_arrivals(
    engine: sa.Engine, start: datetime, cutoff: datetime, oldest: datetime
) -> tuple[int, datetime | None]:
    """How many articles first ingested in ``(start, cutoff]`` were published (or,
    undated, ingested) at or before ``oldest``, and the newest such date: the
    complement, within the edition's arrivals, of ``Store.window_articles``."""
    query = sa.select(sa.func.count(), sa.func.max(articles.c.sort_time)).where(
        articles.c.first_seen > to_db(start),
        articles.c.first_seen <= to_db(cutoff),
        articles.c.sort_time <= to_db(oldest),
    )
    with engine.connect() as conn:
        count, newest = conn.execute(query).one()
    return count, from_db(newest)


def start_edition(engine: sa.Engine, proposed: Edition) -> Edition:
    """Record an edition (its window fixed from now on), or return the one recorded.

    The unique (date, timezone) key means that when two senders start the
    same edition at once, one creates it and the other joins it.
    """
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                editions.insert().values(
                    date=proposed.date.isoformat(),
                    timezone=proposed.timezone,
                    window_start=to_db(proposed.window_start),
                    cutoff=to_db(proposed.cutoff),
                    created_at=to_db(utcnow()),
                )
            )
    except IntegrityError:
        pass
    found = find_edition(engine, proposed.date, proposed.timezone)
    assert found is not None
    return found


def first_created(engine: sa.Engine) -> datetime | None:
    """When the first edition was started here (None: never)."""
    with engine.connect() as conn:
        return from_db(conn.execute(sa.select(sa.func.min(editions.c.created_at))).scalar())


def list_editions(engine: sa.Engine, day: date | None = None) -> list[Edition]:
    """Every recorded edition (of ``day`` only, if given), newest date first."""
    query = sa.select(editions).order_by(editions.c.date.desc(), editions.c.timezone)
    if day is not None:
        query = query.where(editions.c.date == day.isoformat())
    with engine.connect() as conn:
        return [_edition(row) for row in conn.execute(query)]


def _edition(row) -> Edition:
    return Edition(
        id=row.id,
        date=date.fromisoformat(row.date),
        timezone=row.timezone,
        window_start=from_db(row.window_start),
        cutoff=from_db(row.cutoff),
    )
