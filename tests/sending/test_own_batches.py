"""This process's own batches: respected while one of its threads works on them, taken
back at once when none does (a send that gave up when the database went away), on
SQLite and PostgreSQL. The scheduler's side of it: tests/service/test_scheduler_retries.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest import NOW, article, subscriber

from digest.delivery.outbox import OutboxProvider
from digest.editions.contents import EditionContent
from digest.liveness import worker_name
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.sending.planning import plan
from digest.store.editions import start_edition


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "own-batches-secret")


def test_a_batch_another_thread_here_works_on_is_left_and_taken_back_once_it_has_stopped(
    store, settings
):
    store.save_articles([article("Only story", ["Climate"], published=NOW - timedelta(hours=1))])
    store.save_subscribers([subscriber(f"reader{i}@example.com") for i in range(4)])
    settings.lease_seconds = 86400
    provider = OutboxProvider(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher = Dispatcher(store, settings, provider, now=lambda: NOW)
    (proposed,) = dispatcher.editions_for(None)
    edition = start_edition(store.engine, proposed)
    content = EditionContent(store, settings, edition, dispatcher.renderer)
    plan(dispatcher.ledger, edition, content.segment_of, provider.max_batch)

    claimed, done = threading.Event(), threading.Event()
    held: list[str] = []

    def another_send_here() -> None:
        """Claims a batch as this process, then stops without recording it (its
        database went away), and its thread ends."""
        ledger = Ledger(store, settings.timezone, lambda: NOW)
        _, recipients = ledger.claim(edition, worker_name(), 86400, dispatcher.links.token)
        held.extend(r.email for r in recipients)
        claimed.set()
        done.wait(30)

    worker = threading.Thread(target=another_send_here)
    worker.start()
    assert claimed.wait(30)
    (first,) = Dispatcher(store, settings, provider, now=lambda: NOW).send().editions
    assert (first.sent, first.pending) == (2, 2)  # the live thread's batch is its own

    done.set()
    worker.join()
    (second,) = Dispatcher(store, settings, provider, now=lambda: NOW).send().editions
    assert (second.sent, second.pending) == (2, 0)  # no lease of a day waited out
    sent = {r.email for r in Ledger(store, settings.timezone).entries(edition, "sent")}
    assert sent == {f"reader{i}@example.com" for i in range(4)} and set(held) <= sent
