"""The page "Manage topics" opens, on the real server, over the sample articles:
topics first and unsubscribing last; typed topics say what they caught this week.
On SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from conftest import NOW, article, subscriber
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from webserver import NO_PROXY, running

from digest.editions.reach import topic_reach
from digest.rendering.links import make_token
from digest.sources import ingest
from digest.web import pages

SECRET = b"web-preferences-secret"
SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "articles"


@pytest.fixture
def site(store, settings, monkeypatch):
    """The sample articles ingested at NOW (the store's clock), two subscribers, the server."""
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    settings.topics = ["Climate", "Energy", "Health", "Space"]
    report = ingest(store, [str(SAMPLES)], ZoneInfo("UTC"), NOW)
    assert report.errors == [] and report.new >= 16
    store.save_subscribers(
        [subscriber("ann@example.com", ["Climate"], name="Ann"), subscriber("bob@example.org")]
    )
    with running(store, settings, SECRET) as base:
        yield store, base


def link(store, base: str, address: str, route: str) -> str:
    sub = store.find_subscriber(address)
    return f"{base}/{route}/{make_token(sub.id, sub.email, SECRET)}"


def order(html: str, *marks: str) -> list[int]:
    return [html.index(mark) for mark in marks]


def state(store):
    return {s.email: (s.topics, s.unsubscribed_at) for s in store.list_subscribers(False)}


def test_manage_topics_opens_the_topics_with_unsubscribe_last_and_the_get_changes_nothing(site):
    store, base = site
    before = state(store)

    page = httpx.get(link(store, base, "ann@example.com", "preferences"))

    assert page.status_code == 200
    html = page.text
    heading = re.search(r"<h1>(.*?)</h1>", html)[1]
    assert heading == "What you get" and "Unsubscribe" not in heading
    # DOM order: the topics, the other-topics field, Save, and only then Unsubscribe.
    boxes, other, save, leave = order(
        html, 'name="topic"', 'id="other"', 'id="save"', 'id="unsubscribe"'
    )
    assert boxes < other < save < leave
    assert 'class="link" id="unsubscribe"' in html  # quiet: a link-like button
    assert 'value="Climate" checked' in html and 'value="Energy">' in html
    # Unsubscribing from here is still one click and a POST to the unsubscribe link.
    form = re.search(r'<form method="post" action="([^"]+)" class="leave">', html)[1]
    assert form.startswith("../unsubscribe/")
    assert state(store) == before


def test_the_unsubscribe_link_still_asks_to_unsubscribe_first(site):
    store, base = site
    html = httpx.get(link(store, base, "ann@example.com", "unsubscribe")).text

    assert "<h1>Unsubscribe a•••@e•••.com from Daily Digest?</h1>" in html
    unsubscribe, boxes = order(html, 'id="unsubscribe"', 'name="topic"')
    assert unsubscribe < boxes and 'class="primary" id="unsubscribe"' in html


def test_unsubscribing_from_the_preferences_page_is_one_click(site):
    store, base = site
    page = httpx.get(link(store, base, "bob@example.org", "preferences"))
    action = re.search(r'<form method="post" action="\.\./([^"]+)" class="leave">', page.text)[1]

    done = httpx.post(f"{base}/{action}", data={})

    assert "You are unsubscribed" in done.text
    assert store.find_subscriber("bob@example.org").unsubscribed_at is not None


def test_typed_topics_say_what_they_caught_this_week(site):
    store, base = site
    page = httpx.post(
        link(store, base, "bob@example.org", "preferences"),
        data={"topic": "Space", "other": "bake sale, Zeppelin"},
    )

    assert page.status_code == 200 and '<h1 id="done">Saved</h1>' in page.text
    lines = [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<li[^>]*>(.*?)</li>", page.text)]
    # "School bake sale raises £2,400…" is an untagged saved page: the typed words tag it.
    assert lines == [
        "bake sale — 1 story this week",
        "Zeppelin — nothing yet this week: it will catch stories that mention “Zeppelin”",
    ]
    saved = ["Space", "bake sale", "Zeppelin"]
    assert store.find_subscriber("bob@example.org").topics == saved


def test_a_typed_topic_that_could_never_match_is_refused_with_why(site):
    """ "Latest news" is dropped from every article: saved, it would never catch a story."""
    store, base = site
    before = store.find_subscriber("bob@example.org").topics
    page = httpx.post(
        link(store, base, "bob@example.org", "preferences"),
        data={"topic": "Space", "other": "bake sale; Latest news"},
    )

    assert page.status_code == 400
    assert "Latest news" in page.text and "it never matches" in page.text
    assert store.find_subscriber("bob@example.org").topics == before


def test_a_story_older_than_a_week_is_not_counted(store, settings):
    ingest(store, [str(SAMPLES)], ZoneInfo("UTC"), NOW)

    assert topic_reach(store, settings, ["bake sale"], NOW + timedelta(days=1)).counts == {
        "bake sale": 1
    }
    assert topic_reach(store, settings, ["bake sale"], NOW + timedelta(days=8)).counts == {
        "bake sale": 0
    }


def test_a_busy_week_is_read_only_up_to_the_cap_and_says_so(sqlite_store, settings):
    """10,000 articles in the week: one page view reads the newest ``MAX_SCANNED``."""
    week = [
        article(
            f"Harbour report {i}: dredging update",
            [],
            published=NOW - timedelta(minutes=i),
            summary="Ferry timetables and a bake sale at the harbour school."
            if i % 10 == 0
            else "Ferry timetables for the week.",
        )
        for i in range(10_000)
    ]
    sqlite_store.save_articles(week)

    started = time.perf_counter()
    reach = topic_reach(sqlite_store, settings, ["bake sale", "Zeppelin"], NOW)
    took = time.perf_counter() - started

    assert reach.capped and reach.counts == {"bake sale": 200, "Zeppelin": 0}
    assert took < 5  # about 0.3 s on the shared machine; a loaded CI box is slower


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(typed=st.lists(st.text(max_size=40), max_size=6))
def test_any_typed_text_gets_a_count_per_topic_and_never_an_error(sqlite_store, settings, typed):
    if not sqlite_store.window_articles(NOW - timedelta(days=8), NOW, NOW - timedelta(days=8)):
        ingest(sqlite_store, [str(SAMPLES)], ZoneInfo("UTC"), NOW)

    reach = topic_reach(sqlite_store, settings, [*typed, "bake sale"], NOW + timedelta(hours=1))

    assert all(n >= 0 for n in reach.counts.values()) and not reach.capped
    assert reach.counts["bake sale"] == 1  # whatever else was typed beside it
    typed_names = {" ".join(t.split()) for t in typed}
    assert set(reach.counts) <= typed_names | {"bake sale"}  # one count per topic typed
    assert all(" ".join(t.split()) in reach.counts for t in typed if any(map(str.isalnum, t)))


def test_when_counting_fails_the_saved_topics_are_still_confirmed(site, monkeypatch, caplog):
    store, base = site

    def down(*_args, **_kwargs):
        raise sa.exc.OperationalError("SELECT …", {}, Exception("server closed the connection"))

    monkeypatch.setattr(pages, "topic_reach", down)
    page = httpx.post(link(store, base, "bob@example.org", "preferences"), data={"other": "Ocean"})

    assert (
        page.status_code == 200
        and '<h1 id="done">Saved</h1>' in page.text
        and 'id="reach"' not in page.text
    )
    assert store.find_subscriber("bob@example.org").topics == ["Ocean"]
    assert "counting typed topics failed" in caplog.text
