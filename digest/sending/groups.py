"""Small batches sent as groups: one hand-over, one commit, for several segments.

At 24,000 segments of forty people, a commit to hand each batch over and
another to record it, with their statements, were a fifth of a send's CPU. A group is a run of
batches claimed, handed over and recorded together (``Ledger.claim_group``,
``hand_over_and_claim``, ``finish_group``) and sent one request each, in turn.
Its size is what a crash may leave in doubt, so it holds no more recipients
than one full batch (the provider's ``max_batch``): a crash never leaves more
people in doubt than one batch of a large segment always could. Capped at 250
at first, groups committed four times as often: a 24,000-segment send on
PostgreSQL took 178 s instead of 140 s, its delivery thread recording for 30 %
of it.

The next group, claimed and prepared while one is with the provider, is
offered to the delivery thread (``Handoff``): once the group before it was sent
whole, it is handed over in the very transaction that records that one, and the
delivery thread's commit is the only one between two requests. On PostgreSQL,
recording a group and then handing the next over in a second transaction, one
after the other, had been a third of a 24,000-segment send's critical path.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digest.errors import DeliveryError, DeliveryInDoubt, FatalDeliveryError
from digest.models import Batch, Outcome, Recipient
from digest.sending.failures import batch_retryable

if TYPE_CHECKING:
    from digest.delivery.base import Provider
    from digest.sending.failures import Breaker
    from digest.sending.ledger import Claimed, Ledger
    from digest.sending.reports import EditionReport, Progress

# A batch claimed, with its recipients and its provider request (None: nobody left).
Ready = tuple[Batch, list[Recipient], Any]


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


class Handoff:
    """The next group, offered by the main thread to the delivery thread that is
    sending the one before it.

    The delivery thread ``take``s it only if that group was sent whole and no
    stop was asked for, so the breaker has nothing to hear first; it is then
    handed over in the transaction that records that group, and ``handed`` holds
    the ids still the sender's (``Ledger.hand_over``). Whatever the delivery
    thread decides is final once its future is done: ``offer`` after that
    changes nothing, and ``taken`` says whether to hand the group over anew.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._group: list[Ready] | None = None
        self._closed = False
        self.taken = False
        self.handed: set[int] = set()

    def offer(self, group: list[Ready]) -> None:
        with self._lock:
            if not self._closed:
                self._group = group

    def take(self, wanted: bool) -> list[Ready] | None:
        """The group offered, if ``wanted`` and one was; no offer counts after this."""
        with self._lock:
            self._closed = True
            group, self._group = (self._group if wanted else None), None
            self.taken = group is not None
            return group


@dataclass
class InFlight:
    """A group handed to the delivery thread (``deliver_group``), outcome not yet taken."""

    group: list[Ready]
    future: Future
    handoff: Handoff  # the next group, offered to be handed over as this one is recorded

    def record(
        self, result: EditionReport, breaker: Breaker, progress: Progress
    ) -> tuple[bool, bool]:
        """Wait for the group to be delivered and recorded, and show its outcomes to
        the breaker. Returns (whether some may succeed on retry, whether the group
        ended early and handed batches back to pending)."""
        try:
            results = self.future.result()
        except FatalDeliveryError as err:
            result.sent += sum(1 for o in err.outcomes if o.status == "sent")
            raise
        retry = False
        for _, outcomes, whole in results:
            result.sent += sum(1 for o in outcomes if o.status == "sent")
            breaker.record(outcomes, whole)
            progress.advance(len(outcomes))
            retry |= any(o.retry for o in outcomes if o.status == "failed")
        return retry, len(results) < len(self.group)


def deliver_group(
    provider: Provider,
    ledger: Ledger,
    stop: threading.Event,
    group: list[Ready],
    owner: str = "",
    handoff: Handoff | None = None,
) -> list[tuple[Batch, list[Outcome], bool]]:
    """On the delivery thread: hand each batch of ``group`` over in turn, then write
    their outcomes at once.

    Recording here, not on the main thread, lets the next group be claimed
    and prepared while this one is written, and a group is still never
    handed over before the one ahead of it is recorded: a crash leaves at
    most one group in doubt. Returns, per batch sent, (the batch, its
    outcomes, whether the provider refused it as a whole: one answer for
    all, which the breaker counts once).

    A stop, or a batch with anyone not sent, ends the group there: the
    batches after it never reached the provider and go back to pending, so
    the breaker hears of a failure before another request is made, as it did
    when each batch was handed over alone. The first batch goes even if a
    stop came after the hand-over, as a single batch handed over always did.
    An error that is not the provider's answer (a bug, the database gone)
    leaves the group ``handed``, so none of it is ever sent again unseen.

    ``handoff``: the next group, handed over (as ``owner``) in the transaction
    that records this one when this one was sent whole (``Handoff``).
    """
    results: list[tuple[Batch, list[Outcome], bool]] = []
    for index, (batch, recipients, prepared) in enumerate(group):
        if index and stop.is_set():
            break
        try:
            outcomes = provider.deliver(prepared) if prepared is not None else []
        except FatalDeliveryError as err:
            if handoff is not None:
                handoff.take(wanted=False)
            done = [(b, o, True) for b, o, _ in results]
            # Part of the batch may have gone out before the provider stopped.
            done += [(batch, err.outcomes, False)] if err.outcomes else []
            unsent = [b for b, _, _ in group[index + bool(err.outcomes) :]]
            ledger.finish_group(done, unsent)
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
    unsent = [b for b, _, _ in group[len(results) :]]
    whole = not unsent and not stop.is_set()
    whole = whole and all(o.status == "sent" for _, outcomes, _ in results for o in outcomes)
    following = handoff.take(whole) if handoff is not None else None
    handed = ledger.finish_group(
        [(b, o, True) for b, o, _ in results],
        unsent,
        hand_over=([b for b, _, _ in following], owner) if following else None,
    )
    if handoff is not None:
        handoff.handed = handed
    return results
