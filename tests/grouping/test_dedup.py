"""Each story once in an email: the same page, or a near-identical headline the same day.

The table below is the justification of the measure (``digest.grouping.dedup``): how real
outlets headline one story (must merge) and how different stories look alike
(must not). docs/dedup.md prints the score of each pair.
"""

from __future__ import annotations

import email
import itertools
from datetime import UTC, date, datetime, timedelta
from email.policy import default
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW, subscriber
from standins.feed_server import FeedStandIn

from digest.delivery.outbox import OutboxProvider
from digest.grouping.dedup import THRESHOLD, distinct, headline_words, same_story, similarity
from digest.models import StoredArticle
from digest.sending.dispatch import Dispatcher
from digest.sources import ingest

SAME = [
    ("Apple unveils iPhone 16 with AI features",
     "Apple Unveils iPhone 16 With AI Features - The Verge"),
    ("Storm Bert: thousands without power in Wales",
     "Thousands without power in Wales as Storm Bert hits"),
    ("UK inflation rises to 2.3% in October",
     "UK inflation rises to 2.3% in October, ONS says"),
    ("Man arrested after Leeds stabbing",
     "Man arrested after stabbing in Leeds"),
    ("SpaceX launches Starship on fifth test flight",
     "SpaceX Starship launches on fifth test flight"),
    ("Government announced plan to cut emissions by 2030",
     "Government announces plan to cut emissions by 2030 | Reuters"),
    ("Bank of England holds interest rates at 5%",
     "Bank of England holds interest rate at 5% - BBC News"),
    ("Wildfires force thousands to flee homes in California",
     "California wildfires force thousands to flee their homes"),
    ("NASA delays Artemis moon mission to 2026",
     "Nasa delays Artemis Moon mission to 2026"),
    ("白宫提名艾伦为北约最高司令官",
     "白宫提名艾伦为北约最高司令官 - BBC"),
    ("Tesla recalls 2 million cars over Autopilot",
     "Tesla recalls 2 million cars over Autopilot concerns"),
]  # fmt: skip

NEAR_MISSES = [
    ("Fed raises rates to 4.5%",
     "Fed raises rates to 4.75%"),  # a number
    ("Storm hits Florida coast",
     "Storm hits Texas coast"),  # a place
    ("UK inflation rises to 2.3%",
     "UK inflation falls to 2.3%"),  # the verb that matters
    ("Apple reports record Q3 revenue",
     "Apple reports record Q4 revenue"),
    ("Government announces plan to cut carbon emissions by 2030",
     "Government announces plan to cut methane emissions by 2030"),  # one word in seven
    ("Man arrested after Leeds stabbing",
     "Woman arrested after Leeds stabbing"),
    ("Champions League results",
     "Europa League results"),
    ("Letters to the editor",
     "Letters to the editor"),  # the same, but no story: too short
    ("Weather",
     "Weather"),
    ("Tesla recalls 2 million cars over Autopilot",
     'Tesla recalls 3 million cars over Autopilot'),
    ('Heatwave: hospital admissions rise in London',
     'Heatwave: hospital admissions fall in London'),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), SAME)
def test_headlines_of_one_story_merge(a, b):
    words_a, words_b = headline_words(a), headline_words(b)
    assert similarity(words_a, words_b) >= THRESHOLD + 0.03  # with room to spare
    assert same_story(words_a, words_b)


@pytest.mark.parametrize(("a", "b"), NEAR_MISSES)
def test_near_misses_stay_apart(a, b):
    assert not same_story(headline_words(a), headline_words(b))


def test_a_site_name_is_cut_only_from_a_headline_long_enough():
    assert headline_words("Markets - BBC") == headline_words("markets - bbc")
    assert "verge" not in headline_words("Apple unveils iPhone 16 - The Verge")


def test_a_hostile_headline_costs_microseconds():
    import time

    started = time.perf_counter()
    for title in ("a" * 300 + " - " + "b " * 150, "x - " * 75, "- " * 150, "%" * 300):
        headline_words(title)
    assert time.perf_counter() - started < 0.05


# -- distinct ------------------------------------------------------------------------

_ids = itertools.count(1)


def stored(title, source, url=None, *, hours=0.0, seen=0.0) -> StoredArticle:
    n = next(_ids)
    return StoredArticle(
        guid=f"g{n}",
        title=title,
        url=url or f"https://{source.lower()}.example.org/{n}",
        source=source,
        published=NOW - timedelta(hours=hours),
        id=n,
        first_seen=NOW - timedelta(hours=seen),
    )


def test_the_first_ingested_is_shown_with_the_other_sources_named():
    first = stored("Storm Bert: thousands without power in Wales", "Wire", seen=3)
    second = stored("Thousands without power in Wales as Storm Bert hits", "Paper", seen=2)
    third = stored("Storm Bert leaves thousands without power in Wales", "Radio", seen=1)
    same_link = stored("Glacier melt", "Blog", url=first.url + "?utm_source=rss#top", seen=1)
    [kept] = distinct([third, second, same_link, first])
    assert (kept.id, kept.also) == (first.id, ["Paper", "Radio", "Blog"])
    assert first.also == []  # the stored article is not changed


def test_the_same_headline_days_apart_is_two_stories():
    today = stored("Council approves new budget for city schools", "Paper")
    last_week = stored("Council approves new budget for city schools", "Wire", hours=24 * 6)
    assert len(distinct([today, last_week])) == 2


def test_one_sources_own_repeated_headlines_are_its_own_items():
    # A mailing list's replies share a subject; a status page says "Down" twice a day.
    replies = [
        stored("Re: new maintainer and mailing list for rss2email", "gmane", seen=n)
        for n in range(3)
    ]
    assert len(distinct(replies)) == 3
    same_page = stored("Another title altogether", "gmane", url=replies[0].url, seen=0.5)
    assert len(distinct([*replies, same_page])) == 3  # the same page is still one


def test_a_source_repeating_a_merged_story_under_its_own_link_is_not_shown_twice():
    """Issue 21, point 7: Paper's second copy, under its own link, after its first was
    merged with Wire's, joins the story instead of standing as a story of its own."""
    a = stored("Wildfires force thousands to flee homes in California", "Wire", seen=3)
    b = stored("Wildfires force thousands to flee homes in California", "Paper", seen=2)
    c = stored("California wildfires force thousands to flee their homes", "Paper", seen=1)
    kept = distinct([a, b, c])
    assert [(k.source, k.also, k.cluster_size) for k in kept] == [("Wire", ["Paper"], 2)]


def test_a_repeat_joins_the_story_through_another_sources_copy():
    """Wire's corrected headline matches Paper's copy (0.83) but not its own first one
    (0.75): the story holds both sources, so rule 2 compares it with Paper's."""
    first = stored(
        "Storm Bert leaves thousands without power across Wales and western England",
        "Wire",
        seen=3,
    )
    paper = stored(
        "Storm Bert leaves thousands without power across Wales and western England overnight",
        "Paper",
        seen=2,
    )
    again = stored(
        "Storm Bert leaves thousands without power across Wales and west England overnight",
        "Wire",
        seen=1,
    )
    assert [(k.id, k.also) for k in distinct([first, paper, again])] == [(first.id, ["Paper"])]


def test_one_sources_own_repeats_stay_apart_while_no_other_source_carries_them():
    a = stored("Support System - Down for some customers", "Status", seen=2)
    b = stored("Support System - Down for some customers", "Status", seen=1)
    assert len(distinct([a, b])) == 2


def test_thousands_of_different_articles_are_all_kept():
    """At a busy day's scale nothing distinct is merged (the time it takes is in
    benchmarks/dedup_benchmark.py, not asserted here)."""
    words = [f"word{n}" for n in range(400)]
    articles = [
        stored(" ".join(words[(n * 7 + k) % 400] for k in range(8)) + f" n{n}", f"S{n % 50}")
        for n in range(5000)
    ]
    assert len(distinct(articles)) == 5000


# -- the example: four copies of one story --------------------------------------

ZONE = ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "dedup-test-secret")


def send(store, settings, now, day=None):
    provider = OutboxProvider(settings.outbox_dir)
    return Dispatcher(store, settings, provider, now=lambda: now).send(day)


def rss(title: str, *items: tuple[str, str]) -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        "<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate><category>Weather</category></item>"
        for t, link in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{entries}'
        "</channel></rss>"
    ).encode()


def test_one_story_from_three_feeds_and_two_addresses_is_in_the_email_once(store, settings):
    story = "https://news.example.org/2026/11/storm-bert"
    with FeedStandIn() as server:
        server.feeds["wire.xml"] = rss(
            "Wire", ("Storm Bert: thousands without power in Wales", story + "?utm_source=wire")
        )
        server.feeds["paper.xml"] = rss(
            "Paper", ("Storm Bert: thousands without power in Wales", story)
        )
        server.feeds["radio.xml"] = rss(
            "Radio",
            ("Thousands without power in Wales as Storm Bert hits", "https://radio.example/b1"),
        )
        port = server.url.rsplit(":", 1)[1]
        targets = [
            f"{server.url}/feed/wire.xml",
            f"http://localhost:{port}/feed/wire.xml",
            f"{server.url}/feed/paper.xml",
            f"{server.url}/feed/radio.xml",
        ]
        ingest(store, targets, ZONE, now=NOW - timedelta(hours=1), timeout=5)
    store.save_subscribers([subscriber("ann@example.com")])
    send(store, settings, NOW)
    [eml] = (settings.outbox_dir).glob("*/*.eml")
    text = email.message_from_bytes(eml.read_bytes(), policy=default)
    body = text.get_body(("plain",)).get_content()
    assert body.count("thousands without power") + body.count("Thousands without power") == 1
    # Shown as the one stored first (the downloads end in any order), naming the others.
    # The source line: "Wire · also: Paper, Radio · 11:00".
    [line] = [line for line in body.splitlines() if " · also: " in line]
    shown, _, rest = line.strip().partition(" · also: ")
    also = rest.rsplit(" · ", 1)[0]
    assert sorted([shown, *also.split(", ")]) == ["Paper", "Radio", "Wire"]
    assert "1 story" in body


def test_an_edited_entry_is_not_mailed_again(store, settings):
    item = (
        "<item><title>Ferry service resumes</title><guid>ferry-1</guid>"
        "<description>{text}</description><pubDate>{when}</pubDate></item>"
    )

    def feed(text: str, when: str) -> bytes:
        body = item.format(text=text, when=when)
        return f'<rss version="2.0"><channel><title>Harbour</title>{body}</channel></rss>'.encode()

    store.save_subscribers([subscriber("ann@example.com")])
    with FeedStandIn() as server:
        server.feeds["h.xml"] = feed("Boats sail again.", "Tue, 24 Nov 2026 06:00:00 GMT")
        url = f"{server.url}/feed/h.xml"
        ingest(store, [url], ZONE, now=NOW - timedelta(hours=2), timeout=5)
        send(store, settings, NOW, date(2026, 11, 24))
        server.feeds["h.xml"] = feed("Boats sail again, hourly.", "Wed, 25 Nov 2026 05:00:00 GMT")
        later = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
        assert ingest(store, [url], ZONE, now=later, timeout=5).updated == 1
    report = send(store, settings, later + timedelta(hours=2), date(2026, 11, 25))
    assert [e.skipped for e in report.editions] == [1]  # nothing new: no email
