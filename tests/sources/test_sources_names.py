"""Source names a reader recognises: feed titles without site-title noise (issue 21, point 4).

Only the *shown* name is cleaned: the store scopes every article's identity to
its source as the feed gave it, so an existing database ingesting the same
feeds again finds every article it has (0 new), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA, ROOT, article, every_article
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.config.settings import Settings
from digest.editions.contents import preview
from digest.models import Source
from digest.sources import ingest
from digest.sources.files import read_file
from digest.sources.names import shown_name, shown_sources
from digest.validate import clean_line, has_control

FEEDS = DATA / "feeds"
UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("bbcchinese.com | 主页", "bbcchinese.com"),  # 主页: "home page"
        ("gmane.mail.rss2email", "rss2email list"),
        ("Tails - News", "Tails"),
        ("Blog – Quiltville's Quips & Snips!!", "Quiltville's Quips & Snips!!"),
        ("The Example Times | Latest News", "The Example Times"),
        ("www.example.org", "example.org"),
        # What says more than "home" or "news" stays: these are comments, not articles.
        ("Software Carpentry - Latest Comments", "Software Carpentry - Latest Comments"),
        ("Node.js Blog: Vulnerability Reports", "Node.js Blog: Vulnerability Reports"),
        ("Quiltville's Quips & Snips!!", "Quiltville's Quips & Snips!!"),
        ("comp.lang.python", "comp.lang.python"),  # Usenet's own name for it
        ("Home | News", "Home | News"),  # all noise: nothing better to show
        ("News from the Valley - Home", "News from the Valley"),
    ],
)
def test_site_title_noise_is_dropped(title, shown):
    assert shown_name(title) == shown


def test_the_real_feeds_titles_as_shown():
    shown = {}
    for path in sorted(FEEDS.glob("*-feed*.*")):
        for item in read_file(path, UTC_ZONE).articles[:1]:
            shown[item.source] = shown_name(item.source)
    assert shown["bbcchinese.com | 主页"] == "bbcchinese.com"
    assert shown["gmane.mail.rss2email"] == "rss2email list"
    assert shown["Tails - News"] == "Tails"
    assert shown["Fastmail Status"] == "Fastmail Status"
    assert shown["Sarah's Scribbles"] == "Sarah's Scribbles"


def test_a_configured_name_is_shown_as_given():
    items = [article("A", source="Tails - News"), article("B", source="bbcchinese.com | 主页")]
    shown = shown_sources(items, configured={"Tails - News"})
    assert [a.source for a in shown] == ["Tails - News", "bbcchinese.com"]
    assert [a.source for a in items] == ["Tails - News", "bbcchinese.com | 主页"]  # not changed


# -- the store keeps the feed's own title: re-ingest finds every article -------------


def test_reingesting_the_real_feeds_stores_nothing_new_and_keeps_their_titles(store):
    """An existing database (its sources stored as the feeds' raw titles, as every
    release so far stored them) ingests the same feeds again: 0 new."""
    feeds = [str(p) for p in sorted(FEEDS.glob("*-feed*.*"))]
    now = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    first = ingest(store, feeds, UTC_ZONE, now=now)
    assert first.new >= 77 and not first.errors
    again = ingest(store, feeds, UTC_ZONE, now=now)
    assert (again.new, again.updated) == (0, 0)
    sources = {a.source for a in every_article(store)}
    assert {"bbcchinese.com | 主页", "gmane.mail.rss2email", "Tails - News"} <= sources


@pytest.mark.parametrize("configured", [False, True])
def test_an_edition_shows_the_clean_name_and_a_configured_one_as_given(
    store, tmp_path, monkeypatch, configured
):
    monkeypatch.setenv("DIGEST_SECRET", "s" * 32)
    bbc = Source(target=str(FEEDS / "bbc-chinese-feed.atom"), name="BBC 中文 | 主页" * configured)
    now = datetime(2013, 1, 24, 6, 0, tzinfo=UTC)
    store.now = lambda: now
    ingest(store, [bbc], UTC_ZONE, now=now)
    settings_ = Settings(
        outbox_dir=tmp_path / "outbox", templates_dir=ROOT / "templates", sources=[bbc]
    )
    page = preview(store, settings_, None, None, now=now).page
    if configured:
        assert "BBC 中文 | 主页" in page  # the operator's word, as given
    else:
        assert "bbcchinese.com" in page and "主页" not in page


# -- the cleaner, on any text ---------------------------------------------------------

TITLE_PARTS = st.one_of(
    st.sampled_from(["Home", "News", "主页", "Latest News", "Blog", "Tails", "gmane.mail.x",
                     "www.example.com", "Quips & Snips!!", " | ", " - ", " – ", " :: ", "|"]),
    st.text(max_size=12),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(TITLE_PARTS, max_size=8).map("".join))
def test_the_cleaner_is_short_idempotent_clean_and_never_empty(title):
    shown = shown_name(title)
    assert len(shown) <= len(title)
    assert shown_name(shown) == shown
    assert not has_control(shown)
    if any(c.isalpha() for c in clean_line(title)):  # letters, not an escape sequence's
        assert shown
