"""What an edition's window leaves out for age, on SQLite and PostgreSQL: old feeds
give an empty digest, and ``preview``, ``send --dry-run`` and ``status`` say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, article, subscriber

from digest.delivery.outbox import OutboxProvider
from digest.editions.contents import describe_left_out, left_out, preview, propose_edition
from digest.models import LeftOut
from digest.sending.dispatch import Dispatcher
from digest.store.editions import start_edition

OLD = datetime(2021, 3, 4, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)  # 13:00 UTC, 14:00 in Paris: today's edition cuts off now


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "left-out-test-secret")


def old_feed(store, count: int = 3) -> None:
    """What a stale feed gives on its first read: entries years old, ingested at NOW."""
    store.save_articles(
        [
            article(f"Old story {i}", ["Climate"], published=OLD - timedelta(days=i))
            for i in range(count)
        ]
    )


def test_articles_ingested_for_an_edition_but_too_old_are_counted_with_the_newest_date(
    store, settings
):
    old_feed(store)
    store.save_articles([article("Fresh story", ["Climate"], published=NOW - timedelta(hours=2))])
    store.save_articles([article("Undated story", ["Climate"])])  # judged by when it came
    edition = propose_edition(store, settings, NOW.date(), "Europe/Paris", LATER)
    left = left_out(store, settings, edition)
    assert settings.window_hours == 36  # the default
    assert left == LeftOut(3, OLD, LATER - timedelta(hours=36))
    assert describe_left_out(left, edition) == (
        "2026-11-24 Europe/Paris: 3 articles ingested for it are older than its window and "
        "left out (it shows articles published since 2026-11-23 02:00 Europe/Paris; "
        "window_hours sets how far back); the newest is from 2021-03-04"
    )


def test_the_window_and_what_it_leaves_out_split_the_arrivals_at_the_boundary(store, settings):
    edition = propose_edition(store, settings, NOW.date(), "UTC", LATER)
    since = LATER - timedelta(hours=settings.window_hours)
    store.save_articles(
        [
            article("On the line", published=since),  # not after `since`: left out
            article("Just inside", published=since + timedelta(seconds=1)),
        ]
    )
    left = left_out(store, settings, edition)
    shown = store.window_articles(edition.window_start, edition.cutoff, since)
    assert (left.count, left.newest) == (1, since)
    assert [a.title for a in shown] == ["Just inside"]


def test_articles_that_arrived_before_the_window_are_not_this_editions_to_explain(store, settings):
    """Yesterday's old arrivals were yesterday's edition's news: today says nothing of them."""
    old_feed(store)
    yesterday = propose_edition(store, settings, NOW.date(), "UTC", NOW + timedelta(minutes=1))
    start_edition(store.engine, yesterday)  # its cut-off is where the next one starts
    later = propose_edition(store, settings, NOW.date() + timedelta(days=1), "UTC", LATER)
    assert left_out(store, settings, later).count == 0
    assert describe_left_out(left_out(store, settings, later), later) == ""
    assert left_out(store, settings, yesterday).count == 3


def test_a_dry_run_and_a_preview_carry_what_the_window_left_out(store, settings):
    old_feed(store, 38)
    store.save_subscribers([subscriber("ann@example.com", ["Climate"])])
    provider = OutboxProvider(settings.outbox_dir)
    (row,) = Dispatcher(store, settings, provider, now=lambda: LATER).dry_run()
    assert (row.sections, row.left_out.count, row.left_out.newest) == (0, 38, OLD)
    result = preview(store, settings, None, "ann@example.com", now=LATER)
    assert result.articles == 0 and result.left_out == row.left_out
    assert "38 articles ingested for it are older than its window" in describe_left_out(
        result.left_out, result.edition
    )
