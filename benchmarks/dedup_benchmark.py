"""How long showing each story once takes on a busy day (``digest.grouping.dedup.distinct``).

Builds N stored articles from S sources whose headlines share words in
overlapping runs (the worst case for comparing headlines: many candidates
share a word), then times ``distinct`` over them.

    .venv/bin/python benchmarks/dedup_benchmark.py              # 5,000 articles, 50 sources
    .venv/bin/python benchmarks/dedup_benchmark.py -n 20000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.grouping.dedup import distinct
from digest.models import StoredArticle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="articles")
    parser.add_argument("-s", "--sources", type=int, default=50)
    args = parser.parse_args()
    now = datetime.now(UTC)
    words = [f"word{n}" for n in range(400)]
    articles = [
        StoredArticle(
            guid=f"g{n}",
            title=" ".join(words[(n * 7 + k) % 400] for k in range(8)),
            url=f"https://s{n % args.sources}.example.org/{n}",
            source=f"S{n % args.sources}",
            published=now,
            id=n,
            first_seen=now,
        )
        for n in range(args.n)
    ]
    started = time.perf_counter()
    kept = distinct(articles)
    took = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"distinct: {args.n:,} articles from {args.sources} sources -> {len(kept):,} shown "
        f"in {took * 1000:.0f} ms ({took / args.n * 1e6:.0f} µs an article), peak RSS {rss:.0f} MB"
    )


if __name__ == "__main__":
    main()
