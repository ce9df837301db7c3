"""Tagging by vocabulary: the token lookup finds exactly what one big regex finds.

digest used to tag untagged articles with one alternation of every known
keyword, longest first, between ``(?<!\\w)`` and ``(?!\\w)``, over the
normalised, casefolded text. That cost grew with the vocabulary times the
text. The lookup that replaced it must give the same keywords, in the same
order and as many times, for any vocabulary and any text: that regex is kept
here as the reference. Keywords in capitals or of 1–3 characters are matched
as spelt; for those the reference is the same alternation with each such
keyword literal and every other one in ``(?i:…)``, over ASCII text (where
Python's IGNORECASE is exactly case folding).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.grouping.sections import TAG_BODY_CHARS, Vocabulary, tag_articles, tagging_text
from digest.keywords import keyword_key, matched_as_spelt, normalise
from digest.models import StoredArticle


def reference(vocab: Vocabulary, text: str) -> Counter:
    """The old regex, over the casefolded text: for vocabularies matched in any case."""
    phrases = vocab.phrases
    assert all(spelling is None for spelling in phrases.values())
    if not phrases:
        return Counter()
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")
    return Counter(vocab.resolve(m.group(0)) for m in pattern.finditer(normalise(text).casefold()))


def mixed_reference(vocab: Vocabulary, text: str) -> Counter:
    """The same with keywords matched as spelt: literal, the others ``(?i:…)``. ASCII only."""
    phrases = vocab.phrases
    if not phrases:
        return Counter()
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    alternatives = [
        re.escape(phrases[p]) if phrases[p] else f"(?i:{re.escape(p)})" for p in ordered
    ]
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
    return Counter(vocab.resolve(m.group(0)) for m in pattern.finditer(normalise(text)))


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
any_case = piece_text.filter(lambda k: not matched_as_spelt(k))


@settings(max_examples=400, deadline=None)
@given(
    known=st.lists(any_case, max_size=12),
    aliases=st.dictionaries(any_case, st.lists(any_case, max_size=3), max_size=3),
    text=st.lists(st.sampled_from(PIECES), max_size=60).map("".join),
)
def test_the_lookup_finds_what_the_regex_found(known, aliases, text):
    vocab = Vocabulary(aliases=aliases, known=known)
    assert list(vocab.mentions(text).items()) == list(reference(vocab, text).items())


@settings(max_examples=200, deadline=None)
@given(
    known=st.lists(st.text(min_size=4, max_size=8).map(str.lower), max_size=8),
    text=st.text(max_size=80),
)
def test_the_lookup_matches_the_regex_on_any_unicode(known, text):
    lower = [k for k in [*known, text[3:9].lower(), text[:5].lower()] if len(normalise(k)) > 3]
    vocab = Vocabulary(known=lower)  # some keywords from the text
    assert list(vocab.mentions(text).items()) == list(reference(vocab, text).items())


# ASCII pieces with the short and all-capital keywords people use, and their lookalikes.
ASCII = [
    "Go", "go", "GO", "IT", "it", "It", "May", "may", "AI", "ai", "US", "us", "u.s.", "U.S.",
    "EU", "solar", "Solar", "SOLAR", "energy", "NASA", "nasa", "C++", "c", "+", " ", "  ",
    "\t", "\n", ",", ".", "-", "'", "x", "said", "going", "Turkey", "turkey", "COVID-19",
]  # fmt: skip
ascii_text = st.lists(st.sampled_from(ASCII), max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(
    known=st.lists(ascii_text, max_size=12),
    aliases=st.dictionaries(ascii_text, st.lists(ascii_text, max_size=3), max_size=3),
    topics=st.lists(ascii_text, max_size=3),
    text=st.lists(st.sampled_from(ASCII), max_size=60).map("".join),
)
def test_keywords_matched_as_spelt_find_what_the_regex_finds(known, aliases, topics, text):
    vocab = Vocabulary(aliases=aliases, known=known, topics=topics)
    assert list(vocab.mentions(text).items()) == list(mixed_reference(vocab, text).items())


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


@settings(max_examples=300, deadline=None)
@given(
    known=st.lists(ascii_text, max_size=8),
    chosen=st.dictionaries(ascii_text, st.integers(1, 5), max_size=5),
    text=st.lists(st.sampled_from(ASCII), max_size=60).map("".join),
)
def test_subscribers_topics_match_by_the_same_rules(known, chosen, text):
    """A topic subscribers hold tags as a keyword would (whole words, the case rules),
    and ``topic_mentions`` finds the held topics among the same matches."""
    vocab = Vocabulary(known=known, chosen=chosen)
    found = vocab.mentions(text)
    assert list(found.items()) == list(mixed_reference(vocab, text).items())
    alone = Vocabulary(chosen=chosen)  # the topics' own phrases, as spelt for matching
    assert set(vocab.topic_mentions(text)) <= {vocab.resolve(t) for t in chosen}
    assert set(alone.topic_mentions(text)) == set(alone.mentions(text))


KEYS = ["energy", "space", "climate", "aleppo", "quantum", "bake sale"]


@settings(max_examples=200, deadline=None)
@given(
    tags=st.lists(st.lists(st.sampled_from(KEYS), max_size=3), max_size=30),
    topics=st.frozensets(st.sampled_from(KEYS), max_size=3),
)
def test_an_indexed_edition_gives_every_segment_the_same_sections(tags, topics):
    """``Grouped`` (each keyword's articles found once per edition) changes no section."""
    from digest.grouping.sections import Grouped, build_sections

    vocab = Vocabulary(known=KEYS)
    articles = [
        StoredArticle(
            guid=f"g{n}",
            title=f"Story {n}" + (" about energy" if n % 3 else ""),
            keywords=[k.title() for k in keys],
            published=datetime(2026, 11, 24, n % 24, tzinfo=UTC),
            id=n + 1,
        )
        for n, keys in enumerate(tags)
    ]
    tagged = tag_articles(articles, vocab)
    assert build_sections(Grouped(tagged), topics, vocab, 3) == build_sections(
        tagged, topics, vocab, 3
    )
