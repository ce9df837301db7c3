"""Writing subscribers in bulk, on SQLite and PostgreSQL: counts, unsubscribed people, refusals.

The writer's chunk, statement and commit sizes are made tiny here, so a few
dozen rows cross every boundary that a million-row import does.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import subscriber

import digest.store.subscriber_writer as writer_module
from digest.errors import InputError
from digest.models import Subscriber
from digest.store.schema import subscribers
from digest.store.store import Store


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(writer_module, "CHUNK", 5)
    monkeypatch.setattr(writer_module, "ROWS_PER_STATEMENT", 3)
    monkeypatch.setattr(writer_module, "COMMIT_ROWS", 7)


def people(count: int, start: int = 0, name: str = "Reader") -> list:
    return [
        subscriber(f"reader{i}@example.com", ["Climate"], "UTC", name=f"{name} {i}")
        for i in range(start, start + count)
    ]


def stored(store: Store) -> dict:
    return {s.email: s for s in store.list_subscribers(active_only=False)}


def test_counts_add_up_across_chunks_statements_and_commits(store):
    assert store.save_subscribers(people(23)) == {"added": 23, "updated": 0, "unchanged": 0}
    again = [*people(30, start=10, name="Renamed"), subscriber("READER12@example.com", name="Last")]
    assert store.save_subscribers(again) == {"added": 17, "updated": 14, "unchanged": 0}
    found = stored(store)
    assert len(found) == 40
    assert found["reader3@example.com"].name == "Reader 3"
    assert found["reader20@example.com"].name == "Renamed 20"
    # An address twice in the input: the later row wins, as a stream of updates would.
    assert "reader12@example.com" not in found
    assert found["READER12@example.com"].name == "Last"


def test_an_import_never_reactivates_someone_who_unsubscribed(store):
    store.save_subscribers(people(3))
    with store.engine.begin() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.email_key == "reader1@example.com")
            .values(active=False)
        )
    counts = store.save_subscribers(people(3, name="New name"))
    assert counts == {"added": 0, "updated": 3, "unchanged": 0}
    assert [s.email for s in store.list_subscribers()] == [
        "reader0@example.com",
        "reader2@example.com",
    ]
    assert stored(store)["reader1@example.com"].name == "New name 1"  # updated, still unsubscribed

    store.save_subscribers(people(3), resubscribe=True)
    assert len(list(store.list_subscribers())) == 3


def test_rows_marked_unsubscribed_are_added_so_and_never_reactivated(store):
    """Across chunks, statements and commits: a row with ``unsubscribed_at`` (from an
    export of everyone) is added unsubscribed, and no import re-activates it."""
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rows = people(23)
    for sub in rows[::4]:
        sub.unsubscribed_at = when
    left = {sub.email for sub in rows[::4]}

    assert store.save_subscribers(rows) == {"added": 23, "updated": 0, "unchanged": 0}

    assert {s.email for s in store.list_subscribers()} == {s.email for s in rows} - left
    assert {e: s.unsubscribed_at for e, s in stored(store).items() if e in left} == dict.fromkeys(
        left, when
    )
    store.save_subscribers(rows, resubscribe=True)  # the rows themselves say they left
    assert len(list(store.list_subscribers())) == 23 - len(left)
    store.save_subscribers(people(23, name="Back"), resubscribe=True)  # these do not
    assert len(list(store.list_subscribers())) == 23
    assert all(s.unsubscribed_at is None for s in stored(store).values())


@pytest.fixture
def refusing(store):
    """The store, made to refuse rows whose name starts with "poison" (a trigger).

    On PostgreSQL the values it refuses by itself are added by the test: an
    address longer than its varchar(320) and a NUL character.
    """
    with store.engine.begin() as conn:
        if store.is_sqlite:
            for event in ("INSERT", "UPDATE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON subscribers "
                    "WHEN NEW.name LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
                )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.name LIKE 'poison%%' THEN RAISE check_violation USING MESSAGE = "
                "'poisoned row'; END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON subscribers "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    return store


def test_a_row_the_database_refuses_is_lost_alone(refusing):
    store = refusing
    store.save_subscribers(people(4))
    bad = [
        subscriber("poisoned@example.com", name="poison one"),
        subscriber("reader2@example.com", name="poison update"),  # refused as an update too
    ]
    if not store.is_sqlite:
        bad += [
            subscriber("x" * 300 + "@" + "d" * 60 + ".example.com"),  # 371 characters
            subscriber("nul@example.com", ["Cli\x00mate"]),
        ]
    items = [*people(8, start=10), bad[0], *people(5, start=30), *bad[1:], *people(4, start=40)]
    refused = []
    counts = store.save_subscribers(items, on_refused=lambda sub, why: refused.append((sub, why)))

    assert sorted(sub.email for sub, _ in refused) == sorted(sub.email for sub in bad)
    reasons = {sub.email: why for sub, why in refused}
    assert "poisoned row" in reasons["poisoned@example.com"]
    if not store.is_sqlite:
        assert "too long" in reasons[bad[2].email]
        assert "0x00" in reasons["nul@example.com"]  # the server names the NUL byte
    assert counts == {"added": 17, "updated": 0, "unchanged": 0}
    found = stored(store)
    assert len(found) == 4 + 17
    assert found["reader2@example.com"].name == "Reader 2"  # the refused update changed nothing
    assert "poisoned@example.com" not in found


def test_without_a_callback_the_first_refusal_is_raised_after_the_rest_are_stored(refusing):
    items = [*people(6), subscriber("poisoned@example.com", name="poison"), *people(6, start=6)]
    with pytest.raises(InputError, match=r"poisoned@example\.com.*refused by the database"):
        refusing.save_subscribers(items)
    assert len(stored(refusing)) == 12


def test_a_stream_that_fails_keeps_what_was_committed_and_holds_no_lock(store, db_url):
    def stream():
        yield from people(12)
        raise RuntimeError("the file went away")

    with pytest.raises(RuntimeError, match="went away"):
        store.save_subscribers(stream())
    # Two chunks of five reached a commit (every 7 rows here); the third never
    # got whole, so it was not written: no row half-imported.
    assert sorted(stored(store)) == sorted(s.email for s in people(10))
    other = Store(db_url)  # another process writes at once: no lock was left held
    try:
        assert other.save_subscribers(people(1, start=99)) == {
            "added": 1,
            "updated": 0,
            "unchanged": 0,
        }
    finally:
        other.close()


def test_an_in_memory_sqlite_store_is_written_from_the_callers_thread():
    memory = Store("sqlite://")
    try:
        assert memory.save_subscribers(people(12)) == {"added": 12, "updated": 0, "unchanged": 0}
        assert len(list(memory.list_subscribers())) == 12
    finally:
        memory.close()


def test_identical_rows_are_left_as_they_were(store):
    store.save_subscribers(people(6))
    with store.engine.connect() as conn:
        before = dict(conn.execute(sa.select(subscribers.c.email, subscribers.c.updated_at)).all())
    assert store.save_subscribers(people(6)) == {"added": 0, "updated": 0, "unchanged": 6}
    with store.engine.connect() as conn:
        after = dict(conn.execute(sa.select(subscribers.c.email, subscribers.c.updated_at)).all())
    assert after == before


def test_only_rows_with_a_changed_value_count_as_updated(store):
    """Importing the same file again says nothing changed; one edit is one update, whichever
    column it is in (SQLite writes the segment's columns in a statement of their own)."""
    store.save_subscribers(people(8))
    edited = people(8)
    edited[1].name = "Renamed"
    edited[2].topics = ["Space"]
    edited[3].timezone = "Asia/Tokyo"
    edited[4].name, edited[4].topics = "Both", ["Energy"]
    edited[5].email = "READER5@example.com"  # the address's spelling is a change too

    counts = store.save_subscribers([*edited, subscriber("new@example.com")])

    assert counts == {"added": 1, "updated": 5, "unchanged": 3}
    assert store.save_subscribers(people(2, start=6)) == {
        "added": 0,
        "updated": 0,
        "unchanged": 2,
    }


def test_column_widths_for_a_listing_come_from_the_store(store):
    empty = {"email": 0, "name": 0, "first_name": 0, "topics": 0, "timezone": 0}
    assert store.subscriber_widths() == empty
    store.save_subscribers(
        [
            subscriber("a@example.com", ["Climate", "Heat Pumps"], "America/New_York", name="Ann"),
            subscriber("much.longer@example.com", [], None, name="Bo"),
        ]
    )
    store.add_subscriber(Subscriber("much.longer@example.com", first_name="Bobby"))
    widths = store.subscriber_widths()
    topics = len("Climate; Heat Pumps")
    assert widths == {"email": 23, "name": 3, "first_name": 5, "topics": topics, "timezone": 16}


def test_topics_too_big_for_an_index_are_refused_alone_on_both_databases(store, tmp_path):
    """40 topics of 100 letters are within the per-topic limits, but 4,000 bytes in all:
    more than a PostgreSQL index row holds. The row is named; the others are imported."""
    from digest.subscribers.csv_import import import_csv

    many = ";".join(f"{i:02}" + "x" * 98 for i in range(40))
    path = tmp_path / "s.csv"
    path.write_text(
        f"email,name,topics,timezone\nann@example.com,Ann,,\nzed@example.com,Zed,{many},\n"
        "bob@example.com,Bob,,\n",
        "utf-8",
    )
    errors = []

    result = import_csv(path, store, errors.append, lambda _w: None)

    assert [str(e) for e in errors] == [
        f"{path}:3: the topics take 4039 bytes in all; at most 1000 are allowed"
    ]
    assert {s.email for s in store.list_subscribers()} == {"ann@example.com", "bob@example.com"}
    assert result.added == 2


def test_an_index_limit_on_postgresql_refuses_that_row_alone(store):
    """Past the edge rules (a library caller), PostgreSQL's own limit is still one row's
    problem: SQLSTATE 54000 is read as a refused record, not as a failed database."""
    letters = random.Random(1)  # random, so PostgreSQL cannot compress the index row
    big = ["".join(letters.choices(string.ascii_lowercase, k=99)) for _ in range(50)]
    people = [subscriber("ann@example.com"), subscriber("big@example.com", big)]
    people.append(subscriber("bob@example.com"))
    if store.is_sqlite:  # SQLite's indexes hold any size: nothing to refuse
        assert store.save_subscribers(people)["added"] == 3
        return
    with pytest.raises(InputError, match=r"refused by the database.*index row size"):
        store.save_subscribers(people)
    assert {s.email for s in store.list_subscribers()} == {"ann@example.com", "bob@example.com"}


@pytest.mark.parametrize("count", [30, 3])
def test_a_bulk_write_leaves_postgresql_planning_with_fresh_figures(
    pg_schema_url, monkeypatch, count
):
    """The send that follows an import plans from the table as it now is, not as
    autovacuum last saw it (never, on a new database: planning a million took
    1.2 s longer)."""
    monkeypatch.setattr(writer_module, "ANALYZE_ROWS", 20)
    store = Store(pg_schema_url())
    try:
        store.save_subscribers(people(count))
        with store.engine.connect() as conn:
            estimate = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'subscribers'::regclass"
            ).scalar()
    finally:
        store.close()
    # A small write leaves the figures to autovacuum (-1: never counted).
    assert estimate == (count if count >= 20 else -1)


def test_statistics_the_server_will_not_take_now_leave_the_write_standing(
    pg_schema_url, monkeypatch
):
    """The refresh comes after the commit: a lock held past the operator's
    lock_timeout costs a warning, not the import."""
    monkeypatch.setattr(writer_module, "ANALYZE_ROWS", 20)
    url = pg_schema_url()
    # Migrated first, without the timeout: migrations take one advisory lock for
    # the whole server, which a test opening a store beside this one may hold.
    Store(url).close()
    store = Store(url + "%20-clock_timeout%3D200")
    holder = sa.create_engine(url)
    try:
        with holder.begin() as conn:  # what a VACUUM or ALTER elsewhere would hold
            conn.exec_driver_sql("LOCK TABLE subscribers IN SHARE UPDATE EXCLUSIVE MODE")
            with pytest.warns(UserWarning, match=r"saved, but .*statistics.*lock timeout"):
                counts = store.save_subscribers(people(30))
        assert counts == {"added": 30, "updated": 0, "unchanged": 0}
        assert len(stored(store)) == 30
    finally:
        store.close()
        holder.dispose()
