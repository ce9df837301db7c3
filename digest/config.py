"""One typed settings object, read from ``digest.toml`` and validated at start-up.

Where the file is: ``--config PATH``, else ``DIGEST_CONFIG``, else
``digest.toml`` in the working directory, else no file at all (every setting
has a default, so the demo runs without one). Relative paths in the file are
relative to the file's folder. Secrets are never read from the file: they come
from the environment only (see ``secret()``).

Every value is checked here, once, before any work starts: a lease of 0 (two
senders mail the same people), a NaN timeout or a subject that reads an
attribute would otherwise surface half-way through a send. Errors name the
file and the setting, on one line, and never echo more than a short, escaped
excerpt of the value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import string
import tomllib
from dataclasses import dataclass, field
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from digest import validate
from digest.errors import ConfigError

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Secrets: environment only, never the file or the command line.
SECRET_VARIABLES = ("SENDGRID_API_KEY", "DIGEST_SMTP_URL", "DIGEST_SECRET")
_SECRET_KEYS = ("api_key", "password", "smtp_url", "secret", "database_url")

PROVIDERS = ("outbox", "smtp", "sendgrid")
SUBJECT_FIELDS = ("date", "keywords", "count")
MAX_SETTING = 1000  # characters in one text setting
MAX_LIST = 1000  # entries in one list setting


@dataclass
class SendGridSettings:
    timeout: float = 30.0
    data_residency: str = "global"  # "global" or "eu"
    asm_group_id: int | None = None
    sandbox_mode: bool = False
    categories: list[str] = field(default_factory=lambda: ["digest"])
    max_retries: int = 5
    max_wait: float = 60.0  # longest single wait for a 429 reset or a back-off


@dataclass
class SMTPSettings:
    require_starttls: bool = False
    connections: int = 4
    rate: float = 0.0  # messages per second over all connections; 0 = unlimited
    timeout: float = 30.0
    max_retries: int = 3


@dataclass
class Settings:
    title: str = "Daily Digest"  # the masthead
    from_address: str = "Daily Digest <digest@example.com>"
    public_url: str = "http://localhost:8000"
    timezone: str = "UTC"  # default for subscribers with none
    send_time: time = time(7, 0)
    window_hours: int = 36
    max_per_section: int = 8
    subject: str = "Your digest for {date}: {keywords}"
    provider: str = "outbox"
    outbox_dir: Path = Path("outbox")
    templates_dir: Path = PACKAGE_TEMPLATES
    sources: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # extra vocabulary for auto-tagging
    aliases: dict[str, list[str]] = field(default_factory=dict)  # canonical -> aliases
    lease_seconds: int = 600
    database_url: str = "sqlite:///digest.db"
    config_path: Path | None = None
    sendgrid: SendGridSettings = field(default_factory=SendGridSettings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


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
            text = f"more than {_number(self.low)} and at most {_number(self.high)}"
        else:
            text = f"from {_number(self.low)} to {_number(self.high)}"
        return f"0 (off) or {text}" if self.zero else text


# Every number setting, by its name in the file. The upper ends are generous
# but finite, so no value can overflow a timedelta, a sleep or a socket.
RANGES: dict[str, Range] = {
    "window_hours": Range(1, 24 * 31),
    "max_per_section": Range(1, 1000),
    # A lease shorter than one batch takes to send lets a second sender claim
    # the batch while the first is still mailing it: people get two copies.
    "lease_seconds": Range(30, 24 * 3600),
    "sendgrid.timeout": Range(0, 600, above=True),
    "sendgrid.max_retries": Range(0, 100),
    "sendgrid.max_wait": Range(0, 3600),
    "sendgrid.asm_group_id": Range(1, 2**31 - 1),
    "smtp.connections": Range(1, 64),
    "smtp.rate": Range(0.01, 100_000, zero=True),
    "smtp.timeout": Range(0, 600, above=True),
    "smtp.max_retries": Range(0, 100),
}
SENDGRID_MAX_CATEGORIES = 9  # SendGrid takes 10; the edition date is added
SENDGRID_MAX_CATEGORY = 255


def secret(name: str) -> str | None:
    """Read a secret from the environment; empty counts as unset."""
    return os.environ.get(name) or None


def find_config(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a folder, not a file")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    default = Path("digest.toml")
    return default if default.is_file() else None


def load_settings(explicit: str | None = None) -> Settings:
    """Build the settings from the config file (if any) and the environment."""
    path = find_config(explicit or os.environ.get("DIGEST_CONFIG"))
    data: dict = {}
    if path is not None:
        try:
            # utf-8-sig: Windows editors start the file with a byte order mark.
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{path}: not UTF-8 text ({err.reason} at byte {err.start})"
            ) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
        except RecursionError:  # tomllib recurses once per level of [[[…]]]
            raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the config file: {err.strerror}") from None
    base = path.resolve().parent if path else Path.cwd()
    settings = _from_mapping(data, str(path or "defaults"), base)
    settings.config_path = path
    url = os.environ.get("DIGEST_DATABASE_URL")
    if url:
        settings.database_url = url
    else:
        settings.database_url = f"sqlite:///{base / 'digest.db'}"
    return settings


_SECTIONS = {"sendgrid": SendGridSettings, "smtp": SMTPSettings}
_NOT_IN_FILE = ("sendgrid", "smtp", "config_path", "database_url")


def _from_mapping(data: dict, where: str, base: Path) -> Settings:
    data = dict(data)
    keywords = data.pop("keywords", {})
    if not isinstance(keywords, dict):
        raise ConfigError(f"{where}: keywords: must be a table ([keywords])")
    extra = set(keywords) - {"aliases", "topics"}
    if extra:
        raise ConfigError(f"{where}: unknown setting keywords.{_key(sorted(extra)[0])}")
    for secret_name in _SECRET_KEYS:
        if secret_name in data or any(
            isinstance(v, dict) and secret_name in v for v in data.values()
        ):
            raise ConfigError(
                f"{where}: '{secret_name}' does not belong in the config file; "
                "secrets and the database URL come from the environment (see README)"
            )
    sections = {
        name: _build(cls, data.pop(name, {}), where, name) for name, cls in _SECTIONS.items()
    }
    data.update({f"keywords.{k}": v for k, v in keywords.items()})
    settings = _build(Settings, data, where, "")
    settings.sendgrid = sections["sendgrid"]
    settings.smtp = sections["smtp"]
    for attr in ("outbox_dir", "templates_dir"):
        value = getattr(settings, attr)
        if not value.is_absolute():
            setattr(settings, attr, base / value)
    settings.sources = [
        s if re.match(r"^https?://", s) or Path(s).is_absolute() else str(base / s)
        for s in settings.sources
    ]
    _validate(settings, where)
    return settings


def _build(cls, values: dict, where: str, section: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {section}: must be a table ([{section}])")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = key.removeprefix("keywords.").replace("-", "_")
        shown = f"{section}.{_key(key)}" if section else _key(key)
        if name not in fields or name in _NOT_IN_FILE:
            raise ConfigError(f"{where}: unknown setting {shown}")
        if name in kwargs:
            raise ConfigError(f"{where}: {shown}: set twice (with '-' and with '_')")
        try:
            kwargs[name] = _read(fields[name].type, value, f"{section}.{name}".lstrip("."))
        except ValueError as err:
            raise ConfigError(f"{where}: {shown}: {err}") from None
    return cls(**kwargs)


def _read(kind: str, value, name: str):
    """``value`` from the file as a setting of type ``kind``, or ValueError saying why not."""
    if kind in ("int", "int | None", "float"):
        return _read_number(value, name, whole=kind != "float")
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_show(value)}")
        return value
    if kind == "str":
        return _read_line(value)
    if kind == "Path":
        return Path(_read_line(value, empty=False))
    if kind == "time":
        return _read_time(value)
    if kind == "list[str]":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise ValueError(f"expected a list of strings, got {_show(value)}")
        return [_read_line(v, empty=False) for v in value]
    if kind == "dict[str, list[str]]":
        if not isinstance(value, dict):
            raise ValueError(f"expected a table of canonical = [aliases], got {_show(value)}")
        table = {}
        for canonical, aliases in value.items():
            if isinstance(aliases, str):
                aliases = [aliases]
            if not isinstance(aliases, list):
                raise ValueError(
                    f"{_key(canonical)}: expected a list of aliases, got {_show(aliases)}"
                )
            try:
                table[_read_line(canonical, empty=False)] = [
                    _read_line(a, empty=False) for a in aliases
                ]
            except ValueError as err:
                raise ValueError(f"{_key(canonical)}: {err}") from None
        return table
    raise AssertionError(f"no reader for settings of type {kind}")


def _read_number(value, name: str, whole: bool) -> float:
    wanted = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected {wanted}, got {_show(value)}")
    if whole and isinstance(value, float):
        raise ValueError(f"expected {wanted}, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    limits = RANGES.get(name)
    if limits is not None and not limits.allows(value):
        raise ValueError(f"must be {limits}, got {_show(value)}")
    return value if whole else float(value)


def _read_line(value, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_show(value)}")
    if not empty and not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_SETTING:
        raise ValueError(f"longer than {MAX_SETTING} characters")
    if validate.has_control(value):
        raise ValueError(f"contains a control character or line break: {_show(value)}")
    return value


def _read_time(value) -> time:
    if isinstance(value, time):  # a TOML local time: send_time = 07:00:00
        return value
    found = None
    if isinstance(value, str):
        found = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", value.strip())
    if not found or int(found[1]) > 23 or int(found[2]) > 59:
        raise ValueError(f"expected HH:MM (24-hour clock), got {_show(value)}")
    return time(int(found[1]), int(found[2]))


def _validate(s: Settings, where: str) -> None:
    """The rules that look at a value's meaning, not just its type."""
    rules = {
        "timezone": lambda: validate.check_timezone(s.timezone),
        "provider": lambda: _one_of(s.provider, PROVIDERS),
        "subject": lambda: check_subject(s.subject),
        "from_address": lambda: _check_sender(s.from_address),
        "public_url": lambda: _check_public_url(s.public_url),
        "templates_dir": lambda: _check_folder(s.templates_dir),
        "sendgrid.data_residency": lambda: _one_of(s.sendgrid.data_residency, ("global", "eu")),
        "sendgrid.categories": lambda: _check_categories(s.sendgrid.categories),
    }
    for setting, rule in rules.items():
        try:
            rule()
        except ValueError as err:
            raise ConfigError(f"{where}: {setting}: {err}") from None
    s.timezone = s.timezone.strip()


def check_subject(template: str) -> None:
    """ValueError unless ``template`` uses only ``{date}``, ``{keywords}``, ``{count}``.

    ``str.format`` would otherwise read attributes and items of what it is
    given (``{date.__class__}``) and fail, or worse, at send time.
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as err:  # a lone "{" or "}"
        raise ValueError(f"{err} (write {{{{ or }}}} for a brace)") from None
    for _text, name, spec, _conversion in parts:
        if name is None:
            continue
        if name not in SUBJECT_FIELDS:
            shown = "{" + validate.shorten(validate.clean_line(name), 60) + "}"
            raise ValueError(f"unknown field {shown}; use {{date}}, {{keywords}} or {{count}}")
        if "{" in spec or "}" in spec:
            raise ValueError(f"the format of {{{name}}} cannot hold another field")
        if any(len(width) > 3 for width in re.findall(r"[0-9]+", spec)):
            raise ValueError(f"the format of {{{name}}} is too wide")
    for count in (0, 1, 12, 10**6):
        try:
            text = template.format(date="24 November 2026", keywords="Climate, Energy", count=count)
        except (ValueError, TypeError) as err:
            raise ValueError(f"bad field format: {err}") from None
        if validate.has_control(text):
            raise ValueError("a field format makes a control character")


def _one_of(value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"must be {', '.join(choices)}; not {_show(value)}")


def _check_sender(value: str) -> None:
    _name, address = parseaddr(value)
    try:
        validate.check_email(address)
    except ValueError as err:
        raise ValueError(f"expected 'Name <user@example.org>': {err}") from None


def _check_public_url(value: str) -> None:
    link = validate.safe_link(value)
    if not link or not re.match(r"^https?://[^/?#]", link):
        raise ValueError(f"must be an http(s) URL, not {_show(value)}")
    if "?" in link or "#" in link:  # links are made by appending /unsubscribe/<token>
        raise ValueError(f"must have no ?query or #fragment, not {_show(value)}")


def _check_folder(path: Path) -> None:
    # Only a folder the operator chose: the shipped templates are checked by
    # the renderer, so a broken install does not stop `digest ingest` too.
    if path != PACKAGE_TEMPLATES and not path.is_dir():
        raise ValueError(f"no such folder {path}")


def _check_categories(categories: list[str]) -> None:
    if len(categories) > SENDGRID_MAX_CATEGORIES:
        raise ValueError(f"at most {SENDGRID_MAX_CATEGORIES} (SendGrid adds the date as a tenth)")
    if any(len(c) > SENDGRID_MAX_CATEGORY for c in categories):
        raise ValueError(f"each at most {SENDGRID_MAX_CATEGORY} characters")


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _show(value) -> str:
    """A short, escaped excerpt of a value for an error message.

    An operator who pastes a secret into the wrong setting must not see it
    echoed back (into a terminal log, a CI job): the environment's secrets,
    and the passwords inside its URLs, are masked wherever they appear.
    """
    text = repr(value)
    for hidden in _secrets():
        text = text.replace(hidden, "***")
    return validate.shorten(text, 60)


def _secrets() -> list[str]:
    """The environment's secrets, and the passwords in its URLs."""
    found = []
    for name in (*SECRET_VARIABLES, "DIGEST_DATABASE_URL"):
        value = secret(name)
        if not value:
            continue
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        found += [v for v in (value, password) if v and len(v) >= 4]
    return found


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", key) else _show(key)
