"""``digest preview``: the HTML one subscriber would get, written to a file."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.app import App, UsageProblem, cli, date_option, day_of, err, out, pass_app


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
def preview(app: App, day, email: str | None, output: Path) -> None:
    """Write the HTML one subscriber would get to a file.

    Example: digest preview --email alice@example.com -o alice.html
    """
    from digest.edition import preview as render_preview

    _not_ours(output, app)
    result = render_preview(app.store, app.settings, day_of(day), email)
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


def _not_ours(output: Path, app: App) -> None:
    """Refuse to write over the database or the config file (a slip of the tab key)."""
    ours = {app.settings.config_path: "the config file"}
    if app.store.file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            ours[app.store.file.with_name(app.store.file.name + suffix)] = "the database"
    for path, what in ours.items():
        if path is not None and output.resolve() == path.resolve():
            raise UsageProblem(f"-o {output}: that is {what}; choose another file")
