"""Sources: article files, folders and feeds become articles; bad inputs become errors."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA, ROOT, every_article

from digest.errors import InputError
from digest.sources import frontmatter, jsonl, read, webpage
from digest.sources.feed import parse as parse_feed
from digest.sources.files import read_file
from digest.sources.text import MAX_BODY_CHARS, SUMMARY_CHARS, decode

EXAMPLES = ROOT / "examples" / "articles"
FEEDS = DATA / "feeds"
FEED_FILES = sorted(p for p in FEEDS.iterdir() if p.suffix in {".rss", ".atom", ".xml"})
LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def only_article(result):
    assert result.errors == []
    assert len(result.articles) == 1
    return result.articles[0]


# -- the bundled examples -----------------------------------------------------


def test_bundled_examples_all_ingest_cleanly():
    result = read(str(EXAMPLES), LONDON)
    assert result.errors == []
    assert result.skipped == []
    assert len(result.articles) >= 12
    keywords = {k for a in result.articles for k in a.keywords}
    assert len(keywords) >= 5
    assert all(a.title and a.guid for a in result.articles)
    # every article is its own: no two share a guid
    assert len({a.guid for a in result.articles}) == len(result.articles)


def test_bundled_web_exports_are_parsed_as_articles_not_chrome():
    result = read(str(EXAMPLES), LONDON)
    by_title = {a.title: a for a in result.articles}
    heat = by_title["Heat pump sales double as gas boiler ban nears"]
    assert heat.source == "The Daily Example"
    assert heat.keywords == ["Energy", "Climate"]
    bake = by_title["School bake sale raises £2,400 for new library books"]
    assert bake.keywords == []
    assert bake.source == "Riverside Gazette"
    for a in result.articles:
        assert "logo" not in a.title.lower()
        assert "|" not in a.title
        assert "Translated and edited by" not in a.body


# -- front matter Markdown ----------------------------------------------------

FRONT = """---
title: "Solar farms outpace forecasts"
url: https://news.example.org/energy/solar
source: The Example Times
keywords: [Energy, Climate]
published: {published}
---
Utility-scale solar farms connected more capacity than any **forecast** predicted.

Second paragraph with [a link](https://example.org) in it.
"""


def test_front_matter_fields(tmp_path):
    path = write(tmp_path / "solar.md", FRONT.format(published="2026-11-24T06:15:00+00:00"))
    a = only_article(read(str(path), LONDON))
    assert a.title == "Solar farms outpace forecasts"
    assert a.url == "https://news.example.org/energy/solar"
    assert a.guid == "https://news.example.org/energy/solar"
    assert a.source == "The Example Times"
    assert a.keywords == ["Energy", "Climate"]
    assert a.published == datetime(2026, 11, 24, 6, 15, tzinfo=UTC)
    # Markdown emphasis is gone from the summary, which is the first paragraph only
    assert a.summary == (
        "Utility-scale solar farms connected more capacity than any forecast predicted."
    )
    assert "Second paragraph" in a.body


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        # naive: taken in the given zone (Berlin is UTC+1 in November)
        ('"2026-11-24 07:30"', datetime(2026, 11, 24, 6, 30, tzinfo=UTC)),
        ("2026-11-24T07:30:00", datetime(2026, 11, 24, 6, 30, tzinfo=UTC)),
        # Z suffix, as a string and as a YAML timestamp
        ('"2026-11-24T07:30:00Z"', datetime(2026, 11, 24, 7, 30, tzinfo=UTC)),
        ("2026-11-24T07:30:00Z", datetime(2026, 11, 24, 7, 30, tzinfo=UTC)),
        # an explicit offset wins over the zone
        ('"2026-11-24T07:30:00-05:00"', datetime(2026, 11, 24, 12, 30, tzinfo=UTC)),
        # a YAML date object: midnight in the given zone
        ("2026-11-24", datetime(2026, 11, 23, 23, 0, tzinfo=UTC)),
        # summer time applies in summer
        ('"2026-07-01 12:00"', datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_front_matter_published_times(tmp_path, published, expected):
    path = write(tmp_path / "a.md", FRONT.format(published=published))
    a = only_article(read_file(path, BERLIN))
    assert a.published == expected
    assert a.published.utcoffset().total_seconds() == 0


def test_front_matter_without_date_is_undated(tmp_path):
    text = "---\ntitle: No date here at all\n---\nBody.\n"
    a = only_article(read_file(write(tmp_path / "a.md", text), LONDON))
    assert a.published is None
    assert a.keywords == []


def test_front_matter_keywords_as_comma_string(tmp_path):
    text = "---\ntitle: Wind and sun\nkeywords: Energy,  Climate , Solar   power\n---\nBody.\n"
    a = only_article(read_file(write(tmp_path / "a.md", text), LONDON))
    assert a.keywords == ["Energy", "Climate", "Solar power"]


def test_front_matter_keywords_as_yaml_list(tmp_path):
    text = "---\ntitle: Rockets\nkeywords:\n  - Space\n  - Science Policy\n---\nBody.\n"
    a = only_article(read_file(write(tmp_path / "a.txt", text), LONDON))
    assert a.keywords == ["Space", "Science Policy"]


def test_front_matter_invalid_yaml_is_an_input_error_naming_the_file(tmp_path):
    path = write(tmp_path / "broken.md", "---\ntitle: [unclosed\nurl: x\n---\nBody text.\n")
    result = read_file(path, LONDON)
    assert result.articles == []
    assert len(result.errors) == 1
    error = result.errors[0]
    assert isinstance(error, InputError)
    assert error.where == str(path)
    assert "YAML" in error.reason
    with pytest.raises(InputError, match=r"broken\.md"):
        frontmatter.parse(path.read_text(), str(path), LONDON)


def test_front_matter_without_title_is_an_input_error(tmp_path):
    path = write(tmp_path / "untitled.md", "---\nurl: https://x.example/1\n---\nBody.\n")
    result = read_file(path, LONDON)
    assert result.articles == []
    assert [e.where for e in result.errors] == [str(path)]
    assert "title" in result.errors[0].reason


def test_summary_is_cut_at_a_word_boundary_with_ellipsis(tmp_path):
    words = [f"word{n:03d}" for n in range(120)]  # ~960 characters, one paragraph
    paragraph = " ".join(words)
    text = f"---\ntitle: A long one\n---\n{paragraph}\n\nSecond paragraph.\n"
    a = only_article(read_file(write(tmp_path / "a.md", text), LONDON))
    assert a.summary.endswith("…")
    assert len(a.summary) <= SUMMARY_CHARS + 1
    kept = a.summary[:-1].split()
    assert len(kept) > 10
    assert kept == words[: len(kept)]  # whole words only, from the start
    assert "Second paragraph" not in a.summary
    assert a.body.startswith(paragraph)


def test_short_first_paragraph_is_the_whole_summary(tmp_path):
    text = "---\ntitle: Short\n---\nJust this.\nSame paragraph.\n\nNot this.\n"
    a = only_article(read_file(write(tmp_path / "a.md", text), LONDON))
    assert a.summary == "Just this. Same paragraph."


# -- JSON Lines ---------------------------------------------------------------


def test_jsonl_bad_lines_are_reported_and_good_lines_kept(tmp_path):
    lines = [
        '{"title": "First good one", "url": "https://x.example/1", "keywords": ["Space"]}',
        "{not json at all",
        "",
        "[1, 2, 3]",
        '{"url": "https://x.example/untitled", "body": "no title"}',
        '{"title": "Second good one", "url": "https://x.example/2", '
        '"published": "2026-11-24T08:00:00Z", "keywords": "Energy, Climate"}',
    ]
    path = write(tmp_path / "wire.jsonl", "\n".join(lines) + "\n")
    result = read(str(path), LONDON)
    assert [a.title for a in result.articles] == ["First good one", "Second good one"]
    assert result.articles[1].keywords == ["Energy", "Climate"]
    assert result.articles[1].published == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    messages = [str(e) for e in result.errors]
    assert len(messages) == 3
    assert messages[0].startswith(f"{path}:2: ")
    assert "JSON" in messages[0]
    assert messages[1].startswith(f"{path}:4: ")
    assert "object" in messages[1]
    assert messages[2].startswith(f"{path}:5: ")
    assert "title" in messages[2]


def test_jsonl_summary_and_body_from_html(tmp_path):
    line = (
        '{"title": "<b>Markup</b> in title", "url": "https://x.example/3", '
        '"body": "<p>First para.</p><p>Second <script>alert(1)</script>para.</p>"}'
    )
    result = jsonl.parse(line, "w.jsonl", LONDON)
    a = result.articles[0]
    assert a.title == "Markup in title"
    assert a.summary == "First para."
    assert a.body == "First para.\n\nSecond para."


# -- plain-text web page exports ----------------------------------------------

EXPORT = """The Riverside Gazette — logo
Home | Local | Schools | What's On | Sport
{headline}
{repeat}
Work on two protected cycle lanes will begin in March, the council said.

The plan was approved by nine votes to four after a debate that lasted
well into the evening.

Opponents said forty parking spaces would be lost.

Translated and edited by Ana Silva

Helpful keywords
{keywords}"""

HEADLINE = "Council approves new cycle lanes for the high street"


@pytest.mark.parametrize(
    "repeat",
    ["", f"{HEADLINE}\n", f"\n{HEADLINE}\n"],
    ids=["once", "twice", "twice-with-blank-line"],
)
def test_web_export_headline_standfirst_credit_keywords(tmp_path, repeat):
    text = EXPORT.format(headline=HEADLINE, repeat=repeat, keywords="Transport\nLocal Politics\n")
    path = write(tmp_path / "cycle-lanes.txt", text)
    a = only_article(read(str(path), LONDON))
    assert a.title == HEADLINE
    assert a.source == "The Riverside Gazette"
    assert a.summary == "Work on two protected cycle lanes will begin in March, the council said."
    assert a.keywords == ["Transport", "Local Politics"]
    assert HEADLINE not in a.body
    assert "Opponents said forty parking spaces would be lost." in a.body
    assert "well into the evening" in a.body
    for field in (a.summary, a.body):
        assert "Translated and edited" not in field
        assert "Ana Silva" not in field
        assert "Helpful keywords" not in field
        assert "Transport" not in field
        assert "logo" not in field
        assert "Home | Local" not in field


def test_web_export_with_windows_line_ends(tmp_path):
    text = EXPORT.format(headline=HEADLINE, repeat=HEADLINE, keywords="Transport\n")
    path = write(tmp_path / "crlf.txt", text.replace("\n", "\r\n"))
    a = only_article(read_file(path, LONDON))
    assert a.title == HEADLINE
    assert a.keywords == ["Transport"]
    assert "\r" not in a.title + a.summary + a.body + "".join(a.keywords)


def test_web_export_empty_keyword_block_means_untagged(tmp_path):
    for n, block in enumerate(["", "\n", "\n\n   \n"]):
        text = EXPORT.format(headline=HEADLINE, repeat="", keywords=block)
        a = only_article(read_file(write(tmp_path / f"e{n}.txt", text), LONDON))
        assert a.keywords == []
        assert a.title == HEADLINE
        assert "Helpful keywords" not in a.body


def test_web_export_title_is_never_site_chrome(tmp_path):
    text = (
        "Morning Example Herald — logo\n"
        "Home | News | Business | Science | Culture | Sport\n"
        "\n"
        "Weather satellite launched to sharpen storm forecasts\n"
        "Weather satellite launched to sharpen storm forecasts\n"
        "\n"
        "It will photograph Europe every ten minutes.\n"
        "\n"
        "Helpful keywords\n"
        "Space\n"
    )
    a = only_article(read_file(write(tmp_path / "sat.txt", text), LONDON))
    assert a.title == "Weather satellite launched to sharpen storm forecasts"
    assert a.source == "Morning Example Herald"
    assert a.summary == "It will photograph Europe every ten minutes."
    assert a.keywords == ["Space"]


def test_web_export_with_no_headline_is_an_error(tmp_path):
    path = write(tmp_path / "bits.txt", "Logo\nHome | News\nHi\n")
    result = read_file(path, LONDON)
    assert result.articles == []
    assert [e.where for e in result.errors] == [str(path)]


def test_web_export_same_story_gets_same_guid_on_reexport(tmp_path):
    text = EXPORT.format(headline=HEADLINE, repeat="", keywords="Transport\n")
    a = webpage.parse(text, "a.txt", "a")
    b = webpage.parse(text.replace("nine votes", "ten votes"), "b.txt", "b")
    assert a.guid == b.guid


# -- encodings ----------------------------------------------------------------


def test_cp1252_export_from_examples_has_the_right_characters():
    path = EXAMPLES / "cp1252-export.txt"
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the example really is not UTF-8
    a = only_article(read_file(path, LONDON))
    assert a.title == "Geneva clinic’s café-style waiting rooms cut patient stress, study finds"
    assert a.source == "Le Quotidien d’Exemple"
    assert "“café-style”" in a.summary
    assert "Zürich" in a.body
    assert "Hélène Brügger" in a.body
    assert "\ufffd" not in a.body
    assert a.keywords == ["Health"]


def test_cp1252_export_written_here(tmp_path):
    text = EXPORT.format(
        headline="Café owners’ “fair rent” plea reaches Zürich council",
        repeat="",
        keywords="Wirtschaft\n",
    )
    path = write(tmp_path / "ansi.txt", text, encoding="cp1252")
    a = only_article(read_file(path, LONDON))
    assert a.title == "Café owners’ “fair rent” plea reaches Zürich council"
    assert a.source == "The Riverside Gazette"


def test_latin1_front_matter_file(tmp_path):
    text = "---\ntitle: Zürich café reopens\nkeywords: [Économie]\n---\nMüller said: très bien.\n"
    path = write(tmp_path / "latin.md", text, encoding="latin-1")
    a = only_article(read_file(path, LONDON))
    assert a.title == "Zürich café reopens"
    assert a.keywords == ["Économie"]
    assert a.body == "Müller said: très bien."


def test_utf8_bom_is_stripped(tmp_path):
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + "---\ntitle: Café with BOM\n---\nBody.\n".encode())
    a = only_article(read_file(path, LONDON))
    assert a.title == "Café with BOM"
    assert "\ufeff" not in a.title + a.body
    assert decode(b"\xef\xbb\xbfabc") == "abc"


# -- size limits ----------------------------------------------------------------


def test_one_megabyte_web_export_is_trimmed_not_refused(tmp_path):
    sentence = "The committee heard evidence from residents and experts. "
    body = "\n\n".join(f"Session {n}: " + sentence * 40 for n in range(450))  # about 1 MB
    text = f"Gazette — logo\nHome | News\n{HEADLINE}\n\n{body}\n\nHelpful keywords\nTransport\n"
    assert len(text) > 1_000_000
    path = write(tmp_path / "huge.txt", text)
    a = only_article(read(str(path), LONDON))
    assert a.title == HEADLINE
    assert 0 < len(a.summary) <= SUMMARY_CHARS + 1
    assert a.summary.endswith("…")
    assert 0.9 * MAX_BODY_CHARS < len(a.body) <= MAX_BODY_CHARS
    assert a.body.endswith("experts.")  # cut at a paragraph end
    assert a.keywords == ["Transport"]


def test_one_megabyte_single_paragraph_front_matter(tmp_path):
    body = "word " * 220_000
    path = write(tmp_path / "huge.md", f"---\ntitle: One huge paragraph\n---\n{body}\n")
    a = only_article(read_file(path, LONDON))
    assert len(a.summary) <= SUMMARY_CHARS + 1
    assert len(a.body) <= MAX_BODY_CHARS


# -- folders ----------------------------------------------------------------------


def test_folder_is_read_recursively_skipping_hidden_and_listing_unknown(tmp_path):
    write(tmp_path / "top.md", "---\ntitle: Top level story\n---\nBody.\n")
    write(tmp_path / "2026" / "11" / "deep.md", "---\ntitle: Deep story\n---\nBody.\n")
    write(tmp_path / "wire" / "w.jsonl", '{"title": "Wire story", "url": "https://x.example/w"}\n')
    write(tmp_path / ".hidden.md", "---\ntitle: Hidden file\n---\nBody.\n")
    write(tmp_path / ".git" / "notes.md", "---\ntitle: Inside hidden folder\n---\nBody.\n")
    write(tmp_path / "photo.jpg", "not an image really")
    write(tmp_path / "2026" / "report.pdf", "%PDF-1.4")
    result = read(str(tmp_path), LONDON)
    assert result.errors == []
    assert sorted(a.title for a in result.articles) == [
        "Deep story",
        "Top level story",
        "Wire story",
    ]
    assert sorted(Path(s).name for s in result.skipped) == ["photo.jpg", "report.pdf"]


def test_one_bad_file_does_not_stop_the_folder(tmp_path):
    write(tmp_path / "a.md", "---\ntitle: Good story\n---\nBody.\n")
    bad = write(tmp_path / "b.md", "---\ntitle: [oops\n---\nBody.\n")
    write(tmp_path / "c.md", "---\ntitle: Another good story\n---\nBody.\n")
    result = read(str(tmp_path), LONDON)
    assert [a.title for a in result.articles] == ["Good story", "Another good story"]
    assert [e.where for e in result.errors] == [str(bad)]


def test_missing_path_is_an_error_not_an_exception(tmp_path):
    missing = tmp_path / "nowhere" / "articles"
    result = read(str(missing), LONDON)
    assert result.articles == []
    assert len(result.errors) == 1
    assert result.errors[0].where == str(missing)
    assert "no such" in result.errors[0].reason


def test_empty_text_file_is_an_error(tmp_path):
    path = write(tmp_path / "empty.txt", "  \n\n")
    result = read_file(path, LONDON)
    assert result.articles == []
    assert [e.where for e in result.errors] == [str(path)]


# -- feeds: the real-world corpus -------------------------------------------------


@pytest.mark.parametrize("path", FEED_FILES, ids=[p.name for p in FEED_FILES])
def test_real_world_feed_ingests(path):
    result = read(str(path), LONDON)
    assert result.errors == []
    assert result.articles
    for a in result.articles:
        assert a.title.strip()
        assert not TAG.search(a.title), a.title
        assert "&lt;" not in a.title
        assert "&amp;" not in a.title
        assert a.guid
        assert a.source and a.source != str(path)  # the feed's own title
        assert len(a.summary) <= SUMMARY_CHARS + 1
        if a.url:
            assert re.match(r"^https?://", a.url), a.url
        if a.published:
            assert a.published.tzinfo is not None


def test_feed_corpus_details():
    def articles(name):
        return read(str(FEEDS / name), LONDON).articles

    fastmail = articles("fastmailstatus-feed.rss")
    assert fastmail[0].title == "Login & sessions - Up"
    assert fastmail[0].url is None
    assert fastmail[0].guid == "2EC9D062-A182-11EB-8CC4-B51653FE9AF7"
    assert fastmail[0].published == datetime(2021, 4, 20, 2, 43, 26, tzinfo=UTC)
    assert "log out has been restored" in fastmail[0].summary

    quilt = articles("quiltville-feed.atom")
    assert quilt[0].source == "Quiltville's Quips & Snips!!"

    chinese = articles("bbc-chinese-feed.atom")
    assert chinese[0].title == "白宫提名艾伦为北约最高司令官"

    tumblr = articles("tumblr-feed.rss")
    assert tumblr[0].keywords == ["LOL", "comics", "Sarah Andersen"]
    assert any(not a.keywords for a in tumblr)  # uncategorised posts stay untagged

    tails = articles("tails-feed.rss")
    assert all(a.keywords == ["announce"] for a in tails)


def test_html_in_feed_title_is_plain_text():
    titles = [a.title for a in read(str(FEEDS / "allthingsrss-feed.atom"), LONDON).articles]
    assert "How to Read RSS Feeds in Emacs" in titles
    assert all(not TAG.search(t) for t in titles)


def test_same_guid_in_several_feed_snapshots_is_one_stored_article(sqlite_store):
    found = []
    for n in (1, 2, 3):
        found += read(str(FEEDS / f"nodejs-feed{n}.xml"), LONDON).articles
    assert len({a.guid for a in found}) == 1
    sqlite_store.save_articles(found[:1])
    counts = sqlite_store.save_articles(found[1:])
    assert counts.new == 0
    stored = every_article(sqlite_store)
    assert len(stored) == 1
    assert stored[0].published == datetime(2020, 2, 6, 12, 0, tzinfo=UTC)


ATOM_WITH_BASE = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/news/">
  <title>Example &amp; Co Blog</title>
  <id>urn:example:blog</id>
  <updated>2026-11-24T06:00:00Z</updated>
  <entry>
    <title type="html">&lt;b&gt;Bold&lt;/b&gt; move by the &lt;i&gt;council&lt;/i&gt;</title>
    <id>urn:example:1</id>
    <link rel="alternate" href="2026/11/first-post.html"/>
    <updated>2026-11-24T06:00:00Z</updated>
    <category term="Local Politics"/>
    <category term="Transport"/>
    <summary type="html">&lt;p&gt;The council voted.&lt;/p&gt;
      &lt;p&gt;More later.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title><![CDATA[Undated entry with CDATA & ampersand]]></title>
    <id>urn:example:2</id>
    <link rel="alternate" href="/about/undated.html"/>
  </entry>
</feed>
"""


def test_relative_links_resolved_against_the_feed_base(tmp_path):
    path = tmp_path / "blog.atom"
    path.write_bytes(ATOM_WITH_BASE)
    result = read(str(path), LONDON)
    assert result.errors == []
    first, second = result.articles
    assert first.url == "https://blog.example.org/news/2026/11/first-post.html"
    assert second.url == "https://blog.example.org/about/undated.html"
    assert first.title == "Bold move by the council"
    assert first.keywords == ["Local Politics", "Transport"]
    assert first.source == "Example & Co Blog"
    assert first.summary == "The council voted."
    assert second.title == "Undated entry with CDATA & ampersand"
    assert second.published is None


def test_truncated_feed_is_reported_with_file_name(tmp_path):
    data = (FEEDS / "tails-feed.rss").read_bytes()
    path = tmp_path / "cut-off.rss"
    path.write_bytes(data[: len(data) // 2])
    result = read(str(path), LONDON)  # must not raise
    assert len(result.errors) == 1
    assert result.errors[0].where == str(path)
    assert "cut off" in result.errors[0].reason
    # the entries before the cut are still usable
    assert result.articles[0].title == "Our achievements in 2020"


def test_feed_truncated_in_its_header_is_reported(tmp_path):
    path = tmp_path / "stub.xml"
    path.write_bytes((FEEDS / "tails-feed.rss").read_bytes()[:200])
    result = read(str(path), LONDON)
    assert result.articles == []
    assert [e.where for e in result.errors] == [str(path)]


def test_html_page_instead_of_a_feed_is_reported(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(
        "<!DOCTYPE html>\n<html><head><title>Blog home page title</title></head>"
        "<body><h1>Welcome</h1><p>Our feed has moved.</p></body></html>\n"
    )
    result = read(str(path), LONDON)
    assert result.articles == []
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.where == str(path)
    assert "feed" in error.reason
    assert "Content-type" not in error.reason  # a local file has no content type to blame


# -- feeds over HTTP (127.0.0.1 only) --------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output clean
        pass


@pytest.fixture
def feed_server(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(FEEDS / "tails-feed.rss", root / "feed.xml")
    (root / "relative.xml").write_bytes(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Local news</title>'
        b"<item><title>Relative link item here</title><link>/posts/1.html</link>"
        b'<guid isPermaLink="false">rel-1</guid></item></channel></rss>'
    )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_feed_over_http(feed_server):
    result = read(f"{feed_server}/feed.xml", LONDON, timeout=5)
    assert result.errors == []
    assert len(result.articles) == 10
    assert result.articles[0].title == "Our achievements in 2020"
    assert result.articles[0].source == "Tails - News"


def test_feed_over_http_resolves_relative_links_against_the_url(feed_server):
    result = read(f"{feed_server}/relative.xml", LONDON, timeout=5)
    a = only_article(result)
    assert a.url == f"{feed_server}/posts/1.html"


def test_feed_over_http_404_is_an_error_naming_url(feed_server):
    url = f"{feed_server}/gone.xml"
    result = read(url, LONDON, timeout=5)
    assert result.articles == []
    assert len(result.errors) == 1
    assert result.errors[0].where == url
    assert "404" in str(result.errors[0])
    assert url in str(result.errors[0])


def test_unreachable_feed_is_an_error_not_an_exception():
    # port 9 on the loopback: nothing listens, the connection is refused at once
    url = "http://127.0.0.1:9/feed.xml"
    result = read(url, LONDON, timeout=2)
    assert result.articles == []
    assert [e.where for e in result.errors] == [url]


def test_parse_feed_directly_gives_errors_not_exceptions():
    result = parse_feed(b"", "empty.xml")
    assert result.articles == []
    assert [e.where for e in result.errors] == ["empty.xml"]
