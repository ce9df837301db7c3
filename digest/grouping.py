"""Keywords and sections: what goes into whose email, and in which order.

Keywords are matched on a normalised, case-folded key (Unicode NFKC, spaces
collapsed) and shown with a human spelling; configured aliases fold several
keys into one canonical keyword. Untagged articles are tagged from the known
vocabulary (whole words, in the title, summary and the body's first 5,000
characters), else they go to "More news".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from digest.models import StoredArticle
from digest.validate import canonical_url

MORE_NEWS_KEY = "\x00more-news"  # sorts and compares apart from any real keyword
MORE_NEWS_TITLE = "More news"


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def keyword_key(text: str) -> str:
    return normalise(text).casefold()


@dataclass
class Vocabulary:
    """Aliases plus every keyword the store knows, for resolving and auto-tagging."""

    aliases: dict[str, list[str]] = field(default_factory=dict)
    known: Iterable[str] = ()

    def __post_init__(self) -> None:
        self.canonical: dict[str, str] = {}  # any key -> canonical key
        self.display: dict[str, str] = {}  # canonical key -> configured spelling
        for canonical, alias_list in self.aliases.items():
            ckey = keyword_key(canonical)
            self.canonical[ckey] = ckey
            self.display[ckey] = normalise(canonical)
            for alias in alias_list:
                self.canonical[keyword_key(alias)] = ckey
        self.known_display = {keyword_key(k): normalise(k) for k in reversed(list(self.known))}
        phrases = set(self.known_display) | set(self.canonical)
        phrases.discard("")
        self._phrases = frozenset(phrases)
        # First token of a phrase -> its lengths in tokens, longest first, so that
        # "solar energy" wins over "solar" at the same place.
        lengths: dict[str, set[int]] = {}
        for phrase in phrases:
            tokens = _TOKEN.findall(phrase)
            lengths.setdefault(tokens[0], set()).add(len(tokens))
        self._lengths = {first: sorted(n, reverse=True) for first, n in lengths.items()}

    def resolve(self, spelling: str) -> str:
        key = keyword_key(spelling)
        return self.canonical.get(key, key)

    def topic_keys(self, topics: Iterable[str]) -> frozenset[str]:
        return frozenset(self.resolve(t) for t in topics if keyword_key(t))

    def infer(self, text: str) -> list[str]:
        """Known keywords found as whole words in ``text`` (case-insensitive), in order.

        The text is cut into tokens (a run of word characters, or any one other
        character); a phrase is a run of whole tokens, so it is looked up in a
        set, never searched for: the cost grows with the text, not with the
        vocabulary. It finds what ``(?<!\\w)(?:longest|…|shortest)(?!\\w)`` over
        the casefolded text would: left to right, the longest phrase at each
        place, no overlaps.
        """
        if not self._phrases:
            return []
        tokens = _TOKEN.findall(normalise(text).casefold())
        lengths, phrases, word = self._lengths, self._phrases, _WORD.match
        found: dict[str, None] = {}
        after = 0  # matches do not overlap: the next starts after the last one's end
        for i in [i for i, token in enumerate(tokens) if token in lengths]:
            # A phrase starts where no word character goes before it ...
            if i < after or (i and not word(tokens[i]) and word(tokens[i - 1])):
                continue
            for length in lengths[tokens[i]]:
                end = i + length
                # ... and ends where no word character comes after it.
                if end > len(tokens) or (end < len(tokens) and word(tokens[end])):
                    continue
                phrase = "".join(tokens[i:end])
                if phrase in phrases:
                    found[phrase] = None
                    after = end
                    break
        return [self.resolve(k) for k in found]


# What tagging reads of an article's body: its opening, where what it is about is
# said. A 1 MB body would otherwise cost a thousand times a short one, every edition.
TAG_BODY_CHARS = 5000
_TOKEN = re.compile(r"\w+|\W")
_WORD = re.compile(r"\w")


def tagging_text(title: str, summary: str, body: str) -> str:
    """The text an untagged article is tagged from: title, summary, the body's opening.

    The body is cut at a word's end, so a cut word never matches a shorter keyword.
    """
    if len(body) > TAG_BODY_CHARS:
        cut = body[: TAG_BODY_CHARS + 1]
        body = cut.rsplit(None, 1)[0] if not cut[-1].isspace() else cut
    return f"{title}\n{summary}\n{body}"


def distinct(articles: Sequence[StoredArticle]) -> list[StoredArticle]:
    """One article per page: the same link stored twice (under two guids, or from two
    sources, tracking parameters aside) is shown once, as the one ingested first."""
    seen: set[str] = set()
    kept = []
    for item in sorted(articles, key=lambda a: (a.first_seen or a.when, a.id)):
        key = canonical_url(item.url) if item.url else f"id:{item.id}"
        if key not in seen:
            seen.add(key)
            kept.append(item)
    order = {id(a): n for n, a in enumerate(articles)}
    return sorted(kept, key=lambda a: order[id(a)])


@dataclass
class Section:
    key: str
    title: str
    articles: list[StoredArticle]
    more: int = 0  # articles left out past max_per_section

    @property
    def total(self) -> int:
        return len(self.articles) + self.more


@dataclass
class Tagged:
    article: StoredArticle
    keys: list[str]  # canonical keys, in the article's own order
    spellings: dict[str, str]  # canonical key -> the article's spelling


def tag_articles(articles: Sequence[StoredArticle], vocab: Vocabulary) -> list[Tagged]:
    """Resolve each article's keywords; infer them for untagged articles."""
    tagged = []
    for article in articles:
        spellings: dict[str, str] = {}
        for spelling in article.keywords:
            if keyword_key(spelling):
                spellings.setdefault(vocab.resolve(spelling), normalise(spelling))
        if not spellings:
            for key in vocab.infer(tagging_text(article.title, article.summary, article.body)):
                spellings.setdefault(key, "")
        tagged.append(Tagged(article, list(spellings), spellings))
    return tagged


def build_sections(
    tagged: Sequence[Tagged],
    topics: frozenset[str],
    vocab: Vocabulary,
    max_per_section: int,
) -> list[Section]:
    """The sections one segment gets; each article lands in exactly one of them.

    A subscriber with topics gets only those sections; one without gets all,
    plus "More news" for what no keyword claims. An article with several
    matching keywords goes to the one that is biggest overall, so sections
    stay full rather than thinly spread.
    """
    candidates: list[tuple[Tagged, list[str]]] = []
    for item in tagged:
        keys = [k for k in item.keys if not topics or k in topics]
        if keys or (not topics and not item.keys):
            candidates.append((item, keys or [MORE_NEWS_KEY]))
    size = Counter(k for _, keys in candidates for k in keys)
    chosen: dict[str, list[Tagged]] = {}
    for item, keys in candidates:
        best = min(keys, key=lambda k: (-size[k], k))
        chosen.setdefault(best, []).append(item)
    sections = []
    for key, items in chosen.items():
        items.sort(key=lambda t: (-t.article.when.timestamp(), t.article.title.casefold()))
        title = MORE_NEWS_TITLE if key == MORE_NEWS_KEY else _section_title(key, items, vocab)
        shown = [t.article for t in items[:max_per_section]]
        sections.append(Section(key, title, shown, more=len(items) - len(shown)))
    sections.sort(key=lambda s: (s.key == MORE_NEWS_KEY, -s.total, s.title.casefold(), s.title))
    return sections


def _section_title(key: str, items: Sequence[Tagged], vocab: Vocabulary) -> str:
    if key in vocab.display:
        return vocab.display[key]
    spellings = Counter(t.spellings[key] for t in items if t.spellings.get(key))
    if spellings:
        return min(spellings, key=lambda s: (-spellings[s], s))
    return vocab.known_display.get(key, key)
