"""``digest subscribers list`` and ``export``: everyone out, as a table, lines or a CSV.

Kept apart from the commands that change who is subscribed (``import``,
``add``, ``remove`` in ``cli.subscribers``) because these only read, and what
they must get right is different: a million rows shown a page at a time
without measuring them all in memory, values from old rows cleaned again
before a terminal sees them, and a file written whole or not at all that
``import`` reads back unchanged. The commands register on the same
``subscribers`` group.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from digest.cli.app import App, out, pass_app, refuse_our_files, until_the_reader_leaves
from digest.cli.output import write_tsv
from digest.cli.subscribers import subscribers
from digest.models import PendingSignup, Subscriber
from digest.store import signups
from digest.subscribers.fields import CADENCE_COLUMNS, describe_status
from digest.validate import clean_line

LIST_PAGE = 1_000  # subscribers printed per table by ``subscribers list``
DAILY = "daily (default)"  # how a subscriber with no frequency of their own is listed


@subscribers.command("list")
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Also those who unsubscribed, bounced or complained, with when and why, "
    "and pending sign-ups.",
)
@pass_app
def subscribers_list(app: App, everyone: bool) -> None:
    """Who is subscribed, to what, in which timezone, how often and when.

    A table on a terminal; piped or redirected, one tab-separated line each.
    With --all, those no longer mailed too, and a status column: subscribed,
    or since when and why not (unsubscribed, bounced, dropped, complaint);
    then the sign-ups not confirmed yet, as pending since when they began.

    Example: digest subscribers list --all
    """
    default = f"{app.settings.timezone} (default)"
    at = f"{app.settings.send_time:%H:%M} (default)"
    left = suppressed = 0

    def cells(s: Subscriber) -> list[str]:
        nonlocal left, suppressed
        # Cleaned again: rows stored before imports removed control characters.
        shown = [
            clean_line(value)
            for value in (
                s.email,
                s.name,
                s.first_name,
                "; ".join(s.topics) or "(everything)",
                s.timezone or default,
                s.frequency or DAILY,
                f"{s.send_time:%H:%M}" if s.send_time is not None else at,
                s.paused_until.isoformat() if s.paused_until is not None else "",
            )
        ]
        if everyone:
            left += s.unsubscribed_at is not None
            suppressed += s.suppressed_at is not None
            shown.append(describe_status(s))
        return shown

    rows: Iterator[list[str]] = (
        cells(s) for s in app.store.list_subscribers(active_only=not everyone)
    )
    pending = signups.listing(app.store.engine) if everyone else []
    if pending:
        rows = itertools.chain(rows, (_pending_cells(p, default, at) for p in pending))
    with until_the_reader_leaves():
        if out.is_terminal:
            widths = app.store.subscriber_widths(active_only=not everyone)
            for p in pending:
                widths["email"] = max(widths["email"], len(p.email))
            count = _table(rows, widths, default, everyone)
        else:
            columns = ("email", "name", "first_name", "topics", "timezone", *CADENCE_COLUMNS)
            count = write_tsv(columns + everyone * ("status",), rows)
        summary = f"{count - len(pending)} subscriber(s)"
        if everyone:
            summary += f", {left} of them unsubscribed"
            summary += f", {suppressed} suppressed (bounced, dropped or complaint)" * bool(
                suppressed
            )
            pending_line = f"; {len(pending)} pending sign-up(s), not subscribed until confirmed"
            summary += pending_line * bool(pending)
        out.print(summary)


def _pending_cells(pending: PendingSignup, default: str, at: str) -> list[str]:
    """A sign-up not confirmed yet, as a row of ``subscribers list --all``."""
    return [
        clean_line(pending.email),
        clean_line(pending.name),
        clean_line(pending.first_name),
        "; ".join(pending.topics) or "(everything)",
        pending.timezone or default,
        pending.frequency or DAILY,
        at,
        "",
        f"pending since {pending.created_at:%Y-%m-%d %H:%M} UTC",
    ]


def _table(
    rows: Iterator[list[str]], longest: dict[str, int], default: str, everyone: bool = False
) -> int:
    """Print ``rows`` as a table a page at a time; returns how many there were.

    A rich table measures every row it holds (a million took gigabytes), so
    the columns are sized from the store first and each page is its own table.
    """
    widths = {
        "email": min(max(longest["email"], 5), 80),
        "name": min(max(longest["name"], 4), 40),
        "first_name": min(max(longest["first_name"], len("first_name")), 30),
        "topics": min(max(longest["topics"], len("(everything)")), 60),
        "timezone": min(max(longest["timezone"], len(default)), 40),
        "frequency": len(DAILY),
        "send_time": len("07:00 (default)"),
        "paused_until": len("paused_until"),
    }
    if everyone:
        widths["status"] = len("unsubscribed 2026-11-24 07:30 UTC")
    count = 0
    while page := list(itertools.islice(rows, LIST_PAGE)):
        table = Table(box=box.SIMPLE, show_header=count == 0, show_edge=False)
        for name, width in widths.items():
            # On a narrow terminal names and topics give way; addresses, zones and
            # how often and when do not.
            if name in ("email", "timezone", *CADENCE_COLUMNS):
                table.add_column(name, min_width=width, no_wrap=True)
            elif name == "status":  # the last column: its width does not shift the others
                table.add_column(name, min_width=width, no_wrap=True, overflow="ellipsis")
            else:
                table.add_column(name, width=width, no_wrap=True, overflow="ellipsis")
        for row in page:
            # Text, not markup: a name such as "[bold]" is shown as written.
            table.add_row(*(Text(cell) for cell in row))
        out.print(table)
        count += len(page)
    return count


@subscribers.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="Write to this file, whole or not at all (default: standard output).",
)
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Also those who unsubscribed, and pending sign-ups, with unsubscribed_at and "
    "status columns.",
)
@pass_app
def subscribers_export(app: App, output: Path | None, everyone: bool) -> None:
    """Write subscribers as a CSV that `subscribers import` reads back unchanged.

    Subscribed people only, unless --all: then those who left too, with the
    date, and pending sign-ups, with a status column; importing that file
    keeps them unsubscribed and leaves the pending ones out.

    Example: digest subscribers export -o subscribers.csv
    """
    from digest.subscribers.admin import export

    if output is not None and (str(output) == "-" or _is_stdout(output)):
        output = None  # -o /dev/stdout: the summary line must not land in the CSV
    if output is not None:
        refuse_our_files(output, app)
    with until_the_reader_leaves():
        count = export(app.store, output, everyone=everyone, stream=sys.stdout)
        sys.stdout.flush()
    if output is not None:
        out.print(f"exported {count} subscriber(s) to {output}")


def _is_stdout(path: Path) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):
        return False
