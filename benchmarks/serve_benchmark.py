"""Times ``digest serve`` as a real process: unsubscribe pages, one-click POSTs
(16 clients at once), and the archive list, against a fresh store of N subscribers.

    .venv/bin/python benchmarks/serve_benchmark.py [-n 2000] [--clients 16] [--postgres URL]

With ``--postgres URL`` the store is a throwaway schema on that server.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
from serving import serving, throwaway_database

from digest.models import Subscriber
from digest.rendering.links import make_token
from digest.store.store import Store

SECRET = "serve-benchmark-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="subscribers (each unsubscribed once)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--postgres", metavar="URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with throwaway_database(args.postgres, work, "serve_bench") as url:
            run(work, url, args.n, args.clients)


def run(work: Path, url: str, n: int, clients: int) -> None:
    store = Store(url)
    store.save_subscribers(Subscriber(email=f"r{i}@example.com") for i in range(n))
    people = list(store.list_subscribers())
    store.close()
    tokens = [make_token(p.id, p.email, SECRET.encode()) for p in people]
    (work / "digest.toml").write_text('public_url = "https://news.example.org"\n')
    env = {**os.environ, "DIGEST_DATABASE_URL": url, "DIGEST_SECRET": SECRET}
    env.pop("DIGEST_CONFIG", None)
    with serving(work, env) as (base, _):
        report(base, tokens, clients)


def report(base: str, tokens: list[str], clients: int) -> None:
    with httpx.Client(trust_env=False) as http:
        started = time.perf_counter()
        for token in tokens[:500]:
            assert http.get(f"{base}/unsubscribe/{token}").status_code == 200
        pages = min(500, len(tokens)) / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(300):
            http.get(f"{base}/archive")
        archive = 300 / (time.perf_counter() - started)
    local = threading.local()

    def one_click(token: str) -> int:
        if not hasattr(local, "http"):
            local.http = httpx.Client(trust_env=False)
        body = {"content": "List-Unsubscribe=One-Click"}
        return local.http.post(f"{base}/unsubscribe/{token}", **body).status_code

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        codes = set(pool.map(one_click, tokens))
    posts = len(tokens) / (time.perf_counter() - started)
    print(
        f"GET unsubscribe page: {pages:,.0f}/s (one client); one-click POST: {posts:,.0f}/s "
        f"({clients} clients, answers {sorted(codes)}); GET /archive: {archive:,.0f}/s"
    )


if __name__ == "__main__":
    main()
