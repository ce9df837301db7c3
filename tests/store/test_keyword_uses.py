"""On how many of its articles each source uses each keyword (schema version 10).

The count decides whether one newsroom's own keyword is vocabulary
(``editions.contents.USED_ON``), so it must stay what counting the stored
articles would give: through re-ingests, edits, and an upgrade from version 9.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from conftest import article, as_release, subscriber

from digest.store.schema import SCHEMA_VERSION, keyword_sources, schema_version
from digest.store.store import Store, normalise_url

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def uses(store: Store) -> dict[tuple[str, str], int]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(keyword_sources.c.key, keyword_sources.c.source, keyword_sources.c.uses)
        )
        return {(key, source): n for key, source, n in rows if n}


def observer(n: int, keywords: list[str], **extra):
    return article(f"Observer {n}", keywords, source="Observer", published=T0, **extra)


def test_each_article_counts_once_and_a_reingest_counts_nothing(store):
    store.save_articles([observer(1, ["Syria", "syria"]), observer(2, ["Syria", "Aleppo"])])
    store.save_articles([article("Wire story", ["Syria"], source="Wire", published=T0)])
    store.save_articles([observer(1, ["Syria", "syria"]), observer(2, ["Syria", "Aleppo"])])
    assert uses(store) == {
        ("syria", "Observer"): 2,
        ("aleppo", "Observer"): 1,
        ("syria", "Wire"): 1,
    }
    assert sorted(store.keywords_used_on(2)) == ["syria"]


def test_an_edit_that_drops_a_keyword_counts_down_and_one_that_adds_it_up(store):
    store.save_articles([observer(n, ["Syria", "Aleppo"]) for n in range(3)])
    assert sorted(store.keywords_used_on(3)) == ["aleppo", "syria"]

    store.save_articles([observer(0, ["Syria"]), observer(1, [])])  # tags retracted
    assert uses(store) == {("syria", "Observer"): 2, ("aleppo", "Observer"): 1}
    assert store.keywords_used_on(3) == []

    store.save_articles([observer(1, ["Syria", "Idlib"])])  # and given back
    assert uses(store) == {
        ("syria", "Observer"): 3,
        ("aleppo", "Observer"): 1,
        ("idlib", "Observer"): 1,
    }


def test_an_article_edited_twice_in_one_batch_counts_its_last_keywords(store):
    store.save_articles([observer(1, ["Syria"], guid="g1")])
    store.save_articles(
        [
            observer(1, ["Aleppo"], guid="g1", summary="first edit"),
            observer(1, ["Aleppo", "Idlib"], guid="g1", summary="second edit"),
            observer(2, ["Idlib"], guid="g2"),
        ]
    )
    assert uses(store) == {("aleppo", "Observer"): 1, ("idlib", "Observer"): 2}


def test_the_upgrade_counts_the_uses_of_a_version_9_database(db_url):
    first = Store(db_url)
    first.save_articles(
        [observer(n, ["Syria"]) for n in range(3)]
        + [observer(9, ["Aleppo", "ALEPPO"]), article("Wire", ["Syria"], source="Wire")],
        now=T0,
    )
    first.close()
    as_release(db_url, 9, "ALTER TABLE keyword_sources DROP COLUMN uses")

    again = Store(db_url)
    try:
        assert uses(again) == {
            ("syria", "Observer"): 3,
            ("aleppo", "Observer"): 1,
            ("syria", "Wire"): 1,
        }
        assert again.keywords_used_on(3) == ["syria"]
    finally:
        again.close()
    assert _version(db_url) == SCHEMA_VERSION


def test_the_upgrade_from_before_keyword_sources_counts_too(db_url):
    first = Store(db_url)
    first.save_articles([observer(n, ["Syria"]) for n in range(3)], now=T0)
    first.close()
    as_release(db_url, 8, "DROP TABLE keyword_sources")

    again = Store(db_url)
    try:
        assert uses(again) == {("syria", "Observer"): 3}
    finally:
        again.close()


def test_subscriber_topics_are_counted_per_spelling_of_active_subscribers(store):
    store.save_subscribers(
        [
            subscriber("a@example.com", ["Aleppo", "Quantum"]),
            subscriber("b@example.com", ["Aleppo", "Quantum"]),
            subscriber("c@example.com", ["quantum", "bake sale"]),
            subscriber("d@example.com", ["Left"]),
            subscriber("e@example.com"),
        ]
    )
    store.unsubscribe("d@example.com")
    assert store.subscriber_topics() == {"Aleppo": 2, "Quantum": 2, "quantum": 1, "bake sale": 1}


def _version(db_url: str) -> int:
    engine = sa.create_engine(normalise_url(db_url))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(schema_version.c.version)).scalar()
    finally:
        engine.dispose()
