"""How long feedparser's test corpus takes to read, and whether big feeds stay fast.

Issue 23 made the corpus a test and asked the fixes to the readers not to cost
speed. Three figures, each in a process of its own so time and peak RSS are its
own (``feed_benchmark.run``: ``python -m digest`` saying its ``VmHWM`` as it exits):

1. the corpus read in one process: every file of tests/data/feedparser/ through
   ``files.parse_file`` (what ``digest ingest`` does with a feed file), with how
   many files each reader took and the slowest file;
2. ``digest ingest tests/data/feedparser`` into an empty SQLite store: the whole
   command, storing included;
3. the 20,000-entry feed of ``feed_benchmark`` ingested from a file: entries per
   second of the command's CPU time (Python's start included) against the floor of
   8,000 (the ratio is printed; below 1.0 fails); wall time is printed too, but on
   a shared machine it measures the neighbours as well.

    .venv/bin/python benchmarks/corpus_benchmark.py
    .venv/bin/python benchmarks/corpus_benchmark.py -n 5000

Exits 1 when the entry rate is below the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from feed_benchmark import big_feed, run, write_feeds  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "feedparser"
FLOOR = 8_000  # entries/s for the big feed (issue 23)

# Reads the corpus in this child alone and prints: files, seconds, fast, fallback,
# the slowest file and its seconds, peak RSS (kB).
READ_CORPUS = """
import re, sys, time
from pathlib import Path
from zoneinfo import ZoneInfo
sys.path.insert(0, sys.argv[1])
from digest.sources import feed_xml
from digest.sources.files import parse_file
files = sorted(p for p in Path(sys.argv[2]).rglob("*")
               if p.is_file() and p.name not in ("LICENSE", "README.md"))
zone, fast, slowest = ZoneInfo("UTC"), 0, (0.0, "")
started = time.perf_counter()
for path in files:
    began = time.perf_counter()
    data = path.read_bytes()
    parse_file(data, path, zone)
    slowest = max(slowest, (time.perf_counter() - began, path.name))
took = time.perf_counter() - started
for path in files:
    try:
        feed_xml.read(path.read_bytes())
        fast += 1
    except feed_xml.NotSimple:
        pass
peak = re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)
print(len(files), took, fast, len(files) - fast, slowest[1], slowest[0], peak)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="entries in the big feed")
    args = parser.parse_args()

    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"load average {load} on {os.cpu_count()} cores (figures from a busy machine are low)")
    done = subprocess.run(
        [sys.executable, "-c", READ_CORPUS, str(ROOT), str(CORPUS)],
        capture_output=True,
        text=True,
        check=True,
    )
    files, took, fast, slow, worst, worst_s, peak = done.stdout.split()
    print(f"corpus read in one process: {int(files):,} files in {float(took):5.2f} s "
          f"({float(took) / int(files) * 1000:.1f} ms a file; lxml read {fast}, "
          f"feedparser {slow}); slowest {worst} {float(worst_s) * 1000:.0f} ms; "
          f"peak RSS {int(peak) / 1024:.1f} MB")  # fmt: skip

    folder = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env["DIGEST_DATABASE_URL"] = f"sqlite:///{folder / 'corpus.db'}"
        wall, peak_mb, out, _err = run(["ingest", str(CORPUS)], env, folder)
        print(f"digest ingest of the corpus: {wall:5.2f} s (Python's start included), "
              f"peak RSS {peak_mb:5.1f} MB   [{out}]")  # fmt: skip

        write_feeds(folder, args.n, 0)
        (folder / "one.xml").write_bytes(big_feed(1))
        env["DIGEST_DATABASE_URL"] = f"sqlite:///{folder / 'one.db'}"
        before = _children_cpu()
        run(["ingest", str(folder / "one.xml")], env, folder)
        start_up = _children_cpu() - before  # Python, imports, a new store: the fixed cost
        env["DIGEST_DATABASE_URL"] = f"sqlite:///{folder / 'big.db'}"
        before = _children_cpu()
        wall, peak_mb, out, _err = run(["ingest", str(folder / "big.xml")], env, folder)
        cpu = _children_cpu() - before
        rate = args.n / cpu
        print(f"{args.n:,}-entry feed from a file: {wall:5.2f} s wall ({args.n / wall:,.0f} "
              f"entries/s), {cpu:5.2f} s CPU: {rate:7,.0f} entries/s = {rate / FLOOR:.2f} x "
              f"the floor of {FLOOR:,}; peak RSS {peak_mb:5.1f} MB   [{out}]")  # fmt: skip
        print(
            f"  of which start-up {start_up:4.2f} s CPU (a 1-entry feed's whole command); "
            f"the ingest itself {args.n / max(cpu - start_up, 1e-9):7,.0f} entries/s"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if rate < FLOOR:
        sys.exit(1)


def _children_cpu() -> float:
    """CPU seconds of the finished children: on a shared machine, wall time measures the
    neighbours too, so the floor is held against the command's own CPU time."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


if __name__ == "__main__":
    main()
