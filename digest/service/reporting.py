"""What the scheduler logs when a run is over, and what it tries again.

A run sends its pair's daily edition and, on ``weekly_day``, the weekly one:
one line each (their labels tell them apart), then one decision for the run
as a whole: a retry when any edition has recipients a later try may cure, a
follow-up when another sender holds some of their batches.
"""

from __future__ import annotations

import logging

from digest.models import Run
from digest.sending.failures import named_lines
from digest.sending.reports import EditionReport, SendReport
from digest.service.joblog import event
from digest.service.retries import Retries


def told(log: logging.Logger, retries: Retries, run: Run, report: SendReport, seconds: float):
    """Log each edition of ``run`` and schedule what is to be tried again (an aborted
    run's failure is the caller's, logged and retried as an edition that failed)."""
    if not report.editions:
        retries.done(run.key)
        log.info(f"edition {run.label}: nobody in this run", extra=event("edition"))
        return
    for found in report.editions:
        _one(log, run, found, report, seconds)
    if report.stopped or report.aborted:
        return
    retryable = sum(found.retryable for found in report.editions)
    pending = sum(found.pending for found in report.editions)
    if retryable:
        retries.recipients_failed(run, retryable)
    else:
        retries.done(run.key)
    if pending:
        retries.held(run, pending)


def _one(
    log: logging.Logger, run: Run, found: EditionReport, report: SendReport, seconds: float
) -> None:
    label = found.edition.label
    for kind, named in named_lines(found):
        log.error(named, extra=event(kind.replace(" ", "_")))
    fields = {
        "edition": label,
        "sent": found.sent,
        "skipped": found.skipped,
        "failed": found.failed,
        "in_doubt": found.in_doubt,
        "already_sent": found.already_sent,
        "pending": found.pending,
        "seconds": round(seconds, 3),
    }
    line = (
        f"edition {label}: sent {found.sent}, skipped {found.skipped}, failed "
        f"{found.failed}, in doubt {found.in_doubt}, already sent {found.already_sent} "
        f"in {seconds:.1f} s"
    )
    if report.stopped:
        log.warning(
            f"{line}; stopped with {found.pending + report.not_started} not yet sent "
            "(sent on the next start, within catch_up_hours)",
            extra=event("edition", stopped=True, **fields),
        )
    elif report.aborted:
        return
    elif found.failed or found.in_doubt:
        log.error(
            f"{line} (`digest send --date {run.date} --timezone {run.timezone}` retries "
            "those failed; see docs/ledger.md on those in doubt)",
            extra=event("edition", **fields),
        )
    else:
        log.info(line, extra=event("edition", **fields))
