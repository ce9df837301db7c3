"""Which editions exist: one row per (date, timezone, send time, cadence), with the
window it covers.

An edition is recorded when it is first sent, and from then on its window is
fixed: previewing it later shows the same articles, and the next edition of
its series (the zone, the send time, the cadence) starts where it stopped.
Who was mailed what in it is the ledger's (``digest.sending.ledger``); this
module knows only the editions themselves, and what their windows leave out.
"""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from digest.clock import utcnow
from digest.models import Edition, time_text
from digest.store.database import write_transaction
from digest.store.schema import articles, editions, from_db, to_db


def find_edition(
    engine: sa.Engine,
    day: date,
    timezone: str,
    send_time: time | None = None,
    cadence: str = "daily",
) -> Edition | None:
    """The recorded edition with this key (``send_time`` None: the site's time)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(editions).where(
                editions.c.date == day.isoformat(), *_series(timezone, send_time, cadence)
            )
        ).first()
    return _edition(row) if row else None


def previous_cutoff(
    engine: sa.Engine,
    timezone: str,
    before: datetime,
    send_time: time | None = None,
    cadence: str = "daily",
) -> datetime | None:
    """Where the series' last edition before ``before`` stopped: the next one starts
    there. A series is one zone's editions at one send time of one cadence: the
    weekly edition starts where the last weekly one stopped, not yesterday's daily."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(editions.c.cutoff)).where(
                *_series(timezone, send_time, cadence), editions.c.cutoff < to_db(before)
            )
        ).scalar()
    return from_db(value)


def _series(timezone: str, send_time: time | None, cadence: str) -> list:
    return [
        editions.c.timezone == timezone,
        editions.c.send_time == time_text(send_time),
        editions.c.cadence == cadence,
    ]


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

    The unique (date, timezone, send time, cadence) key means that when two
    senders start the same edition at once, one creates it and the other joins it.
    """
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                editions.insert().values(
                    date=proposed.date.isoformat(),
                    timezone=proposed.timezone,
                    send_time=time_text(proposed.send_time),
                    cadence=proposed.cadence,
                    window_start=to_db(proposed.window_start),
                    cutoff=to_db(proposed.cutoff),
                    created_at=to_db(utcnow()),
                )
            )
    except IntegrityError:
        pass
    found = find_edition(
        engine, proposed.date, proposed.timezone, proposed.send_time, proposed.cadence
    )
    assert found is not None
    return found


def first_created(engine: sa.Engine) -> datetime | None:
    """When the first edition was started here (None: never)."""
    with engine.connect() as conn:
        return from_db(conn.execute(sa.select(sa.func.min(editions.c.created_at))).scalar())


def list_editions(engine: sa.Engine, day: date | None = None) -> list[Edition]:
    """Every recorded edition (of ``day`` only, if given), newest date first."""
    query = sa.select(editions).order_by(
        editions.c.date.desc(), editions.c.timezone, editions.c.send_time, editions.c.cadence
    )
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
        send_time=time.fromisoformat(row.send_time) if row.send_time else None,
        cadence=row.cadence,
    )
