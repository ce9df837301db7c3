"""Property: whatever SendGrid does and wherever the send is stopped, resuming mails nobody twice.

Hypothesis draws the audience (segments and their sizes), what the stand-in does with each
batch's first request (accept, 500, 429, 400, or accept and answer too late) and after
how many batches the operator stops the send. Then the same command runs again with a
healthy SendGrid. Invariants, on every draw: nobody is mailed twice; everyone is either
mailed or recorded in doubt; those in doubt are exactly those whose request was accepted
with the answer lost, and each of them was mailed exactly once.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from conftest import NOW, article, subscriber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standins.sendgrid_server import SendGridStandIn

from digest.config.settings import Settings
from digest.delivery.sendgrid import SendGridProvider
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.store.store import Store

KEY = "SG.property-key.Qw7Rt2"
TOPICS = [["Climate"], ["Energy"], [], ["Climate", "Energy"]]
ACTIONS = ["ok", "500", "429", "400", "late"]


class ScriptedProvider(SendGridProvider):
    """The real provider; before each batch, the stand-in is told what to do with it,
    and after the ``stop_after``-th batch the operator asks the send to stop."""

    def __init__(self, standin, settings, script, stop_after, stop) -> None:
        super().__init__(KEY, settings, standin.url, sleep=lambda _s: None)
        self.standin, self.script, self.stop_after, self.stop = (
            standin,
            list(script),
            stop_after,
            stop,
        )
        self.late: set[str] = set()
        self.calls = 0

    def deliver(self, prepared):
        action = self.script.pop(0) if self.script else "ok"
        if action == "500":
            self.standin.fail_next(500)
        elif action == "429":
            self.standin.fail_next(429, headers={"X-RateLimit-Reset": "0"})
        elif action == "400":
            self.standin.fail_next(400)
        elif action == "late":
            self.standin.accept_late(1.0)  # twice the timeout: the answer is lost
        try:
            outcomes = super().deliver(prepared)
        except Exception:
            if action == "late":
                self.late.update(self._addresses(prepared))
            raise
        finally:
            self.calls += 1
            if self.stop_after is not None and self.calls >= self.stop_after:
                self.stop.set()
        return outcomes

    @staticmethod
    def _addresses(prepared) -> set[str]:
        import json

        body = json.loads(prepared[0])
        return {p["to"][0]["email"] for p in body["personalizations"]}


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "never-twice-secret")


@pytest.fixture(scope="module")
def standin():
    with SendGridStandIn(KEY, validate_schema=False) as server:
        yield server


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    script=st.lists(st.sampled_from(ACTIONS), max_size=6),
    stop_after=st.none() | st.integers(1, 4),
)
def test_stop_fault_and_resume_never_mail_anyone_twice(
    tmp_path_factory, standin, sizes, script, stop_after
):
    folder = tmp_path_factory.mktemp("never-twice")
    store = Store(f"sqlite:///{folder / 'digest.db'}")
    store.now = lambda: NOW
    options = Settings(outbox_dir=folder / "outbox")
    options.sendgrid.timeout = 0.5  # well above an answer on a busy machine
    options.sendgrid.max_retries = 2
    try:
        store.save_articles(
            [
                article("Glacier melt", ["Climate"], published=NOW.replace(hour=10)),
                article("Solar surge", ["Energy"], published=NOW.replace(hour=9)),
            ]
        )
        people = [
            subscriber(f"s{n}-{i}@example.com", TOPICS[n])
            for n, size in enumerate(sizes)
            for i in range(size)
        ]
        store.save_subscribers(people)
        before = standin.deliveries()
        stop = threading.Event()
        provider = ScriptedProvider(standin, options, script, stop_after, stop)
        provider.max_batch = 3  # several batches per segment

        Dispatcher(store, options, provider, now=lambda: NOW, stop=stop).send()
        again = ScriptedProvider(standin, options, [], None, threading.Event())
        (result,) = Dispatcher(store, options, again, now=lambda: NOW).send().editions

        mailed = standin.deliveries() - before
        everyone = {p.email for p in people}
        ledger = Ledger(store, "UTC")
        in_doubt = {r.email for r in ledger.entries(result.edition, "in_doubt")}
        sent = {r.email for r in ledger.entries(result.edition, "sent")}
        assert max(mailed.values(), default=1) == 1  # nobody twice
        assert sent | in_doubt == everyone  # nobody lost
        assert in_doubt == provider.late  # in doubt exactly when the answer was lost
        assert Counter({a: mailed[a] for a in in_doubt}) == Counter(dict.fromkeys(in_doubt, 1))
        assert set(mailed) == everyone
    finally:
        store.close()
