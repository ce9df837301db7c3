"""How a command shows its rows: a table on a terminal, tab-separated lines when
piped, or what ``--format`` asks for (``table``, ``tsv``, ``json``).

One home, so ``sources``, ``subscribers list`` and ``status`` read the same way
in a script. A rich table cuts its cells to the terminal's width (80 columns
when piped), which loses exactly what a script came for; a tab-separated line
is never cut, and a cell never holds a tab or a line break to split it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.table import Table

from digest.cli.app import out
from digest.validate import clean_line

FORMATS = ("table", "tsv", "json")

format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    help="table (the default on a terminal), tsv (the default when piped: "
    "tab-separated lines under a header line, nothing cut) or json.",
)


def chosen(output_format: str | None) -> str:
    """The format asked for, else a table on a terminal and tab-separated lines piped."""
    if output_format:
        return output_format
    return "table" if out.is_terminal else "tsv"


def table(*headers: str, title: str | None = None) -> Table:
    """A rich table whose cells wrap onto more lines on a narrow terminal rather
    than end in "…": a zone or a host cut short is a different zone or host."""
    shown = Table(title=title)
    for header in headers:
        shown.add_column(header, overflow="fold")
    return shown


# What would split a cell or a line for a reader (Python's splitlines() included).
_SPLITS = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def tsv_line(cells: Iterable[Any]) -> str:
    """One tab-separated line: each cell one line of text, tabs folded to spaces.

    Cells are usually clean already (a million subscribers list in seconds), so
    the line is checked whole and cleaned cell by cell only when it must be."""
    texts = [str(cell) for cell in cells]
    line = "\t".join(texts)
    if line.count("\t") != len(texts) - 1 or _SPLITS.search(line):
        line = "\t".join(clean_line(text) for text in texts)
    return line + "\n"


def write_tsv(columns: Sequence[str], rows: Iterable[Iterable[Any]]) -> int:
    """A header line, then a line a row; returns how many rows there were."""
    sys.stdout.write(tsv_line(columns))
    count = 0
    for row in rows:
        sys.stdout.write(tsv_line(row))
        count += 1
    sys.stdout.flush()
    return count


def write_json(value: Any) -> None:
    """``value`` as one JSON document (non-ASCII kept as it is)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
