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
import re
import unicodedata
from collections.abc import Mapping

# What feeds and blogs file everything under: never a section, never a tag.
IGNORED_WORDS = (
    "uncategorized", "uncategorised", "general", "news", "misc", "miscellaneous",
    "other", "others", "blog", "blogs", "featured", "top stories", "top story",
    "latest", "latest news", "home", "homepage", "front page", "default", "none",
    "untagged", "all", "article", "articles", "post", "posts", "update", "updates",
    "main", "index", "rss", "feed", "breaking news", "headlines", "stories",
    # Feed machinery: how a blog or list files its own posts, not what they are about.
    "announce", "announcement", "announcements", "release", "releases", "notice",
    "notices", "sticky", "pinned", "reblog", "repost", "permalink", "page", "pages",
    # Post formats (WordPress's, Tumblr's): the shape of a post, never its subject.
    "photo", "photos", "photography post", "video", "videos", "gallery", "galleries",
    "podcast", "podcasts", "audio", "image", "images", "link", "links", "quote",
    "quotes", "aside", "asides", "status", "text", "chat", "standard", "media",
)  # fmt: skip

# Languages written with their script or variant: how a multilingual feed says which
# edition an entry is in ("Chinese_simplified"). A bare language name ("English",
# "Chinese") is not among them: it is as often the subject ("English football",
# "Chinese economy") and becomes a section by the ordinary rules, if at all.
_LANGUAGES = (
    "chinese", "zh", "mandarin", "cantonese", "portuguese", "pt", "english", "en",
    "spanish", "es", "french", "fr", "serbian", "sr", "norwegian", "no",
)  # fmt: skip
_SCRIPTS = (
    "simplified", "traditional", "hans", "hant", "latin", "cyrillic", "bokmal", "bokmål",
    "nynorsk", "brazil", "brazilian", "european", "us", "uk",
)  # fmt: skip
# A locale code: "en", "zh-CN", "en_US", "pt-BR", "zh-Hans", "sr-Latn-RS"; lower-case
# two-letter codes alone only when spelt so (see ``is_locale``).
_LOCALE = re.compile(
    r"([a-z]{2})(?:[-_](?:hans|hant|latn|cyrl|arab))?(?:[-_](?:[a-z]{2}|\d{3}))?",
    re.IGNORECASE,
)
_BARE_CODES = frozenset((
    "ar", "bg", "bn", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "he", "hi",
    "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "ru",
    "sk", "sl", "sr", "sv", "th", "tr", "uk", "ur", "vi", "zh",
))  # fmt: skip


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


def is_locale(spelling: str) -> bool:
    """Whether a keyword names a language edition, not a subject: a locale code
    ("zh-CN", "en_US", "pt-BR"), a lower-case ISO 639-1 code alone ("en", "zh": spelt
    "IT" or "PL" it is a subject), or a language with its script or variant
    ("Chinese_simplified", "Simplified Chinese", "English (US)")."""
    word = normalise(spelling)
    if word in _BARE_CODES:
        return True
    code = _LOCALE.fullmatch(word)
    if code and len(word) > 2 and code.group(1) in _BARE_CODES:
        return True
    parts = [p for p in re.split(r"[\s_\-()]+", word.casefold()) if p]
    return (
        len(parts) == 2
        and any(p in _LANGUAGES for p in parts)
        and any(p in _SCRIPTS for p in parts)
    )


def has_word(spelling: str) -> bool:
    """Whether a keyword has a letter or digit in it. One without ("*", "—", "...")
    would match the punctuation of any text, and name a section nobody chose."""
    return any(c.isalnum() for c in spelling)


# Characters that take no room and are part of no word: zero-width space, word joiner,
# byte order mark, soft hyphen, Mongolian vowel separator, invisible operators. (The
# zero-width joiner and non-joiner are left alone: Persian and Indic words hold them.)
_INVISIBLE = re.compile("[\u00ad\u180e\u200b\u2060-\u2064\ufeff]")


def why_never_matched(spelling: str) -> str | None:
    """Why a subscriber's topic could never match an article, or None if it can: no
    letter or digit (it would match only punctuation), a word feeds file everything
    under (``IGNORED``: dropped from every article), or an invisible character (the
    articles' own spelling has none). Said rather than kept, since a topic that never
    matches is an edition that stays empty without a word."""
    if not has_word(spelling):
        return "has no letter or digit: it could only ever match punctuation"
    if keyword_key(spelling) in IGNORED:
        return "is a word feeds file everything under, which digest ignores: it never matches"
    found = _INVISIBLE.search(spelling)
    if found:
        return (
            f"holds an invisible character (U+{ord(found.group()):04X}): it would never "
            "match the word as articles spell it"
        )
    return None


def never_a_section(spelling: str) -> bool:
    """Feed machinery, a post format, a language edition, or no word at all: what no
    reader would recognise as a section, whoever shares it (a configured alias may
    still fold it into a topic: ``grouping.vocabulary``)."""
    return keyword_key(spelling) in IGNORED or is_locale(spelling) or not has_word(spelling)


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
