"""Sending an edition: plan batches, claim them, hand them to the provider, record.

The single-machine path is the many-machine path with one worker: every
``digest send`` plans whatever is unplanned, then claims batches until none
is left, so a second process (or a second host on PostgreSQL) simply helps.
Re-running a send after a crash or by mistake mails only those not yet
mailed; failed recipients are tried again; recipients *in doubt* (handed to
the provider, no answer) are left alone unless the operator says otherwise.

Stopping: when ``stop`` is set (the CLI sets it on SIGINT/SIGTERM), no new
batch is handed over; the one with the provider is waited for and recorded.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from datetime import time as wall_time

from digest.clock import utcnow
from digest.config.settings import Settings
from digest.delivery.base import Outgoing, Provider, parse_sender
from digest.editions.ahead import RenderAhead
from digest.editions.contents import EditionContent, local_today, vocabulary
from digest.errors import ConfigError, FatalDeliveryError
from digest.grouping.vocabulary import Vocabulary
from digest.liveness import worker_name
from digest.models import Edition, Outcome
from digest.rendering.links import Links, signing_key
from digest.rendering.renderer import Renderer
from digest.sending import looking
from digest.sending.due import editions_due, zones_served
from digest.sending.failures import Breaker
from digest.sending.groups import Chain, GroupSize, Line, Ready, deliver_chain
from digest.sending.ledger import Claimed, Ledger
from digest.sending.planning import plan
from digest.sending.readying import Readied, Readying
from digest.sending.recovery import recover, requeue
from digest.sending.reports import DryRunRow, EditionReport, NoProgress, Progress, SendReport
from digest.sending.switching import short_switch_interval
from digest.store.editions import start_edition
from digest.store.store import Store
from digest.zones import fallback_lines

MAX_LISTED_FAILURES = 200


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        provider: Provider | None,
        *,
        progress: Progress | None = None,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.provider = provider
        self.ledger = Ledger(store, settings.timezone, now)
        self.renderer = Renderer(settings)
        self.sender = parse_sender(settings.from_address)
        self.links = Links(settings.public_url, signing_key())
        self.progress = progress or NoProgress()
        self.now = now
        self.sleep = sleep
        self.stop = stop or threading.Event()
        # The provider's own waits (a 429's reset, a back-off) end early on a stop too.
        if provider is not None:  # None: a dry run, which needs no provider
            provider.stopping = self.stop
        self.owner = worker_name()
        self.breaker = Breaker(settings.max_consecutive_failures)
        # Said once per send: subscribers whose stored zone cannot be used, sent in
        # the default zone's edition instead (``zones.fallback_line``).
        self.warnings: list[str] = []
        self._vocab: Vocabulary | None = None
        self._renders: RenderAhead | None = None

    def editions_for(
        self,
        day: date | None,
        timezones: list[str] | None = None,
        pairs: list[tuple[str, wall_time | None]] | None = None,
    ) -> list[Edition]:
        """Every edition due ``day`` (or each zone's own today): ``due.editions_due``."""
        found = editions_due(self.store, self.settings, day, self.now(), timezones, pairs)
        if self.settings.timezone in {e.timezone for e in found}:
            self.warnings = fallback_lines(self.store.unusable_timezones(), self.settings.timezone)
        return found

    # -- sending -----------------------------------------------------------

    def send(
        self,
        day: date | None = None,
        *,
        timezones: list[str] | None = None,
        resend_in_doubt: bool = False,
        only_retryable: bool = False,
        pairs: list[tuple[str, wall_time | None]] | None = None,
    ) -> SendReport:
        """Send ``day``'s edition (default: each zone's today) in every delivery timezone.

        An edition whose date has not begun in its zone is refused: sending it
        now would fix its cut-off before its news exists (``preview`` and
        ``dry_run`` may look ahead; they record nothing). Recipients who failed
        before are tried again; with ``only_retryable`` (the scheduler's own
        retries) only those a later try may cure, never a permanent refusal.
        A zone asked for that nobody is in is named in ``nobody_in``. ``pairs``:
        only the editions of these (zone, send time) runs (the scheduler's).
        """
        started = time.monotonic()
        report = SendReport()
        self.breaker = Breaker(self.settings.max_consecutive_failures)
        proposed = self.editions_for(day, timezones, pairs)
        if timezones:  # a pass over the subscribers' index, only when it can say something
            served = zones_served(self.store, self.settings)
            report.nobody_in = [z for z in timezones if z not in served]
        early = [e for e in proposed if e.date > local_today(e.timezone, self.now())]
        if early:
            zones = ", ".join(e.timezone for e in early)
            raise ConfigError(
                f"--date {early[0].date}: that day has not begun yet in {zones}; an edition "
                "cannot be sent before its day (preview it with digest preview --date, or "
                "digest send --dry-run)"
            )
        self._renders = None  # started by the first edition worth rendering ahead
        if proposed:  # read once a send: every subscriber's topics
            self._vocab = vocabulary(self.store, self.settings)
        readying = Readying(proposed, self._ready, ahead=not self.store.is_sqlite)
        try:
            for number in range(len(proposed)):
                if self.stop.is_set():
                    report.stopped = True
                    report.not_started = self._audience(proposed[number:])
                    break
                readied = readying.get(number)
                report.editions.append(
                    self._send_edition(readied, report, resend_in_doubt, only_retryable)
                )
                if report.aborted:
                    break
        finally:
            readying.close()
            if self._renders is not None:
                self._renders.close()
            report.seconds = time.monotonic() - started
        return report

    def _ready(self, proposed: Edition) -> Readied:
        """``proposed`` started and planned (on PostgreSQL, while the one before is sent)."""
        edition = start_edition(self.store.engine, proposed)
        content = EditionContent(self.store, self.settings, edition, self.renderer, self._vocab)
        before = self.ledger.counts(edition)
        planned = plan(self.ledger, edition, content.segment_of, self.provider.max_batch)
        # Counted here, so the send need not count again unless recovery changed them:
        # a pass over the edition's rows between two editions' requests, otherwise.
        return Readied(edition, content, before, planned, self.ledger.counts(edition))

    def _send_edition(
        self,
        readied: Readied,
        report: SendReport,
        resend_in_doubt: bool = False,
        only_retryable: bool = False,
    ) -> EditionReport:
        edition, content, before = readied.edition, readied.content, readied.before
        result = EditionReport(edition)
        result.already_sent, result.planned = before["sent"], readied.planned
        released, doubted = recover(self.ledger, edition, resendable=self.provider.resendable)
        # Each is a pass over the edition's million ledger rows: asked only when the
        # counts say there is something to find.
        requeued = bool(before["failed"] or (resend_in_doubt and before["in_doubt"] + doubted))
        if requeued:
            requeue(self.ledger, edition, retryable_only=only_retryable, in_doubt=resend_in_doubt)
        changed = requeued or released or doubted
        counts = self.ledger.counts(edition) if changed else readied.after
        self.progress.start(edition.label, counts["pending"])
        rounds = self.provider.retry_rounds
        for attempt in range(rounds + 1):
            retry_later = self._drain(edition, content, result, report)
            if report.aborted or report.stopped or not retry_later:
                break
            if attempt == rounds:
                break
            # Temporary refusals (SMTP 4xx) are tried again later in the same run,
            # unless the operator asks to stop meanwhile.
            if self._pause(min(2**attempt, 30) * (0.5 + random.random())):
                report.stopped = True
                break
            requeue(self.ledger, edition, retryable_only=True)
        after = self.ledger.counts(edition)
        # Named from the ledger once the run is over, so a recipient still refused
        # after the last retry round is named like any other failure.
        result.failures = [
            (row.email, row.error or "failed") for row in self._entries(edition, "failed", after)
        ]
        result.doubts = [
            (row.email, row.error or "in doubt")
            for row in self._entries(edition, "in_doubt", after)
        ]
        # sent is counted from this run's own outcomes (another sender may share the
        # edition); the rest are the edition's state as the ledger has it.
        result.failed = after["failed"]
        result.in_doubt = after["in_doubt"]
        result.skipped = after["skipped"]
        result.pending = after["pending"]
        result.retryable = self.ledger.retryable(edition) if after["failed"] else 0
        return result

    def _entries(self, edition: Edition, status: str, counts: dict[str, int]) -> list:
        """The first ``MAX_LISTED_FAILURES`` rows in ``status``, if ``counts`` has any."""
        if not counts[status]:
            return []
        return self.ledger.entries(edition, status, limit=MAX_LISTED_FAILURES)

    def _drain(
        self, edition: Edition, content: EditionContent, result: EditionReport, report: SendReport
    ) -> bool:
        """Send batches until none is left to claim; True if some may succeed on retry.

        Two stages overlap: while one group of batches is with the provider (the
        delivery thread, mostly waiting on the network), the next is claimed,
        loaded and prepared here, and offered to the delivery thread
        (``groups.Line``). It takes it once the group it sent went whole, and
        hands it over in the transaction that records that one; else (a refusal,
        a stop, the line closed) the group is handed over here and a new run of
        the delivery thread sends it, once the breaker has heard of the last.
        Only one group is ever handed over and unrecorded, marked ``handed``
        before the provider sees it, so a crash leaves at most that one in doubt;
        the one prepared here was never sent.

        A group is a run of small batches, together at most one full batch's
        worth of people (``Ledger.claim_group``): at 24,000 segments of forty
        people, one commit for two dozen segments instead of one each, while a
        crash puts no more people in doubt than one batch always could.
        """
        retry_later = False
        chain: Chain | None = None  # the delivery thread's run of groups
        claimed: Claimed = []  # claimed and prepared here, not handed over
        lease, token = self.settings.lease_seconds, self.links.token
        size = GroupSize(self.provider.max_batch)  # a crash: one batch's worth in doubt
        # Thousands of segments: rendered ahead in a second process (``editions/ahead.py``).
        segments = self.ledger.pending_segments(edition)
        renders = None
        if RenderAhead.worth_it(len(segments)):
            # One child for the send: only its first such edition waits for it to start.
            renders = self._renders = self._renders or RenderAhead()
        with (
            short_switch_interval(),
            ThreadPoolExecutor(1, thread_name_prefix="deliver") as worker,
            renders.rendering(content, segments) if renders else contextlib.nullcontext(),
        ):
            try:
                while True:
                    taken: Claimed = []
                    if not self.stop.is_set():
                        taken = self.ledger.claim_group(
                            edition, self.owner, lease, token, size.count, size.cap
                        )
                        size.saw(taken)
                    if not taken and chain is None and not self.stop.is_set():
                        # Nothing pending: take back what dead or expired owners held.
                        released, _ = recover(self.ledger, edition, self.provider.resendable)
                        if released:
                            continue
                    claimed = taken
                    stopping = self.stop.is_set()
                    ready = (
                        self._prepare(edition, taken, renders or content)
                        if taken and not stopping
                        else []
                    )
                    cut_short = False  # a group sent handed some batches back
                    if chain is not None:
                        if ready and chain.line.offer(ready):
                            claimed = []  # the delivery thread's to hand over, send and record
                            retry_later |= chain.heard(result, self.breaker, self.progress)
                            continue
                        done, chain = chain, None
                        retry, cut_short = done.end(result, self.breaker, self.progress)
                        retry_later |= retry
                        if self.breaker.tripped:
                            pending = self.ledger.counts(edition)["pending"]
                            report.aborted = self.breaker.why(
                                edition.date, edition.timezone, pending
                            )
                            return False
                    if self.stop.is_set():  # ``claimed``, handed over or not, is released
                        report.stopped = True
                        return False
                    if not ready:
                        if cut_short:
                            continue  # claim what that group handed back
                        return retry_later
                    handed = self.ledger.hand_over_group([b for b, _ in claimed], self.owner)
                    # A batch whose lease ran out is another sender's now: not ours to send.
                    ready = [item for item in ready if item[0].id in handed]
                    claimed = []
                    if ready:
                        line = Line()
                        chain = Chain(
                            worker.submit(
                                deliver_chain,
                                self.provider,
                                self.ledger,
                                self.stop,
                                ready,
                                self.owner,
                                line,
                            ),
                            line,
                        )
            except FatalDeliveryError as err:
                report.aborted = str(err)
                return False
            finally:
                try:
                    self.ledger.release_group([batch for batch, _ in claimed])
                finally:
                    if chain is not None:
                        chain.settle(result, self.breaker, self.progress)
                    self.ledger.let_go()  # what is left unrecorded, a re-run takes back

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if a stop is asked for; True if it was."""
        if self.sleep is time.sleep:
            return self.stop.wait(seconds)
        self.sleep(seconds)  # a test's clock
        return self.stop.is_set()

    def _audience(self, editions: list[Edition]) -> int:
        """How many active subscribers the (not yet started) ``editions`` would go to."""
        return sum(n for e in editions for _, n in self.ledger.unsent_topic_counts(e))

    def _prepare(
        self, edition: Edition, group: Claimed, content: EditionContent | RenderAhead
    ) -> list[Ready]:
        """Each batch of ``group`` with its provider request built (None: nobody left)."""
        ready = []
        for batch, recipients in group:
            prepared = None
            if recipients:
                outgoing = Outgoing(
                    edition=edition,
                    segment=batch.segment,
                    content=content.rendered(batch.segment),
                    recipients=recipients,
                    renderer=self.renderer,
                    sender=self.sender,
                )
                prepared = self.provider.prepare(outgoing)
            ready.append((batch, recipients, prepared))
        return ready

    # -- looking before sending ----------------------------------------------

    def dry_run(
        self, day: date | None = None, timezones: list[str] | None = None
    ) -> list[DryRunRow]:
        """What a send would do now (``looking.dry_run``)."""
        return looking.dry_run(self, day, timezones)

    def send_test(self, address: str, day: date | None = None) -> Outcome:
        """One test copy to ``address``, the ledger untouched (``looking.send_test``)."""
        return looking.send_test(self, address, day)
