"""feedparser's own test corpus as the yardstick of digest's feed reading (issue 23).

Two promises, each checked on all 2,106 files of tests/data/feedparser/ (grouped
by folder, so a failure names the folder and lists each file and field):

1. where feedparser's ``Expect:`` line is about a field digest keeps, digest's
   stored value agrees with it, after digest's documented normalisations
   (``feedparser_corpus`` says how);
2. the two readers (lxml's fast path and the feedparser fallback) make the same
   articles of every file the fast path takes.

What digest answers differently is listed, with the reason, in
tests/data/feedparser-disagreements.toml. A new disagreement fails, and so does
a listed one that no longer disagrees: the list stays true.
``python tests/sources/feedparser_corpus.py`` prints the list as it is now.
"""

from __future__ import annotations

from collections import defaultdict
from xml.sax.saxutils import escape

import feedparser
import feedparser_corpus as corpus
import pytest
from conftest import every_article
from hypothesis import given, settings
from hypothesis import strategies as st
from standins.feed_server import FeedStandIn

from digest.sources import ingest
from digest.sources.files import parse_file

FILES = corpus.corpus_files()
GROUPS: dict[str, list] = defaultdict(list)
for _path in FILES:
    GROUPS[corpus.name_of(_path.parent) if _path.parent != corpus.CORPUS else "."].append(_path)
LISTED = corpus.listed()
UTC_ZONE = corpus.UTC_ZONE


@pytest.fixture(scope="module")
def server():
    with FeedStandIn() as running:
        yield running


def in_group(table: dict, group: str) -> dict:
    return {
        key: reason
        for key, reason in table.items()
        if corpus.name_of((corpus.CORPUS / key.split(" | ")[0]).parent) == group
        or (group == "." and "/" not in key.split(" | ")[0])
    }


def test_the_corpus_is_all_there():
    assert len(FILES) == 2107  # besides LICENSE and README.md
    assert sum(bool(corpus.expectation(p.read_bytes())) for p in FILES) >= 2080


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_digest_agrees_with_feedparsers_expectations(group, server):
    found = {}
    for path in GROUPS[group]:
        served = corpus.headers_of(path.read_bytes())
        verdict = corpus.judge(path, corpus.server_for(server, path) if served else None)
        for fields, part in verdict.failed.items():
            found[f"{verdict.name} | {fields}"] = part
    listed = in_group(LISTED.get("corpus", {}), group)
    new = {key: part for key, part in found.items() if key not in listed}
    gone = sorted(key for key in listed if key not in found)
    assert not new, "digest disagrees with feedparser's expectation (fix, or list it):\n" + (
        "\n".join(f"  {key}: {part}" for key, part in sorted(new.items()))
    )
    assert not gone, "listed as a disagreement, but digest now agrees (remove it):\n" + (
        "\n".join(f"  {key}" for key in gone)
    )


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_both_readers_make_the_same_articles(group):
    differ = {corpus.name_of(p) for p in GROUPS[group] if corpus.readers_differ(p)}
    listed = set(in_group(LISTED.get("readers", {}), group))
    assert not differ - listed, "the lxml reader and feedparser's differ (fix, or list it):\n" + (
        "\n".join(f"  {name}" for name in sorted(differ - listed))
    )
    assert not listed - differ, "listed as read differently, but the readers agree now:\n" + (
        "\n".join(f"  {name}" for name in sorted(listed - differ))
    )


def test_every_listed_disagreement_says_why():
    for table in ("corpus", "readers"):
        for key, reason in LISTED.get(table, {}).items():
            assert (corpus.CORPUS / key.split(" | ")[0]).is_file(), key
            assert reason.strip() and not reason.startswith("TODO"), key


# -- the yardstick itself: it must see a disagreement where there is one -----------


def test_a_part_about_a_field_digest_keeps_is_judged_and_others_are_not():
    expression = "not bozo and entries[0]['title_detail']['type'] == 'text/plain' and "
    expression += "entries[0]['title'] == u'Example' and feed['tagline'] == 'x'"
    assert corpus.parts(expression) == [("entries[0]['title'] == u'Example'", ["entries[0].title"])]


def test_a_wrong_value_is_a_disagreement_and_a_normalised_one_is_not(tmp_path):
    atom = (
        "<!--\nDescription: x\nExpect: entries[0]['title'] == 'Café <b>news</b>' and "
        "entries[0]['summary'] == '<p>One   two</p>' and "
        "entries[0]['updated_parsed'] == (2004, 1, 2, 3, 4, 5, 4, 2, 0)\n-->\n"
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="html">'
        "Café &lt;b&gt;news&lt;/b&gt;</title>"
        "<summary type='html'>&lt;p&gt;One two&lt;/p&gt;</summary>"
        "<updated>2004-01-02T04:04:05+01:00</updated></entry></feed>"
    )
    good = tmp_path / "good.xml"
    good.write_text(atom, encoding="utf-8")
    verdict = corpus.judge(good)
    assert (verdict.checked, verdict.failed) == (3, {})
    bad = tmp_path / "bad.xml"
    bad.write_text(atom.replace("One two&lt;", "One three&lt;"), encoding="utf-8")
    assert list(corpus.judge(bad).failed) == ["entries[0].summary"]


def test_an_entry_without_a_title_is_judged_on_a_copy_with_one(tmp_path):
    rss = (
        "<!--\nDescription: x\nExpect: entries[0]['link'] == 'http://example.com/a'\n-->\n"
        '<rss version="2.0"><channel><item><link>http://example.com/a</link></item>'
        "</channel></rss>"
    )
    path = tmp_path / "link.xml"
    path.write_text(rss, encoding="utf-8")
    assert (corpus.judge(path).checked, corpus.judge(path).failed) == (1, {})


_WORDS = st.text(alphabet="abcdefgh &<>'\"é€", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), _WORDS), _WORDS), min_size=1, max_size=5))
def test_a_title_is_added_only_where_an_entry_has_none(items):
    """The copy keeps every entry, its title if it had one, and its text; one title each."""
    body = "".join(
        "<item>"
        + (f"<title>{escape(title)}</title>" if title is not None else "")
        + f"<description>{escape(text)}</description></item>"
        for title, text in items
    )
    data = f'<rss version="2.0"><channel><title>F</title>{body}</channel></rss>'.encode()
    before = feedparser.parse(data).entries
    copy = corpus.with_titles(data)
    after = feedparser.parse(copy).entries
    assert copy.count(b"<title>") == 1 + len(items)
    assert len(after) == len(before) == len(items)
    for old, new in zip(before, after, strict=True):
        assert new.title == (old.get("title") or corpus.ADDED_TITLE)  # a blank title is none
        assert new.description == old.description


def test_what_the_corpus_test_reads_is_what_ingest_stores(store, tmp_path):
    """The yardstick reads files as ``digest ingest`` does; the store keeps exactly that.

    On the title-added copies of the Atom 1.0 files that hold entries.
    """
    read = []
    for path in sorted((corpus.CORPUS / "wellformed" / "atom10").iterdir()):
        copy = tmp_path / path.name
        copy.write_bytes(corpus.with_titles(path.read_bytes()))
        found = parse_file(copy.read_bytes(), copy, UTC_ZONE).articles
        if found:
            read.extend(found)
        else:
            copy.unlink()
    report = ingest(store, [str(tmp_path)], UTC_ZONE)
    assert report.new == len({(a.source, a.guid) for a in read}) > 150

    def shown(a) -> tuple:
        return (a.source, a.guid, a.title, a.url, a.summary, a.body, a.published, *a.keywords)

    assert sorted(map(shown, every_article(store)), key=repr) == sorted(
        {shown(a) for a in read}, key=repr
    )


_KEPT = [
    "entries[0]['title'] == 'a'",
    "entries[1].link == 'http://example.com/'",
    "entries[0]['content'][0]['value'] == '<p>x</p>'",
    "entries[0]['tags'][1]['term'] == 'b'",
    "entries[0].get('updated_parsed') == (2004, 1, 1, 0, 0, 0, 3, 1, 0)",
    "feed['title_detail']['value'] == 'c'",
    "'x' in items[0]['description']",
]
_NOT_KEPT = [
    "bozo",
    "not bozo",
    "encoding == 'utf-8'",
    "entries[0]['title_detail']['type'] == 'text/plain'",
    "entries[0]['tags'][0]['scheme'] == 's'",
    "feed['tagline'] == 'd'",
    "feed.link == 'http://example.com/'",
    "entries[0]['author_detail']['name'] == 'e'",
]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(_KEPT + _NOT_KEPT), min_size=1, max_size=6))
def test_only_the_parts_about_kept_fields_are_judged(chosen):
    found = [part for part, _fields in corpus.parts(" and ".join(chosen))]
    assert found == [part for part in chosen if part in _KEPT]
