"""Batches and recipients taken back for another try: from a sender that died, or after a failure.

Kept apart from claiming and recording (``ledger``) because it is the one
place that decides what a half-finished send meant: a batch left ``sending``
never reached the provider and goes back to pending, one left ``handed`` may
have been delivered and puts its recipients in doubt, and only the
operator's word sends those again. Claims and outcomes are the everyday path
of one live sender; this runs before a send and whenever nothing is left to
claim, on what other senders (or this one, before a crash) left behind.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import sqlalchemy as sa

from digest.liveness import IN_HAND, dead_here, worker_name
from digest.store.database import write_transaction
from digest.store.schema import batches, from_db, ledger, to_db

if TYPE_CHECKING:
    from digest.models import Edition
    from digest.sending.ledger import Ledger


def requeue(
    book: Ledger, edition: Edition, retryable_only: bool = False, in_doubt: bool = False
) -> int:
    """Put failed recipients back to pending (and their batches), for another try.

    ``in_doubt`` takes the in-doubt ones too: only on the operator's word,
    since the provider may already have delivered them.
    """
    statuses = ["failed", "in_doubt"] if in_doubt else ["failed"]
    where = [
        ledger.c.edition_id == edition.id,
        ledger.c.status.in_(statuses),
        ledger.c.batch_id.is_not(None),
    ]
    if retryable_only:
        where.append(ledger.c.retry)
    with write_transaction(book.engine) as conn:
        batch_ids = sa.select(ledger.c.batch_id).where(*where).distinct().scalar_subquery()
        conn.execute(
            batches.update()
            .where(batches.c.id.in_(batch_ids))
            .values(state="pending", owner=None, lease_until=None)
        )
        return conn.execute(
            ledger.update().where(*where).values(status="pending", retry=False)
        ).rowcount


def recover(book: Ledger, edition: Edition, resendable: bool = False) -> tuple[int, int]:
    """Take back batches whose owner died (on this host), was this very process
    but none of its threads works on them now (a send that gave up when the
    database went away), or whose lease ran out.

    A batch still ``sending`` never reached the provider: it goes back to
    pending. A ``handed`` one may have: its pending recipients become
    ``in_doubt`` — unless the current provider is ``resendable`` (it
    recognises what it already delivered), when it too goes back to
    pending. Returns (batches made pending, recipients put in doubt).

    Without the liveness check a crashed send would hold its batches until
    the lease ran out, and an operator's immediate re-run would leave them.
    """
    host, me = socket.gethostname(), worker_name()
    now = book.now()
    with book.engine.connect() as conn:
        owned = conn.execute(
            sa.select(batches.c.id, batches.c.owner, batches.c.state, batches.c.lease_until).where(
                batches.c.edition_id == edition.id,
                batches.c.state.in_(("sending", "handed")),
            )
        ).all()
    stale = [
        r
        for r in owned
        if dead_here(r.owner, host)
        or (r.owner == me and not IN_HAND.held(book.database, r.id))
        or (r.lease_until is not None and from_db(r.lease_until) < now)
    ]
    released = doubted = 0
    for row in stale:
        # Each change is conditional on the batch being as we saw it, so two
        # recovering workers (or a late owner) never both act on one batch.
        same = sa.and_(
            batches.c.id == row.id,
            batches.c.owner == row.owner,
            batches.c.state == row.state,
        )
        with write_transaction(book.engine) as conn:
            if row.state == "sending" or resendable:
                released += conn.execute(
                    batches.update()
                    .where(same)
                    .values(state="pending", owner=None, lease_until=None)
                ).rowcount
                continue
            if not conn.execute(batches.update().where(same).values(state="done")).rowcount:
                continue
            doubted += conn.execute(
                ledger.update()
                .where(ledger.c.batch_id == row.id, ledger.c.status == "pending")
                .values(
                    status="in_doubt",
                    error=f"handed to the provider by {row.owner}"
                    + (" (this process), whose send" if row.owner == me else ", which")
                    + " stopped before recording the answer",
                    updated_at=to_db(now),
                )
            ).rowcount
    return released, doubted
