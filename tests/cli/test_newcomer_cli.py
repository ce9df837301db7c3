"""A newcomer's first commands, through the real ``digest`` in a subprocess: old feeds
explained, and ``digest status`` read by a script. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import LIVE_LINKS, run_digest

OLD_STORY = """---
title: "Old story {n}"
url: https://news.example.org/old-{n}
source: Example Times
keywords: [Climate]
published: 2021-03-0{n}T09:00:00Z
---
A story from a feed nobody updates.
"""


@pytest.fixture
def old_site(tmp_path, db_url) -> tuple[Path, dict[str, str]]:
    """A site whose only articles were published in 2021: ingested today, as new."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="newcomer-secret", COLUMNS="200")
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in (1, 2, 4):
        (folder / f"old-{n}.md").write_text(OLD_STORY.format(n=n), encoding="utf-8")
    (tmp_path / "people.csv").write_text(
        "email,name,topics,timezone\nann@example.com,Ann,,Europe/Paris\n", encoding="utf-8"
    )
    for args in (("ingest", str(folder)), ("subscribers", "import", "people.csv")):
        done = run_digest(*args, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
    return tmp_path, env


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
