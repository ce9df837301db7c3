"""What weekly editions and personal send times cost: the scheduler's look at what is
due, and a weekly edition's render.

1. N subscribers (default 1,000,000) over P distinct (zone, send time) pairs (default
   96: 12 zones x 8 times, one of them the site's), 80 % daily, 15 % weekly, 5 %
   paused, written through the import's bulk writer. Then, each the median of
   ``--repeat`` tries, the reads the scheduler makes:

   * ``pairs``: the distinct (zone, time) pairs, read at every beat (``SELECT
     DISTINCT`` of the index on timezone, send_time, frequency, active);
   * ``series``: who is in each (zone, time, cadence), what a run's editions are
     chosen from (``audience.by_series``, one grouped read of the same index);
   * ``missed``: what a start catches up, every pair's last run looked up in the
     editions and the ledger;
   * ``listing``: ``digest schedule --list`` for a day.

   On SQLite, and on PostgreSQL with ``--postgres URL`` (a schema of its own, dropped).

2. A weekly edition of A articles (default 2,000) over the last 7 days, 15 topics:
   the window read and grouped, and the everything-segment's email and one topic
   segment's rendered (time, size), with ``weekly_max_per_section``.

    .venv/bin/python benchmarks/cadence_benchmark.py
    .venv/bin/python benchmarks/cadence_benchmark.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from send_benchmark import drop_schemas, fresh_database

from digest.config.settings import PACKAGE_TEMPLATES, Settings
from digest.editions.contents import EditionContent, propose_edition
from digest.models import Article, Subscriber
from digest.rendering.renderer import Renderer
from digest.service.runs import delivery_pairs, listing, missed
from digest.store import audience
from digest.store.store import Store

ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Sydney",
]
TIMES = [None] + [
    wall_time(h, m) for h, m in ((5, 30), (6, 0), (6, 30), (8, 0), (9, 15), (12, 0), (18, 0))
]
TOPICS = [f"Topic{n}" for n in range(15)]
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # a Monday: the weekly editions are due


def people(n: int, pairs: int):
    chosen = [(z, t) for z in ZONES for t in TIMES][:pairs]
    rng = random.Random(7)
    for i in range(n):
        zone, at = chosen[i % len(chosen)]
        roll = rng.random()
        yield Subscriber(
            email=f"reader{i}@example.com",
            timezone=zone,
            send_time=at,
            frequency="weekly" if roll < 0.15 else None,
            paused_until=date(2026, 12, 20) if 0.15 <= roll < 0.20 else None,
        )


def median_ms(what, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = what()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def scheduler_reads(url: str, n: int, pairs: int, repeat: int, name: str) -> None:
    store = Store(url)
    settings = Settings()
    started = time.perf_counter()
    store.save_subscribers(people(n, pairs))
    took = time.perf_counter() - started
    print(f"{name}: {n:,} subscribers over {pairs} pairs written in {took:.1f} s")
    checks = {
        "pairs": lambda: delivery_pairs(store, settings),
        "series": lambda: audience.by_series(store.engine, settings.timezone),
        "missed": lambda: missed(store, settings, NOW),
        "listing": lambda: listing(store, settings, NOW, 1),
    }
    for label, check in checks.items():
        ms, result = median_ms(check, repeat)
        size = len(result[0]) if label == "missed" else len(result)
        print(f"{name}: {label:8} {ms:9.1f} ms  ({size} rows)")
    store.close()


def weekly_edition(articles: int, folder: Path) -> None:
    store = Store(f"sqlite:///{folder / 'weekly.db'}")
    settings = Settings(templates_dir=PACKAGE_TEMPLATES, weekly_day="monday")
    rng = random.Random(11)
    made = []
    for i in range(articles):
        at = NOW - timedelta(minutes=rng.uniform(10, 7 * 24 * 60 - 10))
        made.append(
            (
                at,
                Article(
                    guid=f"weekly-{i}",
                    url=f"https://news.example.org/weekly/{i}",
                    title=f"{rng.choice(['Council', 'Court', 'Market', 'Lab', 'Port'])} "
                    f"{rng.choice(['votes', 'rules', 'opens', 'finds', 'warns'])} on item {i}",
                    summary=f"What happened in story {i}, in two sentences. " * 2,
                    source=f"Wire {i % 9}",
                    published=at,
                    keywords=rng.sample(TOPICS, 2),
                ),
            )
        )
    for at, item in sorted(made, key=lambda m: m[0]):
        store.save_articles([item], now=at)
    edition = propose_edition(store, settings, NOW.date(), "UTC", NOW, None, "weekly")
    renderer = Renderer(settings)
    started = time.perf_counter()
    content = EditionContent(store, settings, edition, renderer)
    window = time.perf_counter() - started
    print(
        f"weekly edition: {len(content.tagged):,} articles in the window, read and grouped "
        f"in {window * 1000:.0f} ms"
    )
    for segment in ("", ";".join(sorted(t.lower() for t in TOPICS[:3]))):
        key, _ = content.segment_of(segment)
        started = time.perf_counter()
        rendered = content.rendered(key)
        ms = (time.perf_counter() - started) * 1000
        shown = sum(len(s.articles) for s in content.email_sections(key))
        print(
            f"weekly edition, segment {key or 'everything'!r}: {shown} stories shown, "
            f"rendered in {ms:.0f} ms, HTML {len(rendered.html.encode()) / 1024:.0f} KB, "
            f"text {len(rendered.text.encode()) / 1024:.0f} KB"
        )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="subscribers")
    parser.add_argument("--pairs", type=int, default=96, help="distinct (zone, time) pairs")
    parser.add_argument("--articles", type=int, default=2_000, help="in the weekly edition")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", help="also on this PostgreSQL (a schema of its own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        scheduler_reads(
            fresh_database(None, base / "due.db"), args.n, args.pairs, args.repeat, "sqlite"
        )
        if args.postgres:
            try:
                url = fresh_database(args.postgres, base / "due")
                scheduler_reads(url, args.n, args.pairs, args.repeat, "postgresql")
            finally:
                drop_schemas()
        weekly_edition(args.articles, base)


if __name__ == "__main__":
    main()
