"""The realistic day (benchmarks/realistic_day.py) as the everything-subscriber gets it:
the real feeds of tests/data/feeds re-dated so each one's newest entry is a few hours
old, the sample articles and the saved news page, ingested into the store (SQLite and
PostgreSQL) and grouped as an edition groups them."""

from __future__ import annotations

import importlib.util
import shutil
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW

from digest.editions.contents import EditionContent, propose_edition
from digest.grouping.sections import MORE_NEWS_TITLE
from digest.rendering.renderer import Renderer
from digest.sources import ingest

ROOT = Path(__file__).resolve().parent.parent.parent
_spec = importlib.util.spec_from_file_location(
    "realistic_day", ROOT / "benchmarks/realistic_day.py"
)
realistic_day = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(realistic_day)


@pytest.fixture
def day(store, settings, tmp_path):
    """The everything-subscriber's sections of the realistic day's UTC edition."""
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    for number, feed in enumerate(sorted(realistic_day.FEEDS.glob("*"))):
        if feed.suffix not in (".rss", ".atom", ".xml"):
            continue
        newest = NOW - timedelta(hours=3 + number * 0.5)
        text, _ = realistic_day.redate(feed.read_text("utf-8", errors="surrogateescape"), newest)
        (feeds / feed.name).write_text(text, "utf-8", errors="surrogateescape")
    shutil.copytree(realistic_day.ARTICLES, tmp_path / "articles")
    shutil.copy(realistic_day.PAGE, tmp_path / "articles" / realistic_day.PAGE.name)
    report = ingest(store, [str(feeds), str(tmp_path / "articles")], ZoneInfo("UTC"), now=NOW)
    assert not report.failed
    settings.topics = ["Technology", "World", "Energy", "Science", "Climate"]
    edition = propose_edition(store, settings, NOW.date(), "UTC", NOW)
    return EditionContent(store, settings, edition, Renderer(settings)).sections("", True)


def test_more_news_is_not_the_biggest_section_of_a_realistic_day(day):
    sizes = {s.title: s.total for s in day}
    biggest = max(n for t, n in sizes.items() if t != MORE_NEWS_TITLE)
    assert sizes.get(MORE_NEWS_TITLE, 0) < biggest, sizes
    # What no topic claims is under its source, which a reader recognises.
    assert sizes["From rss2email list"] == 2  # source names as a reader sees them
    assert sizes["From Tails"] == sizes["From Fastmail Status"] == 1


def test_no_section_of_a_realistic_day_is_named_after_feed_machinery(day):
    names = {s.title.casefold() for s in day}
    assert not names & {"chinese_simplified", "announce", "comics", "lol", "homepage"}
    assert "World" in [s.title for s in day]


def test_every_item_of_a_realistic_day_is_worth_its_line(day):
    items = [a for s in day for a in s.articles]
    assert not [a for a in items if a.title == "Photo"]
    assert not [a for a in items if a.title.startswith("Re: ")]
    [thread] = [a for a in items if a.title == "new maintainer and mailing list for rss2email"]
    assert thread.thread_size == 4
    fastmail = [a for a in items if a.source == "Fastmail Status"]
    assert [(a.thread_size, a.state) for a in fastmail] == [(2, "Up")]
