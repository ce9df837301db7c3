"""Small batches claimed, handed over and recorded in groups, on SQLite and PostgreSQL.

What an operator would notice: every reader mailed once, one request per
segment still, a claim that takes exactly what it asked for (two senders never
share a batch), and no more than a group's worth of readers in doubt.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import NOW, article, subscriber

from digest.delivery.outbox import OutboxProvider
from digest.editions.contents import EditionContent
from digest.models import Outcome
from digest.sending.dispatch import Dispatcher
from digest.sending.groups import GroupSize, Line, deliver_chain
from digest.sending.ledger import Ledger
from digest.sending.planning import plan
from digest.store.editions import start_edition

TOPICS = ["Climate", "Energy", "Space", "Health", "Sport", "Travel"]


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "groups-test-secret")


@pytest.fixture
def six_segments(store):
    """Six segments of three readers (one topic each): six batches of three."""
    store.save_articles(
        [article(f"{t} news", [t], published=NOW - timedelta(hours=1)) for t in TOPICS]
    )
    store.save_subscribers(
        [subscriber(f"{t.lower()}{i}@example.com", [t]) for t in TOPICS for i in range(3)]
    )
    return store


def planned(store, settings, provider=None):
    provider = provider or OutboxProvider(settings.outbox_dir)
    dispatcher = Dispatcher(store, settings, provider, now=lambda: NOW)
    (proposed,) = dispatcher.editions_for(None)
    edition = start_edition(store.engine, proposed)
    content = EditionContent(store, settings, edition, dispatcher.renderer)
    plan(dispatcher.ledger, edition, content.segment_of, provider.max_batch)
    return dispatcher, edition, content


def states(store) -> list[str]:
    with store.engine.connect() as conn:
        return [s for (s,) in conn.exec_driver_sql("SELECT state FROM batches ORDER BY id")]


def deliver_alone(provider, ledger, stop, ready, owner="me:1"):
    """The delivery thread's run of one group, nothing offered after it: its results."""
    line = Line()
    line.finish()
    deliver_chain(provider, ledger, stop, ready, owner, line)
    (sent,) = [line.sent.get_nowait()]
    assert line.sent.empty()
    return sent[1]


def test_a_claim_takes_exactly_as_many_batches_as_asked_in_order(six_segments, settings):
    """PostgreSQL once claimed every pending batch for a claim of one (a LIMIT in an
    ``IN`` subquery run again per row): a second sender then found nothing to do."""
    dispatcher, edition, _ = planned(six_segments, settings)
    token = dispatcher.links.token
    first = dispatcher.ledger.claim_group(edition, "a:1", 600, token, count=1)
    assert [b.id for b, _ in first] == [1]
    group = dispatcher.ledger.claim_group(edition, "b:2", 600, token, count=3)
    assert [b.id for b, _ in group] == [2, 3, 4]
    assert all(len(people) == 3 for _, people in group)
    assert states(six_segments) == ["sending"] * 4 + ["pending"] * 2


def test_a_claim_stops_at_the_cap_and_hands_the_rest_back_at_once(six_segments, settings):
    dispatcher, edition, _ = planned(six_segments, settings)
    group = dispatcher.ledger.claim_group(
        edition, "a:1", 600, dispatcher.links.token, count=5, cap=7
    )
    assert [len(people) for _, people in group] == [3, 3]  # a third would make 9 > 7
    assert states(six_segments) == ["sending"] * 2 + ["pending"] * 4
    # The first batch is always kept, whatever its size.
    alone = dispatcher.ledger.claim_group(
        edition, "a:1", 600, dispatcher.links.token, count=5, cap=1
    )
    assert [b.id for b, _ in alone] == [3]


def test_two_senders_claiming_groups_never_share_a_batch(six_segments, settings):
    dispatcher, edition, _ = planned(six_segments, settings)
    other = Ledger(six_segments, settings.timezone, lambda: NOW)
    token = dispatcher.links.token
    taken: list[int] = []
    for ledger, owner in [(dispatcher.ledger, "a:1"), (other, "b:2")] * 3:
        taken += [b.id for b, _ in ledger.claim_group(edition, owner, 600, token, count=2)]
    assert sorted(taken) == [1, 2, 3, 4, 5, 6]


def test_a_send_of_small_segments_mails_everyone_once_one_message_each(six_segments, settings):
    dispatcher, _, _ = planned(six_segments, settings)
    report = dispatcher.send()
    (result,) = report.editions
    assert (result.sent, result.failed, result.in_doubt) == (18, 0, 0)
    mailed = sorted(p.name for p in settings.outbox_dir.rglob("*.eml"))
    assert len(mailed) == 18
    assert states(six_segments) == ["done"] * 6


class Watching(OutboxProvider):
    """The outbox, noting before each request how many people are in batches handed
    over and not yet recorded: all a crash at that moment would leave in doubt."""

    def __init__(self, folder, store, max_batch: int) -> None:
        super().__init__(folder)
        self.store, self.max_batch, self.handed = store, max_batch, []

    def deliver(self, prepared):
        with self.store.engine.connect() as conn:
            (count,) = conn.exec_driver_sql(
                "SELECT count(*) FROM ledger JOIN batches ON batches.id = ledger.batch_id"
                " WHERE batches.state = 'handed'"
            ).one()
        self.handed.append(count)
        return super().deliver(prepared)


@pytest.mark.parametrize("max_batch", [4, 7, 100])
def test_a_crash_at_any_request_could_leave_no_more_than_one_full_batch_in_doubt(
    six_segments, settings, max_batch
):
    """Segments of three: a group takes as many as one full batch holds (one at 4, two
    at 7, up to all six at 100), and never more, whatever the moment."""
    provider = Watching(settings.outbox_dir, six_segments, max_batch)
    dispatcher, _, _ = planned(six_segments, settings, provider)
    (result,) = dispatcher.send().editions
    assert result.sent == 18
    assert len(provider.handed) == 6  # one request a segment
    assert max(provider.handed) <= max_batch
    # As many whole segments as fit (at 100 the group size doubles: one, two, three left).
    assert max(provider.handed) == {4: 3, 7: 6, 100: 9}[max_batch]


def test_a_stop_during_a_group_sends_no_further_batch_and_hands_the_rest_back(
    six_segments, settings
):
    """The provider is stopped after the first batch: the others were handed over
    with it but never reached the provider, so they are pending again, not in doubt."""
    stop = threading.Event()

    class StopsAfterOne(OutboxProvider):
        def deliver(self, prepared):
            outcomes = super().deliver(prepared)
            stop.set()
            return outcomes

    provider = StopsAfterOne(settings.outbox_dir)
    dispatcher, edition, content = planned(six_segments, settings, provider)
    ledger = dispatcher.ledger
    group = ledger.claim_group(edition, dispatcher.owner, 600, dispatcher.links.token, count=3)
    ready = dispatcher._prepare(edition, group, content)
    handed = ledger.hand_over_group([b for b, _ in group], dispatcher.owner)
    assert handed == {1, 2, 3}
    results = deliver_alone(provider, ledger, stop, ready)
    assert [b.id for b, _, _ in results] == [1]
    assert states(six_segments) == ["done", "pending", "pending", "pending", "pending", "pending"]
    assert ledger.counts(edition)["in_doubt"] == 0
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 3


def test_a_refusal_in_a_group_ends_it_so_the_breaker_hears_before_the_next_request(
    six_segments, settings
):
    """A batch with anyone not sent ends its group: the batches after it go back to
    pending, so at most one batch a failure reaches the provider before the
    breaker has counted it, as when each batch was handed over alone."""

    class RefusesClimate(OutboxProvider):
        def deliver(self, prepared):
            outcomes = super().deliver(prepared)
            return [
                Outcome(o.subscriber_id, "failed", error="550 no") if i == 0 else o
                for i, o in enumerate(outcomes)
            ]

    provider = RefusesClimate(settings.outbox_dir)
    dispatcher, edition, content = planned(six_segments, settings, provider)
    ledger = dispatcher.ledger
    group = ledger.claim_group(edition, dispatcher.owner, 600, dispatcher.links.token, count=4)
    ready = dispatcher._prepare(edition, group, content)
    ledger.hand_over_group([b for b, _ in group], dispatcher.owner)
    results = deliver_alone(provider, ledger, threading.Event(), ready)
    assert len(results) == 1
    assert states(six_segments)[:4] == ["done", "pending", "pending", "pending"]
    assert ledger.counts(edition)["failed"] == 1


def _two_groups(store, settings, provider):
    """Batches 1-2 claimed, prepared and handed over; 3-4 claimed and prepared."""
    dispatcher, edition, content = planned(store, settings, provider)
    ledger, owner, token = dispatcher.ledger, dispatcher.owner, dispatcher.links.token
    first = ledger.claim_group(edition, owner, 600, token, count=2)
    ready = dispatcher._prepare(edition, first, content)
    ledger.hand_over_group([b for b, _ in first], owner)
    following = ledger.claim_group(edition, owner, 600, token, count=2)
    return dispatcher, ready, dispatcher._prepare(edition, following, content)


def _delivering(provider, dispatcher, stop, ready) -> tuple[threading.Thread, Line]:
    """``deliver_chain`` of ``ready`` on a thread of its own, as the send runs it."""
    line = Line()
    thread = threading.Thread(
        target=deliver_chain,
        args=(provider, dispatcher.ledger, stop, ready, dispatcher.owner, line),
    )
    thread.start()
    return thread, line


def test_the_next_group_is_handed_over_as_a_group_sent_whole_is_recorded(six_segments, settings):
    """One commit between two requests: when the provider sees the group offered, the
    group before it is recorded and this one ``handed``, and never before."""
    seen: list[list[str]] = []

    class Looking(OutboxProvider):
        def deliver(self, prepared):
            seen.append(states(six_segments))
            return super().deliver(prepared)

    provider = Looking(settings.outbox_dir)
    dispatcher, ready, following = _two_groups(six_segments, settings, provider)
    thread, line = _delivering(provider, dispatcher, threading.Event(), ready)
    assert line.offer(following)
    line.finish()
    thread.join(10)
    assert not thread.is_alive()
    first, second = ["handed"] * 2 + ["sending"] * 2, ["done"] * 2 + ["handed"] * 2
    assert seen == [first + ["pending"] * 2] * 2 + [second + ["pending"] * 2] * 2
    assert states(six_segments) == ["done"] * 4 + ["pending"] * 2
    assert [size for size, _ in (line.sent.get(), line.sent.get())] == [2, 2]
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 12


@pytest.mark.parametrize("why", ["refusal", "stop"])
def test_the_next_group_is_not_handed_over_after_a_refusal_or_a_stop(six_segments, settings, why):
    """After a refusal the breaker must hear of it before another request; after a
    stop nothing more goes: either way the offered group is left as it was claimed."""
    stop = threading.Event()

    class Refuses(OutboxProvider):
        def deliver(self, prepared):
            outcomes = super().deliver(prepared)
            if why == "stop":
                stop.set()
                return outcomes
            return [Outcome(o.subscriber_id, "failed", error="550 no") for o in outcomes]

    provider = Refuses(settings.outbox_dir)
    dispatcher, ready, following = _two_groups(six_segments, settings, provider)
    thread, line = _delivering(provider, dispatcher, stop, ready)
    assert not line.offer(following)
    thread.join(10)
    assert not thread.is_alive()
    assert states(six_segments)[2:4] == ["sending", "sending"]
    assert not line.offer(following)  # the line is closed: the group stays the sender's
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 3  # the first request only


def test_a_group_sent_is_recorded_when_nothing_is_offered_in_time(
    six_segments, settings, monkeypatch
):
    """A main thread that offers nothing (a claim held up by another sender's lock)
    does not keep the group sent unrecorded: after ``Line.WAIT_SECONDS`` it is
    recorded, and the line closed, so the next group is handed over afresh."""
    monkeypatch.setattr(Line, "WAIT_SECONDS", 0.05)
    provider = OutboxProvider(settings.outbox_dir)
    dispatcher, ready, following = _two_groups(six_segments, settings, provider)
    thread, line = _delivering(provider, dispatcher, threading.Event(), ready)
    thread.join(10)  # nothing offered: it ends by itself
    assert not thread.is_alive()
    assert states(six_segments)[:4] == ["done", "done", "sending", "sending"]
    assert not line.offer(following)


def test_a_stop_just_after_the_delivery_thread_handed_a_group_over_leaves_it_pending(
    six_segments, settings
):
    """The group handed over in the delivery thread's transaction never reached the
    provider when the stop came: it goes back to pending, nobody in doubt, and the
    next run mails it."""
    offered = threading.Event()

    class Offered(Line):
        def offer(self, group):
            offered.set()  # before: an offer waits until it is taken
            return super().offer(group)

    class WaitsForTheOffer(OutboxProvider):
        """Answers only once the next group is offered, as a slower provider would."""

        def deliver(self, prepared):
            outcomes = super().deliver(prepared)
            assert offered.wait(10)
            return outcomes

    dispatcher, _, _ = planned(six_segments, settings, WaitsForTheOffer(settings.outbox_dir))
    handed_by = []

    def after(conn, cursor, statement, parameters, context, executemany):
        values = parameters.values() if isinstance(parameters, dict) else parameters
        if statement.startswith("UPDATE batches") and "handed" in list(values or ()):
            handed_by.append(threading.current_thread().name)
            if threading.current_thread() is not threading.main_thread():
                dispatcher.stop.set()  # as a Ctrl-C would, just after that commit's work

    sa.event.listen(six_segments.engine, "after_cursor_execute", after)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("digest.sending.dispatch.Line", Offered)
            first = dispatcher.send()  # groups of 1, 2 and 3 batches (``GroupSize``)
    finally:
        sa.event.remove(six_segments.engine, "after_cursor_execute", after)
    assert any(name.startswith("deliver") for name in handed_by), handed_by
    (result,) = first.editions
    assert first.stopped and result.in_doubt == 0 and result.sent < 18
    assert "handed" not in states(six_segments)
    dispatcher.stop.clear()
    (again,) = dispatcher.send().editions
    assert result.sent + again.sent == 18 and again.in_doubt == 0
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 18


def test_an_error_preparing_the_next_group_leaves_the_one_sent_recorded(six_segments, settings):
    """The delivery thread, waiting for a group the main thread will never offer, is
    told so: the group it sent is recorded, the one being prepared goes back to
    pending, nobody is in doubt, and the next run mails the rest once."""
    provider = OutboxProvider(settings.outbox_dir)
    dispatcher, _, _ = planned(six_segments, settings, provider)
    prepare, calls = provider.prepare, []

    def breaks_second(outgoing):
        calls.append(outgoing.segment)
        if len(calls) == 2:
            raise RuntimeError("a bug preparing a request")
        return prepare(outgoing)

    provider.prepare = breaks_second
    with pytest.raises(RuntimeError):
        dispatcher.send()
    assert states(six_segments) == ["done"] + ["pending"] * 5
    provider.prepare = prepare
    (again,) = dispatcher.send().editions
    assert (again.sent, again.in_doubt) == (15, 0)
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 18


def test_an_error_on_the_delivery_thread_leaves_its_group_in_doubt_and_no_other(
    six_segments, settings
):
    """A bug while a group is with the provider (not the provider's answer): that
    group may have gone, so the next run finds it in doubt; the group the main
    thread had prepared meanwhile never went, and is mailed by the next run."""

    class BreaksOnTheSecond(OutboxProvider):
        resendable = False  # as SendGrid or SMTP: it cannot tell what it delivered
        calls = 0

        def deliver(self, prepared):
            BreaksOnTheSecond.calls += 1
            if BreaksOnTheSecond.calls == 2:
                raise RuntimeError("a bug while sending")
            return super().deliver(prepared)

    provider = BreaksOnTheSecond(settings.outbox_dir)
    dispatcher, _, _ = planned(six_segments, settings, provider)
    with pytest.raises(RuntimeError):
        dispatcher.send()
    # Batch 1 went alone; batches 2-3 (the next group) were handed over as it was
    # recorded, and the error came while they were with the provider.
    assert states(six_segments)[:3] == ["done", "handed", "handed"]
    assert "sending" not in states(six_segments)
    (again,) = dispatcher.send().editions
    assert (again.sent, again.in_doubt) == (9, 6)
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 12


def test_the_group_size_grows_for_small_batches_and_stays_one_for_large():
    cap = 1000  # SendGrid's batch
    small = GroupSize(cap)
    for _ in range(10):
        small.saw([(None, [None] * 40)] * small.count)
    assert small.count > 1
    assert small.count * 40 <= 2 * cap  # the ledger's cap does the rest
    large = GroupSize(cap)
    for _ in range(10):
        large.saw([(None, [None] * 800)] * min(large.count, 1))
    assert large.count == 1


def test_a_send_rendered_ahead_in_a_second_process_mails_what_the_preview_shows(
    six_segments, settings, monkeypatch
):
    """Renders taken from the render-ahead child (forced on for six segments) are
    each reader's own copy, byte for byte as ``digest preview --email`` makes it."""
    import email
    from email.policy import default

    from digest.editions import ahead
    from digest.editions.contents import preview

    monkeypatch.setattr(ahead, "MIN_SEGMENTS", 1)
    started: list[ahead.RenderAhead] = []
    begin = ahead.RenderAhead.begin

    def watched(self, content, segments):
        begin(self, content, segments)
        self.started(timeout=30)  # a slow machine: the child's renders, not the parent's
        started.append(self)

    monkeypatch.setattr(ahead.RenderAhead, "begin", watched)
    dispatcher, _, _ = planned(six_segments, settings)
    (result,) = dispatcher.send().editions
    assert result.sent == 18
    (helper,) = started
    assert helper.taken == 6 and helper.rendered_here == 0
    for path in settings.outbox_dir.rglob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        address = message["To"].addresses[0].addr_spec
        shown = preview(six_segments, settings, None, address, now=NOW).rendered
        assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == shown.html
        assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == shown.text


def test_one_render_ahead_child_serves_every_edition_of_a_send_and_goes_with_it(
    six_segments, settings, monkeypatch
):
    """Two editions (two zones), rendered ahead (forced on): both by the same child,
    started once, every copy taken from it, and no child left once the send is over."""
    import os

    from digest.editions import ahead

    six_segments.save_subscribers(
        [subscriber(f"{t.lower()}-tokyo@example.com", [t], "Asia/Tokyo") for t in TOPICS]
    )
    monkeypatch.setattr(ahead, "MIN_SEGMENTS", 1)
    seen: list[tuple[ahead.RenderAhead, int | None]] = []
    begin = ahead.RenderAhead.begin

    def watched(self, content, segments):
        begin(self, content, segments)
        assert self.started(timeout=30), self.stopped  # a slow machine: wait for its renders
        seen.append((self, self.pid))

    monkeypatch.setattr(ahead.RenderAhead, "begin", watched)
    provider = OutboxProvider(settings.outbox_dir)
    report = Dispatcher(six_segments, settings, provider, now=lambda: NOW).send()
    assert sorted(r.sent for r in report.editions) == [6, 18]
    assert len(seen) == 2 and seen[0][0] is seen[1][0] and seen[0][1] == seen[1][1]
    helper, pid = seen[0]
    assert helper.taken == 12 and helper.rendered_here == 0  # six segments an edition
    assert not os.path.exists(f"/proc/{pid}")  # exited and reaped by the send
