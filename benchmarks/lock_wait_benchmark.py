"""Who waits for SQLite's write lock: reads and the web side should not.

On a fresh SQLite file with 20,000 subscribers, with the real CLI in
subprocesses, it times:

1. ``digest status`` on its own, then while another connection holds the
   write lock (an uncommitted UPDATE) for HOLD seconds;
2. ``digest subscribers remove`` while ``digest subscribers list`` sits on a
   full pipe for HOLD seconds (``| less`` with the reader at the first page);
3. the worst ``/healthz`` answer of ``digest serve``, polled every 50 ms,
   during ``digest subscribers import`` of N rows;
4. the WAL's size after importing N rows while a listing holds its snapshot
   (checkpoints cannot pass it), and once the listing has ended.

    .venv/bin/python benchmarks/lock_wait_benchmark.py               # HOLD 10 s, N 400,000
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/lock_wait_benchmark.py

The second form times another checkout's code (the subprocesses inherit
PYTHONPATH). Target: 1-3 no slower than with nothing else running (they
must not wait for the writer), and 4 completes instead of failing with
"database is locked".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


class Site:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "digest.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
        self.env = env | {
            "DIGEST_DATABASE_URL": f"sqlite:///{self.db}",
            "DIGEST_SECRET": "benchmark-secret-Zq81",
            "NO_PROXY": "127.0.0.1",
            "no_proxy": "127.0.0.1",
        }
        (folder / "digest.toml").write_text(
            'public_url = "https://news.example.org"\n'
            'postal_address = "1 High Street, London N1 1AA, UK"\n',
            encoding="utf-8",
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "digest", *args]

    def timed(self, *args: str) -> tuple[float, int]:
        started = time.monotonic()
        done = subprocess.run(
            self.command(*args), cwd=self.folder, env=self.env, capture_output=True
        )
        return time.monotonic() - started, done.returncode

    def background(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.folder, env=self.env, **kwargs)

    def csv(self, name: str, prefix: str, rows: int) -> str:
        with (self.folder / name).open("w", encoding="utf-8") as out:
            out.write("email,name,topics,timezone\n")
            for i in range(rows):
                out.write(f"{prefix}{i:07}@example.org,{prefix.upper()} {i},Energy,\n")
        return name

    def wal_mib(self) -> float:
        wal = Path(f"{self.db}-wal")
        return wal.stat().st_size / 2**20 if wal.exists() else 0.0


def status_behind_a_writer(site: Site, hold: float) -> None:
    alone, _ = site.timed("status")
    writer = sqlite3.connect(site.db, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE subscribers SET name = 'held' WHERE id = 1")
    release = threading.Timer(hold, lambda: writer.execute("COMMIT"))
    release.start()
    behind, code = site.timed("status")
    release.join()
    writer.close()
    print(f"digest status alone: {alone:.2f} s")
    print(f"digest status, a writer holding the lock {hold:.0f} s: {behind:.2f} s (exit {code})")


def remove_during_a_listing(site: Site, hold: float) -> None:
    listing = site.background("subscribers", "list", stdout=subprocess.PIPE, text=True)
    listing.stdout.readline()  # it is streaming; the pipe fills and it stops there
    reader = threading.Timer(hold, listing.stdout.read)
    reader.start()
    took, code = site.timed("subscribers", "remove", "p0019999@example.org")
    reader.join()
    listing.wait()
    waiting = f"a listing waiting {hold:.0f} s on its reader"
    print(f"subscribers remove, {waiting}: {took:.2f} s (exit {code})")


def healthz_during_an_import(site: Site, rows: int) -> None:
    name = site.csv("big.csv", "b", rows)
    log = site.folder / "serve.err"
    with log.open("w") as err:
        serve = site.background("serve", "--port", "0", stdout=subprocess.DEVNULL, stderr=err)
    try:
        while not (found := re.search(r"serving on (http://\S+)", log.read_text())):
            if serve.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.05)
        started = time.monotonic()
        importing = site.background("subscribers", "import", name, stdout=subprocess.DEVNULL)
        worst, polls = 0.0, 0
        while importing.poll() is None:
            asked = time.monotonic()
            httpx.get(f"{found.group(1)}/healthz", timeout=120)
            worst, polls = max(worst, time.monotonic() - asked), polls + 1
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        serve.terminate()
        serve.wait()
    print(
        f"/healthz during an import of {rows:,} rows ({took:.1f} s, exit {importing.returncode}):"
        f" worst {worst:.2f} s of {polls} polls"
    )


def wal_during_a_listing(site: Site, rows: int) -> None:
    name = site.csv("more.csv", "c", rows)
    listing = site.background("subscribers", "list", stdout=subprocess.PIPE, text=True)
    listing.stdout.readline()
    took, code = site.timed("subscribers", "import", name)
    during = site.wal_mib()
    listing.stdout.read()
    listing.wait()
    site.timed("subscribers", "remove", "p0000001@example.org")
    print(
        f"import of {rows:,} rows while a listing holds its snapshot: {took:.1f} s (exit {code}),"
        f" WAL {during:.1f} MiB; after the listing ended: {site.wal_mib():.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=10, help="seconds a writer or listing holds")
    parser.add_argument("-n", type=int, default=400_000, help="rows imported in 3 and 4")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="digest-locks-"))
    try:
        site = Site(folder)
        _, code = site.timed("subscribers", "import", site.csv("people.csv", "p", 20_000))
        assert code == 0, "the first import failed"
        status_behind_a_writer(site, args.hold)
        remove_during_a_listing(site, args.hold)
        healthz_during_an_import(site, args.n)
        wal_during_a_listing(site, args.n)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
