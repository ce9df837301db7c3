"""Property tests: whatever the text, parsing only ever reports, and what it keeps is clean.

For front matter, JSON Lines, RSS/Atom feeds and page exports, generated from
hostile pieces (control characters, bidi overrides, script links, absurd
dates, markup, huge or nested values), the invariants are:

- parsing raises nothing but a reported ``InputError``;
- every kept field is free of control characters and within its limit;
- no kept link has a scheme other than http, https or mailto;
- every good record is kept.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import InputError
from digest.sources import feed, frontmatter, jsonl, webpage
from digest.sources.text import MAX_BODY_CHARS, SUMMARY_CHARS
from digest.validate import (
    MAX_GUID,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_SOURCE,
    MAX_TITLE,
    MAX_URL,
    safe_link,
)

ZONE = ZoneInfo("Europe/London")
FAST = settings(max_examples=50, deadline=None)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")

NASTY = [
    "\x00",
    "\x1b[2J",
    "\x07",
    "\u202e",
    "\u2066",
    "\u2028",
    "\x85",
    "\x0c",
    "\ud800",
    "\r\n",
    "\t",
    "<b>",
    "</p>",
    "<script>alert(1)</script>",
    "&amp;",
    "&#0;",
    "javascript:",
    "ﷺ",
    "ß",
    "  ",
    ",",
    ";",
    "---",
    "\n\n",
]
LINKS = [
    "https://news.example.org/a?utm_source=x&id=1#top",
    "http://example.org",
    "mailto:desk@example.org",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "vbscript:x",
    "data:text/html,<b>x</b>",
    "//evil.example/x",
    "/relative/path",
    "relative.html",
    "https://[broken",
    "http://",
    "ftp://example.org/x",
    "https://example.org/" + "a" * 2100,
    "https://exa mple.org/",
]
DATES = [
    "2026-11-24T06:00:00Z",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:00:00-05:00",
    "2026-13-45",
    "2026-02-30",
    "yesterday",
    "",
    "99999-01-01",
    "2026-11-24 07:30",
]

nasty_text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=12)), max_size=12).map(
    "".join
)
words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzÀéüß", min_size=1, max_size=10),
    min_size=4,
    max_size=8,
).map(" ".join)
long_text = st.integers(min_value=0, max_value=3).map(lambda n: "word " * (n * 400))
field_text = st.one_of(nasty_text, words, long_text, st.sampled_from(LINKS))
keywords = st.one_of(
    st.lists(st.one_of(nasty_text, words, st.just("k" * 150)), max_size=70),
    nasty_text,
)


def check(article) -> None:
    """The invariants every kept article meets, whatever it was made from."""
    for text in (article.title, article.source, article.summary, article.guid, *article.keywords):
        assert not LINE_CONTROL.search(text), repr(text)
    assert not CONTROL.search(article.body), repr(article.body[:200])
    assert article.title
    assert len(article.title) <= MAX_TITLE
    assert len(article.source) <= MAX_SOURCE
    assert 0 < len(article.guid) <= MAX_GUID
    assert len(article.summary) <= SUMMARY_CHARS + 1
    assert len(article.body) <= MAX_BODY_CHARS
    assert len(article.keywords) <= MAX_KEYWORDS
    assert all(0 < len(k) <= MAX_KEYWORD for k in article.keywords)
    if article.url is not None:
        assert len(article.url) <= MAX_URL
        assert re.match(r"(?i)^(https?|mailto):", article.url), article.url
        assert safe_link(article.url) == article.url
    if article.published is not None:
        assert article.published.utcoffset().total_seconds() == 0
        assert article.published.tzinfo is UTC


# -- front matter ---------------------------------------------------------------------

yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), field_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner)),
    max_leaves=12,
)


@FAST
@given(
    meta=st.fixed_dictionaries(
        {},
        optional={
            "title": st.one_of(words, field_text, yaml_values),
            "url": st.one_of(st.sampled_from(LINKS), yaml_values),
            "guid": st.one_of(field_text, st.just("g" * 3000)),
            "source": field_text,
            "summary": field_text,
            "published": st.one_of(st.sampled_from(DATES), yaml_values),
            "keywords": st.one_of(keywords, yaml_values),
        },
    ),
    body=st.one_of(nasty_text, long_text),
    raw_dates=st.booleans(),
)
def test_front_matter_only_reports_and_keeps_clean_fields(meta, body, raw_dates):
    block = yaml.safe_dump(meta, allow_unicode=True)
    if raw_dates and isinstance(meta.get("published"), str):
        # unquoted, so YAML sees a timestamp where it can
        block += f"date: {meta['published']}\n"
    text = f"---\n{block}---\n{body}"
    try:
        article = frontmatter.parse(text, "f.md", ZONE)
    except InputError as err:
        assert err.where == "f.md"
        return
    check(article)


@FAST
@given(text=st.text(alphabet=st.sampled_from("-:&*[]{}!|>'\"\n #?,%@`abc0"), max_size=200))
def test_arbitrary_yaml_syntax_only_reports(text):
    try:
        article = frontmatter.parse(
            f"---\ntitle: Four words of title\n{text}\n---\nBody.", "f", ZONE
        )
    except InputError as err:
        assert err.where == "f"
        return
    check(article)


# -- JSON Lines ------------------------------------------------------------------------

good_line = st.fixed_dictionaries(
    {"title": words},
    optional={
        "url": st.sampled_from(LINKS),
        "summary": field_text,
        "body": st.one_of(field_text, long_text),
        "source": field_text,
        "published": st.one_of(st.sampled_from(DATES), st.integers(), st.none()),
        "keywords": st.one_of(keywords, yaml_values),
        "guid": st.one_of(field_text, st.integers()),
    },
)
bad_line = st.one_of(
    nasty_text.filter(lambda t: "\n" not in t and "\r" not in t),
    st.just("[1, 2]"),
    st.just('{"title": ' + "[" * 3000),
    st.just('{"title": 1' + "0" * 5000 + "}"),
    st.just('{"url": "https://x.example/"}'),
)


@FAST
@given(lines=st.lists(st.one_of(good_line, bad_line), max_size=8))
def test_json_lines_keep_every_good_line_and_name_every_bad_one(lines):
    rendered = [json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x for x in lines]
    result = jsonl.parse("\n".join(rendered), "w.jsonl", ZONE)
    good = [n for n, x in enumerate(lines, start=1) if isinstance(x, dict)]
    assert [a.origin for a in result.articles] == [f"w.jsonl:{n}" for n in good]
    for article in result.articles:
        check(article)
    # A byte-order mark opening a line (files joined with cat) is not content.
    blank = {n for n, x in enumerate(rendered, start=1) if not x.removeprefix("\ufeff").strip()}
    named = {e.where for e in result.errors}
    for n, x in enumerate(lines, start=1):
        if not isinstance(x, dict) and n not in blank:
            # A bad line is named, unless it happens to be a good article after all.
            assert f"w.jsonl:{n}" in named or f"w.jsonl:{n}" in {a.origin for a in result.articles}


# -- RSS and Atom ------------------------------------------------------------------------

XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
rfc822 = st.builds(
    "{}, {:02d} {} {} {:02d}:{:02d}:00 {}".format,
    st.sampled_from(["Mon", "Tue", "Zzz"]),
    st.integers(0, 40),
    st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    st.integers(0, 99999),
    st.integers(0, 30),
    st.integers(0, 70),
    st.sampled_from(["GMT", "+0500", "-0500", "XYZ"]),
)
entry = st.fixed_dictionaries(
    {"title": words, "id": st.text(alphabet="abc123:-", min_size=1, max_size=20)},
    optional={
        "link": st.sampled_from(LINKS),
        "date": st.one_of(st.sampled_from(DATES), rfc822),
        "summary": field_text,
        "categories": st.lists(st.one_of(words, nasty_text, st.just("k" * 150)), max_size=60),
    },
)


def xml_text(text: str) -> str:
    return escape(XML_INVALID.sub("", text))


def rss(entries: list[dict], channel_link: str) -> bytes:
    items = []
    for n, e in enumerate(entries):
        parts = [f"<title>{xml_text(e['title'])}</title>", f"<guid>{n}-{xml_text(e['id'])}</guid>"]
        if "link" in e:
            parts.append(f"<link>{xml_text(e['link'])}</link>")
        if "date" in e:
            parts.append(f"<pubDate>{xml_text(e['date'])}</pubDate>")
        if "summary" in e:
            parts.append(f"<description>{xml_text(e['summary'])}</description>")
        parts += [f"<category>{xml_text(c)}</category>" for c in e.get("categories", [])]
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed</title>'
        f"<link>{xml_text(channel_link)}</link>{''.join(items)}</channel></rss>"
    ).encode()


def atom(entries: list[dict], channel_link: str) -> bytes:
    out = []
    for n, e in enumerate(entries):
        parts = [f"<title>{xml_text(e['title'])}</title>", f"<id>{n}-{xml_text(e['id'])}</id>"]
        if "link" in e:
            parts.append(f"<link href={quoteattr(XML_INVALID.sub('', e['link']))}/>")
        if "date" in e:
            parts.append(f"<updated>{xml_text(e['date'])}</updated>")
        if "summary" in e:
            parts.append(f'<summary type="html">{xml_text(e["summary"])}</summary>')
        parts += [f"<category term={quoteattr(XML_INVALID.sub('', c))}/>" for c in e["categories"]]
        out.append("<entry>" + "".join(parts) + "</entry>")
    link = f"<link href={quoteattr(XML_INVALID.sub('', channel_link))}/>"
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Feed</title>{link}{''.join(out)}</feed>"
    ).encode()


@FAST
@given(
    entries=st.lists(entry, min_size=1, max_size=6),
    channel_link=st.sampled_from(LINKS),
    kind=st.sampled_from([rss, atom]),
)
def test_feeds_keep_every_entry_with_a_title_and_keep_it_clean(entries, channel_link, kind):
    if kind is atom:
        for e in entries:
            e.setdefault("categories", [])
    result = feed.parse(kind(entries, channel_link), "f.xml")
    assert result.errors == []
    assert [a.title for a in result.articles] == [" ".join(e["title"].split()) for e in entries]
    for article in result.articles:
        check(article)


@FAST
@given(data=st.binary(max_size=300) | nasty_text.map(lambda t: t.encode("utf-8", "replace")))
def test_any_bytes_as_a_feed_only_report(data):
    result = feed.parse(b"<rss>" + data, "f.xml")
    for article in result.articles:
        check(article)
    assert all(isinstance(e, InputError) for e in result.errors)


# -- page exports ------------------------------------------------------------------------

page_line = st.one_of(
    words,
    nasty_text,
    st.sampled_from(LINKS).map(lambda link: f"  {link}  "),
    st.just("Home | News | Sport"),
    st.just("The Example Gazette — logo"),
    st.just("Translated and edited by Ana Silva"),
    st.just(" " * 3000 + "x"),
    st.just(""),
)


@FAST
@given(
    lines=st.lists(page_line, max_size=15),
    tags=st.none() | st.lists(st.one_of(words, nasty_text), max_size=60),
)
def test_page_exports_only_report_and_keep_clean_fields(lines, tags):
    text = "\n".join(lines)
    if tags is not None:
        text += "\nHelpful keywords\n" + "\n".join(tags)
    try:
        article = webpage.parse(text, "p.txt", "p")
    except InputError as err:
        assert err.where == "p.txt"
        return
    check(article)


# -- into the store -----------------------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=st.lists(entry, min_size=1, max_size=5), kind=st.sampled_from([rss, atom]))
def test_every_parsed_feed_entry_is_stored(store, entries, kind):
    for e in entries:
        e.setdefault("categories", [])
        e["id"] = f"{e['id']}-{id(e)}"  # examples share one database
    result = feed.parse(kind(entries, "https://site.example/"), "f.xml")
    saved = store.save_articles(result.articles)
    assert saved.failed == []
    assert saved.new + saved.updated + saved.unchanged == len(result.articles)
