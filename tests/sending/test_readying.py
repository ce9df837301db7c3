"""The next edition of a send planned while this one is sent, on PostgreSQL only.

What an operator would notice: a send of several zones gets to the second
zone's first request without waiting for its planning, and a stop or a crash
in the first edition leaves the second planned and pending, sent once by the
next run. On SQLite planning holds the one write lock, so it stays in turn.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from conftest import NOW, article, subscriber

from digest.delivery.outbox import OutboxProvider
from digest.sending.dispatch import Dispatcher

TOPICS = ["Climate", "Energy", "Space"]
DEADLINE = 30  # seconds: far beyond planning a dozen readers


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "readying-test-secret")


@pytest.fixture
def two_zones(store):
    store.save_articles(
        [article(f"{t} news", [t], published=NOW - timedelta(hours=1)) for t in TOPICS]
    )
    store.save_subscribers(
        [subscriber(f"{t.lower()}-{z[:3]}@example.com", [t], z) for t in TOPICS for z in ZONES]
    )
    return store


ZONES = ["UTC", "Asia/Tokyo"]


def planned_editions(store) -> set[int]:
    """The editions with ledger rows."""
    with store.engine.connect() as conn:
        return {e for (e,) in conn.exec_driver_sql("SELECT DISTINCT edition_id FROM ledger")}


class Watching(OutboxProvider):
    """Notes, at each delivery, which editions were planned by then; waits (up to
    ``DEADLINE``) at the first edition's first delivery for ``wanted`` of them."""

    def __init__(self, folder, store, wanted: int) -> None:
        super().__init__(folder)
        self.store, self.wanted = store, wanted
        self.seen: list[set[int]] = []

    def deliver(self, prepared):
        if not self.seen:
            deadline = time.monotonic() + DEADLINE
            while len(planned_editions(self.store)) < self.wanted:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        self.seen.append(planned_editions(self.store))
        return super().deliver(prepared)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_on_postgresql_the_next_edition_is_planned_while_the_first_is_sent(two_zones, settings):
    provider = Watching(settings.outbox_dir, two_zones, wanted=2)
    report = Dispatcher(two_zones, settings, provider, now=lambda: NOW).send()
    assert [r.sent for r in report.editions] == [3, 3]
    assert len(provider.seen[0]) == 2  # both planned before the first request went
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 6


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_editions_are_planned_in_turn(two_zones, settings):
    provider = Watching(settings.outbox_dir, two_zones, wanted=1)
    report = Dispatcher(two_zones, settings, provider, now=lambda: NOW).send()
    assert [r.sent for r in report.editions] == [3, 3]
    first = report.editions[0].edition.id
    assert provider.seen[0] == {first}  # the second not yet planned: planning waits its turn


def test_a_stop_in_the_first_edition_leaves_the_second_for_the_next_run_sent_once(
    two_zones, settings
):
    stop = threading.Event()

    class StopsAtOnce(Watching):
        def deliver(self, prepared):
            outcomes = super().deliver(prepared)
            stop.set()
            return outcomes

    wanted = 1 if two_zones.is_sqlite else 2
    provider = StopsAtOnce(settings.outbox_dir, two_zones, wanted)
    first = Dispatcher(two_zones, settings, provider, now=lambda: NOW, stop=stop).send()
    assert first.stopped and sum(r.in_doubt for r in first.editions) == 0
    assert first.not_started == 3  # the second zone's readers, planned ahead or not
    again = Dispatcher(two_zones, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW)
    second = again.send()
    sent = sum(r.sent for r in first.editions) + sum(r.sent for r in second.editions)
    assert sent == 6 and len(list(settings.outbox_dir.rglob("*.eml"))) == 6
