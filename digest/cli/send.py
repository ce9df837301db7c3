"""``digest send``: an edition now, a dry run, or one test copy; what the operator sees.

The command parses its options and calls the dispatcher; this module also draws
the progress bar, the summary table and one line per reason for failures and
recipients in doubt.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import click
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

from digest.cli.app import (
    App,
    Failed,
    Stopped,
    UsageProblem,
    cli,
    date_option,
    day_of,
    err,
    out,
    pass_app,
)
from digest.config.settings import PROVIDERS, Settings
from digest.sending.failures import named_lines
from digest.sending.preflight import open_provider
from digest.sending.stopping import GracefulStop
from digest.validate import check_email
from digest.zones import check_timezone

if TYPE_CHECKING:  # imported when a send runs: every other command starts without them
    from digest.sending.dispatch import Dispatcher
    from digest.sending.reports import SendReport
    from digest.store.store import Store


@cli.command()
@date_option
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    help="Where mail goes (default: the configured provider, else outbox).",
)
@click.option(
    "--timezone",
    "timezones",
    metavar="ZONE",
    multiple=True,
    help="Only this delivery timezone's edition (repeat for several; default: all).",
)
@click.option("--dry-run", is_flag=True, help="Render and count, send and record nothing.")
@click.option("--to", "to", metavar="ADDR", help="Send one test copy to ADDR; record nothing.")
@click.option(
    "--resend-in-doubt",
    is_flag=True,
    help="Also send again to recipients in doubt (the provider may have delivered them).",
)
@pass_app
def send(
    app: App,
    day,
    provider: str | None,
    timezones: tuple[str, ...],
    dry_run: bool,
    to: str | None,
    resend_in_doubt: bool,
) -> None:
    """Send an edition now (every delivery timezone, or those given).

    Sending again mails only those not yet mailed, and retries failures.
    Recipients in doubt (handed to the provider, no answer) are sent again
    only with --resend-in-doubt. SIGINT, SIGTERM or SIGHUP: the batch with
    the provider is finished and recorded, then the command exits (130 / 143
    / 129); a second signal exits at once.

    Examples: digest send · digest send --dry-run · digest send --to me@example.com
    """
    zones = []
    for zone in timezones:
        try:
            zones.append(check_timezone(zone))
        except ValueError as error:
            raise UsageProblem(f"--timezone: {error}") from None
    run_send(
        app.store,
        app.settings,
        day_of(day),
        provider,
        dry_run,
        to,
        out,
        err,
        timezones=zones or None,
        resend_in_doubt=resend_in_doubt,
    )


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
    *,
    timezones: list[str] | None = None,
    resend_in_doubt: bool = False,
) -> None:
    if dry_run and to:
        raise UsageProblem("--dry-run and --to do not go together")
    if to is not None:
        try:
            to = check_email(to)
        except ValueError as error:
            raise UsageProblem(f"--to: {error}") from None
    name = provider_name or settings.provider
    provider, warnings = open_provider(settings, name, dry_run=dry_run)
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False)
    from digest.sending.dispatch import Dispatcher

    if provider is None:  # a dry run: nothing is sent, so no provider is opened
        dispatcher = Dispatcher(store, settings, None)
        try:
            _print_dry_run(dispatcher, day, timezones, name, out)
        finally:
            for warning in dispatcher.warnings:
                err.print(f"warning: {warning}", markup=False)
        return
    progress = RichProgress(err)
    stop = GracefulStop(
        "stopping after the batch with the provider is recorded (again to stop at once)",
        "stopping at once; the batch with the provider will be in doubt",
    )
    dispatcher = Dispatcher(store, settings, provider, progress=progress, stop=stop.event)
    try:
        if to:
            outcome = dispatcher.send_test(to, day)
            if outcome.status != "sent":
                raise Failed(f"test copy to {to} failed: {outcome.error}")
            out.print(
                f"test copy sent to {to} via {provider.name} ({outcome.message_id}); "
                "nothing recorded",
                markup=False,
            )
            return
        with stop:
            report = dispatcher.send(day, timezones=timezones, resend_in_doubt=resend_in_doubt)
    finally:
        progress.stop()
        provider.close()
        for warning in dispatcher.warnings:
            err.print(f"warning: {warning}", markup=False)
    _print_report(report, provider.name, out, err)
    if report.stopped:
        left = report.total("pending") + report.total("failed") + report.not_started
        raise Stopped(
            f"stopped by {stop.name}: {report.total('sent')} sent by this run, "
            f"{left} not yet sent; run the same command again to resume",
            stop.exit_code,
        )
    if report.aborted:
        raise Failed(f"send stopped: {report.aborted}; run the same command again to resume")
    problems = [
        f"--timezone {zone}: no active subscriber has this delivery timezone; nothing sent for it"
        for zone in report.nobody_in
    ]
    if report.total("failed"):
        problems.append(
            f"{report.total('failed')} recipient(s) failed (named above); "
            "run the same command again to retry them"
        )
    if report.total("in_doubt"):
        problems.append(
            f"{report.total('in_doubt')} recipient(s) in doubt (named above): the provider may "
            "have delivered them; check its activity log, then "
            "`digest send --resend-in-doubt` sends them again"
        )
    if problems:
        raise Failed("; ".join(problems))


def _print_dry_run(
    dispatcher: Dispatcher,
    day: date | None,
    timezones: list[str] | None,
    provider: str,
    out: Console,
) -> None:
    rows = dispatcher.dry_run(day, timezones)
    table = Table(
        "edition",
        "topics",
        "recipients",
        "sections",
        "articles",
        "outcome",
        title=f"dry run via {provider}: nothing sent, nothing recorded",
    )
    for row in rows:
        table.add_row(
            row.edition.label,
            ", ".join(row.topics) or "(everything)",  # the consoles read no markup
            str(row.recipients),
            str(row.sections),
            str(row.articles),
            "send" if row.sections else "skip (empty)",
        )
    out.print(table)
    would = sum(r.recipients for r in rows if r.sections)
    skip = sum(r.recipients for r in rows) - would
    out.print(f"would send {would}, skip {skip} (via {provider})")
    from digest.editions.contents import describe_left_out

    said = {describe_left_out(r.left_out, r.edition) for r in rows if r.left_out}
    for line in sorted(said - {""}):  # old feeds: why an edition is empty (or thin)
        out.print(line, markup=False)


def _print_report(report: SendReport, provider: str, out: Console, err: Console) -> None:
    for edition in report.editions:
        for _kind, line in named_lines(edition):
            err.print(line, markup=False)
    sent = report.total("sent")
    busy = sent or report.total("failed") or report.total("in_doubt") or report.total("planned")
    if not (busy or report.aborted or report.stopped):
        already = report.total("already_sent")
        if already:
            out.print(f"nothing to send: {already} already sent")
            return
    table = Table(
        "edition",
        "sent",
        "skipped",
        "failed",
        "in doubt",
        "already sent",
        title=f"sent via {provider}",
    )
    for e in report.editions:
        table.add_row(
            e.edition.label,
            *(str(n) for n in (e.sent, e.skipped, e.failed, e.in_doubt, e.already_sent)),
        )
    out.print(table)
    rate = sent / report.seconds if report.seconds > 0 else 0.0
    out.print(
        f"{sent} sent, {report.total('skipped')} skipped, {report.total('failed')} failed, "
        f"{report.total('in_doubt')} in doubt in {report.seconds:.1f} s "
        f"({rate:,.0f} recipients/s)"
    )
