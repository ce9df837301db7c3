"""Chosen topics are vocabulary (issue 21, point 1), on SQLite and PostgreSQL.

A topic a subscriber holds (imported, added, typed on the preferences page)
tags the untagged articles that mention it, and catches a tagged article whose
headline or summary names it; a keyword one newsroom uses on several of its
articles tags its untagged pages. The articles are the real sample ones: the
saved Aleppo page, the bake-sale page, the wire's quantum-chip story.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import NOW, article, subscriber

from digest.editions.contents import USED_ON, EditionContent, propose_edition, vocabulary
from digest.models import Article
from digest.rendering.renderer import Renderer
from digest.sources import read
from digest.subscribers import admin

ROOT = Path(__file__).resolve().parents[2]
ALEPPO = ROOT / "benchmarks" / "data" / "aleppo-export.txt"
BAKE_SALE = ROOT / "examples" / "articles" / "school-bake-sale-export.txt"
WIRE = ROOT / "examples" / "articles" / "wire.jsonl"
T0 = NOW - timedelta(hours=2)


def sample(path: Path) -> list[Article]:
    """The articles a sample file gives, as digest's reader reads them."""
    found = read(str(path), ZoneInfo("UTC"))
    assert not found.errors
    return found.articles


def what_gets(store, settings, topics: str) -> dict[str, list[str]]:
    """Section title -> headlines, for a subscriber holding ``topics`` today."""
    edition = propose_edition(store, settings, NOW.date(), settings.timezone, NOW)
    content = EditionContent(store, settings, edition, Renderer(settings))
    segment, _ = content.segment_of(topics)
    return {s.title: [a.title for a in s.articles] for s in content.sections(segment)}


def test_a_chosen_topic_tags_the_untagged_page_that_mentions_it(store, settings):
    (page,) = sample(ALEPPO)
    assert page.keywords == []  # the export's "Helpful keywords" block is empty
    store.save_subscribers([subscriber("amira@example.com", ["Aleppo"])])
    store.save_articles([page, *sample(BAKE_SALE)], now=T0)

    headline = "Rebels Call for Mobilization Amid Assad Gains in Aleppo"
    assert what_gets(store, settings, "Aleppo") == {"Aleppo": [headline]}
    everything = what_gets(store, settings, "")
    assert everything["Aleppo"] == [headline]
    # The bake sale does not mention Aleppo: it stays untagged.
    assert everything["From Riverside Gazette"] == [
        "School bake sale raises £2,400 for new library books"
    ]


def test_a_topic_typed_on_the_page_catches_its_stories(store, settings):
    store.save_subscribers([subscriber("sam@example.com")])
    admin.add(store, "sam@example.com", topics="Quantum;bake sale")  # as the page saves it
    store.save_articles([*sample(WIRE), *sample(BAKE_SALE), *sample(ALEPPO)], now=T0)

    assert what_gets(store, settings, "Quantum;bake sale") == {
        "Bake sale": ["School bake sale raises £2,400 for new library books"],
        # Tagged "Technology" by its source; its headline names the topic.
        "Quantum": ["Zürich start-up unveils error-corrected quantum chip"],
    }
    # Someone with no topics gets the chip story once, whichever section holds it.
    everything = [t for titles in what_gets(store, settings, "").values() for t in titles]
    assert everything.count("Zürich start-up unveils error-corrected quantum chip") == 1


def test_a_topic_nobody_holds_any_more_tags_nothing(store, settings):
    store.save_subscribers([subscriber("sam@example.com", ["bake sale"])])
    store.unsubscribe("sam@example.com")
    store.save_articles(sample(BAKE_SALE), now=T0)
    assert "Bake sale" not in what_gets(store, settings, "")
    assert vocabulary(store, settings).infer("the school bake sale") == []


def test_a_newsroom_s_own_keyword_tags_its_untagged_page(store, settings):
    """Syria on three of the Observer's pages is its vocabulary; Idlib on one is not."""
    tagged = [
        article(f"Observer story {n}", ["Syria"], source="The Syrian Observer", published=T0)
        for n in range(USED_ON)
    ]
    once = article("Observer on Idlib", ["Idlib"], source="The Syrian Observer", published=T0)
    (page,) = sample(ALEPPO)  # untagged; "opposition factions in northern Syria"
    store.save_articles([*tagged, once, page], now=T0)

    sections = what_gets(store, settings, "")
    assert page.title in sections["Syria"]
    assert vocabulary(store, settings).infer("Idlib and Syria") == ["syria"]


def test_a_keyword_one_source_used_fewer_times_is_not_vocabulary(store, settings):
    few = [
        article(f"Observer story {n}", ["Syria"], source="The Syrian Observer", published=T0)
        for n in range(USED_ON - 1)
    ]
    store.save_articles([*few, *sample(ALEPPO)], now=T0)
    assert vocabulary(store, settings).infer("war in Syria") == []


def test_a_topic_with_no_letter_in_it_tags_nothing_and_heads_no_section(store, settings):
    """A subscriber stored with the topic "*" before import refused it (or a feed that
    files under "—"): punctuation is in every text, and would have made a "*" section
    for everyone, holding whatever article had a bullet in it."""
    store.save_subscribers([subscriber("star@example.com", ["Aleppo"])])
    store.engine.dispose()
    with store.engine.begin() as conn:  # as an older digest would have stored it
        conn.exec_driver_sql("UPDATE subscribers SET topics = '*;Aleppo'")
    starred = article("Notes * and asterisks", keywords=["—"], url="https://x.example/1")
    store.save_articles([*sample(ALEPPO), starred], now=T0)
    everything = what_gets(store, settings, "")
    assert "*" not in everything and "—" not in everything, everything
    assert what_gets(store, settings, "*;Aleppo") == {
        "Aleppo": ["Rebels Call for Mobilization Amid Assad Gains in Aleppo"]
    }
