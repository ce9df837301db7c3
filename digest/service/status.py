"""What ``digest status`` reports, gathered in one call: each edition's ledger
counts, what SendGrid reported since, what its window left out for age, and
the schedulers' heartbeats. The command only chooses how to show it (a table,
tab-separated lines, JSON), so every format holds the same facts.
"""

from __future__ import annotations

from datetime import date, datetime

from digest.config.settings import Settings
from digest.editions.contents import left_out
from digest.models import EditionStatus, Status
from digest.sending.ledger import Ledger
from digest.service.heartbeat import alive, recorded, state
from digest.store.editions import list_editions
from digest.store.store import Store

GONE_SHOWN = 3  # schedulers no longer running shown beside the live ones


def status(store: Store, settings: Settings, day: date | None, now: datetime) -> Status:
    """Every recorded edition (of ``day`` only, if given) and the schedulers."""
    ledger = Ledger(store, settings.timezone)
    editions = [
        EditionStatus(
            edition,
            ledger.counts(edition),
            store.edition_events(edition.id),
            left_out(store, settings, edition),
        )
        for edition in list_editions(store.engine, day)
    ]
    beats = recorded(store)
    live = [b for b in beats if alive(b, now)]
    shown = live + [b for b in beats if b not in live][:GONE_SHOWN]
    schedulers = [(b, state(b, now)) for b in shown]
    return Status(editions, schedulers, bool(beats), now)
