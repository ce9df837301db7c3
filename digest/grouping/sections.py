"""Sections: what goes into whose email, and in which order.

Each article's keywords are resolved through the vocabulary (``digest.grouping.vocabulary``:
aliases folded, ignored words dropped); an untagged article is tagged from the
vocabulary (whole words, in the title, summary and the body's first 5,000
characters). The sections a reader recognises are ``build_sections``'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from digest.grouping.vocabulary import Vocabulary
from digest.keywords import keyword_key, most_common, normalise
from digest.models import StoredArticle

__all__ = [
    "Grouped",
    "Section",
    "Tagged",
    "Vocabulary",
    "build_sections",
    "keyword_key",
    "tag_articles",
]

MORE_NEWS_KEY = "\x00more-news"  # sorts and compares apart from any real keyword
MORE_NEWS_TITLE = "More news"
# A section of one source's items that no section keyword claims: "From Tails". The
# source is what a reader recognises a stray item by (a status page, a mailing list, a
# blog); "More news" says nothing of what is in it. On the realistic day (issue 21)
# grouping only sources with two or more strays still left "More news" as big as the
# biggest section (5 of 5: a status page, a blog, a saved page …), so every stray goes
# under its source; "More news" keeps only what has no source.
SOURCE_KEY = "\x00from:"
BY_SOURCE = 1  # strays of one source that make its section; fewer go to "More news"


# What tagging reads of an article's body: its opening, where what it is about is
# said. A 1 MB body would otherwise cost a thousand times a short one, every edition.
TAG_BODY_CHARS = 5000


def tagging_text(title: str, summary: str, body: str) -> str:
    """The text an untagged article is tagged from: title, summary, the body's opening.

    The body is cut at a word's end, so a cut word never matches a shorter keyword.
    """
    if len(body) > TAG_BODY_CHARS:
        cut = body[: TAG_BODY_CHARS + 1]
        body = cut.rsplit(None, 1)[0] if not cut[-1].isspace() else cut
    return f"{title}\n{summary}\n{body}"


@dataclass
class Section:
    key: str
    title: str
    articles: list[StoredArticle]
    more: int = 0  # articles left out past max_per_section

    @property
    def total(self) -> int:
        return len(self.articles) + self.more

    @property
    def source(self) -> str:
        """The source a "From <source>" section is of, which its stories then need not
        repeat under their headlines ("" for any other section)."""
        return self.key.removeprefix(SOURCE_KEY) if self.key.startswith(SOURCE_KEY) else ""


@dataclass
class Tagged:
    article: StoredArticle
    keys: list[str]  # canonical keys, in the article's own order
    spellings: dict[str, str]  # canonical key -> the article's spelling
    # For an article tagged from its text: how often it mentions each keyword.
    mentions: Counter = field(default_factory=Counter)


def tag_articles(articles: Sequence[StoredArticle], vocab: Vocabulary) -> list[Tagged]:
    """Resolve each article's keywords (ignored ones dropped); infer them for the untagged."""
    tagged = []
    for article in articles:
        spellings: dict[str, str] = {}
        for spelling in article.keywords:
            if keyword_key(spelling) and not vocab.is_ignored(spelling):
                spellings.setdefault(vocab.resolve(spelling), normalise(spelling))
        mentions: Counter = Counter()
        if not spellings:
            text = tagging_text(article.title, article.summary, article.body)
            mentions = vocab.mentions(text)
            spellings = dict.fromkeys(mentions, "")
        else:  # a subscriber's topic its headline or summary names (vocabulary's doc)
            text = f"{article.title}\n{article.summary}"
            for key in vocab.topic_mentions(text):
                spellings.setdefault(key, "")
        tagged.append(Tagged(article, list(spellings), spellings, mentions))
    return tagged


class Grouped(list):
    """An edition's tagged articles, with what every segment's sections need worked out
    once: each keyword's name among them, and which articles carry each keyword. An
    edition has one segment per distinct topic set (a thousand on a big site): each
    then costs the articles of its topics, not a pass over the whole edition."""

    def __init__(self, tagged: Sequence[Tagged]) -> None:
        super().__init__(tagged)
        self.seen = _spellings(self)
        self.one_source = _one_source(self)
        self.carrying: dict[str, list[int]] = {}
        for n, item in enumerate(self):
            for key in item.keys:
                self.carrying.setdefault(key, []).append(n)

    def gives_nothing(self, topics: frozenset[str]) -> bool:
        """Whether ``build_sections`` would give a segment of ``topics`` no section:
        no article carries one of them (or, for everything, there is no article).
        Asked of every segment when an edition is planned, far cheaper than building."""
        if not topics:
            return not self
        return not any(key in self.carrying for key in topics)

    def about(self, topics: frozenset[str]) -> list[Tagged]:
        """The articles carrying one of ``topics``, in edition order."""
        found = sorted({n for key in topics for n in self.carrying.get(key, ())})
        return [self[n] for n in found]


def build_sections(
    tagged: Sequence[Tagged],
    topics: frozenset[str],
    vocab: Vocabulary,
    max_per_section: int,
) -> list[Section]:
    """The sections one segment gets; each article lands in exactly one of them.

    A subscriber with topics gets only those sections; one without gets all:
    a section for each keyword a reader would recognise (``Vocabulary.is_section``:
    a configured or subscriber's topic, or a keyword sources share; one blog's own
    "Comics" or "LOL" is not, unless the edition has no other source), then what
    no such keyword claims, grouped by its source ("From Tails") where the source
    has ``BY_SOURCE`` or more such items (biggest first), and the rest under "More
    news". An article with several section keywords goes to the one it mentions
    most (when it was tagged from its text), then to the one that is biggest
    overall, so sections stay full rather than thinly spread.
    Section names are the same in every segment.
    """
    grouped = tagged if isinstance(tagged, Grouped) else None
    # An edition from one source alone (a single newsroom's pages): its own keywords
    # are the only ones there are, and "From <it>" would say nothing.
    one_source = grouped.one_source if grouped is not None else _one_source(tagged)
    candidates: list[tuple[Tagged, list[str]]] = []
    for item in grouped.about(topics) if grouped is not None and topics else tagged:
        if topics:
            keys = [k for k in item.keys if k in topics]
        else:
            keys = [k for k in item.keys if one_source or vocab.is_section(k)]
        if keys or not topics:
            candidates.append((item, keys))
    size = Counter(k for _, keys in candidates for k in keys)
    chosen: dict[str, list[Tagged]] = {}
    rest: list[Tagged] = []
    for item, keys in candidates:
        if not keys:
            rest.append(item)
            continue
        best = min(keys, key=lambda k: (-item.mentions[k], -size[k], k))
        chosen.setdefault(best, []).append(item)
    by_source = Counter(t.article.source for t in rest)
    for item in rest:
        source = item.article.source
        key = SOURCE_KEY + source if source and by_source[source] >= BY_SOURCE else MORE_NEWS_KEY
        chosen.setdefault(key, []).append(item)
    seen = grouped.seen if grouped is not None else _spellings(tagged)
    sections = []
    for key, items in chosen.items():
        items.sort(key=lambda t: (-t.article.when.timestamp(), t.article.title.casefold()))
        if key == MORE_NEWS_KEY:
            title = MORE_NEWS_TITLE
        elif key.startswith(SOURCE_KEY):
            title = f"From {key.removeprefix(SOURCE_KEY)}"
        else:
            title = vocab.name(key, seen.get(key, ""))
        shown = [t.article for t in items[:max_per_section]]
        sections.append(Section(key, title, shown, more=len(items) - len(shown)))
    sections.sort(key=section_order)
    return sections


def section_order(section: Section) -> tuple:
    """Where a section stands: keyword sections first, then those of one source, then
    "More news"; biggest first within each, then by name. One rule, so the sections
    and what is left of them once the front page took its stories agree."""
    key = section.key
    rank = 2 if key == MORE_NEWS_KEY else 1 if key.startswith(SOURCE_KEY) else 0
    return (rank, -section.total, section.title.casefold(), section.title)


def _one_source(tagged: Sequence[Tagged]) -> bool:
    return len({t.article.source for t in tagged}) <= 1


def _spellings(tagged: Sequence[Tagged]) -> dict[str, str]:
    """Each keyword's most common spelling among all the edition's articles: a name for
    one the store does not know, the same whichever segment's sections are built."""
    counts: dict[str, Counter] = {}
    for item in tagged:
        for key, spelling in item.spellings.items():
            if spelling:
                counts.setdefault(key, Counter())[spelling] += 1
    return {key: most_common(c) for key, c in counts.items()}
