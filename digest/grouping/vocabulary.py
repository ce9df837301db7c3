"""The vocabulary untagged articles are tagged from, and how keywords fold into topics.

The vocabulary for tagging is the configured topics and aliases, every topic
a subscriber holds (imported, added or typed on the preferences page), and the
keywords real articles use: those at least two sources share, and a source's
own that it uses consistently (a newsroom's tags tag its untagged pages; one
blog's one-off "LOL" does not) — minus an ignore list of the words feeds file
everything under ("Uncategorized", "General", "News", …). A subscriber's topic
also catches a *tagged* article whose headline or summary names it
(``topic_mentions``): someone who chose "Quantum" wants the quantum-chip story
its source filed under "Technology". Configured aliases fold several keys into
one canonical keyword. Keys and names, and which keywords match as spelt, are
``digest.keywords``'.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from digest.keywords import (
    IGNORED,
    display_name,
    has_word,
    keyword_key,
    matched_as_spelt,
    most_common,
    never_a_section,
    normalise,
)

_TOKEN = re.compile(r"\w+|\W")
_WORD = re.compile(r"\w")


class Vocabulary:
    """Aliases, the keywords to tag with, their names, and what is ignored.

    ``known``: spellings of keywords the store's articles share (each may come
    several times: the most common spelling names it). ``topics``: configured
    keywords. ``names``: a keyword's name as the store has it (its most common
    spelling), for keywords not configured. ``ignore``: more keywords to ignore.
    ``chosen``: the topics subscribers hold, each spelling with how many hold it.
    ``shared``: the keywords that head sections of their own because several
    sources use them (default: all of ``known``); a keyword only one source uses,
    however often, tags its untagged pages but is not a section for everyone.
    """

    def __init__(
        self,
        aliases: Mapping[str, Iterable[str]] | None = None,
        known: Iterable[str] = (),
        *,
        topics: Iterable[str] = (),
        names: Mapping[str, str] | None = None,
        ignore: Iterable[str] = (),
        chosen: Mapping[str, int] | None = None,
        shared: Iterable[str] | None = None,
    ) -> None:
        self.aliases = dict(aliases or {})
        self.ignored = IGNORED | {keyword_key(w) for w in ignore}
        self.canonical: dict[str, str] = {}  # any key -> canonical key
        self.display: dict[str, str] = {}  # canonical key -> configured spelling
        spelt: dict[str, str] = {}  # phrase key -> the spelling it is matched by
        for canonical, alias_list in self.aliases.items():
            ckey = keyword_key(canonical)
            self.canonical[ckey] = ckey
            self.display[ckey] = normalise(canonical)
            spelt[ckey] = normalise(canonical)
            for alias in alias_list:
                self.canonical.setdefault(keyword_key(alias), ckey)
                spelt.setdefault(keyword_key(alias), normalise(alias))
        for topic in topics:
            key = keyword_key(topic)
            self.display.setdefault(self.resolve(topic), normalise(topic))
            spelt.setdefault(key, normalise(topic))
        counts: dict[str, Counter] = {}
        for spelling in known:
            word = normalise(spelling)
            counts.setdefault(word.casefold(), Counter())[word] += 1
        self.names = {k: most_common(c) for k, c in counts.items()}
        # Keywords several sources share: sections (see ``is_section``).
        self.shared = frozenset(counts if shared is None else map(keyword_key, shared))
        self.names.update(names or {})
        for key in counts:
            spelt.setdefault(key, self.names[key])
        held: dict[str, Counter] = {}
        for topic, people in (chosen or {}).items():
            if keyword_key(topic) and has_word(topic):  # "*" would match any text
                held.setdefault(keyword_key(topic), Counter())[normalise(topic)] += people
        # A subscriber's spelling names a section only when nothing else does; it is
        # matched as the store spells the keyword when the store knows it ("NASA").
        self.chosen = {self.resolve(k): most_common(c) for k, c in held.items()}
        for key, c in held.items():
            spelt.setdefault(key, self.names.get(key) or most_common(c))
        self._all = _Phrases(spelt, self)
        self._topics = _Phrases({k: spelt[k] for k in held}, self)

    @property
    def phrases(self) -> dict[str, str | None]:
        """Every phrase tagged with: key -> the spelling it must have (None: any case)."""
        return self._all.phrases

    def resolve(self, spelling: str) -> str:
        key = keyword_key(spelling)
        return self.canonical.get(key, key)

    def is_ignored(self, spelling: str) -> bool:
        """Whether a keyword is dropped from an article: ignored, or never a section
        (``keywords.never_a_section``); but a configured alias folds into its topic
        whatever it is ("Chinese_simplified" → World)."""
        key = keyword_key(spelling)
        resolved = self.canonical.get(key, key)
        if resolved != key:
            return resolved in self.ignored
        return key in self.ignored or (key not in self.display and never_a_section(spelling))

    def is_section(self, key: str) -> bool:
        """Whether a canonical key heads a section of its own: a configured topic (or a
        topic aliases fold into), a subscriber's topic, or a keyword sources share."""
        return key in self.display or key in self.chosen or key in self.shared

    def topic_keys(self, topics: Iterable[str]) -> frozenset[str]:
        return frozenset(self.resolve(t) for t in topics if keyword_key(t))

    def name(self, key: str, seen: str = "") -> str:
        """A keyword's name: configured, else the store's most common spelling, else
        ``seen`` (an article's), else the key; lowercase-only ones capitalised."""
        name = self.display.get(key) or self.names.get(key) or seen or self.chosen.get(key)
        return display_name(name or key)

    def infer(self, text: str) -> list[str]:
        """The keywords ``text`` mentions, as canonical keys, in order of first mention."""
        return list(self.mentions(text))

    def mentions(self, text: str) -> Counter:
        """How often ``text`` mentions each keyword (canonical keys, first mention first)."""
        return self._all.mentions(text)

    def topic_mentions(self, text: str) -> Counter:
        """How often ``text`` mentions each subscriber's topic: what a tagged article's
        headline and summary add to its own keywords."""
        return self._topics.mentions(text)


class _Phrases:
    """Phrase tables a text's tokens are looked up in: which keys match in any case,
    which only as spelt, and each first token's phrase lengths."""

    def __init__(self, spelt: dict[str, str], vocab: Vocabulary) -> None:
        self.canonical = vocab.canonical
        self._any_case: set[str] = set()
        self._as_spelt: dict[str, str] = {}  # key -> the exact spelling
        lengths: dict[str, set[int]] = {}
        for key, spelling in spelt.items():
            if not key or key in vocab.ignored or vocab.resolve(key) in vocab.ignored:
                continue
            if matched_as_spelt(spelling):
                if spelling == spelling.lower() and spelling != spelling.upper():
                    continue  # "it", "go": an ordinary word, not a keyword
                self._as_spelt[key] = spelling
            else:
                self._any_case.add(key)
            tokens = [t.casefold() for t in _TOKEN.findall(spelling)]
            lengths.setdefault(tokens[0], set()).add(len(tokens))
        # First token of a phrase -> its lengths in tokens, longest first, so that
        # "solar energy" wins over "solar" at the same place.
        self._lengths = {first: sorted(n, reverse=True) for first, n in lengths.items()}

    @property
    def phrases(self) -> dict[str, str | None]:
        return {**dict.fromkeys(self._any_case), **self._as_spelt}

    def mentions(self, text: str) -> Counter:
        """How often ``text`` mentions each phrase (canonical keys, first mention first).

        The text is cut into tokens (a run of word characters, or any one other
        character); a phrase is a run of whole tokens, so it is looked up in a
        table, never searched for: the cost grows with the text, not with the
        vocabulary. Left to right, the longest phrase at each place, no
        overlaps; a phrase starts and ends where no word character is beside it.
        """
        found: Counter = Counter()
        if not self._lengths:
            return found
        tokens = _TOKEN.findall(normalise(text))
        folded = [t.casefold() for t in tokens]
        lengths, any_case, as_spelt, word = (
            self._lengths,
            self._any_case,
            self._as_spelt,
            _WORD.match,
        )
        after = 0  # matches do not overlap: the next starts after the last one's end
        for i in [i for i, token in enumerate(folded) if token in lengths]:
            if i < after or (i and not word(tokens[i]) and word(tokens[i - 1])):
                continue
            for length in lengths[folded[i]]:
                end = i + length
                if end > len(tokens) or (end < len(tokens) and word(tokens[end])):
                    continue
                phrase = "".join(folded[i:end])
                if phrase in any_case or as_spelt.get(phrase) == "".join(tokens[i:end]):
                    found[self.canonical.get(phrase, phrase)] += 1
                    after = end
                    break
        return found
