"""``digest preview``: the HTML one subscriber would get, written to a file."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from digest.cli.app import (
    App,
    Failed,
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
@click.option(
    "--width",
    type=click.IntRange(200, 2000),
    metavar="PX",
    help="Write the email inside a frame this many pixels wide (375: a phone).",
)
@click.option("--open", "open_it", is_flag=True, help="Open the file in the default browser.")
@pass_app
def preview(
    app: App, day, email: str | None, output: Path, width: int | None, open_it: bool
) -> None:
    """Write the HTML one subscriber would get to a file.

    A day with nothing to show writes no file (exit 1).

    Examples: digest preview --email alice@example.com -o alice.html ·
    digest preview --width 375 --open
    """
    from digest.editions.contents import describe_left_out
    from digest.editions.contents import preview as render_preview
    from digest.rendering.wording import plural
    from digest.sending.preflight import may_start

    refuse_our_files(output, app)
    for warning in may_start(app.settings, None):  # what a send would refuse, as warnings
        err.print(f"warning: {warning}", markup=False)
    result = render_preview(app.store, app.settings, day_of(day), email, width=width)
    if result.warning:
        err.print(f"warning: {result.warning}", markup=False)
    who = email or "a subscriber of everything"
    left = describe_left_out(result.left_out, result.edition) if result.left_out else ""
    if result.articles == 0:
        raise Failed(
            f"nothing to preview: {who} would get no email for {result.edition.label} "
            f"(no articles in its window){'; ' + left if left else ''}; no file written"
        )
    try:
        output.write_text(result.page, encoding="utf-8")
    except OSError as error:
        raise UsageProblem(f"{output}: cannot write the preview: {error.strerror}") from None
    framed = f", in a {width} px frame" if width else ""
    stories = plural(result.articles, "story", "stories")
    # The front page holds the lead (and the top stories): a section count alone
    # would say "1 story in 0 sections" of an email with one story in it.
    where = (
        f"the front page and {plural(result.sections, 'section')}"
        if result.sections
        else ("all on the front page")
    )
    out.print(
        f"preview of {result.edition.label} for {who}: {stories}, {where}, "
        f"{len(result.rendered.html.encode()) // 1000} KB, written to {output}{framed}",
        markup=False,
    )
    if left:  # some were too old: say so, or a thin preview looks like missing news
        out.print(left, markup=False)
    if open_it and not webbrowser.open(output.resolve().as_uri()):
        err.print(f"warning: no browser could be opened; the preview is in {output}", markup=False)
