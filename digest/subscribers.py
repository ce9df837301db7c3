"""Reading subscribers from CSV: every bad row named by line, the good rows kept.

Header ``email,name,topics,timezone``; ``topics`` separated by ``;`` (empty
means everything); ``timezone`` an IANA name (empty means the configured
default). A BOM, ``\\r\\n`` line ends and quoted fields with commas are fine.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError, InputError
from digest.models import Subscriber
from digest.sources.base import decode

# Deliberately plain: one @, no spaces or control characters, a dotted domain.
EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class CSVResult:
    subscribers: list[Subscriber] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def read_csv(path: Path) -> CSVResult:
    """Parse the file; raises ``ConfigError`` only when nothing in it can be used."""
    try:
        text = decode(path.read_bytes())
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror or err}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "email" not in columns:
        raise ConfigError(
            f"{path}: no 'email' column in the header (expected email,name,topics,timezone)"
        )
    reader.fieldnames = columns
    result = CSVResult()
    seen: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            result.errors.append(InputError(f"{path}:{reader.line_num}", f"bad CSV: {err}"))
            continue
        line = reader.line_num
        try:
            subscriber = _subscriber(row)
        except ValueError as err:
            result.errors.append(InputError(f"{path}:{line}", str(err)))
            continue
        key = subscriber.email.lower()
        if key in seen:
            result.errors.append(
                InputError(
                    f"{path}:{line}",
                    f"duplicate email {subscriber.email} (first on line {seen[key]})",
                )
            )
            continue
        seen[key] = line
        result.subscribers.append(subscriber)
    return result


def _subscriber(row: dict) -> Subscriber:
    if None in row:
        raise ValueError("more fields than the header has")
    email = (row.get("email") or "").strip()
    if not email:
        raise ValueError("email is empty")
    if not EMAIL.match(email):
        raise ValueError(f"not a valid email address: {email!r}")
    try:
        Address(addr_spec=email)
    except (ValueError, IndexError):
        raise ValueError(f"not a valid email address: {email!r}") from None
    name = " ".join(CONTROL.sub(" ", row.get("name") or "").split())
    topics = [" ".join(t.split()) for t in (row.get("topics") or "").split(";") if t.strip()]
    timezone = (row.get("timezone") or "").strip() or None
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {timezone!r} (use an IANA name such as Europe/London)"
            ) from None
    return Subscriber(email=email, name=name, topics=topics, timezone=timezone)
