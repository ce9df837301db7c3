"""``digest subscribers``: import, list (and manage) the people who get the digest."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from digest.cli.app import App, Failed, UsageProblem, cli, out, pass_app
from digest.errors import InputError
from digest.validate import clean_line

LIST_PAGE = 1_000  # subscribers printed per table by ``subscribers list``


# -- subscribers --------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Import and list subscribers."""


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def subscribers_import(app: App, csv_file: Path) -> None:
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
def subscribers_list(app: App) -> None:
    """Who is subscribed, to what, in which timezone.

    A table on a terminal; piped or redirected, one tab-separated line each.
    """

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
