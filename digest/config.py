"""One typed settings object, read from ``digest.toml`` and validated at start-up.

Where the file is: ``--config PATH``, else ``DIGEST_CONFIG``, else
``digest.toml`` in the working directory, else no file at all (every setting
has a default, so the demo runs without one). Relative paths in the file are
relative to the file's folder. Secrets are never read from the file: they come
from the environment only (see ``secret()``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Secrets: environment only, never the file or the command line.
SECRET_VARIABLES = ("SENDGRID_API_KEY", "DIGEST_SMTP_URL", "DIGEST_SECRET")


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


def secret(name: str) -> str | None:
    """Read a secret from the environment; empty counts as unset."""
    return os.environ.get(name) or None


def find_config(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
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
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
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


def _from_mapping(data: dict, where: str, base: Path) -> Settings:
    data = dict(data)
    keywords = data.pop("keywords", {})
    if not isinstance(keywords, dict):
        raise ConfigError(f"{where}: [keywords] must be a table")
    extra = set(keywords) - {"aliases", "topics"}
    if extra:
        raise ConfigError(f"{where}: unknown setting keywords.{sorted(extra)[0]}")
    if "topics" in keywords:
        data["topics"] = keywords["topics"]
    if "aliases" in keywords:
        data["aliases"] = keywords["aliases"]
    for secret_name in ("api_key", "password", "smtp_url", "secret", "database_url"):
        if secret_name in data or any(
            isinstance(v, dict) and secret_name in v for v in data.values()
        ):
            raise ConfigError(
                f"{where}: '{secret_name}' does not belong in the config file; "
                "secrets and the database URL come from the environment (see README)"
            )
    sections = {
        name: _build(cls, data.pop(name, {}), f"{where}: {name}.")
        for name, cls in _SECTIONS.items()
    }
    settings = _build(Settings, data, f"{where}: ")
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


def _build(cls, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.: ')} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in fields or name in ("sendgrid", "smtp", "config_path", "database_url"):
            raise ConfigError(f"{prefix}unknown setting '{key}'")
        kwargs[name] = _coerce(fields[name], value, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(f: dataclasses.Field, value, where: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "time":
            if isinstance(value, time):  # a TOML local time: send_time = 07:00:00
                return value
            hours, minutes = str(value).split(":")
            return time(int(hours), int(minutes))
        if kind == "Path":
            return Path(str(value))
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("expected a whole number")
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("expected a number")
            return float(value)
        if kind == "int | None":
            return None if value in ("", None) else int(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError("expected a string")
            return value
        if kind == "list[str]":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a list of strings")
            return value
        if kind == "dict[str, list[str]]":
            if not isinstance(value, dict):
                raise ValueError("expected a table of canonical = [aliases]")
            table = {k: [v] if isinstance(v, str) else list(v) for k, v in value.items()}
            if not all(isinstance(a, str) for aliases in table.values() for a in aliases):
                raise ValueError("expected a table of canonical = [aliases] (strings)")
            return table
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err or 'bad value'} (got {value!r})") from None
    return value


def _validate(s: Settings, where: str) -> None:
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: timezone: unknown IANA timezone {s.timezone!r}") from None
    if s.provider not in ("outbox", "smtp", "sendgrid"):
        raise ConfigError(
            f"{where}: provider: must be outbox, smtp or sendgrid, not {s.provider!r}"
        )
    if s.window_hours < 1:
        raise ConfigError(f"{where}: window_hours: must be at least 1")
    if s.max_per_section < 1:
        raise ConfigError(f"{where}: max_per_section: must be at least 1")
    if s.sendgrid.data_residency not in ("global", "eu"):
        raise ConfigError(f"{where}: sendgrid.data_residency: must be 'global' or 'eu'")
    if not re.match(r"^https?://[^\s/]+", s.public_url):
        raise ConfigError(f"{where}: public_url: must be an http(s) URL")
    try:
        s.subject.format(date="", keywords="", count=0)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(
            f"{where}: subject: unknown field {err}; use {{date}}, {{keywords}}, {{count}}"
        ) from None
