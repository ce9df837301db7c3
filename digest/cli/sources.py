"""``digest sources``: each configured source and what the store remembers of it."""

from __future__ import annotations

from datetime import datetime

import click
from rich import box
from rich.table import Table
from rich.text import Text

from digest.cli.app import App, cli, out, pass_app, until_the_reader_leaves
from digest.cli.output import write_tsv
from digest.config.values import mask_secrets
from digest.validate import clean_line

COLUMNS = ("source", "last fetched", "last new article", "failures", "state")


@cli.command()
@click.option(
    "--reset",
    metavar="NAME-or-URL",
    help="Forget what is remembered of one source: a feed disabled by 410 is fetched again.",
)
@pass_app
def sources(app: App, reset: str | None) -> None:
    """Each configured source with its state: last fetched, last new article,
    failures in a row, and the last error (or why it is not fetched).

    A table on a terminal; piped, one tab-separated line each.

    Example: digest sources --reset "Example News"
    """
    from digest.sources.states import reset_source, source_states

    if reset is not None:
        source = reset_source(app.store, app.settings, reset)
        out.print(f"reset: {source.name or source.target}; it is fetched afresh next time")
        return
    found = source_states(app.store, app.settings)
    if not found:
        out.print("no sources configured (set `sources` in digest.toml)")
        return
    rows = [_row(source, state) for source, state in found]
    with until_the_reader_leaves():
        if out.is_terminal:
            table = Table(*COLUMNS, box=box.SIMPLE)
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            out.print(table)
        else:
            write_tsv(COLUMNS, rows)


def _row(source, state) -> tuple[str, ...]:
    shown = state.key if source.is_url else source.target
    name = f"{source.name} ({shown})" if source.name else shown
    if state.gone_at:
        condition = f"disabled: 410 Gone since {_when(state.gone_at)}"
    elif state.last_error:
        condition = f"error: {state.last_error}"
    elif state.last_fetched is None:
        condition = "not read yet"
    else:
        condition = "ok"
    if state.moved_to and not state.gone_at:
        condition += f" (moved to {state.moved_to})"
    cells = (name, _when(state.last_fetched), _when(state.last_new), str(state.failures), condition)
    return tuple(mask_secrets(clean_line(cell)) for cell in cells)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"
