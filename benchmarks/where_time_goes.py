"""Where a sampled send spent its time: py-spy's folded stacks, summed per thread
and per digest function.

``send_benchmark.py --py-spy FILE`` records every thread of the send and of its
render-ahead child as py-spy's raw format: one stack a line, root first, frames
separated by ``;``, then the number of samples. This prints each thread's
share of the samples, then, for the threads asked for (by default the busiest
one, the send's critical path), the inclusive share of each function of
``digest/`` seen on its stacks: time in it or in anything it called.

    python benchmarks/where_time_goes.py /tmp/send.folded [--top 25] [--thread NAME]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

# "function (path/to/file.py:123)"; a process or thread marker has no file.
FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?):(?P<line>\d+)\)$")


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    """(process and thread, the stack's frames root first, samples) per line."""
    stacks = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        head, _, count = line.rpartition(" ")
        if not head or not count.isdigit():
            raise SystemExit(f"{path}:{number}: not a folded stack: {line[:80]!r}")
        frames = head.split(";")
        where = []
        while frames and not FRAME.match(frames[0]):  # "process 12:…", "thread (0x…)"
            where.append(frames.pop(0))
        stacks.append((" / ".join(where) or "(one thread)", frames, int(count)))
    return stacks


def ours(frame: str) -> str | None:
    """``module.function`` for a frame in digest's own code, else None."""
    found = FRAME.match(frame)
    if not found or "digest/" not in found["file"] or "site-packages" in found["file"]:
        return None
    module = found["file"].rsplit("digest/", 1)[1].removesuffix(".py").replace("/", ".")
    return f"{module}.{found['name']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folded", type=Path, help="py-spy --format raw output")
    parser.add_argument("--top", type=int, default=25, help="functions listed per thread")
    parser.add_argument(
        "--thread", action="append", default=[], help="threads to break down (part of the name)"
    )
    args = parser.parse_args()
    if not args.folded.is_file():
        raise SystemExit(f"{args.folded}: no such file")
    stacks = parse(args.folded)
    per_thread: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    for thread, frames, count in stacks:
        per_thread[thread] += count
        for name in dict.fromkeys(filter(None, map(ours, frames))):  # once a stack
            inclusive[thread][name] += count
    total = sum(per_thread.values()) or 1
    print(f"{total:,} samples")
    for thread, count in per_thread.most_common():
        print(f"{count / total:6.1%}  {count:>8,}  {thread}")
    chosen = [t for t in per_thread if any(part in t for part in args.thread)] or [
        per_thread.most_common(1)[0][0]
    ]
    for thread in chosen:
        print(f"\n{thread}: inclusive share of its samples")
        for name, count in inclusive[thread].most_common(args.top):
            print(f"{count / per_thread[thread]:6.1%}  {name}")


if __name__ == "__main__":
    main()
