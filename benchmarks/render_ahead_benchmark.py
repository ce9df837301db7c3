"""What rendering segments ahead in a second process takes off a send's own CPU.

Makes ``send_benchmark.py``'s store (its articles, N subscribers in about S
segments over 5 timezones), then takes every segment's render, edition by
edition (one per zone, segments in the order planning batches them), the way a
send does: once rendered in the process itself (``EditionContent.rendered``),
once taken from ``RenderAhead`` (``digest/editions/ahead.py``, one child for
every edition in turn, as a send keeps one). After each segment the process spends
``--work-ms`` of CPU on nothing, standing in for the rest of a send's work on a
segment (ledger, SendGrid body, recording: about 3.4 ms, docs/performance.md),
so the child has the time to get ahead that a send gives it.

Each way runs in a process of its own (its peak RSS is its own) and prints:
segments a second, the process's CPU per segment beyond the stand-in work
(rendering, or taking renders), the child's CPU and peak RSS, and how many
renders came from the child.

    .venv/bin/python benchmarks/render_ahead_benchmark.py                # 50,000 / 2,400
    .venv/bin/python benchmarks/render_ahead_benchmark.py -s 24000 --work-ms 0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from send_benchmark import ZONES, populate, segments  # noqa: E402

from digest.clock import utcnow  # noqa: E402
from digest.config.settings import Settings  # noqa: E402
from digest.editions.ahead import RenderAhead  # noqa: E402
from digest.editions.contents import EditionContent, local_today, propose_edition  # noqa: E402
from digest.rendering.renderer import Renderer  # noqa: E402
from digest.store.store import Store  # noqa: E402


def busy(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU, holding the interpreter lock as a send does."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def measure(way: str, db: str, wanted: int, work: float, depth: int) -> dict:
    """Every segment's render taken ``way`` ("here" or "ahead"); the figures."""
    settings = Settings(templates_dir=ROOT / "templates", public_url="https://news.example.org")
    store = Store(db)
    now = utcnow()
    renderer = Renderer(settings)
    editions = []
    for zone in ZONES:
        edition = propose_edition(store, settings, local_today(zone, now), zone, now)
        content = EditionContent(store, settings, edition, renderer)
        mine = [topics for z, topics in segments(wanted) if (z or ZONES[0]) == zone]
        keys = {key for key, empty in map(content.segment_of, mine) if not empty}
        editions.append((content, sorted(keys)))  # batches are made in segment order
    count = sum(len(keys) for _, keys in editions)
    taken, taking = 0, 0.0  # renders from the child, and the CPU their taking cost here
    started, cpu = time.perf_counter(), time.process_time()
    ahead = RenderAhead(depth) if way == "ahead" else None
    for content, keys in editions:
        with ahead.rendering(content, keys) if ahead else contextlib.nullcontext():
            render = ahead.rendered if ahead else content.rendered
            for key in keys:
                before, already = time.thread_time(), ahead.taken if ahead else 0
                render(key)
                if ahead and ahead.taken > already:
                    taking += time.thread_time() - before
                busy(work)
    if ahead is not None:
        taken = ahead.taken
        ahead.close()  # joined: its CPU and peak RSS are counted as a child's
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    store.close()
    return {
        "segments": count,
        "editions": len(editions),
        "per_second": count / wall,
        "cpu_ms": (cpu - count * work) / count * 1000,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "taken": taken,
        "taking_us": taking / max(taken, 1) * 1e6,
        "child_cpu_ms": (children.ru_utime + children.ru_stime) / count * 1000,
        "child_peak_mb": children.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50_000, help="subscribers")
    parser.add_argument("-s", "--segments", type=int, default=2_400, help="about this many")
    parser.add_argument("--work-ms", type=float, default=3.4, help="a send's other CPU a segment")
    parser.add_argument("--depth", type=int, default=32, help="renders the child may be ahead by")
    parser.add_argument("--measure", choices=["here", "ahead"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        figures = measure(args.measure, args.db, args.segments, args.work_ms / 1000, args.depth)
        print(json.dumps(figures))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'render.db'}"
        made = populate(db, args.n, args.segments)
        print(
            f"{args.n:,} subscribers in {made:,} segments over {len(ZONES)} editions; "
            f"{args.work_ms:g} ms of other work a segment, depth {args.depth}"
        )
        for way in ("here", "ahead"):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", way, "--db", db, *sys.argv[1:]],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            f = json.loads(out.strip().splitlines()[-1])
            line = (
                f"{way:>5}: {f['segments']:,} segments, {f['per_second']:,.0f} segments/s, "
                f"process CPU {f['cpu_ms']:.2f} ms a segment beyond the other work, "
                f"peak RSS {f['peak_mb']:.0f} MB"
            )
            if way == "ahead":
                line += (
                    f"; {f['taken']:,} renders from the child, each taken in "
                    f"{f['taking_us']:.0f} µs of CPU here; the child's CPU "
                    f"{f['child_cpu_ms']:.2f} ms a segment, "
                    f"its peak RSS {f['child_peak_mb']:.0f} MB"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
