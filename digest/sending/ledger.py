"""Batches and the ledger: the durable record of who was mailed what in an edition.

An edition's work is planned as batches (one segment, at most the provider's
per-request limit of recipients), each recipient a ledger row in state
``pending``. A batch moves ``pending`` → ``sending`` (claimed, with a lease,
being prepared) → ``handed`` (given to the provider; written *before* the
provider sees it) → ``done`` (every recipient's outcome written, in one
transaction with the state change).

That one extra step is what lets a crash be told apart from a clean stop:
a batch found in ``sending`` after its owner died never reached the
provider and is simply sent again, while one found in ``handed`` may have
been accepted, so its recipients become ``in_doubt`` and are never resent
without the operator's word (``digest send --resend-in-doubt``). Providers
that can tell for themselves what they already delivered (the outbox finds
its files) declare it, and their handed batches are sent again instead.

Claiming is one ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``, so
any number of processes on PostgreSQL share an edition without overlap; on
SQLite every write transaction is ``BEGIN IMMEDIATE``, which serialises them.
What a dead sender left is taken back by ``recovery``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from digest.clock import utcnow
from digest.liveness import IN_HAND
from digest.models import Batch, Edition, Outcome, Recipient
from digest.sending.statements import (
    ALL_SENT,
    ALL_SENT_AND_HAND_OVER,
    CLAIM,
    CLAIM_WITH_RECIPIENTS,
    DONE,
    HAND_OVER,
    RECIPIENTS,
    RELEASE,
    raw,
)
from digest.sending.tallies import Tallies
from digest.store.audience import audience_clause
from digest.store.database import write_transaction
from digest.store.schema import (
    ledger,
    to_db,
)

if TYPE_CHECKING:
    from digest.store.store import Store

# Batches claimed together, each with its recipients (``Ledger.claim_group``).
Claimed = list[tuple[Batch, list[Recipient]]]


class Ledger(Tallies):
    """An edition's batches and ledger rows, as one sender works on them.

    ``now`` is the time leases are granted from and judged by, and the rows'
    ``updated_at``: the dispatcher passes its own, so a test can move past a
    lease without waiting for it.
    """

    def __init__(
        self, store: Store, default_timezone: str, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.default_timezone = default_timezone
        self.now = now
        # The database as ``IN_HAND`` knows it (``recovery`` asks it too).
        self.database = self.engine.url.render_as_string(hide_password=True)

    def let_go(self) -> None:
        """The calling thread has stopped working on the batches it claimed (recorded
        or not): from now on ``recovery.recover`` may take back any it left unfinished."""
        IN_HAND.let_go(self.database)

    def audience_clause(self, edition: Edition):
        """Who is sent ``edition`` (``store.audience.audience_clause``)."""
        return audience_clause(self.engine, self.default_timezone, edition)

    # -- sending -----------------------------------------------------------

    def _claim(
        self, conn: sa.Connection, edition: Edition, owner: str, lease_seconds: int, count: int
    ) -> list[Batch]:
        lease = to_db(self.now() + timedelta(seconds=lease_seconds))
        rows = conn.execute(
            CLAIM, {"edition": edition.id, "b_owner": owner, "lease": lease, "count": count}
        ).all()
        return sorted(
            (Batch(row.id, edition.id, row.segment, row.attempts) for row in rows),
            key=lambda b: b.id,
        )

    def hand_over(self, batch: Batch, owner: str) -> bool:
        """Note that ``batch`` is about to reach the provider; False if it is no longer ours.

        Written and committed before the provider sees a byte, so that after a
        crash the batch is known to be in doubt rather than unsent.
        """
        return batch.id in self.hand_over_group([batch], owner)

    def _hand_over(self, conn: sa.Connection, group: list[Batch], owner: str) -> set[int]:
        ids = [b.id for b in group]
        return set(conn.execute(HAND_OVER, {"ids": ids, "b_owner": owner}).scalars())

    def hand_over_group(self, group: list[Batch], owner: str) -> set[int]:
        """``hand_over`` of every batch of ``group`` in one transaction: the ids still
        ours, now handed."""
        with write_transaction(self.engine) as conn:
            return self._hand_over(conn, group, owner)

    def claim(
        self,
        edition: Edition,
        owner: str,
        lease_seconds: int,
        token: Callable[[int, str], str],
    ) -> tuple[Batch, list[Recipient]] | None:
        """One batch and its recipients (``claim_group`` of one)."""
        found = self.claim_group(edition, owner, lease_seconds, token)
        return found[0] if found else None

    def claim_group(
        self,
        edition: Edition,
        owner: str,
        lease_seconds: int,
        token: Callable[[int, str], str],
        count: int = 1,
        cap: int = 0,
    ) -> Claimed:
        """Up to ``count`` batches and their recipients, in one transaction: a commit a
        batch fewer. ``token(id, address)`` makes each recipient's signed token
        (``Links.token``).

        ``cap``: the group holds at most this many recipients, however many
        batches that is; past it, batches are handed back at once, in the same
        transaction. The first is always kept. A group is handed over as one,
        so a crash leaves at most ``cap`` recipients (or one batch) in doubt.

        On PostgreSQL the claim and the read are one statement, committed on its
        own (``_claim_in_one``), and the batches past ``cap`` are handed back just
        after it: claimed and never sent, they are pending again either way, by
        that statement or, after a crash between the two, by recovery.
        """
        if self.engine.dialect.name == "postgresql":
            return self._claim_in_one(edition, owner, lease_seconds, token, count, cap)
        with write_transaction(self.engine) as conn:
            group = self._claim(conn, edition, owner, lease_seconds, count)
            return (
                self._keep(conn, edition, group, self._pending_rows(conn, group), token, cap)
                if group
                else []
            )

    def _claim_in_one(
        self,
        edition: Edition,
        owner: str,
        lease_seconds: int,
        token: Callable[[int, str], str],
        count: int,
        cap: int,
    ) -> Claimed:
        """``claim_group`` on PostgreSQL: one statement (``CLAIM_WITH_RECIPIENTS``)."""
        lease = to_db(self.now() + timedelta(seconds=lease_seconds))
        values = {"edition": edition.id, "b_owner": owner, "lease": lease, "count": count}
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            group: list[Batch] = []
            rows: dict[int, list[tuple]] = {}
            for row in raw(conn, CLAIM_WITH_RECIPIENTS, **values):
                if row[0] not in rows:
                    group.append(Batch(row[0], edition.id, row[1], row[2]))
                    rows[row[0]] = []
                if row[3] is not None:
                    rows[row[0]].append((row[0], *row[3:]))
            return self._keep(conn, edition, group, rows, token, cap) if group else []

    def _keep(
        self,
        conn: sa.Connection,
        edition: Edition,
        group: list[Batch],
        rows: dict[int, list[tuple]],
        token: Callable[[int, str], str],
        cap: int,
    ) -> Claimed:
        """The batches of ``group`` within ``cap``, with their recipients (``rows``, as
        ``_pending_rows`` gives them); the rest handed back."""
        kept: list[Batch] = []
        total = 0
        for batch in group:
            active = sum(1 for row in rows[batch.id] if row[5])
            if kept and cap and total + active > cap:
                break
            kept.append(batch)
            total += active
        extra = group[len(kept) :]
        if extra:
            conn.execute(RELEASE, {"ids": [b.id for b in extra]})
        claimed: Claimed = []
        for batch in kept:
            claimed.append((batch, self._recipients(conn, edition, rows[batch.id], token)))
            IN_HAND.take(self.database, batch.id)
        return claimed

    def _pending_rows(self, conn: sa.Connection, group: list[Batch]) -> dict[int, list[tuple]]:
        """Each batch's pending rows: (batch id, subscriber id, address, name,
        first name, active, suppressed reason).

        A million rows pass through here in a large send: the statement is
        compiled once per dialect and its rows come back as the driver's tuples.
        The group's ids are read as one range (rows of batches in it that are
        another sender's are left out here).
        """
        ours: dict[int, list[tuple]] = {b.id: [] for b in group}
        for row in raw(conn, RECIPIENTS, low=group[0].id, high=group[-1].id):
            if (rows := ours.get(row[0])) is not None:
                rows.append(row)  # as the driver made it: a million a send
        return ours

    def _recipients(
        self,
        conn: sa.Connection,
        edition: Edition,
        rows: list[tuple],
        token: Callable[[int, str], str],
    ) -> list[Recipient]:
        """A kept batch's recipients, each with its signed token; those who left since
        planning are written ``skipped``, with why, so they are neither sent nor
        left pending."""
        gone: dict[str, list[int]] = {}
        for _, sid, _, _, _, active, suppressed in rows:
            if not active:
                why = f"suppressed: {suppressed}" if suppressed else "unsubscribed"
                gone.setdefault(why, []).append(sid)
        for why, ids in gone.items():
            conn.execute(
                ledger.update()
                .where(ledger.c.edition_id == edition.id, ledger.c.subscriber_id.in_(ids))
                .values(status="skipped", error=why, updated_at=to_db(self.now()))
            )
        return [
            Recipient(sid, email, name, token(sid, email), first_name)
            for _, sid, email, name, first_name, active, _ in rows
            if active
        ]

    def finish(self, batch: Batch, outcomes: list[Outcome], done: bool = True) -> None:
        """Write every outcome and close the batch, in one transaction.

        ``done=False`` records the outcomes but hands the batch back, so the
        recipients still pending in it are sent by the next run. A batch with
        an ``unsent`` outcome (the provider stopped before trying that
        recipient) is handed back the same way: it stays pending, never done
        with someone in it never tried.
        """
        self.finish_group([(batch, outcomes, done)])

    def finish_group(
        self,
        results: list[tuple[Batch, list[Outcome], bool]],
        unsent: list[Batch] = (),
        hand_over: tuple[list[Batch], str] | None = None,
    ) -> set[int]:
        """``finish`` of each (batch, outcomes, done), and ``unsent`` (handed over with
        the group but never sent: a stop, a failure before them) made pending
        again, all in one transaction: one commit a group.

        ``hand_over``: (the next group, its owner) handed over in the same
        transaction; returns its ids now handed. Safe because the two changes are the
        ones a crash already tells apart: the group recorded is closed, the next one
        only ``handed`` (in doubt if the process dies now), exactly as if each had
        been committed alone.
        """
        now = to_db(self.now())
        # The common case at scale (one SendGrid request, one X-Message-Id): each
        # batch one statement instead of a thousand, and the group's one executemany.
        all_sent, rest = [], []
        for batch, outcomes, done in results:
            ids = {o.message_id for o in outcomes}
            if done and outcomes and len(ids) == 1 and all(o.status == "sent" for o in outcomes):
                all_sent.append({"batch": batch.id, "b_message_id": ids.pop(), "now": now})
            else:
                rest.append((batch, outcomes, done))
        if all_sent and not rest and not unsent and self.engine.dialect.name == "postgresql":
            return self._all_sent_and_hand_over(all_sent, hand_over or ([], ""), now)
        with write_transaction(self.engine) as conn:
            if all_sent:
                # The outcomes cover every row still pending in the batch, which this
                # worker alone holds.
                conn.execute(ALL_SENT, all_sent)
            closed = [p["batch"] for p in all_sent]
            closed += [b.id for b, o, done in rest if self._finish(conn, b, o, done, now)]
            if closed:
                conn.execute(DONE, {"ids": closed})
            back = [b.id for b, _, _ in rest if b.id not in closed] + [b.id for b in unsent]
            if back:
                conn.execute(RELEASE, {"ids": back})
            return self._hand_over(conn, *hand_over) if hand_over else set()

    def _all_sent_and_hand_over(
        self, all_sent: list[dict], hand_over: tuple[list[Batch], str], now
    ) -> set[int]:
        """``finish_group`` of a group sent whole, on PostgreSQL: one statement,
        committed on its own (``statements.ALL_SENT_AND_HAND_OVER``)."""
        following, owner = hand_over
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = conn.execute(
                ALL_SENT_AND_HAND_OVER,
                {
                    "batches": [p["batch"] for p in all_sent],
                    "message_ids": [p["b_message_id"] for p in all_sent],
                    "now": now,
                    "following": [b.id for b in following],
                    "owner": owner,
                },
            )
            return set(rows.scalars())

    def _finish(
        self, conn: sa.Connection, batch: Batch, outcomes: list[Outcome], done: bool, now
    ) -> bool:
        """Write ``batch``'s outcomes one by one; whether it is done (else it goes
        back to pending: someone in it was never tried)."""
        done = done and all(o.status != "unsent" for o in outcomes)
        if outcomes := [o for o in outcomes if o.status != "unsent"]:
            conn.execute(
                ledger.update()
                .where(
                    ledger.c.edition_id == sa.bindparam("e"),
                    ledger.c.subscriber_id == sa.bindparam("s"),
                )
                .values(
                    status=sa.bindparam("st"),
                    message_id=sa.bindparam("m"),
                    error=sa.bindparam("err"),
                    retry=sa.bindparam("r"),
                    updated_at=now,
                ),
                [
                    {
                        "e": batch.edition_id,
                        "s": o.subscriber_id,
                        "st": o.status,
                        "m": o.message_id,
                        "err": o.error,
                        "r": o.retry,
                    }
                    for o in outcomes
                ],
            )
        return done

    def release_group(self, group: list[Batch]) -> None:
        """Hand back batches that never reached the provider (claimed, not handed)."""
        if group:
            with write_transaction(self.engine) as conn:
                conn.execute(RELEASE, {"ids": [b.id for b in group]})
