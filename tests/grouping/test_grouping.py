"""Grouping: keyword keys, aliases, auto-tagging and the sections each subscriber gets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from digest.grouping.sections import (
    MORE_NEWS_TITLE,
    Vocabulary,
    build_sections,
    keyword_key,
    tag_articles,
)
from digest.models import StoredArticle

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
_ids = itertools.count(1)


def stored(title, keywords=(), *, hours_ago=0.0, body="", published=True, **extra):
    """A stored article; published ``hours_ago`` before T0, else only first seen then."""
    n = next(_ids)
    when = T0 - timedelta(hours=hours_ago)
    return StoredArticle(
        guid=f"urn:test:{n}",
        title=title,
        url=f"https://news.example.org/{n}",
        summary=extra.pop("summary", ""),
        body=body,
        source=extra.pop("source", "Example Times"),
        published=when if published else None,
        keywords=list(keywords),
        id=n,
        first_seen=when if not published else T0,
        **extra,
    )


def sections_for(articles, topics=(), *, vocab=None, max_per_section=8):
    vocab = vocab or Vocabulary(known=[k for a in articles for k in a.keywords])
    tagged = tag_articles(articles, vocab)
    return build_sections(tagged, vocab.topic_keys(topics), vocab, max_per_section)


def layout(sections):
    return [(s.title, [a.title for a in s.articles], s.more) for s in sections]


# -- keyword keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("Climate", "climate"),
        ("ＡＩ", "ai"),  # full-width letters
        ("Ｓｐａｃｅ　Ｘ", "space x"),  # full-width letters and ideographic space
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("  climate \t\n change  ", "climate change"),
        ("ﬁnance", "finance"),  # the fi ligature
        ("Cafe\u0301", "café"),  # combining accent composed
        ("", ""),
    ],
)
def test_keyword_key(spelling, key):
    assert keyword_key(spelling) == key


def test_spellings_that_differ_only_by_form_share_a_key():
    assert keyword_key("Straße") == keyword_key("STRASSE") == keyword_key("strasse")
    assert keyword_key("Climate  Change") == keyword_key("climate change")
    assert keyword_key("Space") != keyword_key("Spaces")


# -- the vocabulary -------------------------------------------------------------


def test_aliases_fold_into_the_canonical_keyword():
    vocab = Vocabulary(aliases={"Climate": ["global warming", "Climate Change"]})
    assert vocab.resolve("Global Warming") == "climate"
    assert vocab.resolve("CLIMATE CHANGE") == "climate"
    assert vocab.resolve("climate") == "climate"
    assert vocab.resolve("Weather") == "weather"
    assert vocab.topic_keys(["global warming", "Space", "  "]) == {"climate", "space"}


def test_alias_articles_share_one_section_titled_with_the_configured_spelling():
    vocab = Vocabulary(aliases={"Climate Crisis": ["global warming", "climate change"]})
    articles = [
        stored("Glaciers shrink", ["global warming"], hours_ago=1),
        stored("Heatwave record", ["Climate change"], hours_ago=2),
        stored("Summit opens", ["climate crisis"], hours_ago=3),
    ]
    (section,) = sections_for(articles, vocab=vocab)
    assert section.title == "Climate Crisis"
    assert [a.title for a in section.articles] == [
        "Glaciers shrink",
        "Heatwave record",
        "Summit opens",
    ]


def test_infer_matches_whole_words_case_insensitively():
    vocab = Vocabulary(known=["Space", "AI"])
    assert vocab.infer("Pictures from Space, taken yesterday") == ["space"]
    assert vocab.infer("SPACE is big") == ["space"]
    assert vocab.infer("A new spaceport opens") == []
    assert vocab.infer("Airspace closed") == []
    assert vocab.infer("Rules for AI models") == ["ai"]
    assert vocab.infer("She said it again") == []  # "ai" inside "said"
    assert vocab.infer("") == []
    assert Vocabulary().infer("anything at all") == []


def test_infer_prefers_the_longest_phrase():
    vocab = Vocabulary(known=["Energy", "Solar Energy", "solar"])
    assert vocab.infer("Solar energy prices fall") == ["solar energy"]
    assert vocab.infer("Energy prices fall") == ["energy"]
    assert vocab.infer("Solar panels and energy bills") == ["solar", "energy"]


def test_infer_resolves_aliases_and_handles_full_width_text():
    vocab = Vocabulary(aliases={"Climate": ["global warming"]}, known=["AI"])
    assert vocab.infer("The cost of Global   Warming") == ["climate"]
    assert vocab.infer("ＡＩ tutors in schools") == ["ai"]


# -- tagging -----------------------------------------------------------------------


def test_untagged_articles_are_tagged_from_the_vocabulary():
    vocab = Vocabulary(known=["Space", "Energy"])
    tagged = tag_articles(
        [
            stored("Satellite launched", body="It will watch storms from space."),
            stored("Bake sale raises money", body="Cakes and biscuits."),
            stored("Tagged already", ["Health"], body="Nothing about space here."),
        ],
        vocab,
    )
    assert [t.keys for t in tagged] == [["space"], [], ["health"]]


# -- sections ------------------------------------------------------------------------


def test_article_appears_once_even_with_several_keywords():
    articles = [
        stored("Solar boom", ["Energy", "Climate"], hours_ago=1),
        stored("Wind auction", ["Energy"], hours_ago=2),
        stored("Glacier loss", ["Climate"], hours_ago=3),
        stored("Grid upgrade", ["Energy"], hours_ago=4),
        stored("Everything story", ["Climate", "Energy", "Economy", "Space"], hours_ago=5),
    ]
    sections = sections_for(articles)
    titles = [a.title for s in sections for a in s.articles]
    assert sorted(titles) == sorted(a.title for a in articles)  # each once, none lost
    # a shared article goes to the bigger section
    assert layout(sections) == [
        ("Energy", ["Solar boom", "Wind auction", "Grid upgrade", "Everything story"], 0),
        ("Climate", ["Glacier loss"], 0),
    ]


def test_subscriber_with_topics_gets_only_those_sections():
    articles = [
        stored("Mars rethink", ["Space"], hours_ago=1),
        stored("Solar boom", ["Energy", "Climate"], hours_ago=2),
        stored("Rates held", ["Economy"], hours_ago=3),
        stored("Bake sale", [], hours_ago=4),
    ]
    sections = sections_for(articles, topics=["space", "CLIMATE"])
    assert layout(sections) == [
        ("Climate", ["Solar boom"], 0),
        ("Space", ["Mars rethink"], 0),
    ]
    assert MORE_NEWS_TITLE not in [s.title for s in sections]


def test_topics_given_by_alias_pick_the_canonical_section():
    vocab = Vocabulary(aliases={"Climate": ["global warming"]}, known=["Climate", "Space"])
    articles = [stored("Glacier loss", ["Climate"]), stored("Mars", ["Space"])]
    sections = sections_for(articles, topics=["Global Warming"], vocab=vocab)
    assert layout(sections) == [("Climate", ["Glacier loss"], 0)]


def test_subscriber_without_topics_gets_everything_and_more_news_last():
    vocab = Vocabulary(known=["Space", "Economy", "Energy"])
    articles = [
        stored("Bake sale raises money", [], body="Cakes.", hours_ago=1, source=""),
        stored("Mars rethink", ["Space"], hours_ago=2),
        stored(
            "Launch from the spaceport",
            [],
            body="A rocket left the spaceport.",
            hours_ago=3,
            source="",
        ),
        stored("Satellite up", [], body="Seen from space, minute by minute.", hours_ago=4),
        stored("Rates held", ["Economy"], hours_ago=5),
        stored("Port volumes rebound", ["Economy"], hours_ago=6),
        stored("Lunar lander", ["Space"], hours_ago=7),
    ]
    sections = sections_for(articles, vocab=vocab)
    assert layout(sections) == [
        ("Space", ["Mars rethink", "Satellite up", "Lunar lander"], 0),
        ("Economy", ["Rates held", "Port volumes rebound"], 0),
        (MORE_NEWS_TITLE, ["Bake sale raises money", "Launch from the spaceport"], 0),
    ]


def test_more_news_is_last_even_when_biggest():
    articles = [stored(f"Untagged {n}", [], source="") for n in range(5)]
    articles.append(stored("Tagged", ["Space"]))
    sections = sections_for(articles)
    assert [s.title for s in sections] == ["Space", MORE_NEWS_TITLE]


def test_subscriber_with_topics_never_gets_untagged_leftovers():
    articles = [stored("Bake sale", []), stored("Cake fair", [])]
    assert sections_for(articles, topics=["Space"]) == []


def test_sections_ordered_by_size_then_name():
    articles = [
        stored("z1", ["Zoology"]),
        stored("a1", ["astronomy"]),
        stored("e1", ["Energy"]),
        stored("e2", ["Energy"]),
        stored("b1", ["Biology"]),
        stored("e3", ["Energy"]),
        stored("c1", ["Climate"]),
        stored("c2", ["Climate"]),
    ]
    sections = sections_for(articles)
    assert [(s.title, s.total) for s in sections] == [
        ("Energy", 3),
        ("Climate", 2),
        ("Astronomy", 1),  # a lowercase-only tag gets an initial capital
        ("Biology", 1),
        ("Zoology", 1),
    ]


def test_at_most_max_per_section_newest_first_with_the_rest_counted():
    articles = [stored(f"Story {n}", ["Energy"], hours_ago=n) for n in range(7)]
    articles += [stored("Solo", ["Space"])]
    sections = sections_for(articles, max_per_section=3)
    energy = sections[0]
    assert energy.title == "Energy"
    assert [a.title for a in energy.articles] == ["Story 0", "Story 1", "Story 2"]
    assert energy.more == 4
    assert energy.total == 7
    assert (sections[1].title, sections[1].more) == ("Space", 0)


def test_undated_articles_are_ordered_by_first_seen():
    articles = [
        stored("Older dated", ["Energy"], hours_ago=5),
        stored("Undated, seen recently", ["Energy"], hours_ago=1, published=False),
        stored("Newest dated", ["Energy"], hours_ago=0),
    ]
    (section,) = sections_for(articles)
    assert [a.title for a in section.articles] == [
        "Newest dated",
        "Undated, seen recently",
        "Older dated",
    ]


def test_section_title_uses_the_most_common_spelling():
    articles = [
        stored("one", ["ai"]),
        stored("two", ["AI"]),
        stored("three", ["AI"]),
        stored("four", ["Ａｉ"]),
    ]
    (section,) = sections_for(articles)
    assert section.title == "AI"
    assert len(section.articles) == 4


def test_configured_spelling_beats_article_spelling():
    vocab = Vocabulary(aliases={"Artificial Intelligence": ["ai"]})
    articles = [stored("one", ["AI"]), stored("two", ["ai"])]
    (section,) = sections_for(articles, vocab=vocab)
    assert section.title == "Artificial Intelligence"


def test_inferred_section_is_titled_with_the_known_spelling():
    vocab = Vocabulary(known=["Space"])
    articles = [stored("Satellite", [], body="Seen from SPACE.")]
    (section,) = sections_for(articles, vocab=vocab)
    assert section.title == "Space"


def test_no_articles_no_sections():
    assert sections_for([]) == []
