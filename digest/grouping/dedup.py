"""Each story once: the same page, or a near-identical headline the same day, shown once.

Two articles are the same story when

- their links lead to the same page (``validate.canonical_url``: tracking
  parameters, fragment, letter case of the host aside), or
- they come from different sources, and their headlines are near-identical and
  within a day of each other. (One source's own repeats are its own business:
  a mailing list's replies share a subject, a status page says "Down" twice.)
  Once a story holds several sources, each of its headlines counts: a source's
  own repeat joins the story when it matches another source's copy in it.

The one ingested first is shown, with the other sources named under it
("also: …").

**The headline measure.** Each headline becomes a set of words: Unicode NFKC,
case folded, a trailing site name cut off ("… - BBC News", "… | Reuters"),
small words dropped ("the", "of", "says", …), and each word cut to a crude stem
("raises", "raised", "raise" → "rais"); Chinese and Japanese text, written
without spaces, gives its character pairs instead. Two headlines match when

- each has at least ``MIN_WORDS`` words (short generic titles such as
  "Letters" or "Weather" are not stories to merge),
- every number in them is the same (2.3% is not 2.5%; Q3 is not Q4), and
- the Jaccard index of the two sets (shared words over all words) is at least
  ``THRESHOLD``.

Why Jaccard on word sets at 0.8: two outlets' headlines for one story differ
in word order, case, punctuation, a site suffix and the odd filler word ("as
X hits", ", ONS says"), which a set of stems ignores; two different stories
with a similar shape differ in the one word that matters (Florida/Texas,
rises/falls, carbon/methane), and in a headline of 4-9 content words one word
in two sets moves Jaccard to at most 0.75. The pairs in tests/grouping/test_dedup.py,
taken from how real outlets headline the same and different stories, all
merge at 0.83 or above and all near misses stay at 0.75 or below; see
docs/dedup.md for the table.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from digest.models import StoredArticle
from digest.validate import canonical_url

THRESHOLD = 0.8
MIN_WORDS = 3
SAME_DAY = timedelta(hours=24)

_SMALL_WORDS = """a an the of to in on for and or at by with from as is are was were be been
its it this that these those after over into about amid than then but not no up out new
says said say report reports live update updates watch video their his her its our
they he she we you will has have had can could would may might"""
STOP_WORDS = frozenset(_SMALL_WORDS.split())
# A trailing site name: "Headline - BBC News", "Headline | Reuters" (at most 5 words).
_SITE_SUFFIX = re.compile(r"\s[-|–—·]\s+(?:[^\s|–—·-]+\s){0,4}[^\s|–—·-]+\s*$")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+|\d+", re.UNICODE)
_DIGIT = re.compile(r"\d")


def _is_cjk(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F") and char.isalpha()


def headline_words(title: str) -> frozenset[str]:
    """The set of stems a headline is compared by (see the module doc)."""
    text = unicodedata.normalize("NFKC", title).casefold().strip()
    cut = _SITE_SUFFIX.sub("", text)
    if len(cut.split()) >= MIN_WORDS:
        text = cut
    words: set[str] = set()
    for token in _TOKEN.findall(text):
        if any(_is_cjk(c) for c in token):
            chars = [c for c in token if _is_cjk(c)]
            words.update(a + b for a, b in itertools.pairwise(chars))
            continue
        if token in STOP_WORDS:
            continue
        words.add(_stem(token))
    return frozenset(words)


def _stem(word: str) -> str:
    """A crude stem, the same for the usual forms of a word: enough to compare headlines."""
    if _DIGIT.search(word):
        return word
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4:
        for suffix in ("ing", "ed", "es"):
            if word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        else:
            if word.endswith("s") and not word.endswith("ss"):
                word = word[:-1]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word.removesuffix("e") if len(word) > 3 else word


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """How alike two headlines' words are: 0 (nothing shared) to 1 (the same set)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def same_story(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two headlines (as ``headline_words``) tell the same story."""
    if min(len(a), len(b)) < MIN_WORDS:
        return False
    if {w for w in a if _DIGIT.search(w)} != {w for w in b if _DIGIT.search(w)}:
        return False
    return similarity(a, b) >= THRESHOLD


def distinct(articles: Sequence[StoredArticle]) -> list[StoredArticle]:
    """One article per story, in the order given: the one ingested first, with the other
    sources that carried it in ``also``.

    A story is a cluster: rule 2 compares a headline with every member of it from
    another source, so once Wire's and Paper's copies are one story, Wire's own
    repeat under another link (a corrected headline, a second feed) joins it too,
    matched through Paper's copy.
    """
    kept: list[StoredArticle] = []
    members: list[list[_Member]] = []  # per story: each source's headlines in it
    by_link: dict[str, int] = {}
    by_word: dict[str, list[int]] = {}
    for item in sorted(articles, key=lambda a: (a.first_seen or a.when, a.id)):
        link = canonical_url(item.url) if item.url else None
        found = by_link.get(link) if link else None
        mine = headline_words(item.title)
        if found is None and len(mine) >= MIN_WORDS:
            found = _same_headline(item, mine, members, by_word)
        if found is None:
            found = len(kept)
            kept.append(dataclasses.replace(item, also=[]))
            members.append([])
        else:
            first = kept[found]
            if item.source and item.source != first.source and item.source not in first.also:
                first.also.append(item.source)
        if len(mine) >= MIN_WORDS:
            members[found].append(_Member(item.source, item.when, mine))
            for word in mine:
                stories = by_word.setdefault(word, [])
                if not stories or stories[-1] != found:
                    stories.append(found)
        if link:
            by_link.setdefault(link, found)
    order = {a.id: n for n, a in enumerate(articles)}
    return sorted(kept, key=lambda a: order[a.id])


class _Member(NamedTuple):
    source: str
    when: datetime
    words: frozenset[str]


def _same_headline(
    item: StoredArticle,
    mine: frozenset[str],
    members: list[list[_Member]],
    by_word: dict[str, list[int]],
) -> int | None:
    """The story with a member from another source whose headline tells the same story
    within a day, if any."""
    # Jaccard >= 0.8 needs most words shared, so every candidate shares one of any
    # few of this headline's words: look only at those that share its rarest.
    rarest = sorted(mine, key=lambda w: len(by_word.get(w, ())))[: max(1, len(mine) // 4 + 1)]
    seen: set[int] = set()
    for word in rarest:
        for index in by_word.get(word, ()):
            if index in seen:
                continue
            seen.add(index)
            for other in members[index]:
                if other.source == item.source or abs(other.when - item.when) > SAME_DAY:
                    continue
                if same_story(mine, other.words):
                    return index
    return None
