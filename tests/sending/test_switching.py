"""A send shortens the GIL switch interval while its two threads work, and leaves
the process as it found it: after a send, after a failed one, and when two sends
on two threads overlap (the scheduler's)."""

from __future__ import annotations

import sys
import threading

import pytest
import test_dispatch
from test_dispatch import make_dispatcher

from digest.delivery.outbox import OutboxProvider
from digest.sending.switching import SEND_SWITCH_INTERVAL, short_switch_interval

newsroom = test_dispatch.newsroom
_secret = test_dispatch._secret


@pytest.fixture(autouse=True)
def _interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    yield
    sys.setswitchinterval(before)


class Watching(OutboxProvider):
    """The outbox, noting the interval each batch was delivered under."""

    seen: list[float]

    def deliver(self, prepared):
        self.seen.append(sys.getswitchinterval())
        return super().deliver(prepared)


def test_a_send_runs_with_a_short_interval_and_puts_it_back(newsroom, settings):
    provider = Watching(settings.outbox_dir)
    provider.seen = []

    report = make_dispatcher(newsroom, settings, provider=provider).send()

    assert report.editions[0].sent == 3
    assert provider.seen
    assert provider.seen == [pytest.approx(SEND_SWITCH_INTERVAL)] * len(provider.seen)
    assert sys.getswitchinterval() == pytest.approx(0.004)


def test_a_send_that_fails_puts_the_interval_back(newsroom, settings):
    class Broken(OutboxProvider):
        def deliver(self, prepared):
            raise RuntimeError("a bug in a provider")

    with pytest.raises(RuntimeError):
        make_dispatcher(newsroom, settings, provider=Broken(settings.outbox_dir)).send()

    assert sys.getswitchinterval() == pytest.approx(0.004)


def test_overlapping_sends_restore_the_interval_when_the_last_ends():
    first_in, second_in, first_may_end = threading.Event(), threading.Event(), threading.Event()

    def first():
        with short_switch_interval():
            first_in.set()
            first_may_end.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with short_switch_interval():
        second_in.set()
        first_may_end.set()
        thread.join(5)
        assert sys.getswitchinterval() == pytest.approx(SEND_SWITCH_INTERVAL)  # still sending
    assert sys.getswitchinterval() == pytest.approx(0.004)
