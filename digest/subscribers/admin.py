"""One person at a time, and everyone out: what ``digest subscribers add`` and
``export`` do, as library calls (``remove`` is ``Store.unsubscribe`` itself).

``add`` holds its values to the same rules as an imported line
(``subscriber_fields``), so a person added by hand and one imported are
indistinguishable. ``export`` writes the CSV that ``import`` reads: the same
columns, a subscriber a line, values quoted where a comma or quote needs it;
imported back, nothing changes.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from digest import validate
from digest.errors import ConfigError, InputError
from digest.models import Change, PendingSignup, Subscriber
from digest.store import signups
from digest.subscribers.fields import (
    CADENCE_COLUMNS,
    format_cadence,
    format_left,
    parse_frequency,
    parse_paused_until,
    parse_send_time,
    parse_timezone,
    parse_topics,
    shorten_name,
)

if TYPE_CHECKING:
    from digest.store.store import Store

# What export writes, in import's order; with those who left, their date last.
EXPORT_COLUMNS = ("email", "name", "first_name", "topics", "timezone", *CADENCE_COLUMNS)
LEFT_COLUMN = "unsubscribed_at"
# With --all: subscribed, unsubscribed, bounced, dropped, complaint, or pending (a
# sign-up never confirmed, which ``import`` leaves out).
STATUS_COLUMN = "status"


def add(
    store: Store,
    email: str,
    *,
    name: str | None = None,
    first_name: str | None = None,
    topics: str | None = None,
    timezone: str | None = None,
    frequency: str | None = None,
    send_time: str | None = None,
    paused_until: str | None = None,
    resubscribe: bool = False,
    unsuppress: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Change:
    """Add one subscriber, or update the one with this address.

    Values are raw text, checked as an import checks a line: a value that
    cannot be used is an ``InputError`` naming the field (``email``,
    ``topics``, ``timezone``, ``frequency``, ``send_time``, ``paused_until``).
    An option left None keeps the stored value (or is empty for someone new);
    ``topics=""`` means everything, ``timezone=""`` the configured default and
    ``first_name=""`` a greeting by the name; ``frequency``, ``send_time`` and
    ``paused_until`` given as ``""`` or ``default`` are the site's (daily, its
    send time, not paused). A name or first name over 200 characters is
    shortened with a warning, by the import's ``shorten_name``.
    Someone who unsubscribed is refused (``StillUnsubscribed``) unless
    ``resubscribe``, and an address that bounced or complained
    (``StillSuppressed``) unless ``unsuppress``.

    An address with a pending sign-up (``/subscribe``, never confirmed) is
    subscribed, the operator's word being the consent, with the choices it
    signed up with for every option left None; its pending sign-up goes.
    """
    subscriber = Subscriber(email=_check("email", validate.check_email, email))
    pending = signups.by_address(store.engine, subscriber.email)
    if pending is not None:
        name, first_name, topics, timezone = _chosen(pending, name, first_name, topics, timezone)
        if frequency is None:
            frequency = pending.frequency or ""
    given = {
        "name": name,
        "first_name": first_name,
        "topics": topics,
        "timezone": timezone,
        "frequency": frequency,
        "send_time": send_time,
        "paused_until": paused_until,
    }
    if name is not None:
        subscriber.name, warning = shorten_name(validate.clean_line(name))
        if warning and on_warning:
            on_warning(warning)
    if first_name is not None:
        subscriber.first_name, warning = shorten_name(validate.clean_line(first_name), "first name")
        if warning and on_warning:
            on_warning(warning)
    if topics is not None:
        subscriber.topics = list(_check("topics", parse_topics, topics))
    if timezone is not None:
        subscriber.timezone = _check("timezone", parse_timezone, timezone)
    if frequency is not None:
        subscriber.frequency = _check("frequency", parse_frequency, frequency)
    if send_time is not None:
        subscriber.send_time = _check("send_time", parse_send_time, send_time)
    if paused_until is not None:
        subscriber.paused_until = _check("paused_until", parse_paused_until, paused_until)
    fields: Collection[str] = [field for field, value in given.items() if value is not None]
    change = store.add_subscriber(
        subscriber, given=fields, resubscribe=resubscribe, unsuppress=unsuppress
    )
    if pending is not None:
        signups.drop(store.engine, subscriber.email)
    return change


def _chosen(
    pending: PendingSignup,
    name: str | None,
    first_name: str | None,
    topics: str | None,
    timezone: str | None,
) -> tuple[str, str, str, str]:
    """Each option as given, else as the pending sign-up chose it."""
    return (
        pending.name if name is None else name,
        pending.first_name if first_name is None else first_name,
        ";".join(pending.topics) if topics is None else topics,
        (pending.timezone or "") if timezone is None else timezone,
    )


def _check(field: str, check: Callable, raw: str):
    try:
        return check(validate.clean_line(raw) if field == "email" else raw)
    except ValueError as err:  # the field is named once: "send_time: not a time …"
        raise InputError(field, str(err).removeprefix(f"{field}: ")) from None


def export(
    store: Store,
    output: Path | None,
    *,
    everyone: bool = False,
    stream: TextIO | None = None,
) -> int:
    """Write every subscriber as a CSV that ``import`` reads back unchanged; returns how many.

    Active subscribers only, unless ``everyone``: then those who left too,
    with an ``unsubscribed_at`` column (UTC, ISO 8601), which ``import``
    honours by keeping them unsubscribed, and the pending sign-ups (never
    confirmed), with a ``status`` column saying which each row is; ``import``
    leaves ``pending`` rows out. To ``output`` whole or not at all
    (a temporary file beside it, renamed over it at the end), else to
    ``stream``. Rows are streamed from the store: memory does not grow with
    their number. ``ConfigError`` when the file cannot be written.
    """
    if output is None:
        if stream is None:
            raise ValueError("export needs an output file or a stream")
        return _write(store, stream, everyone)
    try:
        if _not_a_file(output):  # /dev/stdout, a FIFO: written straight, nothing renamed
            with output.open("w", encoding="utf-8", newline="") as handle:
                return _write(store, handle, everyone)
        # Beside the file a symlink points to: renaming over the link would replace it.
        target = Path(os.path.realpath(output))
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    except OSError as err:
        raise ConfigError(f"{output}: cannot write the export: {err.strerror or err}") from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            if mode is not None:  # a file kept private (0600) stays private
                os.fchmod(handle.fileno(), mode)
            count = _write(store, handle, everyone)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{output}: cannot write the export: {err.strerror or err}") from None
    except BaseException:  # a database error, Ctrl-C: the old file stays as it was
        tmp.unlink(missing_ok=True)
        raise
    return count


def _not_a_file(path: Path) -> bool:
    """A device, FIFO or socket, or a name under /dev or /proc (``/dev/stdout`` leads,
    through /proc, to whatever file the shell redirected to: never rename over that)."""
    if os.path.abspath(path).startswith(("/dev/", "/proc/")):
        return True
    return path.exists() and not path.is_file()


def _write(store: Store, handle: TextIO, everyone: bool) -> int:
    # "\n" line ends, quotes only where a value needs them: import's own format.
    writer = csv.writer(handle, lineterminator="\n")
    header = (*EXPORT_COLUMNS, LEFT_COLUMN, STATUS_COLUMN) if everyone else EXPORT_COLUMNS
    writer.writerow(header)
    count = 0
    for sub in store.list_subscribers(active_only=not everyone):
        row = [
            sub.email,
            sub.name,
            sub.first_name,
            ";".join(sub.topics),
            sub.timezone or "",
            *format_cadence(sub),
        ]
        if everyone:
            # When mail to them stopped, for whatever reason: imported back, a
            # suppressed address stays unmailed (as unsubscribed).
            row.append(format_left(sub.left_at))
            row.append(_status(sub))
        writer.writerow(row)
        count += 1
    if everyone:
        for pending in signups.listing(store.engine):
            zone = pending.timezone or ""
            topics = ";".join(pending.topics)
            often = pending.frequency or ""
            names = (pending.email, pending.name, pending.first_name)
            writer.writerow((*names, topics, zone, often, "", "", "", "pending"))
            count += 1
    return count


def _status(sub: Subscriber) -> str:
    if sub.suppressed_at is not None:
        return sub.suppressed or "suppressed"
    return "subscribed" if sub.unsubscribed_at is None else "unsubscribed"
