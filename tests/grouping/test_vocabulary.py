"""Sections people would recognise: what tags an untagged article, and what a section is called.

The examples of issue 15 each have a test: "go", "may" and "it" in a sentence
are not Go, May and IT; a category one feed uses ("LOL", "announce") is not
vocabulary for tagging others; "Uncategorized" is never a section; the keyword
an article mentions most wins; "announce" is shown as "Announce", and every
subscriber sees the same name.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, article, as_release, subscriber

from digest.config.settings import Settings
from digest.editions.contents import EditionContent, propose_edition, vocabulary
from digest.grouping.sections import MORE_NEWS_TITLE, Vocabulary, build_sections, tag_articles
from digest.keywords import display_name, matched_as_spelt
from digest.models import StoredArticle
from digest.rendering.renderer import Renderer

_ids = itertools.count(1)


def untagged(title: str, body: str = "") -> StoredArticle:
    n = next(_ids)
    return StoredArticle(guid=f"u{n}", title=title, body=body, published=NOW, id=n, first_seen=NOW)


# -- case ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "as_spelt"),
    [("AI", True), ("IT", True), ("US", True), ("EU", True), ("Go", True), ("May", True),
     ("NASA", True), ("COVID-19", True), ("C++", True), ("Turkey", False), ("Energy", False),
     ("iPhone", False), ("climate change", False), ("U.S.", True)],
)  # fmt: skip
def test_capitals_and_short_keywords_are_matched_as_spelt(spelling, as_spelt):
    assert matched_as_spelt(spelling) is as_spelt


def test_go_may_and_it_in_a_sentence_are_not_keywords():
    vocab = Vocabulary(known=["Go", "May", "IT", "AI"])
    assert vocab.infer("I may go and fix it") == []
    assert vocab.infer("Go 1.24 is out; IT teams upgrade in May") == ["go", "it", "may"]
    assert vocab.infer("AI tutors, said the head") == ["ai"]  # not "ai" inside "said"
    assert vocab.infer("ai is everywhere") == []


def test_a_short_keyword_only_ever_seen_in_lower_case_does_not_tag():
    vocab = Vocabulary(known=["it", "go"])
    assert vocab.infer("It is what it is; Go and go") == []


def test_longer_keywords_still_match_in_any_case():
    vocab = Vocabulary(known=["Energy", "Turkey"])
    assert vocab.infer("ENERGY prices, turkey farms") == ["energy", "turkey"]


def test_an_alias_in_capitals_is_matched_as_spelt():
    vocab = Vocabulary(aliases={"Artificial intelligence": ["AI", "machine learning"]})
    assert vocab.infer("Machine Learning and AI") == ["artificial intelligence"]
    assert vocab.infer("she said ai") == []


# -- the keyword mentioned most --------------------------------------------------------


def test_an_untagged_article_goes_to_the_keyword_it_mentions_most():
    vocab = Vocabulary(known=["Energy", "Space"])
    space = [
        article for article in (untagged(f"Space story {n}", "About space.") for n in range(3))
    ]
    mostly_energy = untagged(
        "Space agency cuts its energy bill", "Energy prices rose; the energy plan saves energy."
    )
    sections = build_sections(tag_articles([*space, mostly_energy], vocab), frozenset(), vocab, 8)
    by_title = {s.title: [a.title for a in s.articles] for s in sections}
    assert by_title["Energy"] == ["Space agency cuts its energy bill"]
    assert len(by_title["Space"]) == 3  # the bigger section did not take it


def test_on_a_tie_the_bigger_section_wins():
    vocab = Vocabulary(known=["Energy", "Space"])
    space = [untagged(f"Space story {n}", "About space.") for n in range(2)]
    both = untagged("Energy in space", "")
    sections = build_sections(tag_articles([*space, both], vocab), frozenset(), vocab, 8)
    assert [(s.title, len(s.articles)) for s in sections] == [("Space", 3)]


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("announce", "Announce"), ("LOL", "LOL"), ("iPhone", "iPhone"), ("中文", "中文"),
     ("climate change", "Climate change"), ("c++", "C++")],
)  # fmt: skip
def test_a_lowercase_only_keyword_is_shown_with_an_initial_capital(spelling, name):
    assert display_name(spelling) == name


def test_the_configured_spelling_wins_then_the_most_common():
    vocab = Vocabulary(
        aliases={"Artificial Intelligence": ["AI"]},
        known=["climate", "Climate", "Climate", "energy"],
        topics=["SPACE"],
    )
    assert vocab.name("artificial intelligence") == "Artificial Intelligence"
    assert vocab.name("climate") == "Climate"
    assert vocab.name("energy") == "Energy"
    assert vocab.name("space") == "SPACE"


# -- the vocabulary of a store ---------------------------------------------------------

T0 = NOW - timedelta(hours=2)


def edition_content(store, settings: Settings) -> EditionContent:
    edition = propose_edition(store, settings, NOW.date(), settings.timezone, NOW)
    return EditionContent(store, settings, edition, Renderer(settings))


def test_only_keywords_two_sources_share_tag_untagged_articles(store, settings):
    store.save_articles(
        [
            article("Comic strip one", ["LOL"], source="Tumblr", published=T0),
            article("Comic strip two", ["LOL"], source="Tumblr", published=T0),
            article("Tails 5.0 is out", ["announce"], source="Tails", published=T0),
            article("Wind farm opens", ["Energy"], source="Wire", published=T0),
            article("Grid upgrade", ["energy"], source="Paper", published=T0),
            article("LOL and announce: energy news", [], source="Blog", published=T0),
        ],
        now=T0,
    )
    vocab = vocabulary(store, settings)
    assert vocab.infer("LOL, an announce about energy") == ["energy"]
    content = edition_content(store, settings)
    sections = {s.title: [a.title for a in s.articles] for s in content.sections("")}
    assert "LOL and announce: energy news" in sections["Energy"]
    # One source's own tag is not a section: its items are grouped by their source,
    # and "announce" (feed machinery) is nobody's section.
    assert sections["From Tumblr"] == ["Comic strip one", "Comic strip two"]
    assert sections["From Tails"] == ["Tails 5.0 is out"]


def test_ignored_keywords_are_never_a_section(store, settings):
    settings.ignore = ["Announce"]
    store.save_articles(
        [
            article("Tails 5.0 is out", ["announce"], source="", published=T0),
            article("Hello world", ["Uncategorized"], source="", published=T0),
            article("General meeting", ["General", "Local"], source="Paper", published=T0),
            article("Library hours", ["Local"], source="Radio", published=T0 - timedelta(hours=1)),
        ],
        now=T0,
    )
    sections = {
        s.title: [a.title for a in s.articles]
        for s in edition_content(store, settings).sections("")
    }
    assert sections == {
        "Local": ["General meeting", "Library hours"],
        MORE_NEWS_TITLE: ["Hello world", "Tails 5.0 is out"],
    }


def test_every_subscriber_sees_the_same_name_for_a_keyword(store, settings):
    store.save_articles(
        [
            article("Heat pumps sell", ["heat pumps"], source="Wire", published=T0),
            article("Heat pump grants", ["Heat Pumps"], source="Paper", published=T0),
            article("Heat pump noise", ["Heat Pumps"], source="Radio", published=T0),
            article("Rates held", ["Economy"], source="Wire", published=T0),
        ],
        now=T0,
    )
    content = edition_content(store, settings)
    everything = {s.key: s.title for s in content.sections("")}
    only = {s.key: s.title for s in content.sections("heat pumps")}
    assert everything["heat pumps"] == only["heat pumps"] == "Heat Pumps"
    assert content.topic_names("heat pumps") == ["Heat Pumps"]


def test_a_database_from_before_keeps_its_vocabulary(db_url, settings):
    from digest.store.store import Store

    first = Store(db_url)
    first.save_articles(
        [
            article("Wind farm opens", ["Energy"], source="Wire", published=T0),
            article("Grid upgrade", ["Energy"], source="Paper", published=T0),
        ],
        now=T0,
    )
    first.close()
    as_release(db_url, 8, "DROP TABLE keyword_sources")  # before schema version 9
    again = Store(db_url)  # the table is made again, filled from the articles
    try:
        assert vocabulary(again, settings).infer("energy bills") == ["energy"]
    finally:
        again.close()


def test_the_window_is_unaffected(store, settings):
    store.save_subscribers([subscriber("ann@example.com")])
    store.save_articles([article("Old", ["Energy"], published=datetime(2020, 1, 1, tzinfo=UTC))])
    assert edition_content(store, settings).sections("") == []
