"""``digest schedule``: the daily service, on APScheduler 3.

Jobs, all in one process:

- ``ingest``: the configured sources every ``ingest_every`` minutes (and at
  start), then the delivery timezones are read again;
- ``edition:<zone>`` and ``edition:<zone>@<HH:MM>``: one per distinct (delivery
  timezone, send time) pair with subscribers (plus the default zone at the
  site's time), firing at that time local there (``DailyTrigger``, whose
  instants come from ``sendtimes``: APScheduler's own CronTrigger fires twice
  on a fall-back day); each does a fresh ingest first, then sends that pair's
  daily edition, and on ``weekly_day`` its weekly one, through the same
  ``Dispatcher`` as ``digest send``;
- ``signups``: hourly (and at start), pending sign-ups never confirmed in time
  are removed (``housekeeping``);
- ``beat``: every few seconds, the heartbeat in the store and a fresh look at
  the pairs (a subscriber imported in a new zone, or choosing a new time, gets
  a job without a restart).

Ingests and editions share one worker thread, so they run one at a time and a
stop has one batch to wait for; the heartbeat has a thread of its own, so a
long send never looks like a dead scheduler.

**What was already sent is the ledger's to say, never the job store's.** The
jobs live in memory and are rebuilt on every start. On start, each pair's
latest due run is sent if it is not in the ledger (or was left part-sent)
and is at most ``catch_up_hours`` late; later than that it is skipped, with a
log line saying which and why. APScheduler's misfire grace is off
(``misfire_grace_time=None``: a late job always runs) and runs are coalesced;
the edition job itself applies the catch-up rule, so a job delayed behind a
long send is judged the same way as a restart. Two schedulers (two machines on
one PostgreSQL), or a scheduler and a manual ``digest send``, share an edition
through the batch claims and mail each subscriber once. What is tried again, and
when (an edition that failed, recipients refused for now, batches another sender
holds), is ``service.retries``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from digest.clock import utcnow
from digest.config.settings import Settings
from digest.delivery import make_provider
from digest.errors import InputError
from digest.models import Run, pair_key
from digest.sending.dispatch import Dispatcher
from digest.sending.preflight import open_provider
from digest.sending.reports import Progress, SendReport
from digest.service import housekeeping
from digest.service.heartbeat import BEAT_SECONDS, Heartbeat
from digest.service.joblog import event
from digest.service.reporting import told
from digest.service.retries import Retries
from digest.service.runs import (
    Pair,
    at_time,
    delivery_pairs,
    describe_run,
    missed,
    pair_last,
    pair_next,
    too_late,
)
from digest.service.sendtimes import DailyTrigger, describe_delay, format_time
from digest.store.audience import pair_order
from digest.store.database import expected
from digest.store.store import Store

FRESH_SECONDS = 60  # an ingest this recent counts as "just before" an edition


class Service:
    """The scheduler process: its jobs, its heartbeat, and a clean stop."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        log: logging.Logger,
        stop: threading.Event,
        *,
        progress: Progress | None = None,
        now: Callable[[], datetime] = utcnow,
        tick: float = BEAT_SECONDS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.log = log
        self.stop = stop
        self.progress = progress
        self.now = now
        self.tick = tick
        self.heartbeat = Heartbeat(store, now)
        self.pairs: set[Pair] = set()
        self._pairs_lock = threading.Lock()
        self._last_ingest: float | None = None  # time.monotonic() of the last ingest's end
        self._seen_warnings: set[str] = set()
        self._beat_failing: tuple[str, float] | None = None  # (reason, when first logged)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1), "beat": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self.retries = Retries(self.scheduler, settings, log, now, stop, self.send_edition)

    # -- the process ---------------------------------------------------------

    def run(self) -> None:
        """Start, catch up, and run until ``stop`` is set; then finish the batch in
        flight, record it, and return."""
        try:
            self.start()
            while not self.stop.wait(1.0):
                pass
        finally:
            self.shutdown()

    def start(self) -> None:
        # What `digest send` refuses stops the start (exit 2); its warnings are logged.
        provider, warnings = open_provider(self.settings, self.settings.provider)
        provider.close()  # each edition builds its own
        for warning in warnings:
            self.log.warning(warning, extra=event("warning"))
        now = self.now()
        sources = len(self.settings.sources)
        self.log.info(
            f"schedule: started as {self.heartbeat.host}:{self.heartbeat.pid}; provider "
            f"{self.settings.provider}; editions at {format_time(self.settings.send_time)} local; "
            + (
                f"ingest of {sources} source(s) every {self.settings.ingest_every} min"
                if sources
                else "no sources configured (articles come from `digest ingest`)"
            )
            + f"; catch-up {self.settings.catch_up_hours} h",
            extra=event("start", host=self.heartbeat.host, pid=self.heartbeat.pid),
        )
        self.refresh_pairs(announce=True)
        self.heartbeat.start(self.next_runs())
        to_send, skipped = missed(self.store, self.settings, now)
        for run, reason in skipped:
            self.log.warning(
                f"skipped: edition {run.label}: {reason}",
                extra=event("skipped", edition=run.label, due=run.at.isoformat()),
            )
        if sources:
            self.scheduler.add_job(
                self.ingest_job,
                IntervalTrigger(minutes=self.settings.ingest_every, timezone=UTC),
                id="ingest",
                next_run_time=now,
            )
        for run in to_send:
            self.log.info(
                f"catch-up: edition {run.label} was due {describe_run(run)}, "
                f"{describe_delay(now - run.at)} ago: sending it now",
                extra=event("catch-up", edition=run.label, due=run.at.isoformat()),
            )
            self.scheduler.add_job(
                self.send_edition, args=[run.timezone, run.send_time], id=f"catch-up:{run.key}"
            )
        self.scheduler.add_job(
            housekeeping.forget_job,
            IntervalTrigger(minutes=housekeeping.EVERY_MINUTES, timezone=UTC),
            args=[self.store, self.settings, self.log, self.now],
            id="signups",
            next_run_time=now,
        )
        self.scheduler.add_job(
            self.beat_job,
            IntervalTrigger(seconds=self.tick, timezone=UTC),
            id="beat",
            executor="beat",
        )
        self.scheduler.start()

    def shutdown(self) -> None:
        if not self.scheduler.running:
            with contextlib.suppress(Exception):
                self.heartbeat.stop()  # started, then failed before the jobs ran
            return
        # Jobs still queued see the stop and return; the one running finishes the
        # batch with the provider, records it, and returns.
        self.scheduler.shutdown(wait=True)
        with contextlib.suppress(Exception):  # the database may be what is gone
            self.heartbeat.stop()
        self.log.info("schedule: stopped", extra=event("stop"))

    # -- jobs -----------------------------------------------------------------

    def ingest_job(self) -> None:
        try:
            self.ingest()
        except Exception as error:  # the zones could not be read again after it
            self.log.error(
                f"ingest: {self._reason(error)}",
                exc_info=self._traceback(error),
                extra=event("error"),
            )

    def ingest(self, before_edition: str | None = None) -> None:
        """Read the configured sources; one bad source is logged and the rest are read."""
        from digest.sources import IngestReport, ingest_configured

        sources = self.settings.sources
        if not sources or self.stop.is_set():
            return
        last = self._last_ingest
        if before_edition and last is not None and time.monotonic() - last < FRESH_SECONDS:
            return
        started = time.monotonic()
        why = f" before edition {before_edition}" if before_edition else ""
        self.log.info(f"ingest: start{why} ({len(sources)} source(s))", extra=event("ingest"))
        try:
            total = ingest_configured(self.store, self.settings, should_stop=self.stop.is_set)
        except Exception as error:  # the store gone, a bug: logged, the next ingest tries again
            total = IngestReport(errors=[InputError("ingest", self._reason(error))])
        for warning in map(str, total.warnings):
            if warning not in self._seen_warnings and len(self._seen_warnings) < 10_000:
                self._seen_warnings.add(warning)  # the same feed says it every time
                self.log.warning(warning, extra=event("warning"))
        for problem in total.errors:
            self.log.error(str(problem), extra=event("error", source=problem.where))
        self._last_ingest = time.monotonic()
        seconds = self._last_ingest - started
        counts = {
            "new": total.new,
            "updated": total.updated,
            "skipped": total.skipped,
            "failed": total.failed,
        }
        self.log.info(
            "ingest: "
            + ", ".join(f"{n} {what}" for what, n in counts.items())
            + f" in {seconds:.1f} s",
            extra=event("ingested", **counts, seconds=round(seconds, 3)),
        )
        self.refresh_pairs()

    def send_edition(self, timezone: str, send_time: wall_time | None = None) -> None:
        """Send the editions of ``timezone`` at ``send_time`` (None: the site's) that are
        due now, unless it is too late for them: the daily one, and on ``weekly_day``
        the weekly one."""
        if self.stop.is_set():
            return
        now = self.now()
        run = pair_last(self.settings, (timezone, send_time), now)
        late = now - run.at
        if late > timedelta(hours=self.settings.catch_up_hours):
            self.log.warning(
                f"skipped: edition {run.label}: {too_late(run, now, self.settings)}",
                extra=event("skipped", edition=run.label, due=run.at.isoformat()),
            )
            return
        started = time.monotonic()
        try:
            self.ingest(before_edition=run.label)
            if self.stop.is_set():
                return
            self.log.info(
                f"edition {run.label}: start, due {describe_run(run)}",
                extra=event("edition-start", edition=run.label, due=run.at.isoformat()),
            )
            started = time.monotonic()
            provider = make_provider(self.settings.provider, self.settings)
            try:
                dispatcher = Dispatcher(
                    self.store,
                    self.settings,
                    provider,
                    progress=self.progress,
                    now=self.now,
                    stop=self.stop,
                )
                # Only what a later try may cure: a permanent refusal (550, an invalid
                # address) is the operator's to retry, with `digest send`.
                report = dispatcher.send(
                    run.date, pairs=[(timezone, send_time)], only_retryable=True
                )
            finally:
                provider.close()
            for warning in dispatcher.warnings:
                self.log.warning(warning, extra=event("warning", edition=run.label))
        except Exception as error:
            self._failed(run, self._reason(error), error)
            return
        self._report(run, report, time.monotonic() - started)
        self.beat_job()  # `digest status` shows the pair's next run, not this one

    def beat_job(self) -> None:
        """Beat, and look at the pairs again. A database that stays away is logged when
        the reason changes and every 10 minutes, not at every beat; its return once."""
        try:
            self.refresh_pairs()
            self.heartbeat.beat(self.next_runs())
        except Exception as error:
            reason, now = self._reason(error), time.monotonic()
            last = self._beat_failing
            if last is None or last[0] != reason or now - last[1] >= 600:
                self._beat_failing = (reason, now)
                self.log.error(f"heartbeat: {reason}", extra=event("error"))
            return
        if self._beat_failing is not None:
            self._beat_failing = None
            self.log.info("heartbeat: the database answers again", extra=event("heartbeat"))

    # -- pairs ---------------------------------------------------------------

    def refresh_pairs(self, announce: bool = False) -> None:
        """A job for each (delivery timezone, send time) in use; none for a pair nobody
        is in now."""
        pairs = set(delivery_pairs(self.store, self.settings))
        now = self.now()
        with self._pairs_lock:
            for zone, send_time in sorted(pairs - self.pairs, key=pair_order):
                run = pair_next(self.settings, (zone, send_time), now)
                self.scheduler.add_job(
                    self.send_edition,
                    DailyTrigger(zone, at_time(self.settings, send_time)),
                    args=[zone, send_time],
                    id=f"edition:{run.key}",
                    replace_existing=True,
                )
                self.log.info(
                    f"{'run' if announce else 'new run'} {run.key}: next edition "
                    f"{run.date} {describe_run(run)}",
                    extra=event("zone", timezone=zone, run=run.key, next=run.at.isoformat()),
                )
            for zone, send_time in sorted(self.pairs - pairs, key=pair_order):
                key = pair_key(zone, send_time)
                with contextlib.suppress(Exception):
                    self.scheduler.remove_job(f"edition:{key}")
                self.log.info(
                    f"run {key}: no subscribers left; no more editions", extra=event("zone")
                )
            self.pairs = pairs

    def next_runs(self) -> list[Run]:
        now = self.now()
        return sorted((pair_next(self.settings, p, now) for p in self.pairs), key=lambda r: r.at)

    # -- reporting -----------------------------------------------------------

    def _report(self, run: Run, report: SendReport, seconds: float) -> None:
        if report.aborted and not report.stopped:
            self._failed(run, report.aborted)
        told(self.log, self.retries, run, report, seconds)

    def _reason(self, error: BaseException) -> str:
        """One line about ``error``, worded as `digest send` words it (a database's
        without SQL, parameters or password): ``store.database.expected`` says both."""
        found = expected(error, self.store.engine.url)
        return found.line if found is not None else str(error) or type(error).__name__

    def _traceback(self, error: BaseException | None) -> BaseException | None:
        """``error`` if it is a bug, whose traceback the log keeps; None if expected."""
        if error is None or expected(error, self.store.engine.url) is not None:
            return None
        return error

    def _failed(self, run: Run, reason: str, error: BaseException | None = None) -> None:
        """An edition that could not be sent at all: logged, and tried again shortly."""
        self.retries.edition_failed(run, reason, self._traceback(error))
