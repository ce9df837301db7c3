"""``digest subscribers``: the group, and who gets the digest changed: import, add, remove.

``list`` and ``export``, which only read, are in ``cli.subscribers_out``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.app import App, Failed, UsageProblem, cli, err, out, pass_app
from digest.errors import InputError, StillSuppressed, StillUnsubscribed
from digest.validate import clean_line

if TYPE_CHECKING:
    from digest.subscribers.csv_import import ImportProgress

BAR_ROWS = 5_000  # an import of more rows than this shows a progress bar on a terminal


# -- subscribers --------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Import, list, add, remove and export subscribers.

    Example: digest subscribers import subscribers.csv · digest subscribers list --all
    """


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Subscribe again people in the file who unsubscribed (not rows marked unsubscribed).",
)
@pass_app
def subscribers_import(app: App, csv_file: Path, resubscribe: bool) -> None:
    """Add or update subscribers from a CSV file (email,name,topics,timezone; first_name optional).

    Optional columns frequency (daily, weekly), send_time (HH:MM, local) and
    paused_until (YYYY-MM-DD); empty is the site's, and a column left out
    keeps what is stored. Each bad line is reported as FILE:LINE: reason; the
    good rows are imported. People who unsubscribed stay unsubscribed, unless
    --resubscribe. A progress bar is shown on a terminal for more than a few
    thousand rows.

    Example: digest subscribers import subscribers.csv
    """
    import sqlalchemy as sa

    from digest.subscribers.csv_import import import_csv

    if not csv_file.exists():  # a pipe or /dev/stdin is read as it streams in
        raise UsageProblem(f"{csv_file}: no such file")
    bar = _ImportBar() if _stderr_is_a_terminal() else None
    try:
        result = import_csv(
            csv_file,
            app.store,
            lambda error: _print_error(error, bar),
            lambda message: _print_warning(message, bar),
            resubscribe=resubscribe,
            progress=bar,
        )
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:  # locked, lost, full
        problem = app.store.problem(error)  # the file itself (read-only, damaged): exit 2
        if problem:
            raise UsageProblem(problem) from None
        reason = app.store.describe(error)
        raise Failed(
            f"the database failed during the import ({reason}); the rows committed so far "
            "are kept: run the same import again"
        ) from None
    finally:
        if bar:
            bar.stop()
    unchanged = f"{result.unchanged} unchanged, " if result.unchanged else ""
    out.print(
        f"subscribers: {result.added} added, {result.updated} updated, {unchanged}"
        f"{result.rejected} rejected"
    )
    if result.rejected:
        raise Failed(f"{result.rejected} line(s) rejected (named above)")


def _print_error(error: InputError, bar: _ImportBar | None = None) -> None:
    # Plain writes, not rich: a hostile file can have a million bad lines.
    if bar:
        bar.stop()
    sys.stderr.write(f"error: {error}\n")


def _print_warning(message: str, bar: _ImportBar | None = None) -> None:
    if bar:
        bar.stop()
    sys.stderr.write(f"warning: {message}\n")


def _stderr_is_a_terminal() -> bool:
    # Asked of the file itself: rich's own answer is yes under FORCE_COLOR, and a
    # bar redrawn into a log file is a few hundred lines of escape codes.
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced, or closed
        return False


class _ImportBar:
    """A progress bar on stderr, once an import is past ``BAR_ROWS`` rows: one for
    reading and checking the file, one for writing to the store.

    Transient: when it stops, it is gone, and the summary line stands alone.
    Problems are printed between the two (after reading), with no bar drawn.
    """

    def __init__(self) -> None:
        self._bar = None
        self._task = None
        self._stage = ""

    def __call__(self, progress: ImportProgress) -> None:
        if progress.stage != self._stage:
            self.stop()
            self._stage = progress.stage
        if self._bar is None:
            if progress.rows <= BAR_ROWS:
                return
            self._start(progress)
        else:
            self._bar.update(self._task, completed=progress.done, total=progress.total)

    def _start(self, progress: ImportProgress) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        reading = progress.stage == "reading"
        amount = TransferSpeedColumn() if reading else MofNCompleteColumn()
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            amount,
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        what = "reading and checking" if reading else "writing to the store"
        self._task = self._bar.add_task(what, total=progress.total, completed=progress.done)
        self._bar.start()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# -- one at a time --------------------------------------------------------------


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help="Their name, whole; the greeting's without --first-name.")
@click.option(
    "--first-name", help='The name they are greeted by ("Hello Amira,"); empty: by --name.'
)
@click.option("--topics", help='Topics separated by ";" (empty: everything).')
@click.option("--timezone", help="An IANA timezone (empty: the configured default).")
@click.option(
    "--frequency",
    metavar="daily|weekly",
    help='How often: daily, or weekly on the site\'s weekly_day ("" or default: daily).',
)
@click.option(
    "--send-time",
    metavar="HH:MM",
    help='When, local to their timezone ("" or default: the site\'s send_time).',
)
@click.option(
    "--paused-until",
    metavar="DATE",
    help='No emails on or before this day, YYYY-MM-DD ("" or default: not paused).',
)
@click.option("--resubscribe", is_flag=True, help="Subscribe them again if they unsubscribed.")
@click.option(
    "--unsuppress",
    is_flag=True,
    help="Mail them again though their address bounced, was dropped or complained.",
)
@pass_app
def subscribers_add(
    app: App,
    email: str,
    name: str | None,
    first_name: str | None,
    topics: str | None,
    timezone: str | None,
    frequency: str | None,
    send_time: str | None,
    paused_until: str | None,
    resubscribe: bool,
    unsuppress: bool,
) -> None:
    """Add one subscriber, or update the one with this address.

    The values are checked as an import checks a CSV line. For someone
    already subscribed, only the options given change. Someone who
    unsubscribed is refused (exit 1) unless --resubscribe; an address
    suppressed by a bounce, drop or complaint, unless --unsuppress.

    \b
    Example:
      digest subscribers add ana@example.com --name "Ana Silva" --first-name Ana
      digest subscribers add ana@example.com --frequency weekly --send-time 06:30
      digest subscribers add ana@example.com --paused-until default
    """
    from digest.subscribers.admin import add

    try:
        change = add(
            app.store,
            email,
            name=name,
            first_name=first_name,
            topics=topics,
            timezone=timezone,
            frequency=frequency,
            send_time=send_time,
            paused_until=paused_until,
            resubscribe=resubscribe,
            unsuppress=unsuppress,
            on_warning=lambda message: err.print(f"warning: {message}"),
        )
    except InputError as error:
        where = "EMAIL" if error.where == "email" else f"--{error.where.replace('_', '-')}"
        raise UsageProblem(f"{where}: {error.reason}") from None
    except StillUnsubscribed as error:
        raise Failed(f"{error}; add --resubscribe to subscribe them again") from None
    except StillSuppressed as error:
        raise Failed(
            f"{error}; once the address works again (and is off SendGrid's own suppression "
            "list), add --unsuppress to mail it again"
        ) from None
    sub = change.subscriber
    fields = f" ({', '.join(change.fields)})" if change.fields else ""
    said = {
        "added": f"added: {sub.email}",
        "updated": f"updated: {sub.email}{fields}",
        "resubscribed": f"resubscribed: {sub.email}{fields}",
        "unchanged": f"unchanged: {sub.email} (already subscribed as given)",
    }
    out.print(said[change.outcome])


@subscribers.command("remove")
@click.argument("email")
@pass_app
def subscribers_remove(app: App, email: str) -> None:
    """Unsubscribe one person: no more digests; their ledger history stays.

    Running it again says they already left (exit 0); an address that was
    never subscribed is exit 1.

    Example: digest subscribers remove ana@example.com
    """
    change = app.store.unsubscribe(email)
    sub = change.subscriber
    if sub is None:
        raise Failed(f"no subscriber {clean_line(email)[:260]!r}")
    when = f"{sub.unsubscribed_at:%Y-%m-%d %H:%M} UTC"
    if change.outcome == "already":
        out.print(f"already unsubscribed: {sub.email} (since {when})")
    else:
        out.print(f"unsubscribed: {sub.email} at {when}; their ledger history is kept")
