"""``digest schedule``: the daily service in the foreground, or ``--list`` of its next runs."""

from __future__ import annotations

import sys
import warnings

import click
from rich.table import Table

from digest.cli.app import App, UsageProblem, cli, err, expected_failure, out, pass_app
from digest.cli.output import write_tsv
from digest.service.heartbeat import BEAT_SECONDS
from digest.service.joblog import FORMATS, event, make_logger, renderer


class LoggedProblem(click.ClickException):
    """An expected failure whose reason was already written as a JSON log line."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        pass


@cli.command()
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Print the next runs (each zone at each send time) and exit.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    help="With --list: every run in the next N days (default: the next of each run).",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="json: one JSON object a line, for log collectors.",
)
# How often the heartbeat is written and the delivery timezones read again; settable
# so the tests need not wait half a minute for a new zone.
@click.option("--tick", type=click.FloatRange(0.2, 3600), default=BEAT_SECONDS, hidden=True)
@pass_app
def schedule(app: App, list_only: bool, days: int | None, log_format: str, tick: float) -> None:
    """Run the daily service in the foreground until SIGTERM, SIGINT or SIGHUP.

    Ingests the configured sources every `ingest_every` minutes and, at each
    send time local to each delivery timezone (`send_time`, and every personal
    time a subscriber chose), sends its daily edition, and on `weekly_day` its
    weekly one (a fresh ingest first). An edition missed while digest was down
    is sent on start if it is at most `catch_up_hours` late. A stop finishes and
    records the batch with the provider and exits 0; a second signal exits at
    once. Logs go to stderr.
    A database server that does not answer yet is waited for, up to
    [database] startup_wait_seconds (then exit 1; a bad setting exits 2).

    Examples: digest schedule · digest schedule --list --days 7 ·
    digest schedule --log-format json
    """
    if days is not None and not list_only:
        raise UsageProblem("--days goes with --list")
    if list_only:
        _print_list(app, days or 1)
        return
    from digest.sending.stopping import GracefulStop
    from digest.service.scheduler import Service

    if log_format == "json":
        log = make_logger(_write_json, "json")
    else:
        log = make_logger(lambda line: err.print(line, markup=False), "text")
    # Python warnings (an unset DIGEST_SECRET) are log lines too, in the same format.
    warnings.showwarning = lambda message, *_args, **_kw: log.warning(
        str(message), extra=event("warning")
    )
    stop = GracefulStop(
        "stopping after the batch with the provider is recorded (again to stop at once)",
        "stopping at once; the batch with the provider will be in doubt",
        render=renderer(log_format),
    )
    progress = None
    if log_format == "text" and out.is_terminal and err.is_terminal:
        from digest.cli.send import RichProgress

        progress = RichProgress(err)
    try:
        with stop:
            store = app.store_when_up(
                lambda line: log.warning(line, extra=event("database")), stop.event
            )
            if store is None:
                log.info("schedule: stopped before the database answered", extra=event("stop"))
                return
            Service(store, app.settings, log, stop.event, progress=progress, tick=tick).run()
    except Exception as error:
        # JSON logs stay JSON to the last line: a setting, the database or the
        # provider that stops the start is logged as an object, then exit 2 (or 1).
        problem = expected_failure(error, app) if log_format == "json" else None
        if problem is None:
            raise
        log.error(problem.message, extra=event("error"))
        raise LoggedProblem(problem.message, problem.exit_code) from None
    finally:
        if progress is not None:
            progress.stop()


def _write_json(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _print_list(app: App, days: int) -> None:
    from digest.clock import utcnow
    from digest.service.runs import describe_run, listing, missed
    from digest.zones import fallback_lines

    settings, now = app.settings, utcnow()
    header = (
        "zone",
        "send time",
        "edition",
        "local time",
        "UTC",
        "daily",
        "weekly",
        "weekly edition",
    )
    rows = [
        (
            listed.run.timezone,
            "site" if listed.run.send_time is None else f"{listed.run.send_time:%H:%M}",
            listed.run.date.isoformat(),
            f"{listed.run.local:%H:%M %Z}",
            f"{listed.run.at:%Y-%m-%d %H:%M}",
            str(listed.daily),
            str(listed.weekly),
            "yes" if listed.sends_weekly else "no",
        )
        for listed in listing(app.store, settings, now, days)
    ]
    if out.is_terminal:
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        out.print(table)
    else:  # piped: one tab-separated line a run, for scripts
        write_tsv(header, rows)
    # Counted in the default zone above: say who, as a send would.
    for warning in fallback_lines(app.store.unusable_timezones(), settings.timezone):
        err.print(f"warning: {warning}", markup=False)
    to_send, skipped = missed(app.store, settings, now)
    for run in to_send:
        out.print(f"on start: edition {run.label} (due {describe_run(run)}) is caught up")
    for run, reason in skipped:
        out.print(f"on start: edition {run.label} is not caught up: {reason}")
