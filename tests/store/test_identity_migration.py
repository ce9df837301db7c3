"""Schema version 13: articles stored under the feed's title keep their stories.

Up to version 12 an entry's identity was scoped to its feed's title (the key
``"News\\x1f1"``); from 13 to the feed's address. A database from before is
upgraded with its rows as they were, and the first read of each feed takes its
rows over: an unchanged feed adds nothing, and two feeds that shared a title get
back the story one of them lost. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import as_release, every_article

from digest.sources import feed, ingest
from digest.store.schema import SCHEMA_VERSION, articles, schema_version
from digest.store.store import Store, normalise_url

ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
LONG_GUID = "字" * 600  # 1,800 bytes: its version-12 key was a SHA-256


def rss(title: str, *entries: tuple[str, str]) -> bytes:
    items = "".join(
        f"<item><title>{headline}</title><guid isPermaLink='false'>{guid}</guid>"
        "<pubDate>Tue, 24 Nov 2026 05:00:00 GMT</pubDate></item>"
        for guid, headline in entries
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://example.org/</link>{items}</channel></rss>"
    ).encode()


CITY = rss(
    "News",
    ("1", "Harbour reopens after storm"),
    ("2", "Council votes on tram line"),
    (LONG_GUID, "Night market returns"),
)
SCHOOL = rss("News", ("1", "Term starts on Monday"), ("2", "New head teacher named"))


def version_12(db_url: str, *feeds: Path) -> None:
    """The database digest 12 left after ingesting ``feeds`` in turn: its rows keyed by
    the feed's title (an article without an address is keyed so still), no scope."""
    old = Store(db_url)
    try:
        for path in feeds:
            parsed = feed.parse(path.read_bytes(), str(path))  # no address: the title
            old.save_articles(parsed.articles, now=T0)
    finally:
        old.close()
    as_release(
        db_url,
        12,
        "DROP INDEX ix_articles_unscoped",
        "ALTER TABLE articles DROP COLUMN scope",
    )


def rows(store: Store) -> list[sa.Row]:
    with store.engine.connect() as conn:
        query = sa.select(articles.c.guid, articles.c.scope, articles.c.title)
        return conn.execute(query.order_by(articles.c.id)).all()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_unchanged_feed_read_after_the_upgrade_adds_nothing(db_url, tmp_path):
    city = write(tmp_path / "city.xml", CITY)
    version_12(db_url, city)

    store = Store(db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
        before = rows(store)
        assert [r.scope for r in before] == [None, None, None]
        assert [r.guid[:9] for r in before] == [
            "News\x1f1",
            "News\x1f2",
            "sha256:" + before[2].guid[7:9],
        ]
        first_seen = {a.title: a.first_seen for a in every_article(store)}

        report = ingest(store, [str(city)], ZONE, now=T1)

        assert (report.new, report.updated, report.skipped, report.errors) == (0, 0, 3, [])
        assert {a.title: a.first_seen for a in every_article(store)} == first_seen
        after = rows(store)
        assert {r.scope for r in after} == {str(city)}  # taken over, each of them
        assert all("\x1e" in r.guid or r.guid.startswith("sha256:") for r in after)
        assert {a.guid for a in every_article(store)} >= {"1", "2"}

        write(city, CITY + b"\n")  # read again, now by the new keys alone
        again = ingest(store, [str(city)], ZONE, now=T2)
        assert (again.new, again.updated, again.skipped) == (0, 0, 3)
        assert len(rows(store)) == 3
    finally:
        store.close()


@pytest.mark.parametrize("last", ["school", "city"])
def test_two_feeds_that_shared_a_title_get_the_lost_story_back(db_url, tmp_path, last):
    city = write(tmp_path / "city.xml", CITY)
    school = write(tmp_path / "school.xml", SCHOOL)
    # The one read last overwrote the other's 1 and 2.
    version_12(db_url, *((city, school) if last == "school" else (school, city)))

    store = Store(db_url)
    try:
        assert len(rows(store)) == 3
        report = ingest(store, [str(city), str(school)], ZONE, now=T1)

        # The city, read first, takes the rows over (updated if they held the
        # school's words, else the same, and taken over all the same); the school's
        # stories come back as new, one row each, and overwrite nothing.
        assert (report.new, report.updated, report.errors) == (2, 2 if last == "school" else 0, [])
        assert {a.title for a in every_article(store)} == {
            "Harbour reopens after storm",
            "Council votes on tram line",
            "Night market returns",
            "Term starts on Monday",
            "New head teacher named",
        }
        assert {r.scope for r in rows(store)} == {str(city), str(school)}

        write(city, CITY + b"\n")
        write(school, SCHOOL + b"\n")
        again = ingest(store, [str(school), str(city)], ZONE, now=T2)
        assert (again.new, again.updated, again.skipped) == (0, 0, 5)
    finally:
        store.close()


def test_an_article_file_keeps_its_key_through_the_upgrade(db_url, tmp_path):
    """Article files have no address: their key is what it was, found directly."""
    page = tmp_path / "page.md"
    page.write_text("---\ntitle: Library extends its hours\nsource: City Desk\n---\nText.\n")
    old = Store(db_url)
    try:
        ingest(old, [str(page)], ZONE, now=T0)
    finally:
        old.close()
    as_release(
        db_url, 12, "DROP INDEX ix_articles_unscoped", "ALTER TABLE articles DROP COLUMN scope"
    )

    store = Store(db_url)
    try:
        page.write_text(page.read_text() + "\n")
        report = ingest(store, [str(page)], ZONE, now=T1)
        assert (report.new, report.updated, report.skipped) == (0, 0, 1)
        assert [r.scope for r in rows(store)] == [None]  # nothing to take over
    finally:
        store.close()


def test_two_ingests_at_once_never_both_take_a_row_over(pg_schema_url, tmp_path):
    """PostgreSQL, where two ingests write at once: one that finds a row from before
    version 13 while another takes it over waits, then sees it taken."""
    url = pg_schema_url()
    city = write(tmp_path / "city.xml", CITY)
    school = write(tmp_path / "school.xml", SCHOOL)
    version_12(url, school, city)  # the rows hold the city's 1 and 2
    name = f"digest-test-{tmp_path.name}"[:60]  # to tell its backend from other tests'
    store = Store(f"{url}&application_name={name}")
    other = sa.create_engine(normalise_url(url))
    done: list = []
    try:
        with other.connect() as conn:
            transaction = conn.begin()
            # Another ingest taking the rows over, not yet committed.
            conn.execute(
                articles.update()
                .where(articles.c.scope.is_(None))
                .values(scope="elsewhere", guid=articles.c.guid + "\x1etaken")
            )
            reader = threading.Thread(
                target=lambda: done.append(ingest(store, [str(school)], ZONE, now=T1))
            )
            reader.start()
            deadline = time.monotonic() + 30
            while not _waiting_for_a_lock(conn, name) and reader.is_alive():
                assert time.monotonic() < deadline, "the second ingest never met the lock"
                time.sleep(0.02)
            transaction.commit()
        reader.join(30)
        assert (done[0].new, done[0].updated, done[0].errors) == (2, 0, [])
        assert [r.scope for r in rows(store)].count("elsewhere") == 3  # still the other's
    finally:
        store.close()
        other.dispose()


def _waiting_for_a_lock(conn: sa.Connection, name: str) -> bool:
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND application_name = :name"
    )
    return bool(conn.execute(query, {"name": name}).scalar())
