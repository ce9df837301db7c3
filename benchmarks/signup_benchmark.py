"""Sign-up POSTs per second against ``digest serve`` as a real process (loopback),
on SQLite or PostgreSQL: each a real sign-up that passes every guard (a form
token served earlier, its own client address in X-Forwarded-For, its own
address), so each stores a pending sign-up and writes its confirmation .eml to
the outbox after its page. Also the form itself (GET) and sign-ups refused by
the client limit (429), the cheapest path a flood takes.

    .venv/bin/python benchmarks/signup_benchmark.py [-n 1000] [--clients 8] [--postgres URL]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import httpx
from serving import serving, throwaway_database

from digest.store.store import Store

SECRET = "signup-benchmark-secret"
CONFIG = """public_url = "https://news.example.org"
postal_address = "1 Main Street, Springfield"
[signup]
min_seconds = 0
per_client_hour = 1
per_client_day = 1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="sign-ups posted")
    parser.add_argument("--clients", type=int, default=8, help="connections posting at once")
    parser.add_argument("--postgres", metavar="URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with throwaway_database(args.postgres, work, "signup_bench") as url:
            run(work, url, args.n, args.clients, "PostgreSQL" if args.postgres else "SQLite")


def run(work: Path, url: str, n: int, clients: int, kind: str) -> None:
    Store(url).close()
    (work / "digest.toml").write_text(CONFIG)
    env = {**os.environ, "DIGEST_DATABASE_URL": url, "DIGEST_SECRET": SECRET}
    env.pop("DIGEST_CONFIG", None)
    with serving(work, env) as (base, _):
        with httpx.Client(trust_env=False) as http:
            started = time.perf_counter()
            tokens = [form_token(http, base) for _ in range(n)]
            forms = n / (time.perf_counter() - started)
        time.sleep(0.1)
        signups, codes = post_all(base, tokens, clients, lambda i: f"198.18.{i // 250}.{i % 250}")
        assert codes == {200: n}, codes
        # The same clients again: each is over its limit (1 an hour), 429 without a store write
        # beyond its counter.
        refused, codes = post_all(base, tokens, clients, lambda i: f"198.18.{i // 250}.{i % 250}")
        assert codes == {429: n}, codes
    mailed = len(list((work / "outbox" / "notices").glob("*.eml")))
    print(f"{kind}: {n} sign-ups from {clients} connections at once, on the shared machine")
    print(f"  GET /subscribe (the form, 1 connection):  {forms:7.0f} /s")
    print(f"  POST /subscribe, accepted (200):         {signups:7.0f} /s")
    print(f"  POST /subscribe, over the limit (429):   {refused:7.0f} /s")
    print(f"  confirmation .eml written:               {mailed:7d}")


def form_token(http: httpx.Client, base: str) -> str:
    page = http.get(f"{base}/subscribe")
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)


def post_all(base: str, tokens: list[str], clients: int, client_of) -> tuple[float, dict]:
    """Every sign-up posted once, ``clients`` at a time; (posts a second, status counts)."""
    local = threading.local()
    codes: dict[int, int] = {}
    lock = threading.Lock()

    def post(i: int) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(trust_env=False)
        answer = local.http.post(
            f"{base}/subscribe",
            data={"email": f"reader{i}@example.com", "form_token": tokens[i], "website": ""},
            headers={"X-Forwarded-For": client_of(i)},
        )
        with lock:
            codes[answer.status_code] = codes.get(answer.status_code, 0) + 1

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, range(len(tokens))))
    return len(tokens) / (time.perf_counter() - started), codes


if __name__ == "__main__":
    main()
