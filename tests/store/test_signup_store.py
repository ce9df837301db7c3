"""The front door's tables on SQLite and PostgreSQL: limits shared by processes hold
when many ask at once, pending sign-ups stay out of every subscriber query, and a
version-13 database is upgraded with its data untouched.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from conftest import as_release, subscriber

from digest.models import PendingSignup
from digest.store import signups
from digest.store.schema import SCHEMA_VERSION, schema_version
from digest.store.store import Store

NOW = datetime(2026, 12, 6, 17, 20, tzinfo=UTC)
NEW_TABLES = ("signups", "signup_counters", "address_mail", "signup_events")


def pending(address: str, **choices) -> PendingSignup:
    return PendingSignup(id=0, email=address, **choices)


def at_once(count: int, work) -> list:
    """``work(i)`` on ``count`` threads started together, each with its own store."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_pending_row_per_address_in_any_case(store):
    first = signups.save(store.engine, pending("Ann@Example.org", name="Ann"), NOW, NOW)
    second = signups.save(
        store.engine,
        pending("ann@example.org", topics=("Energy",), timezone="Asia/Tokyo"),
        NOW + timedelta(hours=2),
        NOW - timedelta(hours=46),
    )

    assert second.id == first.id and second.created_at == NOW  # the same sign-up
    assert (second.email, second.topics, second.timezone) == (
        "ann@example.org",
        ("Energy",),
        "Asia/Tokyo",
    )
    assert [p.id for p in signups.listing(store.engine)] == [first.id]
    # Pending is not subscribed: no subscriber query sees it.
    assert list(store.list_subscribers(active_only=False)) == []
    assert store.find_subscriber("ann@example.org") is None


def test_a_sign_up_past_its_expiry_starts_again_as_new(store):
    old = signups.save(store.engine, pending("bo@example.org"), NOW, NOW)
    signups.mark_mailed(store.engine, old.id, NOW)
    later = NOW + timedelta(hours=50)

    again = signups.save(
        store.engine, pending("bo@example.org"), later, later - timedelta(hours=48)
    )

    assert (again.created_at, again.mailed_at) == (later, None)


def test_a_mail_is_claimed_once_per_cooldown_however_many_ask_at_once(db_url):
    stores = [Store(db_url) for _ in range(8)]
    try:
        since = NOW - timedelta(hours=24)
        won = at_once(
            8,
            lambda i: signups.claim_mail(stores[i].engine, "cy@example.org", "confirm", NOW, since),
        )
        assert sorted(won) == [False] * 7 + [True]
        engine = stores[0].engine
        assert not signups.claim_mail(engine, "CY@example.org", "confirm", NOW, since)
        assert signups.claim_mail(engine, "cy@example.org", "manage", NOW, since)  # another kind
        tomorrow = NOW + timedelta(hours=24, seconds=1)
        assert signups.claim_mail(
            engine, "cy@example.org", "confirm", tomorrow, tomorrow - timedelta(hours=24)
        )
        signups.release_mail(engine, "cy@example.org", "confirm", tomorrow)
        assert signups.claim_mail(
            engine, "cy@example.org", "confirm", tomorrow, tomorrow - timedelta(hours=24)
        )
    finally:
        for s in stores:
            s.close()


def test_client_counts_from_many_processes_add_up(db_url):
    stores = [Store(db_url) for _ in range(6)]
    try:
        counts = at_once(6, lambda i: signups.bump_client(stores[i].engine, "203.0.113.9", NOW))
        assert sorted(hour for hour, _ in counts) == [1, 2, 3, 4, 5, 6]
        assert signups.client_counts(stores[0].engine, "203.0.113.9", NOW) == (6, 6)
        next_hour = NOW + timedelta(hours=1)
        assert signups.bump_client(stores[0].engine, "203.0.113.9", next_hour) == (1, 7)
    finally:
        for s in stores:
            s.close()


def test_forgetting_removes_expired_sign_ups_and_spent_counters(store):
    signups.save(store.engine, pending("old@example.org"), NOW - timedelta(hours=49), NOW)
    signups.save(store.engine, pending("new@example.org"), NOW, NOW)
    signups.bump_client(store.engine, "192.0.2.1", NOW - timedelta(days=3))
    signups.bump_client(store.engine, "192.0.2.1", NOW)

    assert signups.forget_before(store.engine, NOW - timedelta(hours=48), NOW) == 1

    assert [p.email for p in signups.listing(store.engine)] == ["new@example.org"]
    with store.engine.connect() as conn:
        periods = sorted(conn.execute(sa.text("SELECT period FROM signup_counters")).scalars())
    assert periods == ["d:2026-12-06", "h:2026-12-06T17"]
    assert signups.figures(store.engine, "2026-12-06")["2026-12-06"]["expired"] == 1


def test_an_import_drops_the_pending_sign_ups_of_addresses_it_subscribed(store):
    signups.save(store.engine, pending("ann@example.org"), NOW, NOW)
    signups.save(store.engine, pending("bo@example.org"), NOW, NOW)
    store.save_subscribers([subscriber("ANN@example.org")])

    assert signups.drop_subscribed(store.engine) == 1
    assert [p.email for p in signups.listing(store.engine)] == ["bo@example.org"]


def test_a_version_13_database_gets_the_front_doors_tables_and_keeps_its_data(db_url):
    store = Store(db_url)
    store.add_subscriber(subscriber("kept@example.org", name="Kept"))
    store.close()
    as_release(db_url, 13, *(f"DROP TABLE {t}" for t in NEW_TABLES))

    store = Store(db_url)
    try:
        assert store.find_subscriber("kept@example.org").name == "Kept"
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
            present = set(sa.inspect(conn).get_table_names())
        assert set(NEW_TABLES) <= present
        assert signups.save(store.engine, pending("new@example.org"), NOW, NOW).id > 0
    finally:
        store.close()
