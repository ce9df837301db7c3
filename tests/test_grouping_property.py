"""Tagging by vocabulary: the token lookup finds exactly what the one big regex found.

digest used to tag untagged articles with one alternation of every known
keyword, longest first, between ``(?<!\\w)`` and ``(?!\\w)``, over the
normalised, casefolded text. That cost grew with the vocabulary (every keyword
ever ingested) times the text. The lookup that replaced it must give the same
keywords in the same order for any vocabulary and any text: that regex is kept
here as the reference.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.grouping import (
    TAG_BODY_CHARS,
    Vocabulary,
    keyword_key,
    normalise,
    tag_articles,
    tagging_text,
)
from digest.models import StoredArticle


def reference(vocab: Vocabulary, text: str) -> list[str]:
    phrases = (set(vocab.known_display) | set(vocab.canonical)) - {""}
    if not phrases:
        return []
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")
    found = dict.fromkeys(m.group(0) for m in pattern.finditer(normalise(text).casefold()))
    return [vocab.resolve(k) for k in found]


# Few distinct pieces, so keywords and texts share words and overlap often: word
# fragments that are prefixes of each other, punctuation that keywords hold ("c++",
# "u.s.", "covid-19"), case and width variants, spaces of several kinds, a
# combining accent, letters that casefold to more than one ("ß" → "ss").
PIECES = [
    "solar", "Solar", "SOLAR", "sol", "energy", "energ", "Ｅｎｅｒｇｙ", "ai", "AI", "said",
    "c", "+", "++", ".", "u", "s", "-", "19", "covid", "_", "ß", "ss", "straße", "e\u0301",
    "é", "中文", "新闻", " ", " ", "  ", "\t", "\n", "\u00a0", ",", "'", "#", "x",
]  # fmt: skip
piece_text = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(
    known=st.lists(piece_text, max_size=12),
    aliases=st.dictionaries(piece_text, st.lists(piece_text, max_size=3), max_size=3),
    text=st.lists(st.sampled_from(PIECES), max_size=60).map("".join),
)
def test_the_lookup_finds_what_the_regex_found(known, aliases, text):
    vocab = Vocabulary(aliases=aliases, known=known)
    assert vocab.infer(text) == reference(vocab, text)


@settings(max_examples=200, deadline=None)
@given(
    known=st.lists(st.text(max_size=8), max_size=8),
    text=st.text(max_size=80),
)
def test_the_lookup_matches_the_regex_on_any_unicode(known, text):
    vocab = Vocabulary(known=[*known, text[3:9], text[:5]])  # some keywords from the text
    assert vocab.infer(text) == reference(vocab, text)


def untagged(body: str, title: str = "Headline of the day") -> StoredArticle:
    return StoredArticle(
        guid="g", title=title, body=body, published=datetime(2026, 11, 24, tzinfo=UTC), id=1
    )


def test_tagging_reads_the_title_summary_and_the_bodys_opening():
    vocab = Vocabulary(known=["Energy", "Space", "Harbour"])
    body = "Energy is early. " + "Filler words here. " * 400 + "Space comes far too late."
    assert len(body) > TAG_BODY_CHARS
    [tagged] = tag_articles([untagged(body, title="The harbour reopens")], vocab)
    assert tagged.keys == ["harbour", "energy"]


def test_a_word_cut_at_the_limit_does_not_match_a_shorter_keyword():
    vocab = Vocabulary(known=["Sol"])
    body = "x" * (TAG_BODY_CHARS - 5) + " Solar panels"
    assert "sol" not in [keyword_key(k) for k in vocab.infer(tagging_text("", "", body))]
    assert tagging_text("", "", body).endswith("x")


def test_a_huge_vocabulary_and_a_huge_body_tag_in_milliseconds():
    known = [f"keyword{n} phrase{n % 97}" for n in range(100_000)] + ["Energy"]
    started = time.perf_counter()
    vocab = Vocabulary(known=known)
    built = time.perf_counter() - started
    body = "Energy prices. " + "lorem ipsum dolor sit amet " * 40_000  # about 1 MB
    started = time.perf_counter()
    tagged = tag_articles([untagged(body)] * 50, vocab)
    per_article = (time.perf_counter() - started) / 50
    assert [t.keys for t in tagged[:1]] == [["energy"]]
    assert built < 5 and per_article < 0.05, (built, per_article)  # the regex: 4 s and 55 s
