"""``digest preview``: the HTML one subscriber would get, written to a file."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.app import (
    App,
    UsageProblem,
    cli,
    date_option,
    day_of,
    err,
    out,
    pass_app,
    refuse_our_files,
)


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

    refuse_our_files(output, app)
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
