"""What ``digest status`` reports, gathered in one call: each edition's ledger
counts, what SendGrid reported since, what its window left out for age, and
the schedulers' heartbeats. The command only chooses how to show it (a table,
tab-separated lines, JSON), so every format holds the same facts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from digest.config.settings import Settings
from digest.editions.contents import left_out
from digest.models import EditionStatus, Status
from digest.sending.ledger import Ledger
from digest.service.heartbeat import alive, recorded, state
from digest.store import audience, signups
from digest.store.editions import list_editions
from digest.store.schema import SIGNUP_EVENTS
from digest.store.store import Store

GONE_SHOWN = 3  # schedulers no longer running shown beside the live ones
SIGNUP_DAYS = 7  # the front door's figures shown, per UTC day


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
    days, pending = signup_figures(store, settings, now)
    today = now.astimezone(settings.zone).date()
    frequencies = audience.by_frequency(store.engine, today)
    return Status(editions, schedulers, bool(beats), now, days, pending, frequencies)


def signup_figures(
    store: Store, settings: Settings, now: datetime
) -> tuple[list[tuple[str, dict[str, int]]], int]:
    """The last ``SIGNUP_DAYS`` UTC days of the sign-up page, newest first, each with
    every kind counted (0 when none), and how many sign-ups are pending now. Nothing
    when the page is off and has never counted anything."""
    today = now.astimezone(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(SIGNUP_DAYS)]
    found = signups.figures(store.engine, days[-1])
    pending = signups.pending_count(store.engine)
    if not (settings.signup.enabled or found or pending):
        return [], 0
    rows = [
        (day, {kind: found.get(day, {}).get(kind, 0) for kind in SIGNUP_EVENTS}) for day in days
    ]
    return rows, pending
