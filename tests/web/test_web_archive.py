"""The archive on the real server: sent editions listed, each one's page as the
email showed it (nothing personal), opened through an email's own link."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from conftest import NOW, article, subscriber
from webserver import NO_PROXY, PUBLIC_URL, on_server, outbox_mails, running

from digest.delivery.outbox import OutboxProvider
from digest.sending.dispatch import Dispatcher
from digest.store.schema import editions

SECRET = "web-archive-secret"


@pytest.fixture
def newsroom(store, settings, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    settings.public_url = PUBLIC_URL
    store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
            article(
                "Mayor <script>alert(1)</script> resigns",
                ["Local"],
                published=NOW - timedelta(hours=3),
            ),
        ]
    )
    store.save_subscribers(
        [
            subscriber("ann@example.com", ["Climate"], name="Ann Archive"),
            subscriber("bob@example.org", name="Bob Archive"),
            subscriber("kim@example.jp", name="Kim", timezone="Asia/Tokyo"),
        ]
    )
    return store, settings


def send(store, settings, when=NOW):
    provider = OutboxProvider(settings.outbox_dir)
    return Dispatcher(store, settings, provider, now=lambda: when).send()


def test_before_any_send_the_archive_is_empty_and_an_edition_is_not_found(newsroom):
    store, settings = newsroom
    Dispatcher(store, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW).dry_run()
    with running(store, settings, SECRET.encode()) as base:
        listing = httpx.get(f"{base}/archive")
        edition = httpx.get(f"{base}/archive/2026-11-24/UTC")

    assert listing.status_code == 200 and "No edition has been sent yet" in listing.text
    assert edition.status_code == 404


def test_the_archive_lists_one_entry_per_date_newest_first_with_its_lead_headline(newsroom):
    store, settings = newsroom
    send(store, settings)
    tomorrow = NOW + timedelta(days=1)
    store.save_articles([article("Tide tables", ["Climate"])], now=tomorrow)
    send(store, settings, tomorrow)
    with running(store, settings, SECRET.encode()) as base:
        listing = httpx.get(f"{base}/archive")
        first = httpx.get(f"{base}/archive/2026-11-25/UTC")

    entries = re.findall(r"<li>(.*?)</li>", listing.text, re.S)
    assert len(entries) == 2  # two dates, each sent for UTC and Asia/Tokyo
    days = [re.findall(r'<a href="([^"]+)">([^<]+)</a>', e) for e in entries]
    leads = [re.search(r'<span class="lead">([^<]+)</span>', e)[1] for e in entries]
    # Each date links to the configured timezone's copy; the other zone's is quietly below.
    assert days == [
        [
            ("./archive/2026-11-25/UTC", "Wednesday, 25 November 2026"),
            ("./archive/2026-11-25/Asia/Tokyo", "Asia/Tokyo"),
        ],
        [
            ("./archive/2026-11-24/UTC", "Tuesday, 24 November 2026"),
            ("./archive/2026-11-24/Asia/Tokyo", "Asia/Tokyo"),
        ],
    ]
    assert leads == ["Tide tables", "Glacier melt sets record"]
    assert "Tide tables" in first.text  # the headline is the linked edition's own
    assert listing.headers["cache-control"] == "public, max-age=300"


def test_view_in_your_browser_opens_that_segments_copy_without_anything_personal(newsroom):
    store, settings = newsroom
    send(store, settings)
    mails = outbox_mails(settings.outbox_dir)
    ann = mails["ann@example.com"]
    assert ann.view_link == f"{PUBLIC_URL}/archive/2026-11-24/UTC?topics=climate"
    assert f'href="{ann.view_link}"' in ann.message.get_body(("html",)).get_content()
    with running(store, settings, SECRET.encode()) as base:
        page = httpx.get(on_server(ann.view_link, base))
        everything = httpx.get(on_server(mails["bob@example.org"].view_link, base))

    assert page.status_code == 200
    assert "Glacier melt sets record" in page.text and "Solar beats forecasts" not in page.text
    assert "Solar beats forecasts" in everything.text and "Glacier melt" in everything.text
    for copy in (page.text, everything.text):
        assert "Ann" not in copy and "Bob" not in copy and "Hello" not in copy
        assert "/unsubscribe/" not in copy and "%%" not in copy
        assert "View in your browser" not in copy
    assert "Daily Digest, Tuesday, 24 November 2026: Climate." in page.text
    assert "Daily Digest, Tuesday, 24 November 2026: every topic." in everything.text


def test_an_edition_page_lets_its_inline_styles_through_and_no_script(newsroom):
    store, settings = newsroom
    send(store, settings)
    with running(store, settings, SECRET.encode()) as base:
        page = httpx.get(f"{base}/archive/2026-11-24/UTC")

    policy = page.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert "script" not in policy
    assert "Mayor &lt;script&gt;alert(1)&lt;/script&gt; resigns" in page.text
    assert "<script" not in page.text
    assert 'style="' in page.text  # the email's own look


@pytest.mark.parametrize(
    "path",
    [
        "/archive/2026-11-23/UTC",  # no edition that day
        "/archive/2026-11-24/Europe/London",  # nobody there
        "/archive/2026-13-45/UTC",  # not a date
        "/archive/24-11-2026/UTC",
        "/archive/2026-11-24/UTC?topics=energy",  # a segment it was never sent to
        "/archive/2026-11-24/UTC?topics=" + "x" * 20_000,
        "/archive/2026-11-24/" + "A/" * 100 + "UTC",
        "/archive/2026-11-24/..%2F..%2Fetc%2Fpasswd",
        "/archive/2026-11-24/UTC%00",
        "/archive/2026-11-24/UTC?topics=climate%00",
    ],
)
def test_what_was_never_sent_is_not_found(newsroom, path):
    store, settings = newsroom
    send(store, settings)
    with running(store, settings, SECRET.encode()) as base:
        page = httpx.get(base + path)

    assert page.status_code == 404
    assert "There is no edition at this address" in page.text


def test_the_web_copy_shows_every_story_the_emails_n_more_line_counts(newsroom):
    store, settings = newsroom
    settings.max_per_section = 1
    store.save_articles(
        [
            article(f"Climate story {n}", ["Climate"], published=NOW - timedelta(hours=4 + n))
            for n in range(3)
        ]
    )
    send(store, settings)
    ann = outbox_mails(settings.outbox_dir)["ann@example.com"]
    text = ann.message.get_body(("plain",)).get_content()
    # Four Climate stories: the lead on the front page, one in its section, two more.
    assert "2 more on Climate" in text
    with running(store, settings, SECRET.encode()) as base:
        page = httpx.get(on_server(ann.view_link, base))

    assert page.status_code == 200
    for title in ["Glacier melt sets record", *(f"Climate story {n}" for n in range(3))]:
        assert title in page.text
    assert "more on Climate" not in page.text


def test_an_edition_in_a_zone_this_machine_no_longer_has_is_not_found_and_not_listed(newsroom):
    """A tzdata update removed the zone an edition was sent in: its page cannot show its
    times, so it is a 404 page (not a 500), and the listing does not link to it."""
    store, settings = newsroom
    send(store, settings)
    with store.engine.begin() as conn:
        conn.execute(
            editions.update()
            .where(editions.c.timezone == "Asia/Tokyo")
            .values(timezone="Mars/Olympus")
        )
    with running(store, settings, SECRET.encode()) as base:
        page = httpx.get(f"{base}/archive/2026-11-24/Mars/Olympus")
        listing = httpx.get(f"{base}/archive")
        kept = httpx.get(f"{base}/archive/2026-11-24/UTC")

    assert page.status_code == 404
    assert "There is no edition at this address" in page.text
    assert listing.status_code == 200 and "Mars/Olympus" not in listing.text
    assert kept.status_code == 200
