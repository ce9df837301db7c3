"""A provider's event is applied by its own time (``Store.apply_events``), on SQLite
and PostgreSQL: SendGrid may post an unsubscribe or a bounce a day late, after
the person resubscribed (the page, ``subscribers add --resubscribe``, an import
with ``--resubscribe``) or was unsuppressed; such an event is recorded but
neither undoes the newer change nor backdates it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import NOW, as_release, subscriber

from digest.models import ProviderEvent
from digest.store.schema import SCHEMA_VERSION, schema_version, subscribers
from digest.store.store import Store

SUBSCRIBED = NOW - timedelta(days=30)
LEFT = NOW - timedelta(days=1)  # "5 December": they unsubscribed
BACK = NOW - timedelta(minutes=5)  # and resubscribed
ANA = "ana@example.com"


def event(kind: str, at, number: int = 1) -> ProviderEvent:
    suppress = {"bounce": "bounced", "spamreport": "complaint"}.get(kind)
    return ProviderEvent(
        event_id=f"{kind}-{number}",
        kind=kind,
        email=ANA.upper(),
        occurred_at=at,
        suppress=suppress,
        unsubscribe=kind == "unsubscribe",
    )


@pytest.fixture
def ana(store):
    store.save_subscribers([subscriber(ANA)], now=SUBSCRIBED)
    return store


def test_a_late_unsubscribe_event_does_not_undo_a_newer_resubscribe(ana):
    ana.unsubscribe(ANA, now=LEFT)
    ana.add_subscriber(subscriber(ANA), resubscribe=True, now=BACK)

    applied = ana.apply_events([event("unsubscribe", LEFT)], NOW)

    assert (applied.applied, applied.unsubscribed) == (1, 0)  # recorded, changes nothing
    person = ana.find_subscriber(ANA)
    assert person.unsubscribed_at is None
    assert ANA in {s.email for s in ana.list_subscribers()}  # still mailed


def test_a_late_event_does_not_undo_a_resubscribe_by_import(ana):
    ana.unsubscribe(ANA, now=LEFT)
    ana.save_subscribers([subscriber(ANA)], resubscribe=True, now=BACK)

    ana.apply_events([event("unsubscribe", LEFT), event("bounce", LEFT)], NOW)

    person = ana.find_subscriber(ANA)
    assert (person.unsubscribed_at, person.suppressed) == (None, None)


def test_an_import_that_changes_only_a_name_does_not_hold_back_an_unsubscribe(ana):
    """Only (re)subscribing counts: an unsubscribe from before a rename is applied."""
    ana.save_subscribers([subscriber(ANA, name="Ana B.")], now=BACK)

    ana.apply_events([event("unsubscribe", LEFT)], NOW)

    assert ana.find_subscriber(ANA).unsubscribed_at == LEFT


def test_a_late_bounce_does_not_suppress_again_after_unsuppress(ana):
    ana.apply_events([event("bounce", LEFT, 1)], LEFT)
    ana.add_subscriber(subscriber(ANA), unsuppress=True, now=BACK)

    ana.apply_events([event("bounce", LEFT + timedelta(minutes=1), 2)], NOW)  # SendGrid's retry

    assert ana.find_subscriber(ANA).suppressed is None


def test_an_event_after_the_resubscribe_applies_at_its_own_time(ana):
    ana.unsubscribe(ANA, now=LEFT)
    ana.add_subscriber(subscriber(ANA), resubscribe=True, now=BACK)
    later = BACK + timedelta(minutes=2)

    applied = ana.apply_events([event("unsubscribe", LEFT, 1), event("unsubscribe", later, 2)])

    assert applied.unsubscribed == 1
    assert ana.find_subscriber(ANA).unsubscribed_at == later


def test_an_event_in_the_same_second_as_the_resubscribe_is_applied(ana):
    """SendGrid's times are whole seconds: which came first is not known, and an
    unsubscribe is never lost for a guess."""
    back = BACK.replace(microsecond=700_000)
    ana.unsubscribe(ANA, now=LEFT)
    ana.add_subscriber(subscriber(ANA), resubscribe=True, now=back)

    ana.apply_events([event("unsubscribe", back.replace(microsecond=0))], NOW)

    assert ana.find_subscriber(ANA).unsubscribed_at == back.replace(microsecond=0)


def test_a_database_from_before_the_column_upgrades_and_applies_every_event(db_url):
    old = Store(db_url)
    try:
        old.save_subscribers([subscriber(ANA)], now=SUBSCRIBED)
    finally:
        old.close()
    as_release(db_url, 11, "ALTER TABLE subscribers DROP COLUMN subscribed_at")  # before 12

    upgraded = Store(db_url)
    try:
        with upgraded.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
            assert conn.execute(sa.select(subscribers.c.subscribed_at)).scalar() is None
        # When Ana subscribed is not known: the event applies, as it did before.
        upgraded.apply_events([event("unsubscribe", LEFT)], NOW)
        assert upgraded.find_subscriber(ANA).unsubscribed_at == LEFT
        # A resubscribe from now on is known, and a late event no longer undoes it.
        upgraded.add_subscriber(subscriber(ANA), resubscribe=True, now=BACK)
        upgraded.apply_events([event("unsubscribe", LEFT, 2)], NOW)
        assert upgraded.find_subscriber(ANA).unsubscribed_at is None
    finally:
        upgraded.close()
