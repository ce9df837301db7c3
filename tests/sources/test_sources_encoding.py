"""A feed's characters read as its author wrote them, whatever it is labelled.

Windows-1252 punctuation (’ “ ” € …) survives a feed labelled ISO-8859-1, a C1
control where it was meant, and a number like ``&#146;``; UTF-8 that was read
as Latin-1 and encoded again is undone; the HTTP charset, the XML declaration
and a byte-order mark win in RFC 7303's order. Each case is read by both
readers: the lxml fast path, and feedparser (a DOCTYPE sends a feed there).
Corpus files are feedparser's own (tests/data/feeds/encoding/README.md).
"""

from __future__ import annotations

import codecs
import re
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA, every_article
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from standins.feed_server import FeedStandIn

from digest.sources import charset, feed, feed_xml, ingest, read

UTC_ZONE = ZoneInfo("UTC")
ENCODING = DATA / "feeds" / "encoding"
READERS = ["lxml", "feedparser"]


def read_by(reader: str, data: bytes) -> bytes:
    """``data`` as the reader named will read it: with a DOCTYPE, feedparser does."""
    if reader == "lxml":
        return data
    if data.startswith(codecs.BOM_UTF16_LE):
        inner = read_by(reader, data[2:].decode("utf-16-le").encode())
        return codecs.BOM_UTF16_LE + inner.decode().encode("utf-16-le")
    declaration = re.match(rb"<\?xml[^>]*>", data)
    at = declaration.end() if declaration else 0
    sent = data[:at] + b"<!DOCTYPE rss>" + data[at:]
    with pytest.raises(feed_xml.NotSimple):
        feed_xml.read(sent)  # so it is feedparser's
    return sent


def rss(title: bytes, declaration: bytes = b"", description: bytes = b"") -> bytes:
    """An RSS 2.0 feed of one entry; ``title`` and ``description`` are bytes as sent."""
    return (
        declaration + b'<rss version="2.0"><channel><title>Feed</title><item>'
        b"<title>" + title + b"</title><description>" + (description or title) + b"</description>"
        b"<guid isPermaLink='false'>e1</guid></item></channel></rss>"
    )


def with_entry(corpus: bytes) -> bytes:
    """A corpus Atom 0.3 feed that has only a title, with an entry of that title."""
    title = re.search(rb"<title>.*?</title>", corpus, re.S).group(0)
    entry = b"<entry><id>tag:x,2004:1</id>" + title + b"</entry>"
    return corpus.replace(b"</feed>", entry + b"</feed>")


def only_article(store):
    [article] = every_article(store)
    return article


# -- 1. Windows-1252 punctuation is kept, and double-encoded UTF-8 undone -------------------

LATIN_1_LABELLED = rss(
    b"Caf\xe9 \x93cr\xe8me\x94 at \x805 \x96 wait&#133; don\x92t",
    b'<?xml version="1.0" encoding="iso-8859-1"?>',
)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("demoronize-1.xml", "don’t"),  # U+0092 in UTF-8
        ("demoronize-2.xml", "don’t"),  # &#146;
        ("http_text_xml_charset_overrides_encoding_2.xml", "This is a £“test.”"),
        ("double-encoded-html.xml", "…"),  # &#226;&#128;&#166;, not "â¦"
        ("latin-1-labelled.xml", "Café “crème” at €5 – wait… don’t"),
    ],
)
def test_windows_1252_punctuation_in_a_feed_file_is_stored_as_written(
    store, tmp_path, reader, name, expected
):
    data = LATIN_1_LABELLED if name == "latin-1-labelled.xml" else (ENCODING / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(read_by(reader, data))
    report = ingest(store, [str(path)], UTC_ZONE)
    assert (report.new, report.errors) == (1, [])
    article = only_article(store)
    assert (article.summary, article.body) == (expected, expected)


def test_a_feed_naming_no_encoding_in_koi8_r_is_still_read(tmp_path, store):
    """chardet's guess, as feedparser made it before the feed was given to both readers."""
    path = tmp_path / "koi8r.xml"
    path.write_bytes((ENCODING / "koi8r.xml").read_bytes())
    assert ingest(store, [str(path)], UTC_ZONE).new == 1
    assert only_article(store).title == "Как пережить новогоднюю ночь"


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("It’s ".encode() + b"caf\xe9", "It’s café"),  # UTF-8, and one Windows-1252 byte
        (b"\xc5rets b\xe4sta", "Årets bästa"),  # chardet's guess: HP Roman-8
        (b"Caf\xe9 \x93cr\xe8me\x94", "Café “crème”"),
    ],
)
def test_a_feed_that_names_no_encoding_and_is_not_utf_8_reads_right(
    tmp_path, reader, title, expected
):
    path = tmp_path / "unnamed.xml"
    path.write_bytes(read_by(reader, rss(title)))
    [article] = read(str(path), UTC_ZONE).articles
    assert article.title == expected


CP1252_TEXT = st.text(
    st.characters(codec="cp1252", exclude_categories=("Cc", "Cs"), exclude_characters="<>&"),
    min_size=1,
    max_size=40,
)


def double_encoded(text: str) -> bool:
    """Text that is itself UTF-8 read as Windows-1252 ("Ã©", "â€™"): both readers undo it."""
    try:
        return not text.isascii() and text.encode("cp1252").decode("utf-8") != text
    except UnicodeError:
        return False


@settings(max_examples=150, deadline=None)
@given(
    text=CP1252_TEXT,
    label=st.sampled_from(["declaration", "http"]),
    reader=st.sampled_from(READERS),
)
def test_any_windows_1252_text_labelled_iso_8859_1_reads_back_as_written(text, label, reader):
    assume(not double_encoded(text))
    declared = b'<?xml version="1.0" encoding="iso-8859-1"?>' if label == "declaration" else b""
    served = "application/rss+xml; charset=ISO-8859-1" if label == "http" else ""
    data = read_by(reader, rss(b"T " + text.encode("cp1252"), declared))
    [article] = feed.parse(data, "f", content_type=served).articles
    assert article.title == " ".join(f"T {text}".split())


# -- 2. which label wins -----------------------------------------------------------------

UTF_8_CAFE = "Café “crème”".encode()
CASES = {
    # served as XML: the HTTP charset wins over the declaration (RFC 7303)
    "charset-over-declaration": (
        rss(UTF_8_CAFE, b'<?xml version="1.0" encoding="iso-8859-1"?>'),
        "text/xml; charset=utf-8",
        "Café “crème”",
    ),
    "koi8-r-over-declaration": (
        rss("Новости дня".encode("koi8-r"), b'<?xml version="1.0" encoding="windows-1251"?>'),
        "application/rss+xml; charset=koi8-r",
        "Новости дня",
    ),
    "windows-1252-over-declaration": (
        (ENCODING / "http_text_xml_charset_overrides_encoding_2.xml").read_bytes(),
        "text/xml; charset=windows-1252",
        "This is a £“test.”",
    ),
    # a UTF-8 feed the server calls ISO-8859-1: read so, it is double-encoded UTF-8, undone
    "utf-8-labelled-latin-1": (
        rss(UTF_8_CAFE + " – wait…".encode(), b'<?xml version="1.0" encoding="utf-8"?>'),
        "text/xml; charset=iso-8859-1",
        "Café “crème” – wait…",
    ),
    # a byte-order mark over everything
    "byte-order-mark": (
        codecs.BOM_UTF16_LE + rss(UTF_8_CAFE).decode().encode("utf-16-le"),
        "text/xml; charset=iso-8859-1",
        "Café “crème”",
    ),
    # no charset: the declaration, for text/xml too (not RFC 3023's us-ascii)
    "text/xml-without-charset": (
        with_entry((ENCODING / "bozo_http_i18n.xml").read_bytes()),
        "text/xml",
        "Iñtërnâtiônàlizætiøn",
    ),
    "application/xml-without-charset": (
        with_entry((ENCODING / "http_i18n.xml").read_bytes()),
        "application/xml",
        "Iñtërnâtiônàlizætiøn",
    ),
    # not served as XML: the server's default charset does not override the document
    "text/html-default-charset": (
        rss(UTF_8_CAFE, b'<?xml version="1.0" encoding="utf-8"?>'),
        "text/html; charset=iso-8859-1",
        "Café “crème”",
    ),
    # what says UTF-8 and is not: Windows-1252 where the bytes are not UTF-8
    "charset-that-is-wrong": (
        rss(b"don\x92t \x96 \x80 5", b'<?xml version="1.0" encoding="windows-1252"?>'),
        "application/rss+xml; charset=utf-8",
        "don’t – € 5",
    ),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", CASES)
def test_the_encoding_that_wins_is_the_one_read_over_http(store, case, reader):
    data, content_type, text = CASES[case]
    with FeedStandIn() as server:
        server.feeds["f.xml"] = read_by(reader, data)
        server.content_types["f.xml"] = content_type
        report = ingest(store, [f"{server.url}/feed/f.xml"], UTC_ZONE, timeout=5)
    assert (report.new, report.errors) == (1, [])
    article = only_article(store)
    assert text in (article.title, article.summary)


@pytest.mark.parametrize(
    "label", ["bogus", "punycode", "unicode_escape", "base64", "utf-16", "x" * 200]
)
def test_a_label_that_is_no_encoding_of_these_bytes_is_passed_over(label):
    data = rss("Café don’t".encode(), f'<?xml version="1.0" encoding="{label}"?>'.encode())
    for reader in READERS:
        for served in ("", f"text/xml; charset={label}"):
            [article] = feed.parse(read_by(reader, data), "f", content_type=served).articles
            assert article.title == "Café don’t"


HEADERS = st.one_of(
    st.text(max_size=60),
    st.builds(
        "{}; charset={}".format,
        st.sampled_from(["text/xml", "application/rss+xml", "text/html", ""]),
        st.sampled_from(["utf-8", "'us-ascii'", '"koi8-r"', "utf-16", "bogus", "", "x" * 50]),
    ),
)
LEADS = st.sampled_from(
    [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE, b"<\x00?\x00", b"<?xml "]
)


@settings(max_examples=300, deadline=None)
@given(lead=LEADS, body=st.binary(max_size=200), header=HEADERS)
def test_any_bytes_with_any_content_type_become_utf_8_or_a_reason(lead, body, header):
    """Whatever a server sends and says, the feed is UTF-8 for the readers, and reading
    it ends in articles or errors that name it, never an exception."""
    data = lead + body
    charset.to_utf8(data, header).decode("utf-8")
    result = feed.parse(data, "f", content_type=header)
    assert result.articles or result.errors
