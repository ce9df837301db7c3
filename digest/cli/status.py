"""``digest status``: what the ledger says, per edition."""

from __future__ import annotations

from rich.table import Table

from digest.cli.app import App, cli, date_option, day_of, err, out, pass_app

# EditionEvents' fields, in the order shown.
EVENT_COLUMNS = (
    "delivered",
    "bounced",
    "dropped",
    "complaints",
    "unsubscribed",
    "opened",
    "clicked",
)


@cli.command()
@date_option
@pass_app
def status(app: App, day) -> None:
    """What the ledger says: sent / failed / skipped / pending per edition.

    Then what SendGrid reported since (delivered, bounced, dropped,
    complaints, opened and clicked, through the Event Webhook of `digest
    serve`) and how many recipients unsubscribed since.

    Example: digest status --date 2026-11-24
    """
    from digest.ledger import Ledger

    ledger = Ledger(app.store, app.settings.timezone)
    found = ledger.editions(day_of(day))
    if not found:
        out.print("no editions sent yet" + (f" for {day_of(day)}" if day else ""))
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
    # What SendGrid's Event Webhook reported (``digest serve``), and who left since.
    reported = Table(
        "edition",
        *EVENT_COLUMNS,
        title="since sent (SendGrid's events; unsubscribed: by any way)",
    )
    for edition in found:
        events = app.store.edition_events(edition.id)
        reported.add_row(edition.label, *(str(getattr(events, k)) for k in EVENT_COLUMNS))
    out.print(reported)
    if doubted:
        err.print(
            f"warning: {doubted} recipient(s) in doubt: handed to the provider, no answer "
            "recorded; check the provider's activity log, then `digest send --date D "
            "--resend-in-doubt` sends them again"
        )
