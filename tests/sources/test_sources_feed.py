"""Two feed readers, one result; and each entry known by what it says it is.

Well-formed RSS 2.0 and Atom 1.0 are read by lxml (``feed_xml``), the rest by
feedparser. Whichever reads a feed, the articles must be the same: checked on
every feed of the corpus and on generated feeds full of the usual trouble (HTML
in titles, entities, relative links, odd dates, permalink guids, categories).
Where the two disagree it is feedparser that is wrong (an ``xml:base`` leaking
from one entry into the next), and that case has its own test.
"""

from __future__ import annotations

from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA, every_article
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standins.feed_server import FeedStandIn

from digest.models import Source
from digest.sources import feed, feed_xml, ingest, read

UTC_ZONE = ZoneInfo("UTC")
FEEDS = DATA / "feeds"
CORPUS = sorted(p for p in FEEDS.iterdir() if p.suffix in {".rss", ".atom", ".xml"})


def by_feedparser(data: bytes, where: str = "f", base: str | None = None):
    real = feed_xml.read

    def refuse(*args, **kwargs):
        raise feed_xml.NotSimple("this test reads with feedparser")

    feed_xml.read = refuse
    try:
        return feed.parse(data, where, base_url=base)
    finally:
        feed_xml.read = real


def fields(result) -> list[tuple]:
    return [
        (a.title, a.url, a.guid, a.summary, a.body, a.source, a.published, a.keywords)
        for a in result.articles
    ]


def same_either_way(data: bytes, base: str | None = None) -> None:
    fast, slow = feed.parse(data, "f", base_url=base), by_feedparser(data, "f", base)
    assert fields(fast) == fields(slow)
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]
    assert [str(w) for w in fast.warnings] == [str(w) for w in slow.warnings]


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_every_corpus_feed_reads_the_same_with_either_reader(path):
    data = path.read_bytes()
    try:
        feed_xml.read(data)
    except feed_xml.NotSimple:
        assert path.name == "gmane-feed.rss"  # RSS 1.0 (RDF): feedparser's alone
        return
    same_either_way(data)
    same_either_way(data, "https://feeds.example.org/feed.xml")


# -- generated feeds ------------------------------------------------------------------

PIECES = [*"ab &é中\n\t", "&amp;", "<b>", "</b>", "<p>", "</p>", "&#8217;", "&lt;", "&gt;"]
PIECES += ["http://x.org/", "a/b", "#f", "<br/>", "&quot;"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
DATES = st.sampled_from(
    [
        "",
        "Tue, 24 Nov 2026 10:00:00 GMT",
        "Tue, 24 Nov 2026 10:00:00 +0530",
        "2026-11-24T10:00:00Z",
        "2026-11-24",
        "24 Nov 2026",
        "Mon, 31 Feb 2026 10:00:00 GMT",
        "10000-01-01T00:00:00Z",
        "garbage",
    ]
)
LINKS = st.sampled_from(
    [
        "https://news.example.org/a",
        "/rel/1",
        "rel/2",
        "javascript:alert(1)",
        "HTTP://EXAMPLE.ORG/x?utm_source=a",
        "mailto:a@b.org",
        " https://x.org/sp ace",
    ]
)
GUIDS = st.sampled_from(["post-1", "https://x.org/p/2", "urn:a:1", ""])
BASES = st.sampled_from([None, "https://fetched.example.org/feed.xml"])


@st.composite
def rss(draw) -> bytes:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        parts = []
        if draw(st.booleans()):
            parts.append(f"<title>{escape(draw(TEXT))}</title>")
        if draw(st.booleans()):
            parts.append(f"<link>{escape(draw(LINKS))}</link>")
        if draw(st.booleans()):
            perma = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
            parts.append(f"<guid{perma}>{escape(draw(GUIDS))}</guid>")
        if draw(st.booleans()):
            parts.append(f"<description>{escape(draw(TEXT))}</description>")
        if draw(st.booleans()):
            parts.append(f"<content:encoded>{escape(draw(TEXT))}</content:encoded>")
        for tag in ("pubDate", "dc:date"):
            if when := draw(DATES):
                parts.append(f"<{tag}>{when}</{tag}>")
        for term in draw(st.lists(TEXT, max_size=2)):
            parts.append(f"<category>{escape(term)}</category>")
        if draw(st.booleans()):
            parts.append(f"<dc:subject>{escape(draw(TEXT))}</dc:subject>")
        items.append("<item>" + "".join(draw(st.permutations(parts))) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{escape(draw(TEXT))}</title><link>{escape(draw(LINKS))}</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


XHTML = (
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
    "<p>Hi <b>there</b> &amp; you</p></div></content>"
)


@st.composite
def atom(draw) -> bytes:
    entries = []
    kinds = st.sampled_from(["", ' type="text"', ' type="html"'])
    for _ in range(draw(st.integers(1, 3))):
        parts = []
        if draw(st.booleans()):
            parts.append(f"<title{draw(kinds)}>{escape(draw(TEXT))}</title>")
        if draw(st.booleans()):
            rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="self"', ' rel="enclosure"']))
            parts.append(f'<link{rel} href="{escape(draw(LINKS))}"/>')
        if draw(st.booleans()):
            parts.append(f"<id>{escape(draw(GUIDS))}</id>")
        if draw(st.booleans()):
            parts.append(f"<summary{draw(kinds)}>{escape(draw(TEXT))}</summary>")
        content = draw(st.sampled_from(["", "text", "xhtml"]))
        if content == "text":
            parts.append(f"<content{draw(kinds)}>{escape(draw(TEXT))}</content>")
        elif content == "xhtml":
            parts.append(XHTML)
        for tag in ("published", "updated"):
            if when := draw(DATES):
                parts.append(f"<{tag}>{when}</{tag}>")
        for term in draw(st.lists(TEXT, max_size=2)):
            parts.append(f'<category term="{escape(term, {chr(34): "&quot;"})}"/>')
        entries.append("<entry>" + "".join(draw(st.permutations(parts))) + "</entry>")
    base = draw(st.sampled_from(["", ' xml:base="http://feed.example.org/"']))
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{base}>'
        f'<title>{escape(draw(TEXT))}</title><link href="{escape(draw(LINKS))}"/>'
        + "".join(entries)
        + "</feed>"
    ).encode()


QUICK = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@QUICK
@given(data=rss(), base=BASES)
def test_generated_rss_reads_the_same_with_either_reader(data, base):
    same_either_way(data, base)


@QUICK
@given(data=atom(), base=BASES)
def test_generated_atom_reads_the_same_with_either_reader(data, base):
    same_either_way(data, base)


def test_an_entrys_xml_base_stays_with_that_entry():
    data = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        b'<link href="https://news.example.org/"/>'
        b'<entry xml:base="http://elsewhere.example.org/dir/"><title>One</title><id>1</id>'
        b'<link href="one"/></entry>'
        b'<entry><title>Two</title><id>2</id><link href="/two"/>' + XHTML.encode() + b"</entry>"
        b"</feed>"
    )
    one, two = feed.parse(data, "f").articles
    assert one.url == "http://elsewhere.example.org/dir/one"
    assert two.url == "https://news.example.org/two"  # feedparser: http://elsewhere…/two


def test_a_feed_that_is_not_simple_goes_to_feedparser():
    rdf = (FEEDS / "gmane-feed.rss").read_bytes()
    with pytest.raises(feed_xml.NotSimple):
        feed_xml.read(rdf)
    assert feed.parse(rdf, "gmane").articles  # read all the same
    doctype = b'<!DOCTYPE rss [<!ENTITY e "x">]><rss version="2.0"><channel></channel></rss>'
    with pytest.raises(feed_xml.NotSimple):
        feed_xml.read(doctype)


# -- identity ------------------------------------------------------------------------

PLAIN_GUIDS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Plain guids</title>'
    b"<link>https://plain.example.org/</link>"
    b"<item><title>First plain story</title><guid>post-123</guid></item>"
    b"<item><title>Second plain story</title><guid>post-124</guid></item>"
    b"</channel></rss>"
)


@pytest.mark.parametrize("reader", ["lxml", "feedparser"])
def test_a_plain_guid_is_kept_as_given_and_is_no_link(reader):
    parse = feed.parse if reader == "lxml" else by_feedparser
    first, _ = parse(PLAIN_GUIDS, "f", "http://127.0.0.1:8000/feed.xml").articles
    assert (first.guid, first.url) == ("post-123", None)


def test_the_same_feed_from_three_addresses_keeps_its_guids_as_given(sqlite_store, tmp_path):
    with FeedStandIn() as server:
        server.feeds["plain.xml"] = PLAIN_GUIDS
        local = tmp_path / "plain.xml"
        local.write_bytes(PLAIN_GUIDS)
        port = server.url.rsplit(":", 1)[1]
        targets = [
            f"{server.url}/feed/plain.xml",
            f"http://localhost:{port}/feed/plain.xml",
            str(local),
        ]
        report = ingest(sqlite_store, targets, UTC_ZONE, timeout=5)
    assert report.failed == 0
    # Three addresses are three feeds to the store (an entry is scoped to its feed's
    # address, issue 23), and none resolved the guids against its address.
    assert (report.new, report.skipped) == (6, 0)
    assert (
        sorted(a.guid for a in every_article(sqlite_store)) == ["post-123"] * 3 + ["post-124"] * 3
    )


def numbered(title: str, *names: str) -> bytes:
    items = "".join(f"<item><title>{n}</title><guid>{i}</guid></item>" for i, n in enumerate(names))
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}'
        "</channel></rss>"
    ).encode()


def test_two_feeds_numbering_their_entries_alike_do_not_overwrite_each_other(
    sqlite_store, tmp_path
):
    (tmp_path / "a.xml").write_bytes(numbered("Harbour Gazette", "Ferry returns", "Pier closes"))
    (tmp_path / "b.xml").write_bytes(numbered("Valley Times", "Mill reopens", "Bridge repaired"))
    report = ingest(sqlite_store, [str(tmp_path / "a.xml"), str(tmp_path / "b.xml")], UTC_ZONE)
    assert report.new == 4
    assert len(every_article(sqlite_store)) == 4


def test_entries_with_no_link_and_no_guid_are_stored_once(sqlite_store, tmp_path):
    data = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Notices</title>'
        b"<item><title>Water off on Tuesday</title><description>Main road.</description></item>"
        b"<item><description>Library closed for stocktaking this week.</description></item>"
        b"</channel></rss>"
    )
    path = tmp_path / "notices.xml"
    path.write_bytes(data)
    first = ingest(sqlite_store, [str(path)], UTC_ZONE)
    assert (first.new, first.failed) == (2, 0)
    path.write_bytes(data + b"\n")  # read again (not skipped by its hash): still two
    again = ingest(sqlite_store, [str(path)], UTC_ZONE)
    assert (again.new, again.skipped) == (0, 2)


def test_an_unchanged_local_feed_is_skipped_unread_and_a_changed_one_read(
    sqlite_store, tmp_path, monkeypatch
):
    path = tmp_path / "plain.xml"
    path.write_bytes(PLAIN_GUIDS)
    assert ingest(sqlite_store, [str(path)], UTC_ZONE).new == 2
    parsed = []
    real = feed.parse
    monkeypatch.setattr(
        "digest.sources.files.feed.parse", lambda *a, **k: parsed.append(1) or real(*a, **k)
    )
    again = ingest(sqlite_store, [str(path)], UTC_ZONE)
    assert (again.new, again.skipped, parsed) == (0, 2, [])
    renamed = ingest(sqlite_store, [Source(str(path), name="Renamed")], UTC_ZONE)
    # Other options: read again; the same address, so the same stories, renamed.
    assert (renamed.new, renamed.updated, parsed) == (0, 2, [1])
    path.write_bytes(PLAIN_GUIDS.replace(b"Second plain", b"Second, edited,"))
    edited = ingest(sqlite_store, [str(path)], UTC_ZONE)
    # Both named by the feed's title again, and one edited.
    assert (edited.updated, edited.skipped, len(parsed)) == (2, 0, 2)
    assert [a.title for a in every_article(sqlite_store)].count("Second, edited, story") == 1


# -- every feed of the corpus, over HTTP ----------------------------------------------


def test_every_corpus_feed_served_over_http_ingests(sqlite_store):
    with FeedStandIn() as server:
        urls = [f"{server.url}/gzip/{p.name}" for p in CORPUS]
        report = ingest(sqlite_store, urls, UTC_ZONE, timeout=10)
    assert report.errors == []
    sources = {a.source for a in every_article(sqlite_store)}
    assert len(sources) == len(CORPUS) - 2  # the three nodejs snapshots are one feed
    assert report.new == len(every_article(sqlite_store)) > 60


def test_a_local_html_page_is_named_as_one(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text("<!DOCTYPE html>\n<html><body><p>Our feed moved.</p></body></html>\n")
    assert [e.reason for e in read(str(path), UTC_ZONE).errors] == ["not a feed: an HTML page"]
