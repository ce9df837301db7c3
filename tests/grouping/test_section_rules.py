"""Sections a reader recognises (issue 21, point 2): never a language edition, a post
format or feed machinery; a keyword of one source alone is not a section; what no
section claims goes under its source or "More news"."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.grouping.sections import (
    MORE_NEWS_TITLE,
    Grouped,
    Vocabulary,
    build_sections,
    tag_articles,
)
from digest.keywords import is_locale, never_a_section
from digest.models import StoredArticle
from digest.sources import read

FEEDS = Path(__file__).resolve().parent.parent / "data" / "feeds"
_ids = itertools.count(1)


def feed_items(name: str) -> list[StoredArticle]:
    result = read(str(FEEDS / name), ZoneInfo("UTC"))
    return [
        StoredArticle(**vars(a), id=next(_ids), first_seen=datetime(2026, 11, 24, tzinfo=UTC))
        for a in result.articles
    ]


def stored(title: str, keywords=(), source: str = "Wire") -> StoredArticle:
    n = next(_ids)
    return StoredArticle(
        guid=f"g{n}",
        title=title,
        url=f"https://example.org/{n}",
        summary="Text.",
        source=source,
        keywords=list(keywords),
        published=datetime(2026, 11, 24, 12, tzinfo=UTC),
        id=n,
    )


def titles(articles, vocab, topics=()) -> dict[str, list[str]]:
    sections = build_sections(tag_articles(articles, vocab), vocab.topic_keys(topics), vocab, 99)
    return {s.title: [a.title for a in s.articles] for s in sections}


@pytest.mark.parametrize(
    "spelling",
    ["Chinese_simplified", "chinese_traditional", "Simplified Chinese", "zh-CN", "zh-cn",
     "en_US", "pt-BR", "zh-Hans", "sr-Latn-RS", "es-419", "en", "zh", "English (US)"],
)  # fmt: skip
def test_a_language_edition_is_never_a_section(spelling):
    assert is_locale(spelling) and never_a_section(spelling)


@pytest.mark.parametrize(
    "spelling",
    ["English", "Chinese", "French", "IT", "PL", "Climate", "Wi-Fi", "Hi-Fi", "co-op",
     "in-depth", "Node.js", "AI"],
)  # fmt: skip
def test_a_subject_is_not_taken_for_a_language_edition(spelling):
    """A bare language name is as often the subject ("English football"), and IT or PL in
    capitals are subjects: they become sections by the ordinary rules."""
    assert not is_locale(spelling) and not never_a_section(spelling)


@pytest.mark.parametrize(
    "spelling",
    ["announce", "Uncategorized", "photo", "Photos", "video", "gallery", "podcast",
     "audio", "image", "link", "quote", "aside", "status"],
)  # fmt: skip
def test_post_formats_and_feed_machinery_are_never_a_section(spelling):
    assert never_a_section(spelling)


def test_bbc_chinese_is_filed_under_world_not_under_its_language():
    """bbc-chinese-feed.atom files every entry under "chinese_simplified" (a language
    edition) and "homepage"; two of them also under "world", a configured topic."""
    articles = feed_items("bbc-chinese-feed.atom")
    vocab = Vocabulary(known=["chinese_simplified", "chinese_simplified"], topics=["World"])
    sections = titles(articles, vocab)
    assert "Chinese_simplified" not in sections and "Homepage" not in sections
    assert len(sections["World"]) == 2


def test_a_configured_alias_still_folds_a_language_edition_into_its_topic():
    articles = feed_items("bbc-chinese-feed.atom")
    vocab = Vocabulary(aliases={"World": ["Chinese_simplified"]})
    assert titles(articles, vocab) == {"World": [a.title for a in articles]}


def test_announce_is_not_a_section_even_when_two_sources_share_it():
    tails = feed_items("tails-feed.rss")[:3]
    assert all("announce" in a.keywords for a in tails)
    others = [stored("Release notes for 2.0", ["announce"], source="Project")]
    vocab = Vocabulary(known=["announce", "announce"])
    sections = titles([*tails, *others], vocab)
    assert "Announce" not in sections
    assert sections["From Tails - News"] == [a.title for a in tails]
    assert sections["From Project"] == ["Release notes for 2.0"]


def test_a_keyword_of_one_source_alone_is_not_a_section_but_a_subscribers_topic_is():
    """tumblr's "comics" and "LOL" are one blog's own filing: not sections of everyone's
    email; the subscriber who chose Comics still gets them as their section."""
    comics = [a for a in feed_items("tumblr-feed.rss") if "comics" in a.keywords]
    glacier = stored("Glacier melt sets record", ["Climate"], source="Wire")
    vocab = Vocabulary(known=["Climate", "Climate"])
    everything = titles([*comics, glacier], vocab)
    assert set(everything) == {"Climate", "From Sarah's Scribbles"}
    assert set(titles([*comics, glacier], vocab, topics=["Comics"])) == {"Comics"}


def test_what_no_section_claims_is_grouped_by_its_source_and_more_news_keeps_the_sourceless():
    articles = [
        stored("split massive package into modules", source="gmane.mail.rss2email"),
        stored("new maintainer and mailing list", source="gmane.mail.rss2email"),
        stored("Our achievements in 2020", source="Tails"),
        stored("A page with no source", source=""),
        stored("Rates held", ["Economy"], source="Wire"),
        stored("Port volumes rebound", ["Economy"], source="Paper"),
    ]
    vocab = Vocabulary(known=["Economy", "Economy"])
    sections = titles(articles, vocab)
    assert list(sections) == [
        "Economy",
        "From gmane.mail.rss2email",
        "From Tails",
        MORE_NEWS_TITLE,
    ]
    assert sections[MORE_NEWS_TITLE] == ["A page with no source"]


def test_an_edition_from_one_source_alone_keeps_that_sources_keywords_as_sections():
    """A single newsroom's install: its own keywords are all the vocabulary there is, and
    one "From The Example Times" heading over everything would say nothing."""
    articles = [
        stored("Glacier melt sets record", ["Climate"], source="The Example Times"),
        stored("Chipmaker builds fab", ["Technology"], source="The Example Times"),
        stored("Tails 5.0 is out", ["announce"], source="The Example Times"),
    ]
    sections = titles(articles, Vocabulary())
    assert sections == {
        "Climate": ["Glacier melt sets record"],
        "Technology": ["Chipmaker builds fab"],
        "From The Example Times": ["Tails 5.0 is out"],
    }


POOL = ["Climate", "Energy", "Space", "Sport", "lol"]


@given(
    days=st.lists(
        st.tuples(st.lists(st.sampled_from(POOL), max_size=3), st.sampled_from(["A", "B"])),
        max_size=8,
    ),
    topics=st.lists(st.sampled_from([*POOL, "Chess"]), max_size=3),
)
def test_a_segment_is_known_empty_exactly_when_it_would_get_no_section(days, topics):
    # Planning asks every segment whether it is empty without building its sections.
    articles = [stored(f"Story {n}", keys, source) for n, (keys, source) in enumerate(days)]
    vocab = Vocabulary(
        known=[k for a in articles for k in a.keywords], chosen=dict.fromkeys(topics, 1)
    )
    grouped = Grouped(tag_articles(articles, vocab))
    keys = vocab.topic_keys(topics)
    assert grouped.gives_nothing(keys) == (not build_sections(grouped, keys, vocab, 8))
