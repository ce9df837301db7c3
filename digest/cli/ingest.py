"""``digest ingest``: article files, folders and feeds into the store."""

from __future__ import annotations

import click

from digest.cli.app import App, Failed, UsageProblem, cli, err, out, pass_app
from digest.validate import clean_line


@cli.command()
@click.argument("targets", nargs=-1)
@pass_app
def ingest(app: App, targets: tuple[str, ...]) -> None:
    """Read article files, folders and feeds into the store.

    With no arguments, reads the configured ``sources`` (feeds downloaded
    concurrently, each only if it changed). Re-ingesting the same article
    (same guid from the same feed address, or the same link from a source of the
    same name) updates it and never duplicates it.

    Example: digest ingest examples/articles https://example.org/feed.xml
    """
    from digest.sources import ingest_configured

    if not (targets or app.settings.sources):
        raise UsageProblem("nothing to ingest: name files, folders or feed URLs, or set 'sources'")
    report = ingest_configured(app.store, app.settings, targets)
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
