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

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageProblem(click.ClickException):
    """Bad usage, configuration or input: exit 2."""

    exit_code = 2


class Failed(click.ClickException):
    """The work finished, but some of it failed (each failure already named): exit 1."""

    exit_code = 1


class DigestGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise UsageProblem(str(error)) from None
        except DigestError as error:
            raise Failed(str(error)) from None


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


pass_app = click.make_pass_decorator(_Lazy)
LIST_PAGE = 1_000  # subscribers printed per table by ``subscribers list``
date_option = click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
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
    from digest.sources import read

    settings = app.settings
    targets = targets or tuple(settings.sources)
    if not targets:
        raise UsageProblem("nothing to ingest: name files, folders or feed URLs, or set 'sources'")
    totals = {"new": 0, "updated": 0, "unchanged": 0}
    failed = skipped = 0
    for target in targets:
        result = read(target, settings.zone)
        counts = app.store.save_articles(result.articles)
        for key in totals:
            totals[key] += counts[key]
        _report_errors(result.errors)
        failed += len(result.errors)
        skipped += len(result.skipped)
    out.print(
        f"ingested: {totals['new']} new, {totals['updated']} updated, "
        f"{totals['unchanged'] + skipped} skipped, {failed} failed"
    )
    if failed:
        raise Failed(f"{failed} input(s) could not be used (named above)")


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
        reason = (str(error.orig).strip().splitlines() or ["unknown error"])[0]
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

    result = render_preview(app.store, app.settings, _day(day), email)
    output.write_text(result.rendered.html, encoding="utf-8")
    who = email or "a subscriber of everything"
    out.print(
        f"preview of {result.edition.label} for {who}: {result.articles} article(s) "
        f"in {result.sections} section(s), written to {output}"
    )
    if result.articles == 0:
        err.print(f"warning: {who} would get no email for {result.edition.label} (nothing new)")


# -- send ---------------------------------------------------------------------


@cli.command()
@date_option
@click.option(
    "--provider",
    type=click.Choice(["outbox", "smtp", "sendgrid"]),
    help="Where mail goes (default: the configured provider, else outbox).",
)
@click.option("--dry-run", is_flag=True, help="Render and count, send and record nothing.")
@click.option("--to", "to", metavar="ADDR", help="Send one test copy to ADDR; record nothing.")
@pass_app
def send(app: _Lazy, day, provider: str | None, dry_run: bool, to: str | None) -> None:
    """Send an edition now (every delivery timezone).

    Sending again mails only those not yet mailed, and retries failures.

    Examples: digest send · digest send --dry-run · digest send --to me@example.com
    """
    from digest.report import run_send

    run_send(app.store, app.settings, _day(day), provider, dry_run, to, out, err)


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
    table = Table("edition", "window (UTC)", "sent", "failed", "skipped", "pending")
    for edition in found:
        counts = ledger.counts(edition)
        table.add_row(
            edition.label,
            f"{edition.window_start:%Y-%m-%d %H:%M} → {edition.cutoff:%Y-%m-%d %H:%M}",
            *(str(counts[k]) for k in ("sent", "failed", "skipped", "pending")),
        )
    out.print(table)


def main() -> None:
    try:
        cli(prog_name="digest")
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
