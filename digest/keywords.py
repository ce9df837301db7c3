"""Keywords: the key a keyword is matched by, and the name it is shown with.

A keyword is matched on a normalised, case-folded key (Unicode NFKC, spaces
collapsed) and shown with a human spelling. Every stage needs the same key:
ingest records keywords by it, the store counts which sources use each, and
grouping folds aliases and tags by it; so it has one home, below all of them.

Case: a keyword spelt in capitals (AI, NASA, EU) or of 1–3 characters (Go,
IT, May) is matched as spelt, so "go", "may" and "it" in a sentence are not
the Go language, the month and IT; a short keyword only ever seen in lower case
("it", "go") cannot be told from an ordinary word, and does not tag at all.
Longer keywords match in any case.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping

# What feeds and blogs file everything under: never a section, never a tag.
IGNORED_WORDS = (
    "uncategorized", "uncategorised", "general", "news", "misc", "miscellaneous",
    "other", "others", "blog", "blogs", "featured", "top stories", "top story",
    "latest", "latest news", "home", "homepage", "front page", "default", "none",
    "untagged", "all", "article", "articles", "post", "posts", "update", "updates",
    "main", "index", "rss", "feed", "breaking news", "headlines", "stories",
)  # fmt: skip


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def keyword_key(text: str) -> str:
    # A feed's few keywords come again on each of its entries: short ones are cached
    # (a long one, which is refused anyway, would only fill the cache).
    return _short_key(text) if len(text) <= 200 else normalise(text).casefold()


@functools.lru_cache(maxsize=65536)
def _short_key(text: str) -> str:
    return normalise(text).casefold()


IGNORED = frozenset(keyword_key(w) for w in IGNORED_WORDS)


def matched_as_spelt(spelling: str) -> bool:
    """Whether a keyword is matched case-sensitively: all capitals, or 1–3 characters."""
    word = normalise(spelling)
    # isupper: every cased character is a capital, and there is one; here, two.
    return len(word) <= 3 or (word.isupper() and sum(c.isupper() for c in word) >= 2)


def display_name(spelling: str) -> str:
    """How a keyword is shown: as spelt, but a lowercase-only one with an initial capital
    ("announce" → "Announce"; "iPhone" and "中文" stay as they are)."""
    name = normalise(spelling)
    if name and name == name.lower() and name != name.upper():
        return name[0].upper() + name[1:]
    return name


def most_common(spellings: Mapping[str, int]) -> str:
    """The spelling used most; on a tie, the one with capitals (the more deliberate), then
    the first in order, so the same counts always give the same name."""
    return min(spellings, key=lambda s: (-spellings[s], s == s.lower(), s))
