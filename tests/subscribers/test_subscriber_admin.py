"""One person at a time and everyone out, on SQLite and PostgreSQL: ``Store.add_subscriber``,
``Store.unsubscribe``, ``subscriber_admin.add`` and ``export``, and schema version 5.

The round trips are the contract of ``export``: what it writes, ``import`` reads
back to the same subscribers, into an empty store or over the one it came from.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import as_release, subscriber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import validate
from digest.errors import InputError, StillUnsubscribed
from digest.store.schema import SCHEMA_VERSION, schema_version, subscribers
from digest.store.store import Store
from digest.subscribers.admin import add, export
from digest.subscribers.csv_import import import_csv, parse_subscriber

T0 = datetime(2026, 11, 20, 8, 15, 30, 123456, tzinfo=UTC)

# Names and topics an export must quote, or must not mangle.
ODD = [
    subscriber("ana@example.com", ["Climate", "Heat, Pumps"], "Europe/Lisbon", name="Silva, Ana"),
    subscriber("bo@example.org", [], None, name='Bo "the Boss" Okafor'),
    subscriber("cy@example.net", ['"Quoted"', "日本"], "Asia/Tokyo", name="Zoë Łukasz 🎉"),
    subscriber("dee@example.com", ["[b]Kw[/b]"], "UTC", name="=HYPERLINK(1)"),
    subscriber("Eve.Upper@Example.COM", [], None, name=""),
    subscriber("fay@example.com", ["A", "B"], None, name='",,"'),
    subscriber("gus@example.com", [], None, name="'single' and \\back\\slash"),
]


def everyone(store: Store) -> dict:
    """Every stored subscriber, as the values a round trip must keep (not the id)."""
    return {
        s.email: (s.name, s.topics, s.timezone, s.unsubscribed_at)
        for s in store.list_subscribers(active_only=False)
    }


def first_names(store: Store) -> dict:
    return {s.email: s.first_name for s in store.list_subscribers(active_only=False)}


def updated_at(store: Store) -> dict:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(subscribers.c.email, subscribers.c.updated_at)).all())


def clear(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(subscribers.delete())


def reimport(store: Store, text: str, tmp_path, **options):
    path = tmp_path / "export.csv"
    path.write_text(text, "utf-8", newline="")
    errors, warnings = [], []
    result = import_csv(path, store, errors.append, warnings.append, **options)
    assert errors == warnings == []
    return result


def exported(store: Store, **options) -> str:
    stream = io.StringIO()
    export(store, None, stream=stream, **options)
    return stream.getvalue()


# -- unsubscribing --------------------------------------------------------------


def test_unsubscribe_records_when_and_is_idempotent(store):
    store.save_subscribers(
        [subscriber("ana@example.com", name="Ana"), subscriber("bo@example.org")]
    )

    first = store.unsubscribe("  ANA@Example.com ", now=T0)
    again = store.unsubscribe("ana@example.com", now=T0 + timedelta(days=3))

    assert first.outcome == "unsubscribed"
    assert first.subscriber.email == "ana@example.com"
    assert first.subscriber.unsubscribed_at == T0
    assert again.outcome == "already"
    assert again.subscriber.unsubscribed_at == T0  # the first date stands
    assert [s.email for s in store.list_subscribers()] == ["bo@example.org"]
    assert everyone(store)["ana@example.com"] == ("Ana", [], None, T0)  # kept, marked
    assert store.unsubscribe("nobody@example.com").outcome == "unknown"
    assert store.unsubscribe("").outcome == "unknown"


# -- adding one person ----------------------------------------------------------


def test_add_then_update_only_what_is_given(store):
    change = add(store, "ana@example.com", name="Ana", topics="Climate; Energy", timezone="UTC")
    assert change.outcome == "added"
    assert (change.subscriber.topics, change.subscriber.timezone) == (["Climate", "Energy"], "UTC")

    change = add(store, "ANA@example.com", topics="Space")
    assert (change.outcome, change.fields) == ("updated", ("email", "topics"))
    assert everyone(store) == {"ANA@example.com": ("Ana", ["Space"], "UTC", None)}

    assert add(store, "ana@example.com", name="Ana").outcome == "updated"  # the spelling, again
    assert add(store, "ana@example.com", name="Ana").outcome == "unchanged"
    change = add(store, "ana@example.com", topics="", timezone="")  # everything, the default
    assert change.fields == ("topics", "timezone")
    assert everyone(store) == {"ana@example.com": ("Ana", [], None, None)}


def test_someone_who_unsubscribed_is_added_back_only_when_asked(store):
    add(store, "ana@example.com", name="Ana")
    store.unsubscribe("ana@example.com", now=T0)

    with pytest.raises(
        StillUnsubscribed, match=r"ana@example\.com unsubscribed on 2026-11-20 08:15"
    ):
        add(store, "ana@example.com", name="Someone else")
    assert everyone(store)["ana@example.com"] == ("Ana", [], None, T0)  # nothing changed

    change = add(store, "ana@example.com", resubscribe=True)
    assert (change.outcome, change.subscriber.unsubscribed_at) == ("resubscribed", None)
    assert [s.email for s in store.list_subscribers()] == ["ana@example.com"]


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"email": "bob@"}, "email", "not a valid email address: 'bob@'"),
        ({"email": "a@b.c\r\nBcc: x@y.z"}, "email", "not a valid email address"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone 'Mars/Olympus'"),
        ({"timezone": "europe/paris"}, "timezone", "did you mean 'Europe/Paris'?"),
        ({"topics": ";".join(f"T{i}" for i in range(51))}, "topics", "51 topics; at most 50"),
        ({"topics": "x" * 1001}, "topics", "topic longer than 100 characters"),
        ({"topics": ";".join(f"{i}" + "é" * 99 for i in range(6))}, "topics", "bytes in all"),
    ],
)
def test_add_holds_values_to_the_import_rules_and_names_the_field(store, values, field, reason):
    values = {"email": "ana@example.com", **values}
    with pytest.raises(InputError) as caught:
        add(store, values.pop("email"), **values)
    assert caught.value.where == field
    assert reason in caught.value.reason
    assert everyone(store) == {}


def test_add_cleans_a_name_as_an_import_does(store):
    warnings = []
    add(
        store,
        "ana@example.com",
        name="Ana\r\nBcc: evil@example.org\x00\x1b[31m",
        on_warning=warnings.append,
    )
    add(store, "bo@example.org", name="B" * 250, on_warning=warnings.append)
    found = everyone(store)
    assert found["ana@example.com"][0] == "Ana Bcc: evil@example.org"
    assert len(found["bo@example.org"][0]) == validate.MAX_NAME
    assert warnings == ["name longer than 200 characters, shortened"]


# -- export, and import of what it wrote ---------------------------------------------


def test_an_export_imports_back_unchanged_into_an_empty_store_and_over_itself(store, tmp_path):
    store.save_subscribers(ODD)
    store.unsubscribe("bo@example.org", now=T0)
    before, stamps = everyone(store), updated_at(store)

    text = exported(store)

    assert text.splitlines()[0] == (
        "email,name,first_name,topics,timezone,frequency,send_time,paused_until"
    )
    assert '"Silva, Ana",Climate;"Heat, Pumps"' not in text  # a field is quoted whole
    assert 'ana@example.com,"Silva, Ana",,"Climate;Heat, Pumps",Europe/Lisbon,,,\n' in text
    assert "bo@example.org" not in text  # active only, by default
    assert reimport(store, text, tmp_path).added == 0
    assert (everyone(store), updated_at(store)) == (before, stamps)  # nothing rewritten
    clear(store)
    assert reimport(store, text, tmp_path).added == len(ODD) - 1
    assert everyone(store) == {k: v for k, v in before.items() if k != "bo@example.org"}


def test_an_export_of_everyone_keeps_those_who_left_unsubscribed(store, tmp_path):
    store.save_subscribers(ODD)
    store.unsubscribe("bo@example.org", now=T0)
    store.unsubscribe("cy@example.net", now=T0.replace(microsecond=0))
    before = everyone(store)

    text = exported(store, everyone=True)

    header = (
        "email,name,first_name,topics,timezone,frequency,send_time,paused_until,"
        "unsubscribed_at,status"
    )
    assert text.splitlines()[0] == header
    assert (
        'bo@example.org,"Bo ""the Boss"" Okafor",,,,,,,2026-11-20T08:15:30.123456Z,unsubscribed\n'
        in text
    )
    assert ",Asia/Tokyo,,,,2026-11-20T08:15:30Z,unsubscribed\n" in text
    clear(store)
    reimport(store, text, tmp_path, resubscribe=True)  # even so: the file says they left
    assert everyone(store) == before
    assert "bo@example.org" not in {s.email for s in store.list_subscribers()}
    # Over a store where they are subscribed, the store's word stands (they may have
    # come back since the file was written); nothing is unsubscribed by an import.
    store.add_subscriber(subscriber("bo@example.org", name="Bo"), resubscribe=True)
    reimport(store, text, tmp_path)
    assert everyone(store)["bo@example.org"][3] is None


def test_export_to_a_file_replaces_it_whole(store, tmp_path):
    store.save_subscribers(ODD)
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")

    assert export(store, target) == len(ODD)

    assert target.read_text("utf-8") == exported(store)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_into_a_missing_folder_is_one_line(store, tmp_path):
    from digest.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"nowhere/out.csv: cannot write the export: No such file"
    ):
        export(store, tmp_path / "nowhere" / "out.csv")


# -- schema version 5 -------------------------------------------------------------


def test_a_version_4_database_gains_unsubscribed_at_and_keeps_who_left(db_url):
    first = Store(db_url)
    first.save_subscribers([subscriber("ana@example.com"), subscriber("bo@example.org")])
    first.close()
    # What version 4 had: no unsubscribed_at; who left is active = false.
    as_release(
        db_url,
        4,
        "ALTER TABLE subscribers DROP COLUMN unsubscribed_at",
        "UPDATE subscribers SET active = false, updated_at = '2026-10-01 09:00:00' "
        "WHERE email_key = 'bo@example.org'",
    )

    store = Store(db_url)
    try:
        assert everyone(store) == {
            "ana@example.com": ("", [], None, None),
            "bo@example.org": ("", [], None, datetime(2026, 10, 1, 9, tzinfo=UTC)),
        }
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
        assert store.unsubscribe("ana@example.com", now=T0).outcome == "unsubscribed"
        assert store.unsubscribe("bo@example.org").outcome == "already"
    finally:
        store.close()


# -- the round trip, at random ------------------------------------------------------

TRICKY = st.sampled_from(
    [*",;\"'= \t\n\r", "\r\n", "\x00", "\x1b[1m", "\u2028", "\x85", "\ufeff", "\u202e", "é", "🎉"]
)
ANY_TEXT = st.lists(st.one_of(TRICKY, st.characters(exclude_categories=["Cs"])), max_size=30).map(
    "".join
)


@st.composite
def stored_people(draw):
    """Subscribers as the edge rules leave them, some of them unsubscribed (with when)."""
    emails = draw(
        st.lists(
            st.from_regex(r"[a-zA-Z0-9.+_'=-]{1,12}@[a-z]{1,8}\.(com|org)", fullmatch=True),
            max_size=8,
            unique_by=str.lower,
        )
    )
    people = []
    for email in emails:
        try:
            sub = parse_subscriber(
                email,
                draw(ANY_TEXT),
                draw(ANY_TEXT),
                draw(st.sampled_from(["", "UTC", "Asia/Tokyo"])),
                first_name=draw(ANY_TEXT),
            )
        except ValueError:  # a dot where a dot-atom cannot have one, too many topics
            continue
        sub.name = validate.shorten(sub.name, validate.MAX_NAME)
        sub.first_name = validate.shorten(sub.first_name, validate.MAX_NAME)
        left = draw(st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)))
        people.append((sub, left and left.replace(tzinfo=UTC)))
    return people


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=stored_people(), all_of_them=st.booleans())
def test_whatever_is_stored_exports_and_imports_back_the_same(store, tmp_path, people, all_of_them):
    clear(store)
    store.save_subscribers([sub for sub, _ in people])
    for sub, left in people:
        if left:
            store.unsubscribe(sub.email, now=left)
    before, called = everyone(store), first_names(store)

    text = exported(store, everyone=all_of_them)

    assert text.count("\n") == 1 + len(list(store.list_subscribers(active_only=not all_of_them)))
    assert "\r" not in text
    clear(store)
    reimport(store, text, tmp_path)
    assert everyone(store) == (
        before if all_of_them else {k: v for k, v in before.items() if v[3] is None}
    )
    assert first_names(store) == {k: v for k, v in called.items() if k in everyone(store)}


def test_export_over_a_symlink_writes_the_file_it_points_to_and_keeps_its_mode(store, tmp_path):
    store.save_subscribers(ODD[:2])
    private = tmp_path / "private.csv"
    private.write_text("old\n")
    private.chmod(0o600)
    link = tmp_path / "latest.csv"
    link.symlink_to(private.name)

    export(store, link)

    assert link.is_symlink()
    assert private.read_text("utf-8") == exported(store)
    assert private.stat().st_mode & 0o777 == 0o600


def test_export_into_a_fifo_writes_straight_into_it(store, tmp_path):
    import os
    import threading

    store.save_subscribers(ODD[:2])
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text("utf-8")))
    reader.start()

    assert export(store, fifo) == 2

    reader.join(timeout=30)
    assert got == [exported(store)]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_eight_adds_of_one_new_address_at_once_add_it_once(db_url):
    """On PostgreSQL the row cannot be locked before it exists: the inserts race, and the
    losers find the winner's row and update it. (SQLite takes turns.)"""
    import threading

    stores = [Store(db_url) for _ in range(8)]
    start = threading.Barrier(len(stores))
    outcomes = []

    def add_as(i: int) -> None:
        start.wait()
        outcomes.append(stores[i].add_subscriber(subscriber("race@example.com", name=f"N{i}")))

    threads = [threading.Thread(target=add_as, args=(i,)) for i in range(len(stores))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert [c.outcome for c in outcomes].count("added") == 1
        assert len(outcomes) == 8
        assert len(list(stores[0].list_subscribers(active_only=False))) == 1
    finally:
        for store in stores:
            store.close()
