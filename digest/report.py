"""What ``digest send`` shows an operator: a progress bar, a summary table, failures."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from digest.config import Settings
from digest.delivery import make_provider
from digest.dispatch import Dispatcher, SendReport
from digest.store import Store

PROGRESS_THRESHOLD = 300  # below this a bar is noise


class RichProgress:
    """A progress bar on stderr for sends of more than a few hundred recipients."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar: Progress | None = None
        self.task = None

    def start(self, label: str, total: int) -> None:
        self.stop()
        if total < PROGRESS_THRESHOLD or not self.console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(label, total=total)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, count)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def run_send(
    store: Store,
    settings: Settings,
    day: date | None,
    provider_name: str | None,
    dry_run: bool,
    to: str | None,
    out: Console,
    err: Console,
) -> None:
    from digest.cli import Failed, UsageProblem

    if dry_run and to:
        raise UsageProblem("--dry-run and --to do not go together")
    provider = make_provider(provider_name or settings.provider, settings)
    progress = RichProgress(err)
    dispatcher = Dispatcher(store, settings, provider, progress=progress)
    try:
        if to:
            outcome = dispatcher.send_test(to, day)
            if outcome.status != "sent":
                raise Failed(f"test copy to {to} failed: {outcome.error}")
            out.print(
                f"test copy sent to {to} via {provider.name} ({outcome.message_id}); "
                "nothing recorded"
            )
            return
        if dry_run:
            _print_dry_run(dispatcher, day, out)
            return
        report = dispatcher.send(day)
    finally:
        progress.stop()
        provider.close()
    _print_report(report, provider.name, out, err)
    if report.aborted:
        raise Failed(f"send stopped: {report.aborted}; run the same command again to resume")
    if report.total("failed"):
        raise Failed(
            f"{report.total('failed')} recipient(s) failed (named above); "
            "run the same command again to retry them"
        )


def _print_dry_run(dispatcher: Dispatcher, day: date | None, out: Console) -> None:
    rows = dispatcher.dry_run(day)
    table = Table(
        "edition",
        "topics",
        "recipients",
        "sections",
        "articles",
        "outcome",
        title="dry run: nothing sent, nothing recorded",
    )
    for row in rows:
        table.add_row(
            row.edition.label,
            ", ".join(row.topics) or "(everything)",
            str(row.recipients),
            str(row.sections),
            str(row.articles),
            "send" if row.sections else "skip (empty)",
        )
    out.print(table)
    would = sum(r.recipients for r in rows if r.sections)
    out.print(f"would send {would}, skip {sum(r.recipients for r in rows) - would}")


def _print_report(report: SendReport, provider: str, out: Console, err: Console) -> None:
    for edition in report.editions:
        # One line per reason: a refused batch is a thousand recipients, one cause.
        by_reason: dict[str, list[str]] = {}
        for address, reason in edition.failures:
            by_reason.setdefault(reason, []).append(address)
        for reason, addresses in by_reason.items():
            who = ", ".join(addresses[:3])
            if len(addresses) > 3:
                who = f"{len(addresses)} recipients ({who}, …)"
            err.print(f"failed: {edition.edition.label}: {who}: {reason}", markup=False)
        hidden = edition.failed - len(edition.failures)
        if hidden > 0:
            err.print(
                f"failed: {edition.edition.label}: … and {hidden} more "
                f"(digest status --date {edition.edition.date})"
            )
    sent = report.total("sent")
    if not (sent or report.total("failed") or report.total("planned") or report.aborted):
        already = report.total("already_sent")
        if already:
            out.print(f"nothing to send: {already} already sent")
            return
    table = Table(
        "edition", "sent", "skipped", "failed", "already sent", title=f"sent via {provider}"
    )
    for e in report.editions:
        table.add_row(
            e.edition.label, str(e.sent), str(e.skipped), str(e.failed), str(e.already_sent)
        )
    out.print(table)
    rate = sent / report.seconds if report.seconds > 0 else 0.0
    out.print(
        f"{sent} sent, {report.total('skipped')} skipped, {report.total('failed')} failed "
        f"in {report.seconds:.1f} s ({rate:,.0f} recipients/s)"
    )
