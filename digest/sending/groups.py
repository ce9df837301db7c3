"""Small batches sent as groups: one hand-over, one commit, for several segments.

At 24,000 segments of forty people, a commit to hand each batch over and
another to record it, with their statements, were a fifth of a send's CPU. A group is a run of
batches claimed, handed over and recorded together (``Ledger.claim_group``,
``hand_over_and_claim``, ``finish_group``) and sent one request each, in turn.
Its size is what a crash may leave in doubt, so it is capped in recipients.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from digest.errors import DeliveryError, DeliveryInDoubt, FatalDeliveryError
from digest.models import Batch, Outcome, Recipient
from digest.sending.failures import batch_retryable

if TYPE_CHECKING:
    from digest.delivery.base import Provider
    from digest.sending.ledger import Claimed, Ledger

# A batch claimed, with its recipients and its provider request (None: nobody left).
Ready = tuple[Batch, list[Recipient], Any]


# Recipients in a group of batches handed over together: a crash may leave
# that many in doubt (or one batch, where batches are larger), so kept small.
GROUP_RECIPIENTS = 250


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


def deliver_group(
    provider: Provider, ledger: Ledger, stop: threading.Event, group: list[Ready]
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
    """
    results: list[tuple[Batch, list[Outcome], bool]] = []
    for index, (batch, recipients, prepared) in enumerate(group):
        if index and stop.is_set():
            break
        try:
            outcomes = provider.deliver(prepared) if prepared is not None else []
        except FatalDeliveryError as err:
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
    ledger.finish_group([(b, o, True) for b, o, _ in results], unsent)
    return results
