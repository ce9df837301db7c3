"""The size guard: every copy under Gmail's clipping limit, the footer always there."""

from __future__ import annotations

import itertools
import re
import warnings
from datetime import UTC, date, datetime, timedelta

import pytest
from busy_day import articles
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st

from digest.config.settings import Settings
from digest.grouping.front import FRONT_KEY
from digest.grouping.sections import Section, Vocabulary, build_sections, tag_articles
from digest.models import Edition, StoredArticle
from digest.rendering import fitting
from digest.rendering.fitting import Cut, apply, fit, ladder, ranked
from digest.rendering.links import Links, view_url
from digest.rendering.renderer import Renderer

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
EDITION = Edition(
    date=date(2026, 11, 24),
    timezone="UTC",
    window_start=NOW - timedelta(hours=36),
    cutoff=NOW,
    id=1,
)


def day(count: int, max_per_section: int = 1000, topics=None) -> list[Section]:
    stored = [
        StoredArticle(**vars(a), id=i + 1, first_seen=NOW)
        for i, a in enumerate(articles(count, NOW, topics=topics))
    ]
    vocab = Vocabulary(known=[k for a in stored for k in a.keywords])
    return build_sections(tag_articles(stored, vocab), frozenset(), vocab, max_per_section)


def sections_of(sizes: list[int]) -> list[Section]:
    made = []
    for si, size in enumerate(sizes):
        items = [StoredArticle(guid=f"{si}-{i}", title=f"t{si}-{i}") for i in range(size)]
        made.append(Section(f"k{si}", f"K{si}", items, more=si))
    return made


# -- the plan ----------------------------------------------------------------------


def test_rank_takes_every_sections_lead_before_any_second_story():
    assert ranked(sections_of([3, 1, 2])) == [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2)]


@given(st.lists(st.integers(0, 6), min_size=1, max_size=8), st.data())
def test_a_cut_loses_no_article_it_only_moves_them_into_the_counts(sizes, data):
    sections = sections_of(sizes)
    count = sum(sizes)
    kept = data.draw(st.integers(0, count))
    full = data.draw(st.integers(0, kept))

    shown = apply(sections, Cut(full, kept))

    assert sum(len(s.articles) for s in shown.sections) == kept
    assert sum(shown.brief_from) == full
    after = {s.key: s.total for s in shown.sections + shown.collapsed}
    assert after == {s.key: s.total for s in sections}
    assert all(s.articles for s in shown.sections)
    assert not any(s.articles for s in shown.collapsed)
    # What a section keeps is its top, and what keeps a summary is the top of that.
    for s in shown.sections:
        original = next(o for o in sections if o.key == s.key)
        assert s.articles == original.articles[: len(s.articles)]


def test_the_ladder_goes_from_everything_to_the_lead_one_step_at_a_time():
    steps = ladder(40)
    assert steps[0] == Cut(40, 40) and steps[-1] == Cut(1, 1)  # the lead is never cut
    for a, b in itertools.pairwise(steps):
        assert (a.full - b.full) + (a.kept - b.kept) in (1, 2)
        assert b.full <= a.full and b.kept <= a.kept
    # Summaries go first, down to the floor; then titles; the floor's summaries last.
    floor = fitting.KEEP_FULL
    assert Cut(floor, 40) in steps and Cut(floor, floor) in steps
    assert steps.index(Cut(floor, 40)) < steps.index(Cut(floor, floor))


@given(st.integers(0, 300), st.integers(0, 10_000))
def test_fit_takes_the_richest_cut_that_fits(count, budget):
    def size(cut: Cut) -> int:  # summaries cost 30, titles 10, the frame 500
        return 500 + 30 * cut.full + 10 * (cut.kept - cut.full)

    cut, whole = fit(count, size, budget)

    steps = ladder(count)
    fitting_steps = [s for s in steps if size(s) <= budget]
    assert whole == size(steps[0])
    assert cut == (fitting_steps[0] if fitting_steps else steps[-1])


def test_an_empty_day_needs_no_cut():
    assert fit(0, lambda cut: 10**9, 100) == (Cut(0, 0), 10**9)


# -- real days --------------------------------------------------------------------


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(
        Settings(
            templates_dir=ROOT / "templates",
            postal_address="Example Media Ltd, 1 High Street, London N1 1AA, UK",
        )
    )


def render_day(renderer: Renderer, sections, name="Okafor, Chidi", public_url=None):
    public_url = public_url or renderer.settings.public_url
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        segment = renderer.render_segment(EDITION, sections, [], view_url(public_url, EDITION, ""))
    links = Links(public_url, b"k")
    address = "someone.with.a.long.address@example.com"
    url = links.unsubscribe(123456789, address)
    # Only the size guard's own lines: a library's warning on first use in this
    # process (tests run in any order) is not what these tests are about.
    said = [str(w.message) for w in caught if "Gmail" in str(w.message)]
    return renderer.personal.fill(segment, name, links.token(123456789, address)), said, url


def test_a_500_article_day_with_long_summaries_stays_under_100_kb(renderer):
    sections = day(500)
    assert sum(len(s.articles) for s in sections) == 500
    assert min(len(a.summary) for s in sections for a in s.articles) > 300

    copy, said, url = render_day(renderer, sections)

    size = len(copy.html.encode("utf-8"))
    assert size < fitting.LIMIT, size
    # The footer survived, whole: the unsubscribe link, manage topics, the address.
    assert f'href="{url}"' in copy.html and "Manage topics" in copy.html
    assert copy.html.rstrip().endswith("</html>")
    assert "Example Media Ltd, 1 High Street" in copy.html
    # The log says what was cut, with numbers that add up.
    (line,) = said
    brief, dropped = map(int, re.search(r"; (\d+) of .* and (\d+) left out", line).groups())
    assert "2026-11-24 UTC (every topic)" in line and "more than Gmail shows whole" in line
    shown = copy.html.count('class="title"') + copy.html.count('class="headline"')
    assert shown == 500 - dropped and brief > 0 and dropped > 0
    summaries = copy.html.count('class="summary"')
    assert summaries == 500 - dropped - brief >= fitting.KEEP_FULL
    # Every story is still accounted for: shown, or counted in its section's "N more".
    more = sum(int(n) for n in re.findall(r">(\d+) more on ", copy.html))
    assert shown + more == 500


def test_the_lead_stories_keep_their_summaries_and_the_rest_keep_their_titles(renderer):
    sections = day(500)
    copy, _, _ = render_day(renderer, sections)
    for section in sections:
        lead = section.articles[0]
        assert f">{lead.title}</a>" in copy.html
    top = sections[0].articles[0]
    assert top.summary[:60] in copy.html


def test_hostile_values_cannot_push_a_copy_over_the_limit(renderer):
    renderer.settings.public_url = "https://digest.example.com/" + "&x=1" * 150
    renderer = Renderer(renderer.settings)
    copy, _, _ = render_day(
        renderer, day(500), name="&<>" * 33, public_url=renderer.settings.public_url
    )
    assert len(copy.html.encode("utf-8")) < fitting.LIMIT


def test_hundreds_of_one_story_topics_collapse_into_one_line(renderer):
    many = [f"Topic {i:03}" for i in range(400)]
    sections = day(500, topics=many)
    assert len(sections) > 250

    copy, said, _ = render_day(renderer, sections)

    assert len(copy.html.encode("utf-8")) < fitting.LIMIT
    assert "Also today: " in copy.html and said
    assert "Unsubscribe</a>" in copy.html


def test_a_normal_day_is_not_cut(renderer):
    copy, said, _ = render_day(renderer, day(150, max_per_section=8))
    assert said == []
    assert "Also today" not in copy.html
    assert 'class="line"' not in copy.html
    assert len(copy.html.encode("utf-8")) < 80_000


def test_the_web_copy_is_never_cut(renderer):
    """A browser does not clip: the archive's copy of a huge day shows every story."""
    sections = day(500)
    values = {field: "" for field in renderer.personal.placeholders}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = renderer._render(EDITION, sections, [], values, values, "", web=True)
    assert caught == []
    assert page.html.count('class="summary"') == 500


def test_the_front_page_outranks_every_section_so_the_size_guard_cuts_it_last():
    def section(key, n):
        return Section(
            key, key, [StoredArticle(guid=f"{key}{i}", title=f"{key}{i}") for i in range(n)]
        )

    front = Section(FRONT_KEY, "Top stories", section("f", 3).articles)
    order = ranked([front, section("a", 2), section("b", 2)])
    assert order[:3] == [(0, 0), (0, 1), (0, 2)]
    shown = apply([front, section("a", 2), section("b", 2)], Cut(1, 1))
    assert [len(s.articles) for s in shown.sections] == [1]  # the lead, with its summary
