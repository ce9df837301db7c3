"""Each ``digest schedule`` process beats in the store, so ``digest status`` can tell it runs.

A row per process (host, pid, when it started, its last beat, each zone's next
edition), written on start, every few seconds while it runs, and once more on
a clean stop. A process that crashed or lost its database simply stops
beating; after ``STALE`` without a beat, status warns that nothing may be
sending the editions. The store is the only place two schedulers on two
machines can both see, which is why the heartbeat lives there rather than
in a pid file.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from digest.clock import utcnow
from digest.liveness import dead_here
from digest.models import Beat, Run, time_text
from digest.store.database import write_transaction
from digest.store.schema import from_db, schedulers, to_db

if TYPE_CHECKING:
    from digest.store.store import Store

BEAT_SECONDS = 30  # how often a running scheduler beats
STALE = timedelta(minutes=5)  # no beat for this long: not running (or stuck)
KEEP = timedelta(days=7)  # rows of schedulers gone this long are pruned on start


class Heartbeat:
    """This process's row in ``schedulers``."""

    def __init__(self, store: Store, now: Callable[[], datetime] = utcnow) -> None:
        self.engine = store.engine
        self.now = now
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id: int | None = None

    def start(self, runs: Iterable[Run]) -> None:
        now = self.now()
        with write_transaction(self.engine) as conn:
            conn.execute(schedulers.delete().where(schedulers.c.beat_at < to_db(now - KEEP)))
            self.id = conn.execute(
                schedulers.insert()
                .values(
                    host=self.host[:255],
                    pid=self.pid,
                    started_at=to_db(now),
                    beat_at=to_db(now),
                    next_runs=_encode(runs),
                )
                .returning(schedulers.c.id)
            ).scalar_one()

    def beat(self, runs: Iterable[Run]) -> None:
        self._update(beat_at=to_db(self.now()), next_runs=_encode(runs))

    def stop(self) -> None:
        now = to_db(self.now())
        self._update(beat_at=now, stopped_at=now, next_runs="[]")

    def _update(self, **values) -> None:
        if self.id is None:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(schedulers.update().where(schedulers.c.id == self.id).values(**values))


def first_start(store: Store) -> datetime | None:
    """When the earliest scheduler still on record started (None: none has)."""
    with store.engine.connect() as conn:
        return from_db(conn.execute(sa.select(sa.func.min(schedulers.c.started_at))).scalar())


def recorded(store: Store) -> list[Beat]:
    """Every scheduler that beat within ``KEEP``, the most recent beat first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(schedulers).order_by(schedulers.c.beat_at.desc(), schedulers.c.id.desc())
        ).all()
    return [
        Beat(
            id=row.id,
            host=row.host,
            pid=row.pid,
            started=from_db(row.started_at),
            last=from_db(row.beat_at),
            stopped=from_db(row.stopped_at),
            next_runs=_decode(row.next_runs),
        )
        for row in rows
    ]


def alive(beat: Beat, now: datetime) -> bool:
    """Beating lately, and, on this host, its process still there: a scheduler killed
    with SIGKILL (or by the OOM killer) writes no last beat, and would otherwise look
    alive for ``STALE``; on another host only the beat can tell."""
    return beat.stopped is None and now - beat.last <= STALE and not gone(beat)


def gone(beat: Beat) -> bool:
    """Whether the process of a scheduler on this host no longer runs."""
    return beat.stopped is None and dead_here(f"{beat.host}:{beat.pid}", socket.gethostname())


def state(beat: Beat, now: datetime) -> str:
    """The scheduler's state as ``digest status`` shows it."""
    if beat.stopped is not None:
        return "stopped"
    if gone(beat):
        return "not running"
    return "alive" if alive(beat, now) else "not beating"


def _encode(runs: Iterable[Run]) -> str:
    # A personal send time as a fourth element; the site's time writes three, as
    # schedulers before schema version 15 did, so either version reads the other.
    return json.dumps(
        [
            [r.timezone, r.date.isoformat(), r.at.isoformat()]
            + ([time_text(r.send_time)] if r.send_time is not None else [])
            for r in runs
        ]
    )


def _decode(text: str) -> tuple[Run, ...]:
    try:
        return tuple(
            Run(
                zone,
                date.fromisoformat(day),
                datetime.fromisoformat(at),
                time.fromisoformat(rest[0]) if rest else None,
            )
            for zone, day, at, *rest in json.loads(text)
        )
    except (ValueError, TypeError):  # written by another version: shown as unknown
        return ()
