"""How fast digest sends an edition, and how much memory it takes.

Generates N subscribers in S topic segments and one day's articles in a fresh
SQLite store, then runs the real ``digest send`` (a subprocess, so its peak
RSS is its own) against:

* the local SendGrid stand-in (``tests/standins/sendgrid_server.py``, schema
  validation off, in its own process: its CPU time is reported separately);
* an aiosmtpd sink (``tests/standins/smtp_server.py --count-only``).

In the same run it times two references:

* the **floor**: the least work any sender must do for the same recipients —
  build each personalization (address, greeting, HMAC-signed unsubscribe URL),
  JSON-encode 1,000 of them with the segment's content a request and POST them
  over one keep-alive connection to the same stand-in — and prints
  ``ratio = send / floor`` (target: <= 2);
* the naive path, rendering and premailer-inlining every recipient's copy, on a
  sample, extrapolated to N.

    .venv/bin/python benchmarks/send_benchmark.py                 # 1,000,000 / 200
    .venv/bin/python benchmarks/send_benchmark.py -n 100000 --smtp 20000

Targets (2 cores): 1,000,000 subscribers in 200 segments in <= 30 s with peak
RSS <= 150 MB to the SendGrid stand-in; >= 1,000 messages/s over SMTP.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from digest.clock import utcnow  # noqa: E402
from digest.config.settings import Settings  # noqa: E402
from digest.models import Article  # noqa: E402
from digest.store.schema import subscribers, to_db  # noqa: E402
from digest.store.store import Store  # noqa: E402
from digest.store.subscriber_writer import refresh_statistics  # noqa: E402

KEYWORDS = [
    "Climate",
    "Energy",
    "Space",
    "Health",
    "Technology",
    "Economy",
    "Politics",
    "Science",
    "Sport",
    "Culture",
    "Travel",
    "Food",
    "Education",
    "Housing",
    "Transport",
    "Media",
    "Law",
    "Business",
    "World",
    "Local",
]
API_KEY = "SG.benchmark-key-not-a-real-one"
CREATED_SCHEMAS: list[tuple[str, str]] = []


def topic_sets(count: int) -> list[list[str]]:
    """``count`` distinct topic choices: everything, singles, pairs, triples…"""
    sets: list[list[str]] = [[]]
    for size in (1, 2, 3):
        for combo in itertools.combinations(KEYWORDS, size):
            if len(sets) == count:
                return sets
            sets.append(list(combo))
    return sets


def populate(db_url: str, n: int, segments: int) -> None:
    store = Store(db_url)
    now = utcnow()
    articles = []
    for i in range(80):
        keys = random.Random(i).sample(KEYWORDS, 2)
        articles.append(
            Article(
                guid=f"bench-{i}",
                url=f"https://news.example.org/{i}",
                title=f"Story {i} on {keys[0]}",
                summary=f"What happened in story {i}, in two sentences. " * 3,
                body="Body " * 200,
                source="Bench Wire",
                published=now - timedelta(hours=random.Random(i).uniform(1, 20)),
                keywords=keys,
            )
        )
    store.save_articles(articles)
    sets = [";".join(s) for s in topic_sets(segments)]
    stamp = to_db(now)
    with store.engine.begin() as conn:
        for start in range(0, n, 50_000):
            conn.execute(
                subscribers.insert(),
                [
                    {
                        "email": f"reader{i}@example.com",
                        "email_key": f"reader{i}@example.com",
                        "name": f"Reader {i}",
                        "topics": sets[i % len(sets)],
                        "timezone": None,
                        "active": True,
                        "updated_at": stamp,
                    }
                    for i in range(start, min(n, start + 50_000))
                ],
            )
    refresh_statistics(store.engine)  # as `digest subscribers import` leaves the table
    store.close()


def fresh_database(postgres: str | None, sqlite_path: Path) -> str:
    """An empty database: a SQLite file, or a new schema on the given PostgreSQL."""
    if not postgres:
        return f"sqlite:///{sqlite_path}"
    from digest.store.store import normalise_url

    url = normalise_url(postgres)
    schema = f"digest_bench_{os.getpid()}_{sqlite_path.stem}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    CREATED_SCHEMAS.append((url, schema))
    return f"{url}?options=-csearch_path%3D{schema}"


def drop_schemas() -> None:
    for url, schema in CREATED_SCHEMAS:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def start_server(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline().strip()
    if not line.startswith("READY"):
        proc.kill()
        raise SystemExit(f"stand-in did not start: {line!r}")
    return proc, line.split()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_send(env: dict, workdir: Path, provider: str) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MB) and CPU seconds of one ``digest send`` process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--provider", provider],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read().decode() + proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        print(out)
        raise SystemExit(f"digest send --provider {provider} failed")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, cpu, out.strip().splitlines()[-1]


def floor_seconds(url: str, n: int, segments: int, db_url: str) -> float:
    """The floor: personalizations built, JSON-encoded and POSTed, nothing else.

    No database, no ledger, no retries: what is left is what every sender of
    these recipients must do, measured against the same stand-in as the send.
    The content is a real segment's HTML and text (one segment's, for all).
    """
    import hashlib
    import hmac
    import http.client
    import json
    from urllib.parse import urlsplit

    from digest.editions.contents import EditionContent, propose_edition
    from digest.rendering.renderer import Renderer

    settings = Settings(templates_dir=ROOT / "templates")
    store = Store(db_url)
    now = datetime.now(UTC)
    edition = propose_edition(store, settings, now.date(), "UTC", now)
    content = EditionContent(store, settings, edition, Renderer(settings))
    segment, _ = content.segment_of("")
    rendered = content.rendered(segment)
    store.close()
    key = hmac.new(b"benchmark", digestmod=hashlib.sha256)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    started = time.perf_counter()
    for start in range(0, n, 1000):
        personalizations = []
        for i in range(start, min(n, start + 1000)):
            email = f"reader{i}@example.com"
            mac = key.copy()
            mac.update(email.encode())
            link = f"https://digest.example.com/unsubscribe/{mac.hexdigest()[:32]}"
            personalizations.append(
                {
                    "to": [{"email": email, "name": f"Reader {i}"}],
                    "substitutions": {"%%g%%": f"Hello Reader {i},", "%%u%%": link},
                    "headers": {"List-Unsubscribe": f"<{link}>"},
                }
            )
        body = json.dumps(
            {
                "from": {"email": "digest@example.com"},
                "subject": rendered.subject,
                "content": [
                    {"type": "text/plain", "value": rendered.text},
                    {"type": "text/html", "value": rendered.html},
                ],
                "personalizations": personalizations,
            }
        ).encode()
        conn.request("POST", "/v3/mail/send", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 202:
            raise SystemExit(f"floor: the stand-in answered {response.status}")
    conn.close()
    return time.perf_counter() - started


def naive_rate(db_url: str, sample: int) -> float:
    """Recipients/s when every copy is rendered and inlined on its own."""
    from digest.editions.contents import EditionContent, propose_edition
    from digest.rendering.personal import greeting_for
    from digest.rendering.renderer import Renderer

    settings = Settings(templates_dir=ROOT / "templates")
    store = Store(db_url)
    now = datetime.now(UTC)
    edition = propose_edition(store, settings, now.date(), "UTC", now)
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    sets = topic_sets(200)
    started = time.perf_counter()
    for i in range(sample):
        segment, _ = content.segment_of(";".join(sets[i % len(sets)]))
        renderer.render(
            edition,
            content.sections(segment),
            content.topic_names(segment),
            greeting_for(f"Reader {i}"),
            f"https://x.example/unsubscribe/{i}",
        )
    store.close()
    return sample / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="subscribers for SendGrid")
    parser.add_argument("-s", "--segments", type=int, default=200)
    parser.add_argument("--smtp", type=int, default=20_000, help="subscribers for SMTP (0: skip)")
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run against this PostgreSQL server (a throwaway schema is made and dropped), "
        "e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "DIGEST_SECRET": "benchmark", "SENDGRID_API_KEY": API_KEY}
        env.pop("DIGEST_CONFIG", None)
        # smtp and sendgrid refuse to send links that would not work, or without the
        # sender's postal address.
        (work / "digest.toml").write_text(
            'public_url = "https://news.example.org"\npostal_address = "1 Benchmark Street"\n'
        )

        db = fresh_database(args.postgres, work / "sg.db")
        t = time.perf_counter()
        populate(db, args.n, args.segments)
        print(
            f"setup: {args.n:,} subscribers in {args.segments} segments "
            f"({time.perf_counter() - t:.1f} s, not counted)"
        )
        server, url = start_server(
            [
                "tests/standins/sendgrid_server.py",
                "--port",
                "0",
                "--api-key",
                API_KEY,
                "--no-schema",
            ]
        )
        try:
            wall, rss, cpu, line = run_send(
                {**env, "DIGEST_DATABASE_URL": db, "SENDGRID_API_HOST": url}, work, "sendgrid"
            )
            server_cpu = cpu_seconds(server.pid)
            floor = floor_seconds(url, args.n, args.segments, db)
        finally:
            server.kill()
        rate = args.n / wall
        print(
            f"sendgrid: {args.n:,} recipients in {wall:.1f} s = {rate:,.0f} recipients/s, "
            f"peak RSS {rss:.0f} MB, digest CPU {cpu:.1f} s "
            f"(stand-in CPU {server_cpu:.1f} s, separate)"
        )
        print(f"  digest said: {line}")
        print(
            f"floor (build, encode and POST the same personalizations, nothing else): "
            f"{floor:.1f} s; ratio = send / floor = {wall / floor:.2f} (target <= 2)"
        )
        naive = naive_rate(db, args.naive_sample)
        print(
            f"naive (render + inline per recipient, {args.naive_sample} sampled): "
            f"{naive:,.0f} recipients/s -> {args.n / naive:,.0f} s for {args.n:,}; "
            f"per-segment rendering is {rate / naive:,.0f}x faster"
        )

        if args.smtp:
            db = fresh_database(args.postgres, work / "smtp.db")
            populate(db, args.smtp, args.segments)
            sink, port = start_server(
                ["tests/standins/smtp_server.py", "--port", "0", "--count-only"]
            )
            try:
                wall, rss, cpu, line = run_send(
                    {
                        **env,
                        "DIGEST_DATABASE_URL": db,
                        "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}",
                    },
                    work,
                    "smtp",
                )
                sink_cpu = cpu_seconds(sink.pid)
            finally:
                sink.send_signal(signal.SIGTERM)
                counted = sink.communicate(timeout=10)[0].strip()
            print(
                f"smtp: {args.smtp:,} messages in {wall:.1f} s = {args.smtp / wall:,.0f} "
                f"messages/s, peak RSS {rss:.0f} MB, digest CPU {cpu:.1f} s "
                f"(aiosmtpd sink CPU {sink_cpu:.1f} s, separate; it counted {counted})"
            )


if __name__ == "__main__":
    try:
        main()
    finally:
        drop_schemas()
