"""One value from ``digest.toml``: its type, its range, its text, and how errors show it.

Each reader returns the value as its setting's type or raises ValueError
saying why not; ``digest.config.settings`` adds the file and the setting's name. An
error shows at most a short, escaped excerpt of the value, with any secret
from the environment masked.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import string
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest import hosts, validate
from digest.errors import ConfigError

# Secrets: environment only, never the file or the command line.
SECRET_VARIABLES = (
    "SENDGRID_API_KEY",
    "DIGEST_SMTP_URL",
    "DIGEST_SECRET",
    "DIGEST_DATABASE_PASSWORD",
)
SUBJECT_FIELDS = ("date", "keywords", "count", "lead", "more")
DEFAULT_SUBJECT = "{lead} + {more} more"
GREETING_FIELDS = ("first_name", "name")
DEFAULT_GREETING = "Hello {first_name},"
MAX_SETTING = 1000  # characters in one text setting
MAX_LIST = 1000  # entries in one list setting
MAX_PUBLIC_URL = 300


def secret(name: str) -> str | None:
    """Read a setting from the environment (secrets come only from there); empty
    counts as unset, and a value that is not valid UTF-8 is refused, unshown."""
    value = os.environ.get(name) or None
    if value is not None and any("\udc80" <= c <= "\udcff" for c in value):
        raise ConfigError(f"{name} has bytes that are not UTF-8 text (not shown): set it again")
    return value


@dataclass(frozen=True)
class Range:
    """Where a number setting may lie.

    ``above`` leaves out the low end itself (a timeout of 0 would be no
    timeout at all); ``zero`` also allows 0 below ``low``, meaning "off"
    (an SMTP rate of 0 is unlimited, but 1e-300 a second would never send).
    """

    low: float
    high: float
    above: bool = False
    zero: bool = False

    def allows(self, value: float) -> bool:
        if self.zero and value == 0:
            return True
        return (self.low < value if self.above else self.low <= value) and value <= self.high

    def __str__(self) -> str:
        if self.above:
            text = f"more than {number(self.low)} and at most {number(self.high)}"
        else:
            text = f"from {number(self.low)} to {number(self.high)}"
        return f"0 (off) or {text}" if self.zero else text


def read(kind: str, value, limits: Range | None = None):
    """``value`` from the file as a setting of type ``kind``, or ValueError saying why not."""
    if kind in ("int", "int | None", "float"):
        return _read_number(value, limits, whole=kind != "float")
    if kind in ("bool", "bool | None"):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {show(value)}")
        return value
    if kind == "str":
        return _read_line(value)
    if kind == "Path":
        return Path(_read_line(value, empty=False))
    if kind == "time":
        return _read_time(value)
    if kind == "list[str]":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise ValueError(f"expected a list of strings, got {show(value)}")
        return [_read_line(v, empty=False) for v in value]
    if kind == "dict[str, list[str]]":
        if not isinstance(value, dict):
            raise ValueError(f"expected a table of canonical = [aliases], got {show(value)}")
        table = {}
        for canonical, aliases in value.items():
            if isinstance(aliases, str):
                aliases = [aliases]
            if not isinstance(aliases, list):
                raise ValueError(
                    f"{key_name(canonical)}: expected a list of aliases, got {show(aliases)}"
                )
            try:
                table[_read_line(canonical, empty=False)] = [
                    _read_line(a, empty=False) for a in aliases
                ]
            except ValueError as err:
                raise ValueError(f"{key_name(canonical)}: {err}") from None
        return table
    raise AssertionError(f"no reader for settings of type {kind}")


def _read_number(value, limits: Range | None, whole: bool) -> float:
    wanted = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected {wanted}, got {show(value)}")
    if whole and isinstance(value, float):
        raise ValueError(f"expected {wanted}, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    if limits is not None and not limits.allows(value):
        raise ValueError(f"must be {limits}, got {show(value)}")
    return value if whole else float(value)


def _read_line(value, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {show(value)}")
    if not empty and not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_SETTING:
        raise ValueError(f"longer than {MAX_SETTING} characters")
    if validate.has_control(value):
        raise ValueError(f"contains a control character or line break: {show(value)}")
    return value


def _read_time(value) -> time:
    if isinstance(value, time):  # a TOML local time: send_time = 07:00:00
        return value
    found = None
    if isinstance(value, str):
        found = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", value.strip())
    if not found or int(found[1]) > 23 or int(found[2]) > 59:
        raise ValueError(f"expected HH:MM (24-hour clock), got {show(value)}")
    return time(int(found[1]), int(found[2]))


def _fields(template: str, allowed: tuple[str, ...]) -> list[tuple[str, str, str | None]]:
    """(field, format spec, conversion) of each field; ValueError for a field not allowed.

    ``str.format`` would otherwise read attributes and items of what it is
    given (``{date.__class__}``) and fail, or worse, at send time.
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as err:  # a lone "{" or "}"
        raise ValueError(f"{err} (write {{{{ or }}}} for a brace)") from None
    found = []
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in allowed:
            shown = "{" + validate.shorten(validate.clean_line(name), 60) + "}"
            names = ", ".join("{" + f + "}" for f in allowed[:-1]) + " or {" + allowed[-1] + "}"
            raise ValueError(f"unknown field {shown}; use {names}")
        found.append((name, spec, conversion))
    return found


def check_subject(template: str) -> None:
    """ValueError unless ``template`` uses only the subject's fields, each formatted sanely."""
    for name, spec, _conversion in _fields(template, SUBJECT_FIELDS):
        if "{" in spec or "}" in spec:
            raise ValueError(f"the format of {{{name}}} cannot hold another field")
        if any(len(width) > 3 for width in re.findall(r"[0-9]+", spec)):
            raise ValueError(f"the format of {{{name}}} is too wide")
    for count in (0, 1, 12, 10**6):
        try:
            text = template.format(
                date="24 November 2026",
                keywords="Climate, Energy",
                count=count,
                lead="Glaciers lose record ice",
                more=count,
            )
        except (ValueError, TypeError) as err:
            raise ValueError(f"bad field format: {err}") from None
        if validate.has_control(text):
            raise ValueError("a field format makes a control character")


def check_greeting(template: str) -> None:
    """ValueError unless ``template`` uses only ``{first_name}`` and ``{name}``, unformatted."""
    for name, spec, conversion in _fields(template, GREETING_FIELDS):
        if spec or conversion:
            raise ValueError(f"no format or conversion in a greeting: just {{{name}}}")


def one_of(value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"must be {', '.join(choices)}; not {show(value)}")


def check_sender(value: str) -> None:
    validate.parse_mailbox(value)  # its ValueError says what is wrong


# A URL's authority as digest takes it for public_url: a host (a name, or an IP
# address, IPv6 in brackets) and perhaps a port; no user or password.
_AUTHORITY = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\[\]:@]+)(?::(?P<port>[0-9]{1,5}))?")
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?", re.A)


def check_public_url(value: str) -> str:
    """``public_url`` as every email's links will carry it (scheme and host in
    lower case), or ValueError saying why not.

    A user name or password in it would go to every subscriber in every link,
    so it is refused without showing it.
    """
    scheme, sep, rest = value.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ValueError(f"must be an http(s) URL, not {show(value)}")
    cut = min((rest.find(c) for c in "/?#\\" if c in rest), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if "@" in authority:
        raise ValueError(
            "must not hold a user name or password: every subscriber would get it in "
            "every link (write it as https://host/path)"
        )
    if "?" in path or "#" in path:  # links are made by appending /unsubscribe/<token>
        raise ValueError(f"must have no ?query or #fragment, not {show(value)}")
    if "\\" in path or validate.safe_link(value.strip()) is None:
        raise ValueError(f"must be an http(s) URL, not {show(value)}")
    parts = _AUTHORITY.fullmatch(authority)
    if not parts:
        raise ValueError(f"expected https://host or https://host:port, not {show(value)}")
    host, port = parts["host"].lower(), parts["port"]
    if port is not None and not 0 < int(port) <= 65535:
        raise ValueError(f"port must be from 1 to 65535, not {port}")
    _check_url_host(host, value)
    link = f"{scheme.lower()}://{host}{':' + port if port else ''}{path}"
    # Every List-Unsubscribe header carries it on one line of at most 998 octets,
    # with a token of up to 370 characters after it.
    if sum(1 if b < 0x80 else 3 for b in link.encode("utf-8")) > MAX_PUBLIC_URL:
        raise ValueError(
            f"is too long: at most {MAX_PUBLIC_URL} characters (counting %-escapes), "
            "so that a List-Unsubscribe header fits one line"
        )
    return link


def _check_url_host(host: str, value: str) -> None:
    """ValueError unless ``host`` is an IP address or a name a browser reads as itself."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"not an IPv6 address in {show(value)}") from None
        return
    try:
        hosts.check_host(host)
        ascii_host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise ValueError(f"not a host name in {show(value)}") from None
    if not _HOST_NAME.fullmatch(ascii_host):
        raise ValueError(f"not a host name in {show(value)}")


def number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def show(value) -> str:
    """A short, escaped excerpt of a value for an error message (secrets masked)."""
    return validate.shorten(mask_secrets(repr(value)), 60)


def mask_secrets(text: str) -> str:
    """``text`` with anything of the environment's secrets in it replaced by ``***``,
    and so is the password of any ``scheme://user:password@`` in it.

    An operator who pastes a secret into the wrong setting (or a file name, or a
    topic) must not see it echoed into a terminal log or a CI job. Every message
    the CLI prints passes through here, so the rule does not depend on each
    message remembering it. Any 6 characters in a row of a secret (or of a URL's
    password, or of their escaped spellings) are masked: a value cut short in a
    message is still hidden.
    """
    text = validate.hide_passwords(text)
    for hidden, pieces in _secrets():
        text = text.replace(hidden, "***")
        for start in range(len(hidden) - 5 if pieces else 0):  # what is left, cut short
            piece = hidden[start : start + 6]
            if piece in text:
                text = text.replace(piece, "***")
    return text


def _secrets() -> list[tuple[str, bool]]:
    """(secret, whether any 6 characters of it are masked too), longest first.

    The keys and the passwords inside URLs, with their escaped spellings; a
    whole secret URL is masked as itself, not by its pieces (its host is not
    secret, and "127.0.0.1" must stay readable in an error).
    """
    found: set[tuple[str, bool]] = set()
    for name in (*SECRET_VARIABLES, "DIGEST_DATABASE_URL"):
        value = os.environ.get(name)  # as it is: masking must not fail on a bad value
        if not value:
            continue
        try:
            parts = urlsplit(value)
            passwords = [parts.password, *_query_passwords(parts.query)] if parts.netloc else []
        except ValueError:
            passwords = []
        if passwords or name == "DIGEST_DATABASE_URL":
            found.add((value, False))
        else:
            passwords = [value]
        for password in passwords:
            if password and len(password) >= 4:
                escaped = password.encode("unicode_escape").decode()
                found |= {(password, True), (repr(password)[1:-1], True), (escaped, True)}
    return sorted(found, key=lambda s: len(s[0]), reverse=True)


def _query_passwords(query: str) -> list[str]:
    """``password=…`` (and the like) in a URL's query: PostgreSQL takes them there too."""
    found = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if "pass" in key.lower() and value:
            found.append(unquote(value))
    return found


def key_name(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", key) else show(key)
