"""When the scheduler tries an edition again, and says so.

Three reasons, one place: an edition that could not be sent at all (the
provider refused the key, the database went away, the breaker stopped it);
recipients that failed in a way a later try may cure (an SMTP 4xx, a SendGrid
5xx or 429 after its retries, a full disk); and batches another sender holds.
The first two share one back-off per run (a zone at one send time) (1, 2, 5, 10, then every 15 min),
which a clean run resets; failed recipients are tried again only while the
edition is within ``catch_up_hours`` of its send time, the window in which a
restart would catch it up too (the ledger is the checkpoint either way).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta

from apscheduler.schedulers.base import BaseScheduler

from digest.config.settings import Settings
from digest.models import Run, zone_of
from digest.service.joblog import event
from digest.service.sendtimes import describe_delay, format_time

RETRY_SECONDS = (60, 120, 300, 600, 900)  # an edition that could not be sent, tried again


class Retries:
    """The retry and follow-up jobs of one scheduler; ``send(zone, send_time)`` is its
    edition job."""

    def __init__(
        self,
        scheduler: BaseScheduler,
        settings: Settings,
        log: logging.Logger,
        now: Callable[[], datetime],
        stop: threading.Event,
        send: Callable[[str, time | None], None],
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self.log = log
        self.now = now
        self.stop = stop
        self.send = send
        self._attempts: dict[str, int] = {}  # tries so far, per run key, since a clean run

    def done(self, key: str) -> None:
        """A run (``Run.key``) left nothing to try again: the next failure starts the
        back-off afresh."""
        self._attempts.pop(key, None)

    def edition_failed(self, run: Run, reason: str, exc_info: BaseException | None = None) -> None:
        """An edition that could not be sent at all: logged, and tried again shortly."""
        wait = self._next_wait(run.key)
        self.log.error(
            f"edition {run.label}: failed: {reason}; trying again in {describe_delay(wait)}",
            exc_info=exc_info,
            extra=event("edition-failed", edition=run.label, reason=reason, retry_in=wait.seconds),
        )
        self._schedule(f"retry:{run.key}", run, self.now() + wait)

    def recipients_failed(self, run: Run, count: int) -> None:
        """``count`` recipients refused for now: tried again on the same back-off, while
        the edition is within ``catch_up_hours``; after that, the operator's to send."""
        attempt = self._attempts.get(run.key, 0)
        wait = timedelta(seconds=RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
        at = self.now() + wait
        if at - run.at > timedelta(hours=self.settings.catch_up_hours):
            self.done(run.key)
            self.log.error(
                f"edition {run.label}: {count} failed recipient(s) not tried again: the next "
                f"try would be more than catch_up_hours = {self.settings.catch_up_hours} "
                f"after the send time (`digest send --date {run.date} --timezone "
                f"{run.timezone}` retries them)",
                extra=event("retry-over", edition=run.label, failed=count),
            )
            return
        self._attempts[run.key] = attempt + 1
        local = at.astimezone(zone_of(run.timezone))
        self.log.warning(
            f"retrying {count} failed recipient(s) of {run.label} at {format_time(local.time())} "
            f"local ({format_time(at.time())} UTC), in {describe_delay(wait)} "
            f"(attempt {attempt + 2})",
            extra=event(
                "retry", edition=run.label, failed=count, attempt=attempt + 2, at=at.isoformat()
            ),
        )
        self._schedule(f"retry:{run.key}", run, at)

    def held(self, run: Run, count: int) -> None:
        """Batches another sender holds (a second scheduler, or a host that died with
        them): looked at again once their lease has run out, and sent if still pending."""
        wait = timedelta(seconds=self.settings.lease_seconds + 30)
        self.log.info(
            f"edition {run.label}: {count} recipient(s) held by another sender; "
            f"looking again in {describe_delay(wait)}",
            extra=event("held", edition=run.label, pending=count),
        )
        self._schedule(f"follow-up:{run.key}", run, self.now() + wait)

    def _next_wait(self, zone: str) -> timedelta:
        attempt = self._attempts.get(zone, 0)
        self._attempts[zone] = attempt + 1
        return timedelta(seconds=RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])

    def _schedule(self, job: str, run: Run, at: datetime) -> None:
        if not self.stop.is_set():
            self.scheduler.add_job(
                self.send,
                "date",
                run_date=at,
                args=[run.timezone, run.send_time],
                id=job,
                replace_existing=True,
            )
