"""The size guard: an email never longer than Gmail shows whole.

Gmail clips a message whose HTML passes about 102 KB, behind a "[Message
clipped]" link, and what it cuts is the end: the footer with the unsubscribe
link. So every copy stays under ``LIMIT`` bytes, per-recipient values
included. On a day too big for that, the lowest-ranked articles first become
title-only lines, then are left out (their section's "N more" line counts
them, so nothing is silently lost), and a section left with none is named in
one "Also today" line. The footer is never cut.

Rank: the front page's stories (``grouping/front.py``) outrank everything, in
their order; then every section's first article outranks every section's
second, and so on; between equals, the earlier (bigger) section wins. So each
section keeps its lead story longest, and the biggest sections keep theirs
longest of all. The edition's lead story is never cut: the last step keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from digest.grouping.front import is_front
from digest.grouping.sections import Section

LIMIT = 100_000  # bytes of HTML in one recipient's copy; Gmail clips at about 102 KB
KEEP_FULL = 24  # articles that keep their summary as long as anything is shown


@dataclass(frozen=True)
class Cut:
    """How much of a segment's articles one email shows, counted in rank order:
    the best ``full`` with their summary, the next up to ``kept`` as titles only."""

    full: int
    kept: int


@dataclass(frozen=True)
class Shown:
    """The sections as a cut leaves them, ready for the templates."""

    sections: list[Section]  # those with an article left; dropped ones counted in ``more``
    brief_from: list[int]  # per shown section: the position from which titles stand alone
    collapsed: list[Section]  # sections with no article left (named in "Also today")


def ranked(sections: Sequence[Section]) -> list[tuple[int, int]]:
    """(section index, position) of every article, best first."""
    slots = [
        (not is_front(s), pos, si)
        for si, s in enumerate(sections)
        for pos in range(len(s.articles))
    ]
    slots.sort()
    return [(si, pos) for _, pos, si in slots]


def apply(sections: Sequence[Section], cut: Cut) -> Shown:
    order = ranked(sections)
    full = [0] * len(sections)
    kept = [0] * len(sections)
    # Ranks run down each section from its top, so what a section keeps is a prefix.
    for rank, (si, _) in enumerate(order[: cut.kept]):
        kept[si] += 1
        full[si] += rank < cut.full
    shown, brief_from, collapsed = [], [], []
    for si, section in enumerate(sections):
        left_out = len(section.articles) - kept[si]
        trimmed = replace(
            section, articles=section.articles[: kept[si]], more=section.more + left_out
        )
        if kept[si]:
            shown.append(trimmed)
            brief_from.append(full[si])
        else:
            collapsed.append(trimmed)
    return Shown(shown, brief_from, collapsed)


def ladder(count: int) -> list[Cut]:
    """Every cut, richest first: summaries go from the bottom up (keeping
    ``KEEP_FULL``), then titles, then the last summaries with their articles,
    down to the lead story with its summary, which is never cut."""
    floor = min(KEEP_FULL, count)
    steps = [Cut(full, count) for full in range(count, floor - 1, -1)]
    steps += [Cut(floor, kept) for kept in range(count - 1, floor - 1, -1)]
    steps += [Cut(n, n) for n in range(floor - 1, 0, -1)]
    return steps or [Cut(0, 0)]


def fit(count: int, size: Callable[[Cut], int], budget: int) -> tuple[Cut, int]:
    """The richest cut of ``count`` articles whose ``size`` is within ``budget``,
    and the size of the full one. ``size`` renders: it is called once on a day
    that fits, about log2(2 × count) times on one that does not."""
    steps = ladder(count)
    known: dict[int, int] = {}

    def measure(index: int) -> int:
        if index not in known:
            known[index] = size(steps[index])
        return known[index]

    if measure(0) <= budget or len(steps) == 1:
        return steps[0], known[0]
    low, high = 1, len(steps) - 1  # the answer is in steps[low:high + 1]
    while low < high:
        middle = (low + high) // 2
        if measure(middle) <= budget:
            high = middle
        else:
            low = middle + 1
    # Sizes shrink along the ladder all but everywhere ("N more" lines appear as
    # sections lose articles); step on until the guess really fits.
    while low < len(steps) - 1 and measure(low) > budget:
        low += 1
    return steps[low], known[0]
