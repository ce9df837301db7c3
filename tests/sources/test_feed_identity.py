"""One feed never overwrites another: an entry's identity is scoped to its feed's address.

Issue 23: identity was scoped to the feed's *title*, so two feeds both titled "News"
that both number their entries 1, 2, 3 were one feed to the store ("1 new, 1
updated", one story lost), and a feed that renamed itself came back all new.
Through the real ingest path: feed files, a folder of feeds, and the loopback feed
server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from conftest import every_article
from hypothesis import given, settings
from hypothesis import strategies as st
from standins.feed_server import FeedStandIn

from digest.models import Article, Source
from digest.sources import feed, ingest
from digest.sources.identity import scope_of
from digest.store.article_writer import legacy_key, store_key

ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def rss(title: str, *entries: tuple[str, str], links: bool = False) -> bytes:
    """An RSS feed called ``title`` of (guid, headline) entries, with links if asked."""
    items = "".join(
        f"<item><title>{escape(headline)}</title><guid isPermaLink='false'>{escape(guid)}</guid>"
        + (f"<link>https://example.org/{headline.split()[0].lower()}</link>" if links else "")
        + "<pubDate>Tue, 24 Nov 2026 05:00:00 GMT</pubDate></item>"
        for guid, headline in entries
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>https://example.org/</link>{items}</channel></rss>"
    ).encode()


CITY = rss("News", ("1", "Harbour reopens after storm"), ("2", "Council votes on tram line"))
SCHOOL = rss("News", ("1", "Term starts on Monday"), ("2", "New head teacher named"))
HEADLINES = {
    "Harbour reopens after storm",
    "Council votes on tram line",
    "Term starts on Monday",
    "New head teacher named",
}


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def headlines(store) -> set[str]:
    return {a.title for a in every_article(store)}


# -- two feeds titled "News", both numbering their entries 1, 2 ----------------------


@pytest.mark.parametrize("links", [False, True], ids=["no links", "links"])
def test_two_feed_files_titled_news_with_the_same_guids_keep_all_their_stories(
    store, tmp_path, links
):
    city = write(tmp_path / "city.xml", rss("News", *_entries(CITY), links=links))
    school = write(tmp_path / "school.xml", rss("News", *_entries(SCHOOL), links=links))

    report = ingest(store, [str(city), str(school)], ZONE, now=T0)

    assert (report.new, report.updated, report.errors) == (4, 0, [])
    assert headlines(store) == HEADLINES
    again = ingest(store, [Source(str(city)), Source(str(school))], ZONE, now=T1)
    assert (again.new, again.updated) == (0, 0)  # files unchanged: not even read
    write(city, rss("News", *_entries(CITY), ("3", "Ferry timetable changes"), links=links))
    third = ingest(store, [str(city), str(school)], ZONE, now=T1)
    assert (third.new, third.updated) == (1, 0)
    assert len(every_article(store)) == 5


def test_two_feeds_titled_news_in_one_folder_keep_all_their_stories(store, tmp_path):
    write(tmp_path / "feeds" / "city.xml", CITY)
    write(tmp_path / "feeds" / "school.xml", SCHOOL)

    report = ingest(store, [str(tmp_path / "feeds")], ZONE, now=T0)

    assert (report.new, report.updated, report.errors) == (4, 0, [])
    assert headlines(store) == HEADLINES


def test_two_served_feeds_titled_news_with_the_same_guids_keep_all_their_stories(store):
    with FeedStandIn() as server:
        server.feeds["city.xml"] = CITY
        server.feeds["school.xml"] = SCHOOL
        urls = [f"{server.url}/feed/city.xml", f"{server.url}/feed/school.xml"]

        report = ingest(store, urls, ZONE, now=T0)
        assert (report.new, report.updated, report.errors) == (4, 0, [])
        assert headlines(store) == HEADLINES

        server.feeds["school.xml"] = SCHOOL + b"\n"  # a new ETag: read and compared again
        again = ingest(store, urls, ZONE, now=T1)
    assert (again.new, again.updated, again.skipped) == (0, 0, 4)


# -- what stays the same feed ----------------------------------------------------------


def test_a_feed_that_renames_itself_keeps_its_stories(store, tmp_path):
    path = write(tmp_path / "city.xml", CITY)
    ingest(store, [str(path)], ZONE, now=T0)
    first_seen = {a.title: a.first_seen for a in every_article(store)}

    write(path, rss("The City Daily", *_entries(CITY)))
    report = ingest(store, [str(path)], ZONE, now=T1)

    assert (report.new, report.updated) == (0, 2)
    stored = every_article(store)
    assert {a.source for a in stored} == {"The City Daily"}
    assert {a.title: a.first_seen for a in stored} == first_seen  # not in a new edition


def test_a_source_the_operator_renames_keeps_its_stories(store, tmp_path):
    path = str(write(tmp_path / "city.xml", CITY))
    ingest(store, [Source(path, name="City")], ZONE, now=T0)

    report = ingest(store, [Source(path, name="City Council News")], ZONE, now=T1)

    assert (report.new, report.updated) == (0, 2)
    assert {a.source for a in every_article(store)} == {"City Council News"}


def test_a_feed_that_moved_for_good_keeps_its_stories(store):
    with FeedStandIn() as server:
        server.feeds["city.xml"] = CITY
        configured = f"{server.url}/301/city.xml"  # answers 301 to /feed/city.xml
        first = ingest(store, [configured], ZONE, now=T0)
        assert first.new == 2
        server.feeds["city.xml"] = CITY + b"\n"  # changed: read and compared again
        # Fetched from where it moved: still the address as configured.
        again = ingest(store, [configured], ZONE, now=T1)
        assert server.asked("/feed/city.xml") and len(server.asked("/301/city.xml")) == 1
    assert (again.new, again.updated, again.skipped) == (0, 0, 2)


def test_the_scheme_case_port_and_password_of_an_address_do_not_make_another_feed():
    same = {
        scope_of("http://News.Example.org/feed.xml"),
        scope_of("https://news.example.org/feed.xml"),
        scope_of("https://news.example.org:443/feed.xml#top"),
        scope_of("HTTPS://news.example.org/feed.xml?utm_source=mail"),
    }
    assert same == {"https://news.example.org/feed.xml"}
    with_password = scope_of("https://reader:s3cret@news.example.org/feed.xml")
    assert "s3cret" not in with_password
    assert with_password == scope_of("https://reader:other@news.example.org/feed.xml")
    assert scope_of("https://news.example.org/other.xml") not in same


def test_a_feed_file_named_in_bytes_that_are_not_utf8_is_stored_on_both_databases(store, tmp_path):
    folder = tmp_path / "feeds"
    folder.mkdir()
    path = Path(bytes(folder).decode() + "/" + b"caf\xe9.xml".decode("utf-8", "surrogateescape"))
    path.write_bytes(CITY)

    report = ingest(store, [str(folder)], ZONE, now=T0)

    assert (report.new, report.errors) == (2, [])
    assert (ingest(store, [str(folder)], ZONE, now=T1).new) == 0


# -- property: titles and ids of any spelling ---------------------------------------------

# What XML 1.0 can carry (no C0 controls but tab and newlines, no surrogates).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
).filter(str.strip)


def _parsed(title: str, guid: str, address: str) -> Article:
    result = feed.parse(rss(title, (guid, "A headline")), address, address=address)
    assert len(result.articles) == 1, result.errors
    return result.articles[0]


@settings(max_examples=200, deadline=None)
@given(title=TEXT, other_title=TEXT, guid=TEXT)
def test_an_entry_is_known_by_its_feed_address_whatever_the_titles(title, other_title, guid):
    city = _parsed(title, guid, "https://city.example.org/feed.xml")
    school = _parsed(title, guid, "https://school.example.org/feed.xml")
    renamed = _parsed(other_title, guid, "http://CITY.example.org/feed.xml")
    assert store_key(city) != store_key(school)  # same title, same guid: two feeds
    assert store_key(city) == store_key(renamed)  # renamed, and moved to https
    # The key schema version 12 gave it: what the upgrade finds the stored row by.
    old = f"{city.source}\x1f{city.guid}"
    assert legacy_key(city) in (old, "sha256:" + hashlib.sha256(old.encode()).hexdigest())


@settings(max_examples=200, deadline=None)
@given(source=TEXT, guid=TEXT, scope=TEXT, other_guid=TEXT)
def test_a_scoped_key_never_meets_a_key_from_before(source, guid, scope, other_guid):
    """A row from schema version 12 can only be found by its old key, never by chance."""
    from digest.validate import clean_line

    old = Article(guid=clean_line(other_guid) or "x", title="t", source=clean_line(source))
    new = Article(guid=clean_line(guid) or "x", title="t", source=old.source, scope=scope)
    assert store_key(new) != store_key(old)
    assert store_key(old) == legacy_key(old)


def _entries(data: bytes) -> list[tuple[str, str]]:
    parsed = feed.parse(data, "x.xml")
    return [(a.guid, a.title) for a in parsed.articles]
