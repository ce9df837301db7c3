"""The grouping work of one edition: 500 articles, 1,000 distinct topic sets.

Issue 21 makes every subscriber's topic vocabulary, so a site with many
subscribers tags with a vocabulary of its store's keywords *and* ~1,000 topics
people chose or typed, and builds sections once per segment (distinct topic
set). This prints the CPU milliseconds of each step (CPU time, not wall time:
several people share the machine), the best of ``--repeat``:

- vocabulary: building the ``Vocabulary`` (once per edition);
- tagging: ``tag_articles`` over the edition (half of it untagged, bodies of
  about 3 KB; the tagged half also looked at for subscribers' topics), and
  the index of which articles carry each keyword (``Grouped``);
- sections: ``build_sections`` for each of the 1,000 topic sets;

and their total, which should stay well under a second.

    .venv/bin/python benchmarks/grouping_benchmark.py [--articles 500] [--sets 1000]
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.grouping.sections import Vocabulary, build_sections, tag_articles  # noqa: E402

try:  # each keyword's articles indexed once per edition (issue 21)
    from digest.grouping.sections import Grouped
except ImportError:  # before: every segment scans the whole edition
    Grouped = list
from digest.models import StoredArticle  # noqa: E402

SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zu", "bri",
    "cha", "dre", "fla", "glo", "pre", "sta", "tro", "ple", "qui",
]  # fmt: skip
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def word(rng: random.Random) -> str:
    return "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))


def phrases(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct keywords of one or two words, capitalised like tags are."""
    found: dict[str, str] = {}
    while len(found) < n:
        phrase = " ".join(word(rng) for _ in range(rng.choice((1, 1, 2)))).title()
        found.setdefault(phrase.casefold(), phrase)
    return list(found.values())


def articles(
    rng: random.Random, n: int, keywords: list[str], topics: list[str]
) -> list[StoredArticle]:
    """Half tagged with 1–3 store keywords, half untagged; every body ~3 KB of words
    with a keyword or topic every ~60 words, as a news text names its subjects."""
    found = []
    for i in range(n):
        text = []
        for _ in range(450):
            roll = rng.random()
            named = rng.choice(topics if roll < 0.01 else keywords)
            text.append(named if roll < 0.02 else word(rng))
        tags = rng.sample(keywords, rng.randint(1, 3)) if i % 2 else []
        found.append(
            StoredArticle(
                guid=f"g{i}",
                title=" ".join(text[:8]).capitalize(),
                summary=" ".join(text[8:40]),
                body=" ".join(text[40:]),
                keywords=tags,
                published=NOW - timedelta(minutes=i),
                id=i + 1,
                first_seen=NOW,
            )
        )
    return found


def topic_sets(rng: random.Random, n: int, topics: list[str]) -> list[frozenset[str]]:
    """``n`` distinct sets of 1–5 topics (keys), as segments are."""
    found: set[frozenset[str]] = set()
    while len(found) < n:
        found.add(frozenset(t.casefold() for t in rng.sample(topics, rng.randint(1, 5))))
    return sorted(found, key=sorted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--sets", type=int, default=1000, help="distinct topic sets")
    parser.add_argument("--topics", type=int, default=1000, help="subscribers' topics")
    parser.add_argument("--keywords", type=int, default=2000, help="store keywords")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(20261206)
    keywords = phrases(rng, args.keywords + args.topics)
    store_keywords, chosen = keywords[: args.keywords], keywords[args.keywords :]
    edition = articles(rng, args.articles, store_keywords, chosen)
    sets = topic_sets(rng, args.sets, chosen + store_keywords[:200])
    # Before issue 21 the vocabulary had no subscribers' topics: measure what it had.
    takes_chosen = "chosen" in inspect.signature(Vocabulary).parameters
    extra = {"chosen": dict.fromkeys(chosen, 3)} if takes_chosen else {}
    best = {"vocabulary": 1e9, "tagging": 1e9, "sections": 1e9, "total": 1e9}
    for _ in range(args.repeat):
        times = {}
        started = time.process_time()
        vocab = Vocabulary(known=store_keywords, **extra)
        times["vocabulary"] = time.process_time() - started
        started = time.process_time()
        tagged = Grouped(tag_articles(edition, vocab))
        times["tagging"] = time.process_time() - started
        started = time.process_time()
        for topics in sets:
            build_sections(tagged, topics, vocab, 20)
        times["sections"] = time.process_time() - started
        times["total"] = sum(times.values())
        best = {k: min(best[k], times[k]) for k in best}
    vocabulary_size = len(vocab.phrases)
    print(
        f"{args.articles} articles, {args.sets:,} topic sets, vocabulary {vocabulary_size:,}"
        f" ({'with' if takes_chosen else 'without'} {args.topics:,} subscribers' topics),"
        f" best of {args.repeat}:"
    )
    for name, seconds in best.items():
        print(f"  {name:>10}: {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
