"""Small batches sent as groups, and groups passed along a line to the delivery thread.

At 24,000 segments of forty people, a commit to hand each batch over and
another to record it, with their statements, were a fifth of a send's CPU. A
group is a run of batches claimed, handed over and recorded together
(``Ledger.claim_group``, ``hand_over_group``, ``finish_group``) and sent one
request each, in turn. Its size is what a crash may leave in doubt, so it
holds no more recipients than one full batch (the provider's ``max_batch``):
a crash never leaves more people in doubt than one batch of a large segment
always could. Capped at 250 at first, groups committed four times as often: a
24,000-segment send on PostgreSQL took 178 s instead of 140 s, its delivery
thread recording for 30 % of it.

The main thread claims and prepares the next group while the delivery thread
sends one; it then offers it on a ``Line``. The delivery thread takes it once
the group it sent went whole, and hands it over in the very transaction that
records that one: one commit between two requests, never two groups handed
over and unrecorded at once. It then sends the group it took, while the main
thread claims the one after. Before (schema and code of 2026-12-06), the
delivery thread returned after each group and the main thread waited for its
record before passing on the next: the record, a fifth of the delivery
thread's time, stalled both threads at once (``docs/performance.md``).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any

from digest.errors import DeliveryError, DeliveryInDoubt, FatalDeliveryError
from digest.models import Batch, Outcome, Recipient
from digest.sending.failures import batch_retryable

if TYPE_CHECKING:
    from concurrent.futures import Future

    from digest.delivery.base import Provider
    from digest.sending.failures import Breaker
    from digest.sending.ledger import Claimed, Ledger
    from digest.sending.reports import EditionReport, Progress

# A batch claimed, with its recipients and its provider request (None: nobody left).
Ready = tuple[Batch, list[Recipient], Any]
# Per batch sent: (the batch, its outcomes, whether the provider refused it as a whole).
Results = list[tuple[Batch, list[Outcome], bool]]


class GroupSize:
    """How many batches to claim at once: as many as hold ``cap`` recipients.

    Doubled while groups come back well under ``cap``, cut to what was kept
    when a claim held more (the ledger handed the rest back), so a run of
    small segments is claimed several at a time and big ones one by one.
    """

    MOST = 32

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.count = 1

    def saw(self, group: Claimed) -> None:
        held = sum(len(recipients) for _, recipients in group)
        if len(group) < self.count:  # the cap stopped it, or the edition's end
            if held * 2 >= self.cap:
                self.count = max(1, len(group))
        elif held * 2 < self.cap:
            self.count = min(self.MOST, self.count * 2)


class Line:
    """Prepared groups passed from the main thread to the delivery thread, one at a
    time, and what became of each group sent, passed back.

    Once the delivery thread has said it takes no more (``take`` found nothing,
    or was not wanted), the line is closed: an ``offer`` then returns False and
    the group stays the main thread's, claimed and never handed over.
    """

    # How long the delivery thread waits for the next group, the one it sent not
    # yet recorded. A group is offered every few milliseconds; a main thread this
    # late (a claim waiting on another sender's lock) gets to hand its group over
    # itself, and the group sent is recorded meanwhile.
    WAIT_SECONDS = 1.0

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._group: list[Ready] | None = None
        self._taken = False
        self._open = True  # the delivery thread may take another group
        self._more = True  # the main thread may offer another
        # (how many batches the group had, the results of those sent), in order.
        self.sent: SimpleQueue[tuple[int, Results]] = SimpleQueue()

    def offer(self, group: list[Ready]) -> bool:
        """On the main thread: True once the delivery thread has taken ``group`` (its
        to hand over, send and record); False if it takes no more."""
        with self._changed:
            if not self._open:
                return False
            self._group, self._taken = group, False
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._taken or not self._open)
            taken, self._group = self._taken, None
            return taken

    def finish(self) -> None:
        """On the main thread: nothing more will be offered."""
        with self._changed:
            self._more = False
            self._changed.notify_all()

    def take(self, wanted: bool) -> list[Ready] | None:
        """On the delivery thread: the group offered, waited for if ``wanted`` and none
        is yet; None closes the line."""
        with self._changed:

            def offered() -> bool:  # and not the one taken last, not yet cleared by ``offer``
                return self._group is not None and not self._taken

            if wanted:
                self._changed.wait_for(lambda: offered() or not self._more, self.WAIT_SECONDS)
            group = self._group if wanted and self._more and offered() else None
            if group is None:
                self._open = False
            self._taken = group is not None
            self._changed.notify_all()
            return group

    def close(self) -> None:
        """On the delivery thread, as it ends however it ends: take nothing more."""
        with self._changed:
            self._open = False
            self._changed.notify_all()


@dataclass
class Chain:
    """The delivery thread's run of groups (``deliver_chain``) and its line."""

    future: Future
    line: Line
    cut_short: bool = False  # a group ended early, handing batches back to pending

    def heard(self, result: EditionReport, breaker: Breaker, progress: Progress) -> bool:
        """The groups recorded since last asked, shown to the breaker; whether some
        may succeed on retry."""
        retry = False
        while True:
            try:
                size, results = self.line.sent.get_nowait()
            except Empty:
                return retry
            for _, outcomes, whole in results:
                result.sent += sum(1 for o in outcomes if o.status == "sent")
                breaker.record(outcomes, whole)
                progress.advance(len(outcomes))
                retry |= any(o.retry for o in outcomes if o.status == "failed")
            self.cut_short |= len(results) < size

    def end(self, result: EditionReport, breaker: Breaker, progress: Progress) -> tuple[bool, bool]:
        """Offer nothing more, wait for the delivery thread to finish, and take what it
        recorded (``heard``). Returns (whether some may succeed on retry, whether a
        group of the run ended early). Its error, if it had one, is raised after."""
        self.line.finish()
        try:
            self.future.result()
        finally:
            retry = self.heard(result, breaker, progress)
        return retry, self.cut_short

    def settle(self, result: EditionReport, breaker: Breaker, progress: Progress) -> None:
        """Stopping on an error: let the delivery thread end, its outcomes taken if they
        can be. If they cannot (the error came from recording them), its batches
        stay ``handed``: the next run finds them in doubt, never sends them again."""
        with contextlib.suppress(Exception):  # the first error is the one being raised
            self.end(result, breaker, progress)


def deliver_chain(
    provider: Provider,
    ledger: Ledger,
    stop: threading.Event,
    group: list[Ready],
    owner: str,
    line: Line,
) -> None:
    """On the delivery thread: send ``group`` (handed over), record it, and go on
    with each group offered on ``line`` while every one before went whole, each
    handed over (as ``owner``) in the transaction that records the one before.
    What became of each group is put on ``line.sent``.

    A stop, or a batch with anyone not sent, ends a group there: the batches
    after it never reached the provider and go back to pending, so the breaker
    hears of a failure before another request is made, as it did when each
    batch was handed over alone. The first batch goes even if a stop came after
    the main thread handed it over, as a single batch handed over always did; a
    group taken from the line is not begun after a stop. An error that is not
    the provider's answer (a bug, the database gone) leaves the group
    ``handed``, so none of it is ever sent again unseen.
    """
    first = True
    try:
        while group is not None:
            results, unsent = _send(provider, ledger, stop, group, first_goes=first, line=line)
            sent = all(o.status == "sent" for _, outcomes, _ in results for o in outcomes)
            whole = sent and not unsent and not stop.is_set()
            following = line.take(whole)
            batches = [batch for batch, _, _ in following or ()]
            try:
                handed = ledger.finish_group(
                    _closing(results), unsent, hand_over=(batches, owner) if following else None
                )
            except BaseException:
                if batches:  # claimed, never handed over: back to pending if it can be
                    with contextlib.suppress(Exception):
                        ledger.release_group(batches)
                raise
            line.sent.put((len(group), results))
            group = [item for item in following if item[0].id in handed] if following else None
            first = False
    finally:
        line.close()


def _send(
    provider: Provider,
    ledger: Ledger,
    stop: threading.Event,
    group: list[Ready],
    first_goes: bool,
    line: Line,
) -> tuple[Results, list[Batch]]:
    """Each batch of ``group`` to the provider in turn, until a stop, a refusal or the
    end: (the results of those sent, the batches never tried). A fatal error is
    recorded here, and on ``line``, and raised."""
    results: Results = []
    for index, (batch, recipients, prepared) in enumerate(group):
        if (index or not first_goes) and stop.is_set():
            break
        try:
            outcomes = provider.deliver(prepared) if prepared is not None else []
        except FatalDeliveryError as err:
            # Part of the batch may have gone out before the provider stopped: it is
            # recorded, not closed, and the rest of it stays pending.
            partial = [(batch, err.outcomes, False)] if err.outcomes else []
            unsent = [b for b, _, _ in group[len(results) + len(partial) :]]
            ledger.finish_group(_closing(results) + partial, unsent)
            line.sent.put((len(group), results + partial))
            raise
        except DeliveryError as err:
            status = "in_doubt" if isinstance(err, DeliveryInDoubt) else "failed"
            retry = batch_retryable(err)
            failed = [
                Outcome(r.subscriber_id, status, error=str(err), retry=retry) for r in recipients
            ]
            results.append((batch, failed, True))
            break
        results.append((batch, outcomes, False))
        if any(o.status != "sent" for o in outcomes):
            break  # the breaker sees it before the next request
    return results, [b for b, _, _ in group[len(results) :]]


def _closing(results: Results) -> list[tuple[Batch, list[Outcome], bool]]:
    """``results`` as ``Ledger.finish_group`` takes them: each batch sent is done."""
    return [(batch, outcomes, True) for batch, outcomes, _ in results]
