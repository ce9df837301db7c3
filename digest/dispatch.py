"""Sending an edition: plan batches, claim them, hand them to the provider, record.

The single-machine path is the many-machine path with one worker: every
``digest send`` plans whatever is unplanned, then claims batches until none
is left, so a second process (or a second host on PostgreSQL) simply helps.
Re-running a send after a crash or by mistake mails only those not yet
mailed; failed recipients are tried again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from digest.config import Settings
from digest.delivery.base import Outgoing, Provider, parse_sender
from digest.edition import EditionContent, local_today, propose_edition
from digest.errors import DeliveryError, FatalDeliveryError
from digest.ledger import Batch, Ledger, Outcome, worker_name
from digest.models import Edition, Recipient, Subscriber
from digest.render import Renderer
from digest.store import Store, utcnow
from digest.unsubscribe import Links, signing_key

MAX_LISTED_FAILURES = 200


class Progress(Protocol):
    def start(self, label: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@dataclass
class EditionReport:
    edition: Edition
    sent: int = 0  # by this run
    failed: int = 0
    skipped: int = 0
    already_sent: int = 0  # by earlier runs
    planned: int = 0  # recipients newly taken into the edition by this run
    failures: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)


@dataclass
class SendReport:
    editions: list[EditionReport] = field(default_factory=list)
    seconds: float = 0.0
    aborted: str | None = None  # why the run stopped early

    def total(self, attr: str) -> int:
        return sum(getattr(e, attr) for e in self.editions)


@dataclass
class DryRunRow:
    edition: Edition
    segment: str
    topics: list[str]
    recipients: int
    sections: int
    articles: int


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        provider: Provider,
        *,
        progress: Progress | None = None,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.provider = provider
        self.ledger = Ledger(store, settings.timezone)
        self.renderer = Renderer(settings)
        self.sender = parse_sender(settings.from_address)
        self.links = Links(settings.public_url, signing_key())
        self.progress = progress or NoProgress()
        self.now = now
        self.sleep = sleep
        self.owner = worker_name()

    def editions_for(self, day: date | None) -> list[Edition]:
        """One edition per delivery timezone: ``day``, or each zone's own today."""
        moment = self.now()
        found = []
        for zone in self.store.subscriber_timezones(self.settings.timezone):
            when = day or local_today(zone, moment)
            found.append(propose_edition(self.ledger, self.settings, when, zone, moment))
        return found

    # -- sending -----------------------------------------------------------

    def send(self, day: date | None = None) -> SendReport:
        started = time.monotonic()
        report = SendReport()
        try:
            for proposed in self.editions_for(day):
                edition = self.ledger.start_edition(proposed)
                report.editions.append(self._send_edition(edition, report))
                if report.aborted:
                    break
        finally:
            report.seconds = time.monotonic() - started
        return report

    def _send_edition(self, edition: Edition, report: SendReport) -> EditionReport:
        result = EditionReport(edition)
        content = EditionContent(self.store, self.settings, edition, self.renderer)
        before = self.ledger.counts(edition)
        result.already_sent = before["sent"]
        result.planned = self.ledger.plan(edition, content.segment_of, self.provider.max_batch)
        self.ledger.requeue_failed(edition)
        self.ledger.release_dead(edition)
        counts = self.ledger.counts(edition)
        self.progress.start(edition.label, counts["pending"])
        for attempt in range(self.settings.smtp.max_retries + 1):
            retry_later = self._drain(edition, content, result, report)
            if report.aborted or not retry_later or attempt == self.settings.smtp.max_retries:
                break
            # Temporary refusals (SMTP 4xx) are tried again later in the same run.
            self.sleep(min(2**attempt, 30) * (0.5 + random.random()))
            self.ledger.requeue_failed(edition, retryable_only=True)
        after = self.ledger.counts(edition)
        # sent is counted from this run's own outcomes (another sender may share the
        # edition); failed and skipped are the edition's state as the ledger has it.
        result.failed = after["failed"]
        result.skipped = after["skipped"]
        return result

    def _drain(
        self, edition: Edition, content: EditionContent, result: EditionReport, report: SendReport
    ) -> bool:
        """Send batches until none is left to claim; True if some may succeed on retry."""
        retry_later = False
        while batch := self.ledger.claim(edition, self.owner, self.settings.lease_seconds):
            recipients = self.ledger.recipients(batch, self.links.unsubscribe)
            try:
                outcomes = self._send_batch(edition, batch, content, recipients)
            except FatalDeliveryError as err:
                if err.outcomes:  # part of the batch went out before the provider stopped
                    self.ledger.finish(batch, err.outcomes, done=False)
                    result.sent += sum(1 for o in err.outcomes if o.status == "sent")
                else:
                    self.ledger.release(batch)
                report.aborted = str(err)
                return False
            except BaseException:
                self.ledger.release(batch)
                raise
            self.ledger.finish(batch, outcomes)
            by_id = {r.subscriber_id: r.email for r in recipients}
            result.sent += sum(1 for o in outcomes if o.status == "sent")
            for outcome in outcomes:
                if outcome.status == "failed":
                    retry_later = retry_later or outcome.retry
                    if len(result.failures) < MAX_LISTED_FAILURES and not outcome.retry:
                        result.failures.append(
                            (by_id.get(outcome.subscriber_id, "?"), outcome.error or "failed")
                        )
            self.progress.advance(len(recipients))
        return retry_later

    def _send_batch(
        self, edition: Edition, batch: Batch, content: EditionContent, recipients: list[Recipient]
    ) -> list[Outcome]:
        if not recipients:
            return []
        outgoing = Outgoing(
            edition=edition,
            segment=batch.segment,
            content=content.rendered(batch.segment),
            recipients=recipients,
            renderer=self.renderer,
            sender=self.sender,
        )
        try:
            return self.provider.send(outgoing)
        except FatalDeliveryError:
            raise
        except DeliveryError as err:
            return [
                Outcome(r.subscriber_id, "failed", error=str(err), retry=err.retry)
                for r in recipients
            ]

    # -- looking before sending ----------------------------------------------

    def dry_run(self, day: date | None = None) -> list[DryRunRow]:
        """What a send would do now: recipients per segment, each segment rendered once."""
        rows = []
        for edition in self.editions_for(day):
            content = EditionContent(self.store, self.settings, edition, self.renderer)
            groups: dict[str, int] = {}
            for raw, count in self.ledger.unsent_topic_counts(edition):
                segment, _ = content.segment_of(raw)
                groups[segment] = groups.get(segment, 0) + count
            for segment, count in sorted(groups.items()):
                sections = content.sections(segment)
                if sections:
                    content.rendered(segment)  # proves the templates render
                rows.append(
                    DryRunRow(
                        edition,
                        segment,
                        content.topic_names(segment),
                        count,
                        len(sections),
                        sum(len(s.articles) for s in sections),
                    )
                )
        return rows

    def send_test(self, address: str, day: date | None = None) -> Outcome:
        """One test copy to ``address``; the ledger is not touched.

        The copy is what the subscriber with that address would get, or, for
        an address that is not subscribed, the everything-digest of the
        default timezone.
        """
        subscriber = self.store.find_subscriber(address) or Subscriber(email=address)
        zone = subscriber.timezone or self.settings.timezone
        moment = self.now()
        edition = propose_edition(
            self.ledger, self.settings, day or local_today(zone, moment), zone, moment
        )
        content = EditionContent(self.store, self.settings, edition, self.renderer)
        segment, _ = content.segment_of(";".join(subscriber.topics))
        recipient = Recipient(0, address, subscriber.name, self.links.unsubscribe(address))
        outgoing = Outgoing(
            edition=edition,
            segment=segment,
            content=content.rendered(segment),
            recipients=[recipient],
            renderer=self.renderer,
            sender=self.sender,
            test=True,
        )
        outcomes = self.provider.send(outgoing)
        return outcomes[0]
