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
import tomllib
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest import validate, zones
from digest.config.signup import RANGES as SIGNUP_RANGES
from digest.config.signup import SignupSettings as SignupSettings
from digest.config.signup import resolve
from digest.config.sources import read_sources
from digest.config.values import (
    DEFAULT_GREETING,
    DEFAULT_SUBJECT,
    Range,
    check_greeting,
    check_public_url,
    check_sender,
    check_subject,
    key_name,
    one_of,
    read,
)
from digest.config.values import SECRET_VARIABLES as SECRET_VARIABLES
from digest.config.values import secret as secret
from digest.errors import ConfigError
from digest.models import Source

if TYPE_CHECKING:
    from sqlalchemy import URL


def _package_templates() -> Path:
    """The templates shipped with digest: inside the installed package (a wheel
    puts ``templates/`` there), else beside it in a source checkout."""
    shipped = Path(str(resources.files("digest").joinpath("templates")))
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "templates"


PACKAGE_TEMPLATES = _package_templates()
# Each a module digest.delivery.<name>; what a provider is (mails_people) its class says.
PROVIDERS = ("outbox", "smtp", "sendgrid")
_SECRET_KEYS = ("api_key", "password", "smtp_url", "secret", "database_url")


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
    timeout: float = 30.0  # one wait for the server
    max_retries: int = 3
    # One message from start to its reply, however the server trickles (issue 22).
    message_deadline_seconds: float = 60.0


@dataclass
class DatabaseSettings:
    # The database when DIGEST_DATABASE_URL is not set: so a shell without the
    # service's environment opens the same one, not a new empty SQLite file. Never
    # with a password in it: that comes from DIGEST_DATABASE_PASSWORD.
    url: str = ""
    # How long `digest schedule` and `digest serve` wait for a database that does
    # not answer yet (a server still starting after a reboot) before giving up.
    startup_wait_seconds: float = 300.0


@dataclass
class Settings:
    title: str = "Daily Digest"  # the masthead
    from_address: str = "Daily Digest <digest@example.com>"
    public_url: str = "http://localhost:8000"
    timezone: str = "UTC"  # default for subscribers with none
    send_time: time = time(7, 0)
    window_hours: int = 36
    max_per_section: int = 8
    # Weekly subscribers' edition: on this day, at their send time, a week of news
    # with this larger cap per section (the window is 7 days, not a setting).
    weekly_day: str = "monday"
    weekly_max_per_section: int = 15
    subject: str = DEFAULT_SUBJECT  # fields: {lead} {more} {date} {keywords} {count}
    greeting: str = DEFAULT_GREETING  # fields: {first_name} {name}
    postal_address: str = ""  # the sender's, in every footer: bulk-mail law wants it
    provider: str = "outbox"
    outbox_dir: Path = Path("outbox")
    templates_dir: Path = PACKAGE_TEMPLATES
    sources: list[Source] = field(default_factory=list)  # see digest.config.sources
    feed_timeout: float = 30.0  # seconds for a whole feed download: connect, redirects, body
    feed_concurrency: int = 8  # feeds downloaded at once
    user_agent: str = ""  # "" = digest/<version> (+<project URL>)
    topics: list[str] = field(default_factory=list)  # extra vocabulary for auto-tagging
    aliases: dict[str, list[str]] = field(default_factory=dict)  # canonical -> aliases
    ignore: list[str] = field(default_factory=list)  # keywords that never make a section
    lease_seconds: int = 600
    ingest_every: int = 30  # minutes between ingests of the sources by `digest schedule`
    catch_up_hours: int = 6  # a missed edition is still sent this many hours late, not later
    max_consecutive_failures: int = 20  # a send stops after this many in a row fail
    database_url: str = "sqlite:///digest.db"
    config_path: Path | None = None
    sendgrid: SendGridSettings = field(default_factory=SendGridSettings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    signup: SignupSettings = field(default_factory=SignupSettings)

    @property
    def zone(self) -> ZoneInfo:
        return zones.zone_of(self.timezone)

    @property
    def weekly_weekday(self) -> int:
        """``weekly_day`` as ``date.weekday()`` numbers it (Monday 0)."""
        return WEEKDAYS.index(self.weekly_day)

    @property
    def reply_address(self) -> str:
        """The address in ``from_address``: whom a reader can write to."""
        return validate.parse_mailbox(self.from_address)[1]


# Every number setting, by its name in the file. The upper ends are generous
# but finite, so no value can overflow a timedelta, a sleep or a socket.
RANGES: dict[str, Range] = {
    "window_hours": Range(1, 24 * 31),
    "max_per_section": Range(1, 1000),
    "weekly_max_per_section": Range(1, 1000),
    # A lease shorter than one batch takes to send lets a second sender claim
    # the batch while the first is still mailing it: people get two copies.
    "lease_seconds": Range(30, 24 * 3600),
    "feed_timeout": Range(0, 600, above=True),
    "feed_concurrency": Range(1, 64),
    "ingest_every": Range(1, 24 * 60),
    # Up to 23: a catch-up of a day or more would send yesterday's edition next to today's.
    "catch_up_hours": Range(0, 23),
    # At least 1 (0 would stop before the first message); high enough to be "off".
    "max_consecutive_failures": Range(1, 1_000_000),
    "sendgrid.timeout": Range(0, 600, above=True),
    "sendgrid.max_retries": Range(0, 100),
    "sendgrid.max_wait": Range(0, 3600),
    "sendgrid.asm_group_id": Range(1, 2**31 - 1),
    "smtp.connections": Range(1, 64),
    "smtp.rate": Range(0.01, 100_000, zero=True),
    "smtp.timeout": Range(0, 600, above=True),
    "smtp.max_retries": Range(0, 100),
    "smtp.message_deadline_seconds": Range(0, 3600, above=True),
    "database.startup_wait_seconds": Range(0, 24 * 3600),
    **SIGNUP_RANGES,
}
SENDGRID_MAX_CATEGORIES = 9  # SendGrid takes 10; the edition date is added
SENDGRID_MAX_CATEGORY = 255


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
    path = find_config(explicit or secret("DIGEST_CONFIG"))
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
    url = secret("DIGEST_DATABASE_URL") or settings.database.url
    if url:
        settings.database_url = with_password(url, secret("DIGEST_DATABASE_PASSWORD"))
    else:
        settings.database_url = f"sqlite:///{base / 'digest.db'}"
    return settings


def database_named(settings: Settings) -> bool:
    """Whether the operator named the database (the environment or the file), rather
    than digest falling back to ``digest.db`` beside the config file."""
    return bool(secret("DIGEST_DATABASE_URL") or settings.database.url)


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``DIGEST_DATABASE_PASSWORD`` in it, unless it carries one already
    (a password in ``DIGEST_DATABASE_URL`` is the operator's explicit choice)."""
    if not password:
        return url
    import sqlalchemy as sa  # here: the render-ahead child has settings, not a database

    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return url  # the store says what is wrong with it, without showing it
    if parsed.password or _query_password(parsed) or parsed.get_backend_name() == "sqlite":
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def _query_password(url: URL) -> bool:
    return any("pass" in key.lower() for key in url.query)


def _database_url(value: str, base: Path) -> str:
    """The ``[database] url`` setting checked: a URL, no password in it, and an SQLite
    file named relative to the config file's folder, like every path in it."""
    if not value:
        return value
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(value)
    except (sa.exc.ArgumentError, ValueError):
        raise ValueError(f"not a database URL; expected {URL_EXAMPLES}") from None
    if parsed.password or _query_password(parsed):
        raise ValueError(
            "has a password in it; the file is no place for one: leave it out of the URL "
            "and set DIGEST_DATABASE_PASSWORD in the environment"
        )
    name = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and name not in ("", ":memory:")
        and not name.startswith("file:")
        and not Path(name).is_absolute()
    ):
        return parsed.set(database=str(base / name)).render_as_string()
    return value


_SECTIONS = {
    "sendgrid": SendGridSettings,
    "smtp": SMTPSettings,
    "database": DatabaseSettings,
    "signup": SignupSettings,
}
URL_EXAMPLES = "sqlite:///path/to/digest.db or postgresql://user@host/dbname"
_NOT_IN_FILE = ("sendgrid", "smtp", "config_path", "database_url")


def _from_mapping(data: dict, where: str, base: Path) -> Settings:
    data = dict(data)
    keywords = data.pop("keywords", {})
    if not isinstance(keywords, dict):
        raise ConfigError(f"{where}: keywords: must be a table ([keywords])")
    extra = set(keywords) - {"aliases", "topics", "ignore"}
    if extra:
        raise ConfigError(f"{where}: unknown setting keywords.{key_name(sorted(extra)[0])}")
    for secret_name in _SECRET_KEYS:
        if secret_name in data or any(
            isinstance(v, dict) and secret_name in v for v in data.values()
        ):
            raise ConfigError(
                f"{where}: '{secret_name}' does not belong in the config file; secrets come "
                "from the environment (the database's: [database] url without a password, "
                "and DIGEST_DATABASE_PASSWORD; see docs/configuration.md)"
            )
    sections = {
        name: _build(cls, data.pop(name, {}), where, name) for name, cls in _SECTIONS.items()
    }
    try:
        sources = read_sources(data.pop("sources", []), base)
    except ValueError as err:
        raise ConfigError(f"{where}: sources: {err}") from None
    data.update({f"keywords.{k}": v for k, v in keywords.items()})
    settings = _build(Settings, data, where, "")
    settings.sendgrid = sections["sendgrid"]
    settings.smtp = sections["smtp"]
    settings.database = sections["database"]
    settings.signup = sections["signup"]
    try:
        settings.database.url = _database_url(settings.database.url.strip(), base)
    except ValueError as err:
        raise ConfigError(f"{where}: database.url: {err}") from None
    for attr in ("outbox_dir", "templates_dir"):
        value = getattr(settings, attr)
        if not value.is_absolute():
            setattr(settings, attr, base / value)
    settings.sources = sources
    _validate(settings, where)
    return settings


def _build(cls, values: dict, where: str, section: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {section}: must be a table ([{section}])")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = key.removeprefix("keywords.").replace("-", "_")
        shown = f"{section}.{key_name(key)}" if section else key_name(key)
        if name not in fields or name in _NOT_IN_FILE:
            raise ConfigError(f"{where}: unknown setting {shown}")
        if name in kwargs:
            raise ConfigError(f"{where}: {shown}: set twice (with '-' and with '_')")
        try:
            limits = RANGES.get(f"{section}.{name}".lstrip("."))
            kwargs[name] = read(fields[name].type, value, limits)
        except ValueError as err:
            raise ConfigError(f"{where}: {shown}: {err}") from None
    return cls(**kwargs)


def _validate(s: Settings, where: str) -> None:
    """The rules that look at a value's meaning, not just its type."""
    rules = {
        "timezone": lambda: zones.check_timezone(s.timezone),
        "provider": lambda: one_of(s.provider, PROVIDERS),
        "weekly_day": lambda: setattr(s, "weekly_day", _weekday(s.weekly_day)),
        "subject": lambda: check_subject(s.subject),
        "greeting": lambda: check_greeting(s.greeting),
        "from_address": lambda: check_sender(s.from_address),
        "public_url": lambda: setattr(s, "public_url", check_public_url(s.public_url)),
        "templates_dir": lambda: _check_folder(s.templates_dir),
        "user_agent": lambda: _check_user_agent(s.user_agent),
        "sendgrid.data_residency": lambda: one_of(s.sendgrid.data_residency, ("global", "eu")),
        "sendgrid.categories": lambda: _check_categories(s.sendgrid.categories),
        "signup.enabled": lambda: resolve(s.signup, s.postal_address, s.public_url),
    }
    for setting, rule in rules.items():
        try:
            rule()
        except ValueError as err:
            raise ConfigError(f"{where}: {setting}: {err}") from None
    s.timezone = s.timezone.strip()


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKLY_WINDOW_DAYS = 7  # a weekly edition's window: fixed, not a setting


def _weekday(value: str) -> str:
    """A day's name in any case, as stored: lower case."""
    name = value.strip().lower()
    one_of(name, WEEKDAYS)
    return name


def _check_user_agent(value: str) -> None:
    # An HTTP header: ASCII, and within what a server's header limit takes.
    if not value.isascii() or len(value) > 300:
        raise ValueError("must be ASCII text of at most 300 characters")


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
