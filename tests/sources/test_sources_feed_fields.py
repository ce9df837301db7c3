"""What feedparser's corpus says a field holds, stored the same by either feed reader.

Each feed (tests/data/feeds/feedparser/, from feedparser's own tests) is ingested
twice through the real path: as given, which the fast lxml reader reads where it
is sure of the feed, and with a DOCTYPE added, which that reader never reads (an
assertion checks it), so feedparser does. No code of ours is replaced.
"""

from __future__ import annotations

import base64
import re
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA, every_article
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.sources import feed, feed_xml, ingest

UTC_ZONE = ZoneInfo("UTC")
CORPUS = DATA / "feeds" / "feedparser"
READERS = ["as given", "by feedparser"]
_ROOT = re.compile(rb"<(?:rss|feed)\b")


def for_feedparser(data: bytes) -> bytes:
    """The same feed with a DOCTYPE: the fast reader hands any such feed to feedparser."""
    root = _ROOT.search(data).start()
    changed = data[:root] + b"<!DOCTYPE feed>\n" + data[root:]
    with pytest.raises(feed_xml.NotSimple):
        feed_xml.read(changed)
    return changed


def as_read(data: bytes, reader: str) -> bytes:
    return data if reader == "as given" else for_feedparser(data)


def stored(store, tmp_path, name: str, reader: str, fast: bool = True):
    """The report and the articles of one corpus feed ingested into ``store``.

    ``fast``: the fast reader reads this feed as given (checked, so that the two
    runs really are the two readers).
    """
    data = (CORPUS / name).read_bytes()
    if reader == "as given" and fast:
        feed_xml.read(data)  # raises NotSimple if it would go to feedparser after all
    path = tmp_path / name
    path.write_bytes(as_read(data, reader))
    report = ingest(store, [str(path)], UTC_ZONE)
    return report, sorted(every_article(store), key=lambda a: a.title)


# -- Atom text is text ---------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_an_atom_text_title_keeps_its_words_in_angle_brackets(store, tmp_path, reader):
    report, [entry] = stored(store, tmp_path, "atom10-entry_title_text_plain_brackets.xml", reader)
    assert report.failed == 0
    assert entry.title == "History of the <blink> tag"


@pytest.mark.parametrize("reader", READERS)
def test_an_atom_text_content_keeps_its_words_in_angle_brackets(store, tmp_path, reader):
    name = "atom10-entry_content_text_plain_brackets.xml"
    _, [entry] = stored(store, tmp_path, name, reader)
    assert (entry.title, entry.summary, entry.body) == ("History of the <blink> tag",) * 3


def test_an_atom_0_3_text_plain_title_keeps_its_words_in_angle_brackets(store, tmp_path):
    name = "atom-entry_title_text_plain_brackets.xml"
    _, [entry] = stored(store, tmp_path, name, "as given", fast=False)  # Atom 0.3: feedparser's
    assert entry.title == "History of the <blink> tag"


@pytest.mark.parametrize("reader", READERS)
def test_escaped_text_in_an_xhtml_div_is_text_not_a_tag(store, tmp_path, reader):
    _, [entry] = stored(store, tmp_path, "atom10-entry_title_inline_markup_2.xml", reader)
    assert entry.title == "History of the <blink> tag"


# -- full text in <body>, <xhtml:body>, <fullitem> -------------------------------------


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("rss-item_xhtml_body.xml", "Example content"),
        ("base-http_item_body_base_docuri.xml", "click here"),
        ("rss-item_fullitem.xml", "Example content"),
    ],
)
def test_an_items_body_or_fullitem_is_its_text(store, tmp_path, reader, name, text):
    report, [entry] = stored(store, tmp_path, name, reader)
    assert (report.new, report.failed) == (1, 0)
    assert (entry.title, entry.body) == (text, text)


# -- base64 ---------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_base64_content_is_decoded_not_shown(store, tmp_path, reader):
    _, [entry] = stored(store, tmp_path, "atom10-entry_content_base64.xml", reader)
    assert (entry.title, entry.body) == ("Example Atom", "Example Atom")


@pytest.mark.parametrize("reader", READERS)
def test_a_base64_title_is_decoded_not_shown(store, tmp_path, reader):
    _, [entry] = stored(store, tmp_path, "atom10-entry_title_base64_2.xml", reader)
    assert entry.title == "History of the <blink> tag"


PNG = base64.encodebytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\xff\xfe").decode()


@pytest.mark.parametrize("reader", READERS)
def test_binary_base64_content_is_left_out_not_shown_as_base64(store, tmp_path, reader):
    data = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Pictures</title>'
        f'<entry><title>Harbour at dawn</title><content type="image/png">{PNG}</content>'
        "</entry></feed>"
    ).encode()
    (tmp_path / "pictures.xml").write_bytes(as_read(data, reader))
    report = ingest(store, [str(tmp_path / "pictures.xml")], UTC_ZONE)
    [entry] = every_article(store)
    assert (report.new, entry.title, entry.summary, entry.body) == (1, "Harbour at dawn", "", "")


# -- categories under other spellings of their namespace --------------------------------


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("name", "keywords"),
    [
        ("media-rss-item_media_category_multiple.xml", ["cat1", "cat2"]),
        ("itunes-itunes_item_category.xml", ["Technology"]),
    ],
)
def test_categories_under_an_old_namespace_spelling_are_kept(
    store, tmp_path, reader, name, keywords
):
    _, [entry] = stored(store, tmp_path, name, reader, fast=False)
    assert entry.keywords == keywords


# -- the page, not the enclosure ---------------------------------------------------------

ALTERNATE = "http://www.example.com/alternate"


@pytest.mark.parametrize("reader", READERS)
def test_an_atom_entrys_link_is_its_page_not_its_enclosure(store, tmp_path, reader):
    name = "atom10-entry_link_rel_enclosure_no_href.xml"
    report, entries = stored(store, tmp_path, name, reader)
    # Both entries link to the same page: one article (the enclosure made it two).
    assert (report.failed, [e.url for e in entries]) == (0, [ALTERNATE])


def test_an_atom_0_3_entrys_link_is_its_page_not_its_enclosure(store, tmp_path):
    name = "atom-entry_link_no_href_link_priority.xml"
    report, entries = stored(store, tmp_path, name, "as given", fast=False)  # feedparser's
    assert (report.failed, [e.url for e in entries]) == (0, [ALTERNATE])


# -- both readers, one result ------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_script_bodies_are_dropped_whichever_reader(store, tmp_path, reader):
    _, [entry] = stored(store, tmp_path, "sanitize-item_description_crazy.xml", reader)
    assert entry.body.startswith("Crazy HTML -- Can Your Regex Parse This?")
    assert "executeMe" not in entry.body and "Did The Javascript Execute?" in entry.body


def fields(result) -> tuple:
    articles = [
        (a.title, a.url, a.guid, a.summary, a.body, a.source, a.published, a.keywords)
        for a in result.articles
    ]
    return articles, [str(e) for e in result.errors], [str(w) for w in result.warnings]


def same_either_way(data: bytes, base: str | None = None) -> None:
    given = feed.parse(data, "f", base_url=base)
    assert fields(given) == fields(feed.parse(for_feedparser(data), "f", base_url=base))


FILES = sorted(p.name for p in CORPUS.glob("*.xml"))


@pytest.mark.parametrize("name", FILES)
def test_every_copied_corpus_feed_reads_the_same_either_way(name):
    data = (CORPUS / name).read_bytes()
    same_either_way(data)
    same_either_way(data, "https://feeds.example.org/feed.xml")


# -- generated feeds full of the above -----------------------------------------------------

PIECES = ["a", "b ", " ", "&", "é", "<b>", "</b>", "<blink>", "&lt;", "&amp;", "<p>", "</p>"]
PIECES += ["aaaa", "QUJD"]  # text that is itself base64 (of binary, of "ABC")
TEXT = st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join)
LINK = st.sampled_from(["https://news.example.org/a", "/b", "https://x.org/c.mp3", ""])
LINK |= st.sampled_from(["https://x.org/?a=1&b=2", "https://x.org/?a=1&amp;b"])


@st.composite
def construct(draw, name: str) -> str:
    """An Atom text construct of any type, base64 among them (text or not)."""
    kind = draw(st.sampled_from(["", "text", "html", "text/plain", "xhtml", "b64", "binary"]))
    text = draw(TEXT)
    if kind == "xhtml":
        inner = f"{escape(text)}<p>{escape(draw(TEXT))}</p>{escape(draw(TEXT))}"
        return (
            f'<{name} type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">{inner}</div></{name}>'
        )
    if kind in ("b64", "binary"):
        raw = text.encode() if kind == "b64" else b"\xff\xfe" + text.encode()
        encoded = base64.encodebytes(raw).decode()
        return f'<{name} type="application/octet-stream">{encoded}</{name}>'
    attribute = f' type="{kind}"' if kind else ""
    return f"<{name}{attribute}>{escape(text)}</{name}>"


@st.composite
def link(draw) -> str:
    rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="enclosure"', ' rel="self"']))
    kind = draw(st.sampled_from(["", ' type="text/html"', ' type="audio/mpeg"']))
    href = escape(draw(LINK), {'"': "&quot;"})
    if draw(st.booleans()):
        return f'<link{rel}{kind} href="{href}"/>'
    return f"<link{rel}{kind}>{href}</link>"  # Atom 0.3 style: in the text


@st.composite
def atom(draw) -> bytes:
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        parts = [draw(construct("title"))]
        parts += [draw(link()) for _ in range(draw(st.integers(0, 3)))]
        if draw(st.booleans()):
            parts.append(draw(construct("summary")))
        if draw(st.booleans()):
            parts.append(draw(construct("content")))
        entries.append("<entry>" + "".join(draw(st.permutations(parts))) + "</entry>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        + draw(construct("title"))
        + "".join(entries)
        + "</feed>"
    ).encode()


MEDIA = ["http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss"]
ITUNES = [
    "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "http://www.itunes.com/DTDs/Podcast-1.0.dtd",
]


@st.composite
def rss(draw) -> bytes:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        parts = []
        if draw(st.booleans()):
            parts.append(f"<title>{escape(draw(TEXT))}</title>")
        full = draw(st.sampled_from(["", "content:encoded", "fullitem", "body", "xhtml:body"]))
        if full in ("content:encoded", "fullitem"):
            parts.append(f"<{full}>{escape(draw(TEXT))}</{full}>")
        elif full:
            parts.append(f"<{full}><p>{escape(draw(TEXT))}</p>{escape(draw(TEXT))}</{full}>")
        if draw(st.booleans()):
            parts.append(f"<description>{escape(draw(TEXT))}</description>")
        if draw(st.booleans()):
            parts.append(f"<media:category>{escape(draw(TEXT))}</media:category>")
        if draw(st.booleans()):
            parts.append(f'<itunes:category text="{escape(draw(TEXT), {chr(34): "&quot;"})}"/>')
        items.append("<item>" + "".join(draw(st.permutations(parts))) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:xhtml="http://www.w3.org/1999/xhtml" '
        f'xmlns:media="{draw(st.sampled_from(MEDIA))}" '
        f'xmlns:itunes="{draw(st.sampled_from(ITUNES))}"><channel><title>News</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


QUICK = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@QUICK
@given(data=atom())
def test_generated_atom_constructs_and_links_read_the_same_either_way(data):
    same_either_way(data, "https://feeds.example.org/feed.xml")


@QUICK
@given(data=rss())
def test_generated_rss_full_texts_and_categories_read_the_same_either_way(data):
    same_either_way(data)
