"""``digest status``: what the ledger says, per edition, and whether a scheduler runs."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from digest.cli.app import (
    App,
    cli,
    date_option,
    day_of,
    err,
    out,
    pass_app,
    until_the_reader_leaves,
)
from digest.cli.output import chosen, format_option, table, write_json, write_tsv

if TYPE_CHECKING:
    from digest.models import Status

# The ledger's states, and EditionEvents' fields, in the order shown.
COUNT_COLUMNS = ("sent", "failed", "in_doubt", "skipped", "pending")
EVENT_COLUMNS = (
    "delivered",
    "bounced",
    "dropped",
    "complaints",
    "unsubscribed",
    "opened",
    "clicked",
)
# Piped or --format tsv: three blocks, each a header line and its rows, a blank line between.
EDITION_FIELDS = (
    "edition",
    "window_start",
    "cutoff",
    *COUNT_COLUMNS,
    "left_out",
    "newest_left_out",
    *EVENT_COLUMNS,
)
SCHEDULER_FIELDS = ("scheduler", "started", "last_beat", "state")
NEXT_FIELDS = ("zone", "next_edition", "local_time", "utc")
# The sign-up page per UTC day: what it let in, then what each guard dropped.
SIGNUP_COLUMNS = ("signup", "confirmed", "expired", "mail_failed")
GUARD_COLUMNS = (
    "honeypot",
    "too_fast",
    "too_old",
    "bad_form_token",
    "altcha_failed",
    "invalid",
    "client_limit",
    "address_cooldown",
)
SIGNUP_FIELDS = ("day", *SIGNUP_COLUMNS, *GUARD_COLUMNS)
# Who is sent how often: daily, weekly, and of those the paused (the last block).
AUDIENCE_FIELDS = ("frequency", "subscribers")
# Shorter headings for the table, so that it fits 100 columns.
HEADINGS = {
    "bad_form_token": "bad token",
    "altcha_failed": "altcha",
    "address_cooldown": "cooldown",
}


@cli.command()
@date_option
@format_option
@pass_app
def status(app: App, day, output_format: str | None) -> None:
    """What the ledger says: sent / failed / skipped / pending per edition; which
    schedulers are alive and when each zone's next edition goes out; how many
    subscribers are sent daily, weekly, and how many of them are paused.

    Then what SendGrid reported since (delivered, bounced, dropped,
    complaints, opened and clicked, through the Event Webhook of `digest
    serve`) and how many recipients unsubscribed since; and how many articles
    ingested for an edition were too old for its window (old feeds). With the
    sign-up page on, its last 7 days (UTC): sign-ups, confirmations, expired,
    mails that failed, and what each guard dropped.

    A table on a terminal; piped, tab-separated blocks (editions, schedulers,
    next editions, sign-ups if any, then subscribers per frequency: each a
    header line and its rows, a blank line between), nothing cut; --format
    json for one JSON document. Warnings go to stderr.

    Example: digest status --date 2026-11-24 · digest status --format json
    """
    from digest.clock import utcnow
    from digest.service.status import status as gather

    report = gather(app.store, app.settings, day_of(day), utcnow())
    shown = chosen(output_format)
    if shown == "table":
        _print_tables(report, day)
    else:
        notes = []
        if not report.editions:
            notes.append("no editions sent yet" + (f" for {day_of(day)}" if day else ""))
        if not report.ever_scheduled:
            notes.append(_NEVER_SCHEDULED)
        with until_the_reader_leaves():
            (write_json if shown == "json" else _write_blocks)(_fields(report))
        for note in notes:  # stdout holds only the data
            err.print(note, markup=False)
    _warn(report)


_NEVER_SCHEDULED = "schedulers: none has run here (`digest schedule` sends the editions daily)"


def _fields(report: Status) -> dict[str, list[dict]]:
    """The report as plain values: the same fields for JSON and tab-separated lines."""
    editions = []
    for e in report.editions:
        left = e.left_out
        editions.append(
            {
                "edition": e.edition.label,
                "window_start": _iso(e.edition.window_start),
                "cutoff": _iso(e.edition.cutoff),
                **{k: e.counts[k] for k in COUNT_COLUMNS},
                "left_out": left.count,
                "newest_left_out": _iso(left.newest) if left.newest else None,
                **{k: getattr(e.events, k) for k in EVENT_COLUMNS},
            }
        )
    schedulers = [
        {
            "scheduler": f"{beat.host}:{beat.pid}",
            "started": _iso(beat.started),
            "last_beat": _iso(beat.last),
            "state": state,
        }
        for beat, state in report.schedulers
    ]
    live = report.live
    next_editions = [
        {
            "zone": run.key,
            "next_edition": run.date.isoformat(),
            "local_time": f"{run.local:%H:%M %Z}",
            "utc": _iso(run.at),
        }
        for run in (live[0].next_runs if live else ())
    ]
    signups = [{"day": day, **counts} for day, counts in report.signup_days]
    return {
        "editions": editions,
        "schedulers": schedulers,
        "next_editions": next_editions,
        "signups": signups,
        "subscribers": [
            {"frequency": kind, "subscribers": n} for kind, n in report.frequencies.items()
        ],
    }


def _write_blocks(fields: dict[str, list[dict]]) -> None:
    blocks = [
        (EDITION_FIELDS, fields["editions"]),
        (SCHEDULER_FIELDS, fields["schedulers"]),
        (NEXT_FIELDS, fields["next_editions"]),
    ]
    if fields["signups"]:  # the page is on, or has run: else no block at all
        blocks.append((SIGNUP_FIELDS, fields["signups"]))
    blocks.append((AUDIENCE_FIELDS, fields["subscribers"]))
    for i, (columns, rows) in enumerate(blocks):
        if i:
            sys.stdout.write("\n")
        write_tsv(columns, ([("" if r[c] is None else r[c]) for c in columns] for r in rows))


def _print_tables(report: Status, day) -> None:
    from digest.editions.contents import describe_left_out

    if not report.editions:
        out.print("no editions sent yet" + (f" for {day_of(day)}" if day else ""))
    else:
        editions = table(
            "edition",
            "window (UTC)",
            *(c.replace("_", " ") for c in COUNT_COLUMNS),
            "left out",
        )
        for e in report.editions:
            edition = e.edition
            editions.add_row(
                Text(edition.label),
                f"{edition.window_start:%Y-%m-%d %H:%M} → {edition.cutoff:%Y-%m-%d %H:%M}",
                *(str(e.counts[k]) for k in COUNT_COLUMNS),
                str(e.left_out.count),
            )
        out.print(editions)
        # What SendGrid's Event Webhook reported (``digest serve``), and who left since.
        reported = table(
            "edition",
            *EVENT_COLUMNS,
            title="since sent (SendGrid's events; unsubscribed: by any way)",
        )
        for e in report.editions:
            events = (str(getattr(e.events, k)) for k in EVENT_COLUMNS)
            reported.add_row(Text(e.edition.label), *events)
        out.print(reported)
        for e in report.editions:  # an edition nobody got: say what its window left out
            if not e.counts["sent"] and e.left_out.count:
                out.print(describe_left_out(e.left_out, e.edition), markup=False)
    _print_schedulers(report)
    _print_signups(report)
    if report.frequencies:
        f = report.frequencies
        out.print(
            f"subscribers: {f['daily']:,} daily, {f['weekly']:,} weekly "
            f"({f['paused']:,} of them paused today)"
        )


def _print_signups(report: Status) -> None:
    """The sign-up page's last days: what it let in, and what each guard dropped."""
    if not report.signup_days:
        return
    title = f"sign-ups (UTC days; {report.pending_signups} pending now)"
    let_in = table("day", *(c.replace("_", " ") for c in SIGNUP_COLUMNS), title=title)
    headings = (HEADINGS.get(c, c.replace("_", " ")) for c in GUARD_COLUMNS)
    dropped = table("day", *headings, title="dropped by the guards")
    for day, counts in report.signup_days:
        let_in.add_row(day, *(str(counts[k]) for k in SIGNUP_COLUMNS))
        dropped.add_row(day, *(str(counts[k]) for k in GUARD_COLUMNS))
    out.print(let_in)
    out.print(dropped)


def _print_schedulers(report: Status) -> None:
    """The schedulers' heartbeats and the next editions of the first one alive."""
    from digest.service.sendtimes import describe_delay

    if not report.ever_scheduled:
        out.print(_NEVER_SCHEDULED)
        return
    beats = table("scheduler", "started (UTC)", "last beat", "state", title="schedulers")
    for beat, state in report.schedulers:
        beats.add_row(
            Text(f"{beat.host}:{beat.pid}"),
            _utc(beat.started),
            f"{describe_delay(report.now - beat.last)} ago",
            state,
        )
    out.print(beats)
    live = report.live
    if not live:
        return
    runs = table("zone", "next edition", "local time", "UTC", title="next editions")
    for run in live[0].next_runs:
        runs.add_row(run.key, run.date.isoformat(), f"{run.local:%H:%M %Z}", _utc(run.at))
    out.print(runs)


def _warn(report: Status) -> None:
    """What needs the operator, on stderr whatever the format."""
    from digest.service.heartbeat import STALE, gone
    from digest.service.sendtimes import describe_delay

    doubted = sum(e.counts["in_doubt"] for e in report.editions)
    if doubted:
        err.print(
            f"warning: {doubted} recipient(s) in doubt: handed to the provider, no answer "
            "recorded; check the provider's activity log, then `digest send --date D "
            "--resend-in-doubt` sends them again"
        )
    if not report.ever_scheduled or report.live:
        return
    last, _ = report.schedulers[0]
    ago = describe_delay(report.now - last.last)
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


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
