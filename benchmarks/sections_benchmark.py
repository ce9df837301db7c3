"""How long grouping an edition takes for many segments (issue 21: well under a second).

Builds N stored articles from 40 sources (a quarter of them replies, a third untagged,
the rest with one or two of 60 keywords), then times the edition's grouping work: each
story once, threads and text-less posts folded, tagging (once per edition), and the
sections of T distinct topic sets (once per segment). CPU time, so other work on the
machine does not count.

    .venv/bin/python benchmarks/sections_benchmark.py            # 500 articles, 1,000 sets
    .venv/bin/python benchmarks/sections_benchmark.py -n 2000 -t 5000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.grouping.dedup import distinct
from digest.grouping.items import fold_items
from digest.grouping.sections import Grouped, Vocabulary, build_sections, tag_articles
from digest.models import StoredArticle

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "storm",
    "rates",
    "port",
    "chip",
    "vote",
    "court",
    "harbour",
    "grid",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=500, help="articles")
    parser.add_argument("-t", "--topic-sets", type=int, default=1000)
    args = parser.parse_args()
    rnd = random.Random(21)
    keywords = [f"Topic{n}" for n in range(60)]
    now = datetime.now(UTC)
    articles = [
        StoredArticle(
            guid=str(n),
            title=rnd.choice(["Re: ", "", "", ""])
            + " ".join(rnd.choice(WORDS) for _ in range(6))
            + f" {n}",
            url=f"https://s{n % 40}.example.org/{n}",
            summary="A sentence about what happened.",
            source=f"Source {n % 40}",
            keywords=rnd.sample(keywords, rnd.choice([0, 1, 2])),
            published=now - timedelta(minutes=n),
            id=n,
            first_seen=now,
        )
        for n in range(args.n)
    ]
    vocab = Vocabulary(known=[k for k in keywords for _ in range(2)])
    sets: set[frozenset[str]] = set()
    while len(sets) < args.topic_sets:  # distinct: one segment each
        sets.add(vocab.topic_keys(rnd.sample(keywords, rnd.randint(0, 4))))
    started = time.process_time()
    # As EditionContent holds them: each segment reads only its topics' articles.
    tagged = Grouped(tag_articles(fold_items(distinct(articles)), vocab))
    once = time.process_time() - started
    started = time.process_time()
    for topics in sets:
        build_sections(tagged, topics, vocab, 8)
    per_set = time.process_time() - started
    print(
        f"grouping: {args.n:,} articles once in {once * 1000:.0f} ms, "
        f"{len(sets):,} distinct topic sets in {per_set * 1000:.0f} ms "
        f"(total {(once + per_set) * 1000:.0f} ms CPU)"
    )


if __name__ == "__main__":
    main()
