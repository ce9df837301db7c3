"""How long tagging untagged articles takes as the vocabulary grows.

An edition tags every article that came without keywords by looking for the
known vocabulary (every keyword ever ingested, plus the configured topics and
aliases) in its title, summary and body. The vocabulary only grows, so this
prints, for vocabularies of 1,000 / 10,000 / 100,000 keywords (one to four
words each) and bodies of 10 KB and 1 MB:

- build: milliseconds to build the ``Vocabulary`` (once per edition);
- ms/article: tagging one untagged article;
- s/edition: tagging an edition of 500 untagged articles (measured on as many
  articles as fit in about ``--budget`` seconds, then scaled to 500: marked "~").

``--reference`` also times the one-big-regex matcher digest used before
(an alternation of every keyword, over the whole text), for comparison.

    .venv/bin/python benchmarks/tagging_benchmark.py
    .venv/bin/python benchmarks/tagging_benchmark.py --reference --budget 20
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.grouping.sections import Vocabulary, keyword_key, normalise, tag_articles  # noqa: E402
from digest.models import StoredArticle  # noqa: E402

SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zu", "bri",
    "cha", "dre", "fla", "glo", "pre", "sta", "tro", "ple", "qui",
]  # fmt: skip
EDITION = 500


def words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(n)]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """``size`` distinct keywords of one to four words, capitalised like tags are."""
    pool = words(rng, 5000)
    found: dict[str, str] = {}
    while len(found) < size:
        phrase = " ".join(rng.choices(pool, k=rng.choice((1, 1, 2, 2, 3, 4)))).title()
        found.setdefault(keyword_key(phrase), phrase)
    return list(found.values())


def article(rng: random.Random, n: int, body_bytes: int, keywords: list[str]) -> StoredArticle:
    """A body of about ``body_bytes`` of words in paragraphs, a known keyword every ~200."""
    pool = words(rng, 5000)
    out: list[str] = []
    size = 0
    while size < body_bytes:
        word = rng.choice(keywords) if rng.random() < 0.005 else rng.choice(pool)
        out.append(word)
        size += len(word) + 1
        if rng.random() < 0.01:
            out.append("\n\n")
    body = " ".join(out)
    return StoredArticle(
        guid=f"bench-{n}",
        title=f"Headline number {n} about {rng.choice(keywords)}",
        summary=" ".join(rng.choices(pool, k=40)),
        body=body,
        published=datetime(2026, 11, 24, tzinfo=UTC),
        id=n,
    )


class RegexVocabulary(Vocabulary):
    """The matcher digest used before: one alternation of every phrase, over all the text.

    Timed through ``tag_before``, which gives it the whole body as before.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        ordered = sorted(self.phrases, key=lambda p: (-len(p), p))
        self._regex = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")

    def infer(self, text: str) -> list[str]:
        found = dict.fromkeys(m.group(0) for m in self._regex.finditer(normalise(text).casefold()))
        return [self.resolve(k) for k in found]


def tag_now(vocab: Vocabulary, item: StoredArticle) -> None:
    tag_articles([item], vocab)


def tag_before(vocab: Vocabulary, item: StoredArticle) -> None:
    vocab.infer(f"{item.title}\n{item.summary}\n{item.body}")


def measure(kind, tag, known: list[str], articles: list[StoredArticle], budget: float) -> str:
    started = time.perf_counter()
    vocab = kind(known=known)
    build = time.perf_counter() - started
    done, spent = 0, 0.0
    while done < min(EDITION, len(articles)) and spent < budget:
        started = time.perf_counter()
        tag(vocab, articles[done])
        spent += time.perf_counter() - started
        done += 1
    per = spent / done
    edition = per * EDITION
    mark = "" if done >= EDITION else "~"
    return (
        f"build {build * 1000:8.0f} ms   {per * 1000:9.2f} ms/article"
        f"   {mark}{edition:8.2f} s/edition"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="also time the old regex")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    rng = random.Random(20261124)
    vocabularies = {int(n): vocabulary(rng, int(n)) for n in args.sizes.split(",")}
    for body_bytes, label in ((10_000, "10 KB"), (1_000_000, "1 MB")):
        for size, known in vocabularies.items():
            count = EDITION if body_bytes < 100_000 else 20  # 1 MB bodies: a sample, reused
            articles = [article(rng, n, body_bytes, known) for n in range(count)]
            articles = (articles * (EDITION // len(articles) + 1))[:EDITION]
            kinds = [("now", Vocabulary, tag_now)]
            if args.reference:
                kinds.append(("before", RegexVocabulary, tag_before))
            for name, kind, tag in kinds:
                line = measure(kind, tag, known, articles, args.budget)
                print(f"body {label:>5}  vocabulary {size:>7,}  {name:>6}:  {line}", flush=True)


if __name__ == "__main__":
    main()
