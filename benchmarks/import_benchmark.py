"""How fast ``digest subscribers import`` is, and how much memory it takes.

Writes a CSV of N subscribers (addresses in shuffled order, names with
non-ASCII letters, topics from 200 choices, a timezone on most rows), then
runs the real ``digest subscribers import`` twice in a subprocess: into an
empty store (every row added), then again with every name changed (every row
updated), then ``digest subscribers export -o FILE`` of them all. For each
run it prints wall seconds, rows per second, CPU and the child's peak RSS
(from ``wait4``, the same kernel figure as ``getrusage(RUSAGE_CHILDREN)``,
which is printed at the end as the peak of all runs).

    .venv/bin/python benchmarks/import_benchmark.py                  # 1,000,000 rows, SQLite
    .venv/bin/python benchmarks/import_benchmark.py -n 200000
    .venv/bin/python benchmarks/import_benchmark.py --postgres postgresql://postgres@127.0.0.1/test

Targets (2 cores): 1,000,000 rows in <= 30 s into SQLite, <= 45 s into
PostgreSQL, peak RSS <= 150 MB; the re-import within the same bounds.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from send_benchmark import drop_schemas, fresh_database, topic_sets  # noqa: E402

ZONES = ["", "Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Paris", "UTC"]
FIRST = ["Ana", "Bo", "Chidi", "Zoë", "Łukasz", "Søren", "Amélie", "Jürgen", "Maël", "Iñés"]


def write_csv(path: Path, n: int, seed: int, suffix: str = "") -> None:
    """``n`` rows in a shuffled order of addresses; the same order for the same seed."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    sets = [";".join(s) for s in topic_sets(200)]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,topics,timezone\r\n")
        for i in order:
            name = f"{FIRST[i % len(FIRST)]} Reader{i}{suffix}"
            if i % 7 == 0:
                name = f'"{name}, Jr."'
            out.write(
                f"reader{i}@example.com,{name},{sets[i % len(sets)]},{ZONES[i % len(ZONES)]}\r\n"
            )


def run_import(csv_file: Path, env: dict, workdir: Path) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MB), CPU seconds and the summary line of one import."""
    return run_subscribers(["import", str(csv_file)], env, workdir)


def run_subscribers(args: list[str], env: dict, workdir: Path) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MB), CPU seconds and the last line of ``digest subscribers``."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "subscribers", *args],
            cwd=workdir,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        said, problems = stdout.read().decode(), stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        print(said, problems[-2000:])
        code = os.waitstatus_to_exitcode(status)
        raise SystemExit(f"digest subscribers {args[0]} exited {code}")
    line = said.strip().splitlines()[-1]
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="rows in the CSV")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="import into this PostgreSQL server (a throwaway schema is made and dropped), "
        "e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first, again = work / "subscribers.csv", work / "subscribers-renamed.csv"
        t = time.perf_counter()
        write_csv(first, args.n, seed=1)
        write_csv(again, args.n, seed=2, suffix=" (renamed)")
        size = first.stat().st_size / 1e6
        print(
            f"setup: 2 files of {args.n:,} rows, {size:.0f} MB each "
            f"({time.perf_counter() - t:.1f} s)"
        )
        env = {**os.environ, "DIGEST_DATABASE_URL": fresh_database(args.postgres, work / "s.db")}
        env.pop("DIGEST_CONFIG", None)
        where = "PostgreSQL" if args.postgres else "SQLite"
        for label, csv_file in (("import (all new)", first), ("re-import (all updated)", again)):
            wall, rss, cpu, line = run_import(csv_file, env, work)
            print(
                f"{label}, {where}: {args.n:,} rows in {wall:.1f} s = {args.n / wall:,.0f} rows/s, "
                f"peak RSS {rss:.0f} MB, CPU {cpu:.1f} s"
            )
            print(f"  digest said: {line}")
        exported = work / "export.csv"
        wall, rss, cpu, line = run_subscribers(["export", "-o", str(exported)], env, work)
        with exported.open("rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        print(
            f"export, {where}: {args.n:,} rows in {wall:.1f} s = {args.n / wall:,.0f} rows/s, "
            f"peak RSS {rss:.0f} MB, CPU {cpu:.1f} s, {exported.stat().st_size / 1e6:.0f} MB"
        )
        print(f"  digest said: {line}")
        if lines != args.n + 1:
            raise SystemExit(f"the export has {lines} lines, not {args.n + 1}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of any child (RUSAGE_CHILDREN): {peak:.0f} MB")


if __name__ == "__main__":
    try:
        main()
    finally:
        drop_schemas()
