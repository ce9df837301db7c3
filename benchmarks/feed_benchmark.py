"""How fast feeds are ingested, and how much memory it takes.

Serves feeds from the stand-in server (tests/standins/feed_server.py, in a
process of its own) and runs the real ``digest ingest`` in a subprocess, so
its wall time and peak RSS are its own (the peak is the process's ``VmHWM``
read as it exits: ``wait4``'s figure would carry over this process's peak,
which the kernel keeps across ``exec``):

1. a feed of N entries (20,000 by default: titles, HTML summaries, links,
   guids, dates, two categories each; 8 MB), first ingest into an empty store:
   entries per second, counting the command as a whole (Python's start and
   imports included) and the ingest alone (timed in the command's own log);
2. the same feed again: the server answers 304; the download's time;
3. the same feed as a local file, twice: the second run is skipped by its hash;
4. 200 feeds, one of which never answers: the whole ingest, against the
   ``--deadline`` (``feed_timeout``).

    .venv/bin/python benchmarks/feed_benchmark.py
    .venv/bin/python benchmarks/feed_benchmark.py -n 5000 --deadline 5
    .venv/bin/python benchmarks/feed_benchmark.py --postgres postgresql://postgres@127.0.0.1/test

Targets (2 cores): >= 5,000 entries/s first ingest, 304 in < 50 ms, peak RSS
<= 120 MB for 20,000 entries, 200 feeds with one stuck in <= deadline + 5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from send_benchmark import drop_schemas, fresh_database, start_server  # noqa: E402

WORDS = ["harbour", "council", "prices", "energy", "schools"]
WORDS += ["river", "budget", "storm", "trains", "market"]


def big_feed(n: int) -> bytes:
    """An RSS 2.0 feed of ``n`` entries, each like a real news item."""
    items = []
    for i in range(n):
        a, b, c = WORDS[i % 10], WORDS[(i * 3) % 10], WORDS[(i * 7) % 10]
        items.append(
            f"<item><title>Story {i}: the {a} and the {b} after the {c} vote</title>"
            f"<link>https://news.example.org/2026/11/{a}-{b}-{i}</link>"
            f"<guid isPermaLink='false'>news-{i}</guid>"
            f"<description>&lt;p&gt;The {a} {b} story {i}, in which the {c} plan is "
            f"discussed at length by people who know about {a}s and {b}s.&lt;/p&gt;"
            f"&lt;p&gt;A second paragraph about the {c}.&lt;/p&gt;</description>"
            f"<pubDate>Tue, 24 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
            f"<category>{a.title()}</category><category>{b.title()}</category></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Example News</title><link>https://news.example.org/</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def small_feed(n: int) -> bytes:
    return big_feed(5).replace(b"Example News", f"Feed number {n}".encode())


# ``python -m digest ARGS``, saying its own peak RSS (VmHWM, kB) on stderr at exit.
RUN_DIGEST = """
import atexit, re, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    print("VmHWM", re.search(r"VmHWM:\\s+(\\d+)", status).group(1), file=sys.stderr)
atexit.register(peak)
sys.argv = ["digest", *sys.argv[1:]]
runpy.run_module("digest", run_name="__main__")
"""


def run(args: list[str], env: dict, cwd: Path) -> tuple[float, float, str, str]:
    """Wall seconds, peak RSS (MB), stdout and stderr of one ``digest`` command."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUN_DIGEST, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    lines = done.stderr.strip().splitlines()
    peak = int(lines.pop().split()[1]) / 1024 if lines and lines[-1].startswith("VmHWM") else 0
    return wall, peak, done.stdout.strip(), "\n".join(lines)


def write_feeds(folder: Path, n: int, many: int) -> None:
    """The big feed and the small ones, written by a child: this process stays small."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from feed_benchmark import big_feed, "
        "small_feed; from pathlib import Path; f = Path(sys.argv[2]); "
        "(f / 'big.xml').write_bytes(big_feed(int(sys.argv[3]))); "
        "[(f / f'f{i}.xml').write_bytes(small_feed(i)) for i in range(int(sys.argv[4]))]"
    )
    here = str(Path(__file__).resolve().parent)
    subprocess.run([sys.executable, "-c", code, here, str(folder), str(n), str(many)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="entries in the big feed")
    parser.add_argument("--feeds", type=int, default=200, help="feeds in the many-feeds run")
    parser.add_argument("--deadline", type=float, default=10.0, help="feed_timeout, seconds")
    parser.add_argument("--postgres", metavar="URL", help="store in PostgreSQL (a new schema)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="feed-bench-"))
    write_feeds(folder, args.n, args.feeds)
    standin = ROOT / "tests" / "standins" / "feed_server.py"
    server, base = start_server([str(standin), "--port", "0", "--folder", str(folder)])
    try:
        size = (folder / "big.xml").stat().st_size
        print(f"feed of {args.n:,} entries, {size / 2**20:.1f} MB")

        def env_for(name: str) -> dict:
            url = fresh_database(args.postgres, folder / f"{name}.db")
            return {**os.environ, "DIGEST_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}

        (folder / "digest.toml").write_text(f"feed_timeout = {args.deadline}\n")
        env = env_for("big")
        url = f"{base}/feed/big.xml"
        wall, peak, out, err = run(["ingest", url], env, folder)
        print(f"first ingest over http:  {wall:6.2f} s  {args.n / wall:8,.0f} entries/s  "
              f"peak RSS {peak:5.1f} MB   [{out}]")  # fmt: skip
        wall, peak, out, err = run(["ingest", url], env, folder)
        print(f"again (304):             {wall:6.2f} s  (Python's start included)  "
              f"peak RSS {peak:5.1f} MB   [{out}]")  # fmt: skip
        _conditional_get_time(url)

        env = env_for("file")
        path = str(folder / "big.xml")
        wall, peak, out, err = run(["ingest", path], env, folder)
        print(f"first ingest of a file:  {wall:6.2f} s  {args.n / wall:8,.0f} entries/s  "
              f"peak RSS {peak:5.1f} MB   [{out}]")  # fmt: skip
        wall, peak, out, err = run(["ingest", path], env, folder)
        print(f"the file unchanged:      {wall:6.2f} s  peak RSS {peak:5.1f} MB   [{out}]")

        urls = [f"{base}/feed/f{n}.xml" for n in range(args.feeds - 1)]
        urls.insert(args.feeds // 2, f"{base}/never/f0.xml")
        env = env_for("many")
        wall, peak, out, err = run(["ingest", *urls], env, folder)
        verdict = "ok" if wall <= args.deadline + 5 else "OVER"
        print(f"{args.feeds} feeds, one stuck:    {wall:6.2f} s  (deadline {args.deadline:g} s "
              f"+ 5 = {args.deadline + 5:g}: {verdict})  peak RSS {peak:5.1f} MB")  # fmt: skip
        print(f"  [{out}]")
        print(f"  {err.splitlines()[-1] if err else ''}")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    if args.postgres:
        drop_schemas()


def _conditional_get_time(url: str) -> None:
    """The 304 itself, timed inside this process: what the command spends on the feed."""
    from digest.sources.fetch import Downloads, Request

    tag_request = Downloads([Request(url, 10)])
    with tag_request as first:
        [(_, fetched)] = list(first)
    times = []
    for _ in range(20):
        with Downloads([Request(url, 10, fetched.etag, fetched.last_modified)]) as again:
            [(_, answer)] = list(again)
        assert answer.outcome == "not_modified", answer
        times.append(answer.seconds)
    times.sort()
    print(f"  the 304 alone:          median {times[10] * 1000:5.1f} ms, "
          f"worst {times[-1] * 1000:5.1f} ms of 20 (target < 50 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
