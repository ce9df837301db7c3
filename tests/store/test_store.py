"""The store, on SQLite and PostgreSQL alike: schema, articles, keywords, subscribers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from conftest import EVER, article, as_release, every_article, subscriber

from digest.errors import ConfigError
from digest.store.article_writer import SaveResult
from digest.store.schema import SCHEMA_VERSION, schema_version
from digest.store.store import Store, normalise_url

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock(store):
    """The store's idea of "now" (first-ingest times), set by the test."""
    moments = {"now": T0}
    store.now = lambda: moments["now"]
    return moments


def _versions(url: str) -> list[int]:
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(schema_version.c.version)).scalars())
    finally:
        engine.dispose()


def _ledger_options(store: Store) -> list[str] | None:
    """The ledger table's storage parameters on PostgreSQL (its fillfactor)."""
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE oid = 'ledger'::regclass"
        ).scalar()


def _titles(found) -> list[str]:
    return [a.title for a in found]


# -- schema --------------------------------------------------------------------


def test_tables_are_created_on_first_use_and_the_version_recorded(db_url):
    first = Store(db_url)
    try:
        assert first.save_subscribers([subscriber("a@example.com")]) == {
            "added": 1,
            "updated": 0,
            "unchanged": 0,
        }
        inspector = sa.inspect(first.engine)
        assert {"articles", "keywords", "subscribers", "editions", "batches", "ledger"} <= set(
            inspector.get_table_names()
        )
    finally:
        first.close()
    assert _versions(db_url) == [SCHEMA_VERSION]


def test_opening_the_same_database_again_keeps_its_data(db_url):
    first = Store(db_url)
    first.save_articles([article("Kept", ["Climate"], published=T0)])
    first.close()
    again = Store(db_url)
    try:
        assert _titles(every_article(again)) == ["Kept"]
    finally:
        again.close()
    assert _versions(db_url) == [SCHEMA_VERSION]  # one row, not one per opening


def test_a_database_from_a_newer_release_is_refused(db_url):
    Store(db_url).close()
    as_release(db_url, SCHEMA_VERSION + 1)
    with pytest.raises(ConfigError, match=r"schema version .*newer"):
        Store(db_url)


# -- articles ------------------------------------------------------------------


def test_reingesting_counts_new_updated_unchanged_and_never_duplicates(store):
    a = article("Glacier melt", ["Climate"], published=T0)
    b = article("Rate decision", ["Economy"], published=T0)
    assert store.save_articles([a, b]) == SaveResult(new=2, updated=0, unchanged=0)
    assert store.save_articles([a, b]) == SaveResult(new=0, updated=0, unchanged=2)

    changed = article("Glacier melt", ["Climate"], published=T0, summary="Now with figures.")
    c = article("Heat pumps", ["Energy"], published=T0)
    assert store.save_articles([changed, b, c]) == SaveResult(new=1, updated=1, unchanged=1)

    found = every_article(store)
    assert sorted(_titles(found)) == ["Glacier melt", "Heat pumps", "Rate decision"]
    glacier = next(x for x in found if x.title == "Glacier melt")
    assert glacier.summary == "Now with figures."


def test_a_feed_repeating_a_guid_in_one_batch_stores_its_last_entry(store):
    first = article("Draft headline", guid="urn:story:1", published=T0)
    last = article("Final headline", guid="urn:story:1", published=T0)
    assert store.save_articles([first, last]) == SaveResult(new=1, updated=0, unchanged=0)
    assert _titles(every_article(store)) == ["Final headline"]


def test_an_update_keeps_first_seen(store, clock):
    undated = article("Undated story", ["Science"])
    store.save_articles([undated])
    clock["now"] = T0 + timedelta(hours=20)
    edited = article("Undated story", ["Science"], body="A corrected body.")
    assert store.save_articles([edited]).updated == 1

    (found,) = every_article(store)
    assert found.body == "A corrected body."
    assert found.first_seen == T0
    # Judged by its first ingest, it stays in the earlier window, not the later one.
    oldest = EVER[0]
    assert _titles(store.window_articles(T0 - timedelta(hours=1), T0, oldest)) == ["Undated story"]
    assert store.window_articles(T0, T0 + timedelta(days=2), oldest) == []


def test_an_editions_articles_are_judged_by_when_they_arrived(store, clock):
    """First ingested in (start, cutoff], and published within the window's hours."""
    start, cutoff = T0, T0 + timedelta(hours=12)
    oldest = cutoff - timedelta(hours=36)
    clock["now"] = start
    store.save_articles([article("Ingested at the previous cut-off", published=start)])
    clock["now"] = start + timedelta(seconds=1)
    store.save_articles(
        [
            article("Just after start", published=start),
            # Published before the previous cut-off, but it reached us after it: a late
            # arrival goes into this edition rather than into none.
            article("Late arrival", published=start - timedelta(hours=20)),
            # Published in another offset: the same instant as start + 3h, later than
            # it was ingested, so clamped to its first ingest.
            article(
                "Paris time",
                published=datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1))),
            ),
            article("Older than the window", published=oldest - timedelta(seconds=1)),
        ]
    )
    clock["now"] = start + timedelta(hours=2)
    store.save_articles([article("Undated, ingested in window")])
    clock["now"] = cutoff
    store.save_articles([article("At the cut-off", published=cutoff - timedelta(hours=1))])
    clock["now"] = cutoff + timedelta(seconds=1)
    store.save_articles([article("After the cut-off", published=cutoff - timedelta(hours=1))])

    found = store.window_articles(start, cutoff, oldest)

    assert set(_titles(found)) == {
        "Just after start",
        "Late arrival",
        "Paris time",
        "Undated, ingested in window",
        "At the cut-off",
    }
    paris = next(a for a in found if a.title == "Paris time")
    assert paris.published == start + timedelta(seconds=1)  # clamped: we had it earlier
    assert paris.published.tzinfo is not None
    undated = next(a for a in found if a.title.startswith("Undated"))
    assert undated.published is None
    assert undated.when == start + timedelta(hours=2)
    # Newest first, by publish time.
    assert _titles(found)[0] == "At the cut-off"
    # The next edition takes what arrived after this cut-off, and nothing twice.
    later = store.window_articles(cutoff, cutoff + timedelta(hours=24), oldest)
    assert _titles(later) == ["After the cut-off"]


# -- keywords ------------------------------------------------------------------


def test_keywords_are_remembered_once_with_their_first_spelling(store):
    store.save_articles([article("One", ["Climate", "Heat Pumps"], published=T0)])
    store.save_articles([article("Two", ["climate", "HEAT  PUMPS", "Space"], published=T0)])
    store.save_articles([article("Three", ["Ｃｌｉｍａｔｅ", " "], published=T0)])  # NFKC: Climate
    assert sorted(store.known_keywords()) == ["Climate", "Heat Pumps", "Space"]


# -- subscribers ---------------------------------------------------------------


def test_subscribers_are_unique_by_email_case_insensitively(store):
    counts = store.save_subscribers(
        [subscriber("Alice@Example.COM", ["Climate"], "Europe/London", name="Alice")]
    )
    assert counts == {"added": 1, "updated": 0, "unchanged": 0}
    counts = store.save_subscribers(
        [
            subscriber("alice@example.com", ["Space", "Energy"], None, name="Alice M."),
            subscriber("bob@example.org"),
        ]
    )
    assert counts == {"added": 1, "updated": 1, "unchanged": 0}

    listed = list(store.list_subscribers())
    assert [s.email.lower() for s in listed] == ["alice@example.com", "bob@example.org"]
    alice = store.find_subscriber("ALICE@example.com")
    assert alice is not None
    assert (alice.name, alice.topics, alice.timezone) == ("Alice M.", ["Space", "Energy"], None)


def test_subscriber_timezones_maps_no_timezone_to_the_default(store):
    store.save_subscribers(
        [
            subscriber("a@example.com", timezone=None),
            subscriber("b@example.com", timezone="Asia/Tokyo"),
            subscriber("c@example.com", timezone="Europe/London"),
            subscriber("d@example.com", timezone="Asia/Tokyo"),
        ]
    )
    assert store.subscriber_timezones("Europe/London") == ["Asia/Tokyo", "Europe/London"]
    assert store.subscriber_timezones("UTC") == ["Asia/Tokyo", "Europe/London", "UTC"]


def test_no_subscribers_means_no_timezones(store):
    assert store.subscriber_timezones("UTC") == []


# -- URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/news", "postgresql+psycopg://u:p@db.example:5432/news"),
        ("postgresql://u@db.example/news", "postgresql+psycopg://u@db.example/news"),
        ("postgresql+psycopg://u@db/news", "postgresql+psycopg://u@db/news"),
        ("sqlite:///digest.db", "sqlite:///digest.db"),
    ],
)
def test_normalise_url_picks_the_psycopg_driver(given, expected):
    assert normalise_url(given) == expected


def test_a_postgres_url_in_the_heroku_spelling_opens(pg_schema_url):
    url = pg_schema_url().replace("postgresql+psycopg://", "postgres://", 1)
    s = Store(url)
    try:
        assert not s.is_sqlite
        assert s.engine.dialect.driver == "psycopg"
        s.save_subscribers([subscriber("a@example.com")])
        assert [x.email for x in s.list_subscribers()] == ["a@example.com"]
    finally:
        s.close()


@pytest.mark.parametrize(
    "url",
    [
        "not a database url",
        "nosuchdb://user@host/db",
    ],
)
def test_a_bad_database_url_is_a_config_error(url):
    with pytest.raises(ConfigError, match=r"database|DIGEST_DATABASE_URL"):
        Store(url)


def test_text_stored_before_the_edge_rules_is_cleaned_on_upgrade(db_url):
    first = Store(db_url)
    first.save_subscribers([subscriber("ana@example.com", ["Climate"], name="Ana")])
    first.save_articles([article("Clean title", ["Climate"], published=T0)], now=T0)
    first.close()
    # What an older release could have stored, straight into the tables.
    as_release(
        db_url,
        3,
        "UPDATE subscribers SET name = 'Ana \x1b[31mRed\x1b[0m', topics = 'Clim\x1bate;\u202eX'",
        "UPDATE articles SET title = 'Bad\x07 title', keywords = '[\"Cli\\u001bmate\"]'",
        "ALTER TABLE subscribers DROP COLUMN unsubscribed_at",  # version 5's
    )

    again = Store(db_url)
    try:
        (ana,) = again.list_subscribers()
        assert (ana.name, ana.topics) == ("Ana Red", ["Climate", "X"])
        (story,) = every_article(again)
        assert (story.title, story.keywords) == ("Bad title", ["Climate"])
    finally:
        again.close()
    assert _versions(db_url) == [SCHEMA_VERSION]


def test_an_older_ledger_is_upgraded_to_cheap_outcome_updates(db_url):
    """Version 6: recording a batch's outcome touches no index (PostgreSQL: HOT updates)."""
    first = Store(db_url)
    first.close()
    as_release(  # the ledger as releases before version 6 made it
        db_url,
        5,
        "DROP INDEX ix_ledger_batch",
        "CREATE INDEX ix_ledger_batch ON ledger (batch_id, status)",
        postgresql=("ALTER TABLE ledger RESET (fillfactor)",),
    )

    again = Store(db_url)
    try:
        (index,) = sa.inspect(again.engine).get_indexes("ledger")
        assert (index["name"], index["column_names"]) == ("ix_ledger_batch", ["batch_id"])
        if again.engine.dialect.name == "postgresql":
            assert _ledger_options(again) == ["fillfactor=40"]
    finally:
        again.close()
    assert _versions(db_url) == [SCHEMA_VERSION]


def _edition_checks(store: Store) -> list[dict]:
    return [
        key
        for key in sa.inspect(store.engine).get_foreign_keys("ledger")
        if key["referred_table"] == "editions"
    ]


def test_an_older_ledger_loses_its_per_row_check_of_the_edition(db_url):
    """Version 8: planning's one INSERT of every ledger row fires no trigger per row."""
    first = Store(db_url)
    assert _edition_checks(first) == []  # a new ledger has none
    first.close()
    as_release(  # the ledger as releases before version 8 made it
        db_url,
        7,
        postgresql=(
            "ALTER TABLE ledger ADD CONSTRAINT ledger_edition_id_fkey "
            "FOREIGN KEY (edition_id) REFERENCES editions (id)",
        ),
    )

    again = Store(db_url)
    try:
        assert _edition_checks(again) == []
    finally:
        again.close()
    assert _versions(db_url) == [SCHEMA_VERSION]


def _spellings(store: Store) -> list[tuple[str, str, int]]:
    return sorted(store.keyword_spellings())


def _two_sources_spell_energy(db_url: str) -> None:
    first = Store(db_url)
    first.save_articles(
        [
            article("Wind farm opens", ["Energy"], source="Wire", published=T0),
            article("Grid upgrade", ["energy", "Grid"], source="Paper", published=T0),
        ],
        now=T0,
    )
    first.close()


def test_an_older_database_gets_its_keyword_sources_from_its_articles(db_url):
    """Version 9: who spells each keyword how, for a database made before the table."""
    _two_sources_spell_energy(db_url)
    as_release(db_url, 8, "DROP TABLE keyword_sources")

    again = Store(db_url)
    try:
        assert _spellings(again) == [
            ("energy", "Energy", 1),
            ("energy", "energy", 1),
            ("grid", "Grid", 1),
        ]
    finally:
        again.close()
    assert _versions(db_url) == [SCHEMA_VERSION]


def test_the_upgrade_keeps_the_keyword_sources_a_version_8_database_already_had(db_url):
    _two_sources_spell_energy(db_url)
    as_release(
        db_url,
        8,
        "UPDATE keyword_sources SET spelling = 'ENERGY' WHERE source = 'Wire'",
        "DELETE FROM keyword_sources WHERE key = 'grid'",
    )

    again = Store(db_url)
    try:  # the row it had as it was, the row it lacked from the articles
        assert _spellings(again) == [
            ("energy", "ENERGY", 1),
            ("energy", "energy", 1),
            ("grid", "Grid", 1),
        ]
    finally:
        again.close()


def test_a_database_at_version_9_is_not_scanned_for_keyword_sources_again(db_url):
    _two_sources_spell_energy(db_url)
    as_release(db_url, 8, "DROP TABLE keyword_sources")
    Store(db_url).close()  # upgraded: the table filled once
    engine = sa.create_engine(normalise_url(db_url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM keyword_sources WHERE key = 'grid'")
    finally:
        engine.dispose()

    again = Store(db_url)
    try:
        assert ("grid", "Grid", 1) not in _spellings(again)
    finally:
        again.close()


def test_a_new_postgres_ledger_leaves_room_in_its_pages(pg_schema_url):
    store = Store(pg_schema_url())
    try:
        assert _ledger_options(store) == ["fillfactor=40"]
    finally:
        store.close()
