"""A newcomer's first commands, through the real ``digest`` in a subprocess: old feeds
explained, and ``digest status`` read by a script. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import LIVE_LINKS, article, copy_database, run_digest, status_blocks, subscriber

from digest.models import Run
from digest.service.heartbeat import Heartbeat
from digest.store.store import Store

OLD_STORY = """---
title: "Old story {n}"
url: https://news.example.org/old-{n}
source: Example Times
keywords: [Climate]
published: 2021-03-0{n}T09:00:00Z
---
A story from a feed nobody updates.
"""


def site_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="newcomer-secret", COLUMNS="200")
    return env


def build_old_site(folder: Path, db_url: str) -> None:
    """Through the CLI: three articles published in 2021, ingested today (as new), and
    one subscriber in Paris."""
    (folder / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    articles = folder / "articles"
    articles.mkdir()
    for n in (1, 2, 4):
        (articles / f"old-{n}.md").write_text(OLD_STORY.format(n=n), encoding="utf-8")
    (folder / "people.csv").write_text(
        "email,name,topics,timezone\nann@example.com,Ann,,Europe/Paris\n", encoding="utf-8"
    )
    for args in (("ingest", str(articles)), ("subscribers", "import", "people.csv")):
        done = run_digest(*args, cwd=folder, env=site_env(db_url))
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def old_sqlite_template(tmp_path_factory) -> Path:
    """The old site on SQLite, built through the CLI once for the module."""
    folder = tmp_path_factory.mktemp("old-site")
    build_old_site(folder, f"sqlite:///{folder / 'digest.db'}")
    return folder / "digest.db"


@pytest.fixture
def old_site(request, tmp_path, db_url) -> tuple[Path, dict[str, str]]:
    """A site whose only articles were published in 2021: ingested today, as new. On
    SQLite a copy of the module's (``copy_database``: two ``digest`` processes fewer a
    test); on PostgreSQL built through the CLI for the test."""
    if db_url.startswith("sqlite"):
        template = request.getfixturevalue("old_sqlite_template")
        assert copy_database(template, tmp_path / "digest.db") == db_url
        (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    else:
        build_old_site(tmp_path, db_url)
    return tmp_path, site_env(db_url)


WHY = "3 articles ingested for it are older than its window and left out"
NEWEST = "the newest is from 2021-03-04"


def test_a_dry_run_and_a_preview_say_why_old_feeds_give_an_empty_digest(old_site):
    folder, env = old_site
    dry = run_digest("send", "--dry-run", cwd=folder, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "skip (empty)" in dry.stdout and "would send 0, skip 1" in dry.stdout
    (line,) = [line for line in dry.stdout.splitlines() if WHY in line]
    assert line.startswith(" Europe/Paris: ", 10) and line.endswith(NEWEST)
    assert "(it shows articles published since " in line

    preview = run_digest("preview", cwd=folder, env=env)
    assert preview.returncode == 1
    (error,) = preview.stderr.splitlines()
    assert error.startswith("Error: nothing to preview: ")
    assert WHY in error and NEWEST in error and error.endswith("; no file written")


def test_status_says_what_the_window_left_out_of_an_edition_nobody_got(old_site):
    folder, env = old_site
    sent = run_digest("send", cwd=folder, env=env)
    assert sent.returncode == 0, sent.stderr
    (row,) = status_blocks(run_digest("status", cwd=folder, env=env).stdout)["edition"]
    assert (row["sent"], row["skipped"], row["left_out"]) == ("0", "1", "3")
    assert row["newest_left_out"] == "2021-03-04T09:00:00+00:00"
    table = run_digest("status", "--format", "table", cwd=folder, env=env)
    (line,) = [line for line in table.stdout.splitlines() if WHY in line]
    assert line.endswith(NEWEST)


LONG_ZONE = "America/Argentina/Buenos_Aires"
LONG_HOST = "scheduler-" + "x" * 70 + ".eu-west-1.compute.internal"


@pytest.fixture
def busy_site(tmp_path, db_url) -> tuple[Path, dict[str, str]]:
    """An edition sent in a long zone's name, and a scheduler on a long host name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="newcomer-secret")
    env.pop("COLUMNS", None)  # piped: rich would draw 80 columns and cut the cells
    store = Store(db_url)
    try:
        store.save_articles([article("Fresh", ["Climate"], published=datetime.now(UTC))])
        store.save_subscribers([subscriber("ann@example.com", timezone=LONG_ZONE)])
        beat = Heartbeat(store)
        beat.host = LONG_HOST
        at = datetime.now(UTC) + timedelta(hours=3)
        beat.start([Run(LONG_ZONE, at.date(), at)])
    finally:
        store.close()
    done = run_digest("send", "--timezone", LONG_ZONE, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return tmp_path, env


def test_status_piped_is_tab_separated_and_nothing_is_cut(busy_site):
    folder, env = busy_site
    done = run_digest("status", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout and "│" not in done.stdout
    blocks = status_blocks(done.stdout)
    (edition,) = blocks["edition"]
    assert edition["edition"].endswith(f" {LONG_ZONE}")
    assert (edition["sent"], edition["failed"], edition["pending"]) == ("1", "0", "0")
    assert datetime.fromisoformat(edition["window_start"]) < datetime.fromisoformat(
        edition["cutoff"]
    )
    (scheduler,) = blocks["scheduler"]
    assert scheduler["scheduler"].startswith(f"{LONG_HOST}:") and scheduler["state"] == "alive"
    (run,) = blocks["zone"]
    assert run["zone"] == LONG_ZONE
    same = run_digest("status", "--format", "tsv", cwd=folder, env=env)
    assert same.stdout == done.stdout
    narrow = run_digest("status", "--format", "table", cwd=folder, env={**env, "COLUMNS": "60"})
    assert "│" in narrow.stdout and "…" not in narrow.stdout  # cells fold onto more lines


def test_status_as_json_has_every_field_the_table_shows(busy_site):
    folder, env = busy_site
    done = run_digest("status", "--format", "json", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (edition,) = report["editions"]
    table = run_digest("status", "--format", "table", cwd=folder, env={**env, "COLUMNS": "300"})
    headers = {  # each table's header cells, as the JSON spells them
        cell.strip().replace(" ", "_")
        for line in table.stdout.splitlines()
        if line.startswith("┃")
        for cell in line.strip("┃").split("┃")
    }
    assert "window_(UTC)" in headers and "state" in headers and "next_edition" in headers
    spelled = {"window_(UTC)": "window_start", "started_(UTC)": "started", "UTC": "utc"}
    fields = {*edition, *report["schedulers"][0], *report["next_editions"][0]}
    assert {spelled.get(h, h) for h in headers} <= fields
    assert edition["edition"].endswith(f" {LONG_ZONE}") and edition["sent"] == 1
    assert edition["left_out"] == 0 and edition["newest_left_out"] is None
    assert report["schedulers"][0]["scheduler"].startswith(f"{LONG_HOST}:")
    assert report["next_editions"][0]["zone"] == LONG_ZONE
    assert done.stderr == ""
