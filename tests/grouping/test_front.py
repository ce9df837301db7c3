"""The front page: which story leads the edition, which are the top stories, and
that each of them then appears once in the email, not again in its section."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from digest.grouping.dedup import distinct
from digest.grouping.front import FRONT_TITLE, TOP, front_page, front_size, is_front, sources_of
from digest.grouping.sections import (
    Section,
    Vocabulary,
    build_sections,
    section_order,
    tag_articles,
)
from digest.models import StoredArticle

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
_ids = itertools.count(1)


def story(title, keyword, *, hours_ago=0.0, source="Example Times", also=()):
    n = next(_ids)
    when = T0 - timedelta(hours=hours_ago)
    return StoredArticle(
        guid=f"urn:front:{n}",
        title=title,
        url=f"https://news.example.org/{n}",
        source=source,
        published=when,
        keywords=[keyword] if keyword else [],
        id=n,
        first_seen=when,
        also=list(also),
    )


def sections_of(articles, cap=10**6):
    vocab = Vocabulary(known=[k for a in articles for k in a.keywords])
    return build_sections(tag_articles(articles, vocab), frozenset(), vocab, cap)


def day(*articles, cap=8):
    return front_page(sections_of(list(articles)), cap)


def titles(section):
    return [a.title for a in section.articles]


def test_the_story_most_sources_carried_leads_even_when_older_and_in_a_small_section():
    filler = [story(f"Climate story {i}", "Climate", hours_ago=i) for i in range(12)]
    big = story("Ceasefire agreed", "World", hours_ago=9, also=["Radio", "Wire"])
    front, *rest = day(*filler, big)
    assert is_front(front) and front.title == FRONT_TITLE
    assert titles(front)[0] == "Ceasefire agreed"
    # Then the newest; at most 1 story in 4 of the edition (13 stories: 3).
    assert titles(front) == ["Ceasefire agreed", "Climate story 0", "Climate story 1"]
    # Each story once: the front's stories are out of their sections, and a
    # section left empty ("World") is gone.
    assert [s.title for s in rest] == ["Climate"]
    assert titles(rest[0])[:2] == ["Climate story 2", "Climate story 3"]


def test_a_cluster_merged_by_dedup_outranks_a_newer_story_one_source_had():
    """Real dedup: the same headline from three sources is one story of three."""
    copies = [
        story("Alpine glaciers lose record share of their ice", "Climate", hours_ago=5, source=s)
        for s in ("Paper", "Radio", "Wire")
    ]
    newer = [story(f"Markets open flat {i}", "Economy", hours_ago=i) for i in range(7)]
    merged = distinct([*newer, *copies])
    assert len(merged) == 8
    front, *_ = day(*merged)
    lead = front.articles[0]
    assert lead.title.startswith("Alpine glaciers") and sources_of(lead) == 3


def test_between_equal_coverage_and_time_the_bigger_section_wins():
    same = [story(f"Energy {i}", "Energy", hours_ago=1 + i) for i in range(3)]
    small = story("Lonely space story", "Space", hours_ago=1)
    front, *_ = day(small, *same, *[story(f"Old {i}", "Misc", hours_ago=20) for i in range(4)])
    assert titles(front)[0] == "Energy 0"


def test_a_story_past_max_per_section_can_still_lead():
    """The ranking sees the segment's every article, before the cap cuts sections."""
    newer = [story(f"Tech {i}", "Technology", hours_ago=i) for i in range(10)]
    old_big = story("Chip plant approved", "Technology", hours_ago=30, also=["Wire"])
    front, tech = day(*newer, old_big, cap=3)
    assert titles(front)[0] == "Chip plant approved"
    assert len(tech.articles) == 3 and tech.total == 11 - len(front.articles)


def test_a_small_edition_has_only_a_lead_and_no_edition_no_front_page():
    front, *rest = day(*[story(f"S{i}", "Science", hours_ago=i) for i in range(3)])
    assert titles(front) == ["S0"] and titles(rest[0]) == ["S1", "S2"]
    assert front_page([], 8) == []
    assert [front_size(n) for n in (0, 1, 4, 8, 20, 500)] == [0, 1, 1, 2, 5, TOP]


def test_a_cluster_size_from_grouping_is_used_when_there_is_one():
    class Counted(StoredArticle):
        cluster_size = 4  # grouping may count a cluster outright

    assert sources_of(story("Thread", "Lists", also=["Radio"])) == 2
    assert sources_of(Counted(guid="urn:c", title="Counted", also=["Radio"])) == 4


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Climate", "Energy", "Space", ""]),
            st.integers(0, 48),
            st.integers(0, 3),
        ),
        max_size=40,
    ),
    st.integers(1, 10),
)
def test_every_story_is_in_the_email_once_and_the_counts_add_up(specs, cap):
    articles = [
        story(f"t{i}", kw, hours_ago=h, also=[f"s{j}" for j in range(n)])
        for i, (kw, h, n) in enumerate(specs)
    ]
    uncut = sections_of(articles)
    result = front_page(uncut, cap)
    stories = sum(s.total for s in uncut)
    assert sum(s.total for s in result) == stories  # nothing lost, nothing twice
    shown = [a.id for s in result for a in s.articles]
    assert len(shown) == len(set(shown))
    if not stories:
        assert result == []
        return
    front, *rest = result
    assert is_front(front) and len(front.articles) == front_size(stories)
    assert all(len(s.articles) <= cap and s.articles for s in rest)
    assert not any(is_front(s) for s in rest)
    assert rest == sorted(rest, key=section_order)  # the sections' own order, kept
    # No story left in a section is ranked above one on the front page.
    weakest = min((sources_of(a), a.when) for a in front.articles)
    assert all((sources_of(a), a.when) <= weakest for s in rest for a in s.articles)


def test_sections_given_are_not_changed():
    uncut = sections_of([story(f"x{i}", "Climate", hours_ago=i) for i in range(9)])
    before = [replace(s, articles=list(s.articles)) for s in uncut]
    front_page(uncut, 2)
    assert uncut == before and all(isinstance(s, Section) for s in uncut)
