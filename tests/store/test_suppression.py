"""The provider's events in the store (``Store.apply_events``), on SQLite and PostgreSQL:
each applied once, bounces and complaints stopping mail to the address for good,
and what ``digest status`` counts per edition.

Sends go through the real outbox provider; what a recipient gets is read from
the ``.eml`` files, what an operator sees from the store and the ledger.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import NOW, article, as_release, subscriber

from digest.delivery.outbox import OutboxProvider
from digest.errors import StillSuppressed, StillUnsubscribed
from digest.models import EditionEvents, ProviderEvent, Subscriber
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.store.editions import list_editions
from digest.store.schema import SCHEMA_VERSION, provider_events, schema_version
from digest.store.store import Store

LATER = NOW + timedelta(hours=2)  # when the events arrive
SUBSCRIBED = NOW - timedelta(days=7)  # when the readers subscribed
TODAY_SLUG = "2026-11-24_UTC"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "suppression-test-secret")


@pytest.fixture
def readers(store):
    """Five subscribers of everything, and one story today."""
    store.save_articles([article("Only story", ["Climate"], published=NOW - timedelta(hours=1))])
    people = [subscriber(f"reader{i}@example.com", name=f"R{i}") for i in range(5)]
    store.save_subscribers(people, now=SUBSCRIBED)
    return store


def ev(kind: str, email: str, at: datetime = NOW + timedelta(hours=1), **fields) -> ProviderEvent:
    suppress = {"bounce": "bounced", "dropped": "dropped", "spamreport": "complaint"}.get(kind)
    values = {
        "event_id": f"{kind}:{email}:{at.isoformat()}",
        "kind": kind,
        "email": email,
        "occurred_at": at,
        "suppress": suppress,
        "unsubscribe": kind in ("unsubscribe", "group_unsubscribe"),
    }
    return ProviderEvent(**(values | fields))


def send(store, settings, provider=None, now=NOW):
    provider = provider or OutboxProvider(settings.outbox_dir)
    dispatcher = Dispatcher(store, settings, provider, now=lambda: now, sleep=lambda _s: None)
    return dispatcher.send()


def outbox(settings) -> set[str]:
    folder = settings.outbox_dir / TODAY_SLUG
    return {p.name.split("-", 1)[1][: -len(".eml")] for p in folder.glob("*.eml")}


def row(store, email) -> Subscriber:
    found = store.find_subscriber(email)
    assert found is not None
    return found


# -- suppressing ---------------------------------------------------------------------


def test_a_bounce_suppresses_the_address_with_when_and_why(readers):
    bounced = ev("bounce", "reader1@example.com", detail="550 5.1.1 user unknown")
    applied = readers.apply_events([bounced], now=LATER)

    assert (applied.applied, applied.duplicates, applied.suppressed) == (1, 0, 1)
    gone = row(readers, "reader1@example.com")
    assert (gone.suppressed, gone.suppressed_at, gone.suppressed_detail) == (
        "bounced",
        bounced.occurred_at,
        "550 5.1.1 user unknown",
    )
    assert gone.unsubscribed_at is None and gone.left_at == bounced.occurred_at
    mailed = {s.email for s in readers.list_subscribers()}
    assert mailed == {f"reader{i}@example.com" for i in (0, 2, 3, 4)}


def test_the_same_events_again_change_nothing(readers):
    events = [
        ev("bounce", "reader1@example.com"),
        ev("spamreport", "reader2@example.com"),
        ev("unsubscribe", "reader3@example.com"),
        ev("delivered", "reader4@example.com", edition_id=1, subscriber_id=5),
    ]
    first = readers.apply_events(events, now=LATER)
    before = {s.email: s for s in readers.list_subscribers(active_only=False)}
    again = readers.apply_events(events, now=LATER + timedelta(hours=1))
    twice = readers.apply_events(events + events, now=LATER + timedelta(hours=2))

    assert (first.applied, first.suppressed, first.unsubscribed) == (4, 2, 1)
    assert (again.applied, again.duplicates, again.suppressed, again.unsubscribed) == (0, 4, 0, 0)
    assert (twice.received, twice.applied, twice.duplicates) == (8, 0, 8)
    assert {s.email: s for s in readers.list_subscribers(active_only=False)} == before
    with readers.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_events)).scalar() == 4


def test_one_event_twice_in_one_request_is_applied_once(readers):
    bounce = ev("bounce", "reader1@example.com")
    applied = readers.apply_events([bounce, bounce, bounce], now=LATER)
    assert (applied.received, applied.applied, applied.duplicates) == (3, 1, 2)


def test_the_address_is_matched_in_any_case_and_an_unknown_one_changes_no_one(readers):
    applied = readers.apply_events(
        [ev("bounce", "READER1@Example.COM"), ev("bounce", "stranger@example.com")], now=LATER
    )
    assert (applied.applied, applied.suppressed) == (2, 1)
    assert row(readers, "reader1@example.com").suppressed == "bounced"
    assert readers.find_subscriber("stranger@example.com") is None


def test_the_earliest_of_several_events_for_an_address_is_recorded(readers):
    early = ev("spamreport", "reader1@example.com", at=NOW + timedelta(minutes=5))
    late = ev("bounce", "reader1@example.com", at=NOW + timedelta(minutes=50))
    readers.apply_events([late, early], now=LATER)
    gone = row(readers, "reader1@example.com")
    assert (gone.suppressed, gone.suppressed_at) == ("complaint", early.occurred_at)
    readers.apply_events([ev("dropped", "reader1@example.com", at=LATER)], now=LATER)
    assert row(readers, "reader1@example.com").suppressed == "complaint"  # the first stands


def test_a_complaint_after_an_unsubscribe_is_kept_beside_it(readers):
    left = readers.unsubscribe("reader1@example.com", now=NOW).subscriber.unsubscribed_at
    readers.apply_events([ev("spamreport", "reader1@example.com")], now=LATER)
    both = row(readers, "reader1@example.com")
    assert (both.unsubscribed_at, both.suppressed) == (left, "complaint")


def test_an_unsubscribe_event_unsubscribes_as_the_link_does(readers):
    at = NOW + timedelta(minutes=30)
    applied = readers.apply_events([ev("group_unsubscribe", "reader1@example.com", at=at)], LATER)
    assert applied.unsubscribed == 1
    assert row(readers, "reader1@example.com").unsubscribed_at == at
    assert readers.unsubscribe("reader1@example.com").outcome == "already"


def test_a_drop_for_the_messages_sake_is_counted_and_suppresses_no_one(readers):
    drop = ev("dropped", "reader1@example.com", suppress=None, detail="Spam Content")
    applied = readers.apply_events([drop], now=LATER)
    assert (applied.applied, applied.suppressed) == (1, 0)
    assert row(readers, "reader1@example.com").left_at is None


# -- never mailed again, unless the operator says so -----------------------------------


def test_a_suppressed_address_is_not_mailed_by_the_next_send(readers, settings):
    readers.apply_events(
        [ev("bounce", "reader1@example.com"), ev("spamreport", "reader2@example.com")], LATER
    )
    report = send(readers, settings)

    assert outbox(settings) == {f"reader{i}@example.com" for i in (0, 3, 4)}
    assert report.total("sent") == 3


class BouncingProvider(OutboxProvider):
    """The outbox, with a bounce arriving for a later recipient once the first batch is out."""

    def __init__(self, folder, store, email) -> None:
        super().__init__(folder)
        self.max_batch = 2
        self.store, self.email = store, email

    def deliver(self, prepared):
        try:
            return super().deliver(prepared)
        finally:
            if self.email:
                self.store.apply_events([ev("bounce", self.email)], now=LATER)
                self.email = None


def test_an_address_suppressed_during_a_send_is_skipped_with_the_reason(readers, settings):
    provider = BouncingProvider(settings.outbox_dir, readers, "reader4@example.com")
    send(readers, settings, provider)

    assert outbox(settings) == {f"reader{i}@example.com" for i in range(4)}
    ledger = Ledger(readers, "UTC")
    (edition,) = list_editions(readers.engine)
    (skipped,) = ledger.entries(edition, "skipped")
    assert (skipped.email, skipped.error) == ("reader4@example.com", "suppressed: bounced")


def test_adding_a_suppressed_address_back_needs_unsuppress(readers):
    readers.apply_events([ev("bounce", "reader1@example.com", detail="550 no such user")], LATER)
    again = subscriber("reader1@example.com", name="R1")
    with pytest.raises(StillSuppressed, match=r"bounced on 2026-11-24 13:00 UTC \(550 no such"):
        readers.add_subscriber(again)
    with pytest.raises(StillSuppressed):
        readers.add_subscriber(again, resubscribe=True)

    change = readers.add_subscriber(again, unsuppress=True)
    assert change.outcome == "resubscribed"
    assert change.subscriber.left_at is None
    assert "reader1@example.com" in {s.email for s in readers.list_subscribers()}


def test_unsubscribed_and_suppressed_needs_both_words(readers):
    readers.unsubscribe("reader1@example.com", now=NOW)
    readers.apply_events([ev("spamreport", "reader1@example.com")], LATER)
    again = subscriber("reader1@example.com")
    with pytest.raises(StillUnsubscribed):
        readers.add_subscriber(again, unsuppress=True)
    with pytest.raises(StillSuppressed):
        readers.add_subscriber(again, resubscribe=True)
    assert row(readers, "reader1@example.com").suppressed == "complaint"  # nothing half-done
    readers.add_subscriber(again, resubscribe=True, unsuppress=True)
    assert row(readers, "reader1@example.com").left_at is None


def test_an_import_never_lifts_a_suppression_even_with_resubscribe(readers):
    readers.apply_events([ev("bounce", "reader1@example.com")], LATER)
    readers.unsubscribe("reader2@example.com")
    readers.apply_events([ev("bounce", "reader2@example.com")], LATER)
    renamed = [subscriber(f"reader{i}@example.com", name=f"New {i}") for i in (1, 2)]
    readers.save_subscribers(renamed, resubscribe=True)

    one, two = row(readers, "reader1@example.com"), row(readers, "reader2@example.com")
    assert (one.name, one.suppressed, one.left_at is not None) == ("New 1", "bounced", True)
    assert (two.unsubscribed_at, two.suppressed) == (None, "bounced")  # unsubscribe lifted only
    assert {s.email for s in readers.list_subscribers()} == {
        f"reader{i}@example.com" for i in (0, 3, 4)
    }


def test_removing_a_suppressed_address_records_the_unsubscribe_too(readers):
    readers.apply_events([ev("bounce", "reader1@example.com")], LATER)
    change = readers.unsubscribe("reader1@example.com", now=LATER)
    assert change.outcome == "unsubscribed"
    assert (change.subscriber.unsubscribed_at, change.subscriber.suppressed) == (LATER, "bounced")
    assert readers.unsubscribe("reader1@example.com").outcome == "already"


# -- counted per edition ---------------------------------------------------------------


def test_each_edition_counts_what_the_provider_reported_and_who_left_since(readers, settings):
    send(readers, settings)
    ledger = Ledger(readers, "UTC")
    (edition,) = list_editions(readers.engine)
    ids = {e.email: e.subscriber_id for e in ledger.entries(edition)}

    def for_edition(kind, email, n=0, **extra):
        at = NOW + timedelta(minutes=10 + n)
        return ev(kind, email, at=at, edition_id=edition.id, subscriber_id=ids[email], **extra)

    readers.apply_events(
        [
            *(for_edition("delivered", f"reader{i}@example.com") for i in range(4)),
            for_edition("bounce", "reader4@example.com"),
            for_edition("open", "reader0@example.com"),
            for_edition("open", "reader0@example.com", n=1),  # the same reader, again
            for_edition("open", "reader1@example.com"),
            for_edition("click", "reader1@example.com"),
            for_edition("spamreport", "reader3@example.com"),
            ev("open", "reader2@example.com"),  # a test copy: no edition
        ],
        now=LATER,
    )
    readers.unsubscribe("reader2@example.com")  # the link, after the send (the real clock)

    assert readers.edition_events(edition.id) == EditionEvents(
        delivered=4, bounced=1, dropped=0, complaints=1, unsubscribed=1, opened=2, clicked=1
    )
    assert readers.edition_events(edition.id + 1) == EditionEvents()


def test_someone_who_left_before_the_send_is_not_counted_as_leaving_since(readers, settings):
    readers.unsubscribe("reader1@example.com", now=NOW - timedelta(hours=1))
    send(readers, settings)
    (edition,) = list_editions(readers.engine)
    assert readers.edition_events(edition.id).unsubscribed == 0


# -- at once, and at scale ---------------------------------------------------------------


def test_the_same_request_on_two_workers_at_once_is_applied_once(readers):
    """Two server processes given the same retried request at the same moment."""
    events = [ev("bounce", "reader1@example.com")] + [
        ev("open", f"reader{i % 5}@example.com", at=NOW + timedelta(seconds=i)) for i in range(500)
    ]
    results = []
    start = threading.Barrier(2)

    def worker():
        start.wait()
        results.append(readers.apply_events(events, now=LATER))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.applied for r in results) == [0, 501]
    assert sum(r.suppressed for r in results) == 1


def test_ten_thousand_events_in_one_request_are_quick(readers, record_property):
    many = [subscriber(f"many{i}@example.com") for i in range(10_000)]
    readers.save_subscribers(many, now=SUBSCRIBED)
    kinds = ["delivered", "open", "click", "bounce", "unsubscribe"]
    events = [
        ev(kinds[i % 5], f"many{i}@example.com", at=NOW + timedelta(seconds=i))
        for i in range(10_000)
    ]
    started = time.perf_counter()
    applied = readers.apply_events(events, now=LATER)
    took = time.perf_counter() - started
    again = time.perf_counter()
    assert readers.apply_events(events, now=LATER).duplicates == 10_000
    replay = time.perf_counter() - again
    record_property("seconds", (round(took, 2), round(replay, 2)))
    assert applied.applied == 10_000
    assert (applied.suppressed, applied.unsubscribed) == (2000, 2000)
    assert took < 10, f"10,000 events took {took:.1f} s"


# -- the schema ---------------------------------------------------------------------------


def test_a_version_6_database_gains_the_suppression_columns(db_url):
    first = Store(db_url)
    first.save_subscribers([subscriber("ana@example.com")], now=SUBSCRIBED)
    first.close()
    as_release(
        db_url,
        6,
        *(
            f"ALTER TABLE subscribers DROP COLUMN {column}"
            for column in ("suppressed_at", "suppressed_reason", "suppressed_detail")
        ),
        "DROP TABLE provider_events",
    )

    store = Store(db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
        assert row(store, "ana@example.com").left_at is None
        store.apply_events([ev("bounce", "ana@example.com")], now=LATER)
        assert row(store, "ana@example.com").suppressed == "bounced"
    finally:
        store.close()


def test_times_are_stored_and_read_back_in_utc(readers):
    at = datetime(2026, 11, 24, 13, 5, 7, tzinfo=UTC)
    readers.apply_events([ev("bounce", "reader1@example.com", at=at)], LATER)
    assert row(readers, "reader1@example.com").suppressed_at == at


def test_odd_characters_in_every_field_are_stored_on_both_databases(readers):
    """NULs (PostgreSQL refuses them in text), lone surrogates, bidi overrides and
    megabytes of reason, as a signed body could carry them: parsed, stored, shown."""
    import json

    from digest.web import events as sg

    odd = "\x00\ud800\u202e\x1b[31m"
    body = json.dumps(
        [
            {
                "event": "bounce",
                "email": f"READER1@example.com{odd}",
                "sg_event_id": f"id{odd}",
                "reason": f"550 {odd} no such user " + "x" * 3_000_000,
                "edition_id": f"1{odd}",
            },
            {"event": "open", "email": "reader2@example.com", "sg_event_id": odd * 40},
        ],
        ensure_ascii=False,
    ).encode("utf-8", "surrogatepass")
    found, _ = sg.parse(body.replace(b"\xed\xa0\x80", b"\\ud800"), LATER)
    applied = readers.apply_events(found, now=LATER)
    assert (applied.applied, applied.suppressed) == (2, 1)
    gone = row(readers, "reader1@example.com")
    assert gone.suppressed_detail.startswith("550 no such user xxx")  # escapes gone
    assert len(gone.suppressed_detail) <= 300
