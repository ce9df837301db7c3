"""``digest status``: what the ledger says, per edition, and whether a scheduler runs."""

from __future__ import annotations

from datetime import datetime

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
    """What the ledger says: sent / failed / skipped / pending per edition; which
    schedulers are alive and when each zone's next edition goes out.

    Then what SendGrid reported since (delivered, bounced, dropped,
    complaints, opened and clicked, through the Event Webhook of `digest
    serve`) and how many recipients unsubscribed since.

    Example: digest status --date 2026-11-24
    """
    from digest.sending.ledger import Ledger
    from digest.store.editions import list_editions

    ledger = Ledger(app.store, app.settings.timezone)
    found = list_editions(app.store.engine, day_of(day))
    if not found:
        out.print("no editions sent yet" + (f" for {day_of(day)}" if day else ""))
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
    if found:
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
    _print_schedulers(app)


def _print_schedulers(app: App) -> None:
    """The schedulers' heartbeats; a warning when none has beaten lately."""
    from digest.clock import utcnow
    from digest.service.heartbeat import STALE, alive, gone, recorded, state
    from digest.service.sendtimes import describe_delay

    now = utcnow()
    beats = recorded(app.store)
    if not beats:
        out.print("schedulers: none has run here (`digest schedule` sends the editions daily)")
        return
    live = [b for b in beats if alive(b, now)]
    shown = live + [b for b in beats if b not in live][:3]  # the latest that are gone
    table = Table("scheduler", "started (UTC)", "last beat", "state", title="schedulers")
    for beat in shown:
        table.add_row(
            f"{beat.host}:{beat.pid}",
            _utc(beat.started),
            f"{describe_delay(now - beat.last)} ago",
            state(beat, now),
        )
    out.print(table)
    if not live:
        last = beats[0]
        ago = describe_delay(now - last.last)
        if last.stopped:
            why = f"no scheduler is running ({last.host}:{last.pid} stopped {ago} ago)"
        elif gone(last):
            why = (
                f"no scheduler is running ({last.host}:{last.pid} is no longer running, "
                f"last beat {ago} ago: killed or crashed)"
            )
        else:
            why = (
                f"no scheduler has beaten for more than {describe_delay(STALE)} "
                f"({last.host}:{last.pid}: last beat {ago} ago; crashed, stuck, or cut off "
                "from the database)"
            )
        err.print(f"warning: {why}: editions go out only while `digest schedule` runs")
        return
    runs = Table("zone", "next edition", "local time", "UTC", title="next editions")
    for run in live[0].next_runs:
        runs.add_row(run.timezone, run.date.isoformat(), f"{run.local:%H:%M %Z}", _utc(run.at))
    out.print(runs)


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"
