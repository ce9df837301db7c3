"""The front page: the lead story and the day's top stories, ahead of the sections.

A reader who opens the email on a phone sees its first screen and nothing
more; what is there must be the day's biggest story, not the first of the
biggest section. So the edition opens with the stories the most sources
carried (a dedup cluster of three outranks a story one feed had), then the
newest, then the one from the bigger section.

Each article appears at most once in one email: a story on the front page
is taken out of its section (a section left empty goes; its count goes with
it). The ranking looks at every article of the segment, before
``max_per_section`` cuts the sections, so a story five sources carried is
not lost because its section had newer ones; the cut is made here, after.

The front page is itself a ``Section`` (key ``FRONT_KEY``, always first), so
everything that handles sections — the size guard, the archive's web copy,
counts — handles it too; the templates show it as the lead and "Top stories".
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from digest.grouping.sections import Section, section_order
from digest.models import StoredArticle

FRONT_KEY = "\x00front"  # apart from any real keyword, like "More news"
FRONT_TITLE = "Top stories"
TOP = 5  # stories on the front page, the lead included
SHARE = 4  # ... and at most one in SHARE of the edition's stories (but always the lead)


@dataclass
class FrontPage(Section):
    """The front page's stories, and the sections the edition had before it took
    them: what the subject's ``{keywords}`` and the masthead's topic count name,
    even when a top story was the only one of its section."""

    topics: list[tuple[str, str]] = field(default_factory=list)  # (key, title), in order


def sources_of(article: StoredArticle) -> int:
    """How many sources carried the story: the article's own and the others merged into it."""
    size = getattr(article, "cluster_size", None)  # grouping may count a cluster outright
    return size if isinstance(size, int) and size > 0 else len(article.also) + 1


def front_size(stories: int) -> int:
    """How many stories the front page holds: up to ``TOP``, and no more than a
    ``1/SHARE`` of the edition, so a small edition is still mostly its sections."""
    if stories <= 0:
        return 0
    return max(1, min(TOP, stories // SHARE))


def rank(sections: Sequence[Section], limit: int | None = None) -> list[tuple[int, int]]:
    """(section index, position) of the best ``limit`` articles (all: None), in the
    front page's order: most sources first, then the newest, then the bigger
    section (then the order given)."""
    slots = [
        (-sources_of(a), -a.when.timestamp(), size, si, pos)
        for si, size in enumerate(-s.total for s in sections)
        for pos, a in enumerate(sections[si].articles)
    ]
    # Per segment, per edition: the best five of hundreds, not a sort of them all.
    best = sorted(slots) if limit is None else heapq.nsmallest(limit, slots)
    return [(si, pos) for *_, si, pos in best]


def front_page(sections: Sequence[Section], max_per_section: int) -> list[Section]:
    """``sections`` (uncut, in their order) with the front page first: the top
    stories taken out of their sections, which are then cut at ``max_per_section``
    (what is cut is counted in ``more``). No stories, no front page."""
    stories = sum(s.total for s in sections)
    picked = rank(sections, front_size(stories))
    if not picked:
        return list(sections)
    taken: dict[int, set[int]] = {}
    for si, pos in picked:
        taken.setdefault(si, set()).add(pos)
    front = FrontPage(
        FRONT_KEY,
        FRONT_TITLE,
        [sections[si].articles[pos] for si, pos in picked],
        topics=[(s.key, s.title) for s in sections],
    )
    rest = []
    for si, section in enumerate(sections):
        left = section.articles
        if si in taken:
            left = [a for pos, a in enumerate(left) if pos not in taken[si]]
        if not left and not section.more:
            continue
        shown = left[:max_per_section]
        rest.append(replace(section, articles=shown, more=section.more + len(left) - len(shown)))
    # Still biggest first (sections.py's order), now that the front took its stories.
    rest.sort(key=section_order)
    return [front, *rest]


def is_front(section: Section) -> bool:
    return section.key == FRONT_KEY
