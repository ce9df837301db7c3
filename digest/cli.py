"""The ``digest`` command: parses arguments, calls the library, reports.

Every command is a thin layer over a module (sources, store, dispatch, …).
Expected failures become one line on stderr: exit 2 for bad usage,
configuration or input files; exit 1 when the work finished but some
sources or recipients failed.
"""

from __future__ import annotations

import itertools
import sys
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from digest import __version__
from digest.config import Settings, load_settings
from digest.errors import ConfigError, DigestError, InputError
from digest.validate import clean_line

# Plain text only: names, titles and paths come from untrusted files, and
# rich would read "[/x]" in one as markup (and fail) or ":fire:" as an emoji.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


class OneLine(click.ClickException):
    """An error shown as one line: no line breaks or terminal escapes from what it quotes."""

    def __init__(self, message: str) -> None:
        super().__init__(clean_line(message))


class UsageProblem(OneLine):
    """Bad usage, configuration or input: exit 2."""

    exit_code = 2


class Failed(OneLine):
    """The work finished, but some of it failed (each failure already named): exit 1."""

    exit_code = 1


class Stopped(click.ClickException):
    """Stopped by a signal after recording what was sent: exit 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DigestGroup(click.Group):
    """Turns the library's expected failures into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise UsageProblem(str(error)) from None
        except DigestError as error:
            raise Failed(str(error)) from None
        except KeyboardInterrupt:
            # click would print "Aborted!" and exit 1; a shell expects 130 for Ctrl-C.
            # (digest send handles SIGINT itself, to finish the batch in flight.)
            raise Stopped("interrupted (SIGINT); run the same command again", 130) from None
        except Exception as error:
            if not _is_database_error(error):
                raise
            raise _database_failure(error, ctx.obj) from None


def _is_database_error(error: Exception) -> bool:
    # sqlalchemy is imported only by commands that open the store (--help stays
    # fast); an error cannot come from it if it was never imported.
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.SQLAlchemyError)


def _database_failure(error: Exception, app: _Lazy | None) -> click.ClickException:
    """A safety net: any database error that escapes a command, as one line.

    A problem with the file itself (read-only, damaged) is the operator's to
    fix: exit 2, as when it is found on opening. Anything else happened
    mid-run, and the transaction it broke was rolled back: exit 1.
    """
    store = app.opened_store if isinstance(app, _Lazy) else None
    if store is None:
        return Failed(f"database error: {str(error).split('[SQL:')[0][:300]}")
    known = store.problem(error)
    if known:
        return UsageProblem(known)
    return Failed(f"database error: {store.describe(error)}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"warning: {message}", markup=False)


@click.group(cls=DigestGroup)
@click.option(
    "--config",
    "config_path",
    envvar="DIGEST_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./digest.toml if present). Env: DIGEST_CONFIG.",
)
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """digest: a daily newsletter digest emailer.

    Ingest tagged articles, group them by keyword, render one email-safe
    digest per audience and send it through outbox, smtp or sendgrid.
    """
    warnings.showwarning = _show_warning
    ctx.obj = _Lazy(config_path)


class _Lazy:
    """Settings and store are opened on first use, so ``--help`` never touches them."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._store = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def store(self):
        if self._store is None:
            from digest.store import Store

            self._store = Store(self.settings.database_url)
        return self._store

    @property
    def opened_store(self):
        """The store if a command opened it, without opening it."""
        return self._store


pass_app = click.make_pass_decorator(_Lazy)
LIST_PAGE = 1_000  # subscribers printed per table by ``subscribers list``
# An edition's window reaches back from its date and across timezones; dates
# near the ends of the calendar would overflow it.
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2999, 12, 31)


def _check_day(ctx: click.Context, param: click.Parameter, value):
    if value is not None and not FIRST_DATE <= value.date() <= LAST_DATE:
        raise click.BadParameter(f"must be between {FIRST_DATE} and {LAST_DATE}")
    return value


date_option = click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    callback=_check_day,
    help="Edition date, YYYY-MM-DD (default: today in each delivery timezone).",
)


def _day(value) -> date | None:
    return value.date() if value else None


def _report_errors(errors: list[InputError]) -> None:
    for error in errors:
        err.print(f"error: {error}", markup=False)


# -- ingest -------------------------------------------------------------------


@cli.command()
@click.argument("targets", nargs=-1)
@pass_app
def ingest(app: _Lazy, targets: tuple[str, ...]) -> None:
    """Read article files, folders and feeds into the store.

    With no arguments, reads the configured ``sources``. Re-ingesting the same
    article (same guid or url) updates it and never duplicates it.

    Example: digest ingest examples/articles https://example.org/feed.xml
    """
    from digest.sources import ingest as ingest_targets
    from digest.validate import clean_line

    settings = app.settings
    targets = targets or tuple(settings.sources)
    if not targets:
        raise UsageProblem("nothing to ingest: name files, folders or feed URLs, or set 'sources'")
    report = ingest_targets(app.store, targets, settings.zone)
    # File names and feed text may hold terminal escapes: one clean line each.
    for warning in report.warnings:
        err.print(f"warning: {clean_line(str(warning))}", markup=False)
    for error in report.errors:
        err.print(f"error: {clean_line(str(error))}", markup=False)
    out.print(
        f"ingested: {report.new} new, {report.updated} updated, "
        f"{report.skipped} skipped, {report.failed} failed"
    )
    if report.failed:
        raise Failed(f"{report.failed} input(s) could not be used (named above)")


# -- subscribers --------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Import and list subscribers."""


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def subscribers_import(app: _Lazy, csv_file: Path) -> None:
    """Add or update subscribers from a CSV file (email,name,topics,timezone).

    Each bad line is reported as FILE:LINE: reason; the good rows are imported.
    People who unsubscribed stay unsubscribed.

    Example: digest subscribers import subscribers.csv
    """
    import sqlalchemy as sa

    from digest.subscribers import import_csv

    if not csv_file.exists():  # a pipe or /dev/stdin is read as it streams in
        raise UsageProblem(f"{csv_file}: no such file")
    try:
        result = import_csv(csv_file, app.store, _print_error, _print_warning)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:  # locked, lost, full
        problem = app.store.problem(error)  # the file itself (read-only, damaged): exit 2
        if problem:
            raise UsageProblem(problem) from None
        reason = app.store.describe(error)
        raise Failed(
            f"the database failed during the import ({reason}); the rows committed so far "
            "are kept: run the same import again"
        ) from None
    out.print(
        f"subscribers: {result.added} added, {result.updated} updated, {result.rejected} rejected"
    )
    if result.rejected:
        raise Failed(f"{result.rejected} line(s) rejected (named above)")


def _print_error(error: InputError) -> None:
    # Plain writes, not rich: a hostile file can have a million bad lines.
    sys.stderr.write(f"error: {error}\n")


def _print_warning(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


@subscribers.command("list")
@pass_app
def subscribers_list(app: _Lazy) -> None:
    """Who is subscribed, to what, in which timezone.

    A table on a terminal; piped or redirected, one tab-separated line each.
    """
    from digest.validate import clean_line

    default = f"{app.settings.timezone} (default)"
    rows = (
        # Cleaned again: rows stored before imports removed control characters.
        [
            clean_line(value)
            for value in (
                s.email,
                s.name,
                "; ".join(s.topics) or "(everything)",
                s.timezone or default,
            )
        ]
        for s in app.store.list_subscribers()
    )
    if out.is_terminal:
        count = _table(rows, app.store.subscriber_widths(), default)
    else:
        count = 0
        sys.stdout.write("email\tname\ttopics\ttimezone\n")
        for cells in rows:
            count += 1
            sys.stdout.write("\t".join(cells) + "\n")
    out.print(f"{count} subscriber(s)")


def _table(rows: Iterator[list[str]], longest: dict[str, int], default: str) -> int:
    """Print ``rows`` as a table a page at a time; returns how many there were.

    A rich table measures every row it holds (a million took gigabytes), so
    the columns are sized from the store first and each page is its own table.
    """
    widths = {
        "email": min(max(longest["email"], 5), 80),
        "name": min(max(longest["name"], 4), 40),
        "topics": min(max(longest["topics"], len("(everything)")), 60),
        "timezone": min(max(longest["timezone"], len(default)), 40),
    }
    count = 0
    while page := list(itertools.islice(rows, LIST_PAGE)):
        table = Table(box=box.SIMPLE, show_header=count == 0, show_edge=False)
        for name, width in widths.items():
            # On a narrow terminal names and topics give way; addresses and zones do not.
            if name in ("email", "timezone"):
                table.add_column(name, min_width=width, no_wrap=True)
            else:
                table.add_column(name, width=width, no_wrap=True, overflow="ellipsis")
        for email, name, topics, timezone in page:
            # Text, not markup: a name such as "[bold]" is shown as written.
            table.add_row(Text(email), Text(name), Text(topics), Text(timezone))
        out.print(table)
        count += len(page)
    return count


# -- preview ------------------------------------------------------------------


@cli.command()
@date_option
@click.option("--email", help="Preview what this subscriber gets (default: everything).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("preview.html"),
    show_default=True,
    help="Where to write the HTML.",
)
@pass_app
def preview(app: _Lazy, day, email: str | None, output: Path) -> None:
    """Write the HTML one subscriber would get to a file.

    Example: digest preview --email alice@example.com -o alice.html
    """
    from digest.edition import preview as render_preview

    _not_ours(output, app)
    result = render_preview(app.store, app.settings, _day(day), email)
    try:
        output.write_text(result.rendered.html, encoding="utf-8")
    except OSError as error:
        raise UsageProblem(f"{output}: cannot write the preview: {error.strerror}") from None
    who = email or "a subscriber of everything"
    out.print(
        f"preview of {result.edition.label} for {who}: {result.articles} article(s) "
        f"in {result.sections} section(s), written to {output}"
    )
    if result.articles == 0:
        err.print(f"warning: {who} would get no email for {result.edition.label} (nothing new)")


def _not_ours(output: Path, app: _Lazy) -> None:
    """Refuse to write over the database or the config file (a slip of the tab key)."""
    ours = {app.settings.config_path: "the config file"}
    if app.store.file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            ours[app.store.file.with_name(app.store.file.name + suffix)] = "the database"
    for path, what in ours.items():
        if path is not None and output.resolve() == path.resolve():
            raise UsageProblem(f"-o {output}: that is {what}; choose another file")


# -- send ---------------------------------------------------------------------


@cli.command()
@date_option
@click.option(
    "--provider",
    type=click.Choice(["outbox", "smtp", "sendgrid"]),
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
    app: _Lazy,
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
    only with --resend-in-doubt. SIGINT or SIGTERM: the batch with the
    provider is finished and recorded, then the command exits (130 / 143);
    a second signal exits at once.

    Examples: digest send · digest send --dry-run · digest send --to me@example.com
    """
    from digest.report import run_send
    from digest.validate import check_timezone

    zones = []
    for zone in timezones:
        try:
            zones.append(check_timezone(zone))
        except ValueError as error:
            raise UsageProblem(f"--timezone: {error}") from None
    run_send(
        app.store,
        app.settings,
        _day(day),
        provider,
        dry_run,
        to,
        out,
        err,
        timezones=zones or None,
        resend_in_doubt=resend_in_doubt,
    )


# -- status -------------------------------------------------------------------


@cli.command()
@date_option
@pass_app
def status(app: _Lazy, day) -> None:
    """What the ledger says: sent / failed / skipped / pending per edition.

    Example: digest status --date 2026-11-24
    """
    from digest.ledger import Ledger

    ledger = Ledger(app.store, app.settings.timezone)
    found = ledger.editions(_day(day))
    if not found:
        out.print("no editions sent yet" + (f" for {_day(day)}" if day else ""))
        return
    columns = ("sent", "failed", "in_doubt", "skipped", "pending")
    table = Table("edition", "window (UTC)", *(c.replace("_", " ") for c in columns))
    doubted = 0
    for edition in found:
        counts = ledger.counts(edition)
        doubted += counts["in_doubt"]
        table.add_row(
            edition.label,
            f"{edition.window_start:%Y-%m-%d %H:%M} → {edition.cutoff:%Y-%m-%d %H:%M}",
            *(str(counts[k]) for k in columns),
        )
    out.print(table)
    if doubted:
        err.print(
            f"warning: {doubted} recipient(s) in doubt: handed to the provider, no answer "
            "recorded; check the provider's activity log, then `digest send --date D "
            "--resend-in-doubt` sends them again"
        )


def main() -> None:
    cli(prog_name="digest")
