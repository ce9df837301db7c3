"""Any ``digest.toml`` at all: valid settings within every documented range, or one ConfigError.

Documents are built from known and unknown keys, nested tables and TOML
values of every type (huge and negative integers, NaN and infinity, strings
with control characters, arrays, tables, booleans, dates and times), written
to a real file and read by ``load_settings``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from digest import validate, zones
from digest.config.settings import (
    PACKAGE_TEMPLATES,
    PROVIDERS,
    RANGES,
    DatabaseSettings,
    SendGridSettings,
    Settings,
    SMTPSettings,
    check_subject,
    load_settings,
)
from digest.errors import ConfigError

SECTIONS = {"sendgrid": SendGridSettings, "smtp": SMTPSettings, "database": DatabaseSettings}
PLAUSIBLE_TEXT = [
    "UTC",
    "Europe/London",
    "America",
    "07:00",
    "7am",
    "25:61",
    "{date}",
    "{date.year}",
    "{count:>5}",
    "{}",
    "outbox",
    "smtp",
    "sendgrid",
    "eu",
    "https://digest.example.com",
    "Digest <digest@example.com>",
    "articles",
    "",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "a\r\nBcc: x@example.com",
]


def toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(items) + "}"


def toml_document(data: dict) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


text = st.sampled_from(PLAUSIBLE_TEXT) | st.text(
    st.characters(exclude_categories=["Cs"]), max_size=20
)
scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-5, max_value=100_000),
    st.floats(),
    st.booleans(),
    text,
    st.dates(),
    st.times(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


GOOD = {
    "timezone": ["UTC", "Europe/London", " America/New_York "],
    "provider": list(PROVIDERS),
    "sendgrid.data_residency": ["global", "eu"],
    "subject": ["{date}", "{keywords} ({count:>3} stories)", "News {{{date!s}}}"],
    "public_url": ["https://digest.example.com", "http://localhost:8000/x"],
    "from_address": ["Digest <digest@example.com>", "news@example.org"],
    "send_time": ["07:00", "6:30", time(23, 59)],
    "outbox_dir": ["out", "/tmp/outbox"],
    "templates_dir": [str(PACKAGE_TEMPLATES)],
    "title": ["Morning Brief", "Zoë's digest"],
}


def plausible(name: str, kind: str) -> st.SearchStrategy:
    """Values of the setting's own type, often at or just past the ends of its range."""
    if name in GOOD:
        return st.sampled_from(GOOD[name])
    if name in RANGES:
        limits = RANGES[name]
        ends = [limits.low, limits.high, limits.low - 1, limits.high + 1, 0]
        whole = [int(v) for v in ends] + [int(limits.low) + 1]
        numbers = st.sampled_from(whole) | st.integers(int(limits.low) - 2, int(limits.high) + 2)
        if kind == "float":
            numbers |= st.floats(limits.low - 1, limits.high + 1) | st.sampled_from(ends)
        return numbers
    return {
        "bool": st.booleans(),
        "time": st.times() | text,
        "list[str]": st.lists(text, max_size=3),
        "dict[str, list[str]]": st.dictionaries(
            text, text | st.lists(text, max_size=2), max_size=2
        ),
    }.get(kind, text)


def table(cls, prefix: str = "", extra_keys: tuple[str, ...] = ()) -> st.SearchStrategy[dict]:
    """Known settings of ``cls`` (their own type, or any value) and now and then unknown ones."""
    known = {
        f.name: st.one_of(*[plausible(prefix + f.name, f.type)] * 8, values)
        for f in dataclasses.fields(cls)
        if f.name not in SECTIONS
    }
    known.update({key: values for key in extra_keys})
    unknown = st.one_of(*[st.just({})] * 4, st.dictionaries(text, values, min_size=1, max_size=2))
    return st.tuples(st.fixed_dictionaries({}, optional=known), unknown).map(
        lambda pair: {**pair[1], **pair[0]}
    )


@dataclasses.dataclass
class _Keywords:
    topics: list[str]
    aliases: dict[str, list[str]]


documents = st.fixed_dictionaries(
    {},
    optional={
        **{name: table(cls, f"{name}.") | values for name, cls in SECTIONS.items()},
        "keywords": table(_Keywords) | values,
    },
).flatmap(
    lambda sections: table(Settings, extra_keys=("api_key", "max-per-section")).map(
        lambda top: {**top, **sections}
    )
)


def keys_of(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def names(message: str, key: str) -> bool:
    return key in message or repr(key)[1:21] in message


def assert_documented(s: Settings) -> None:
    """Every documented rule holds for settings that loaded."""
    for name, limits in RANGES.items():
        section, _, key = name.rpartition(".")
        value = getattr(getattr(s, section) if section else s, key)
        if value is None and name == "sendgrid.asm_group_id":
            continue
        assert not isinstance(value, bool)
        assert isinstance(value, int | float) and math.isfinite(value), name
        assert limits.allows(value), (name, value)
    for cls, obj in ((Settings, s), (SendGridSettings, s.sendgrid), (SMTPSettings, s.smtp)):
        for f in dataclasses.fields(cls):
            value = getattr(obj, f.name)
            if f.type == "int":
                assert type(value) is int, f.name
            elif f.type == "float":
                assert type(value) is float, f.name
            elif f.type == "bool":
                assert type(value) is bool, f.name
            elif f.type == "str":
                assert isinstance(value, str) and not validate.has_control(value), f.name
    zones.check_timezone(s.timezone)
    assert s.provider in PROVIDERS
    assert s.sendgrid.data_residency in ("global", "eu")
    assert isinstance(s.send_time, time)
    check_subject(s.subject)
    assert s.outbox_dir.is_absolute() and s.templates_dir.is_dir()
    for entry in [*s.sources, *s.topics, *s.aliases, *(a for v in s.aliases.values() for a in v)]:
        assert isinstance(entry, str) and entry.strip() and not validate.has_control(entry)


@pytest.fixture
def folder(tmp_path_factory, monkeypatch) -> Path:
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=documents)
def test_any_document_loads_within_the_rules_or_is_refused_naming_a_setting(folder, data):
    document = toml_document(data)
    assert tomllib.loads(document) is not None  # the generator writes valid TOML
    path = folder / "digest.toml"
    path.write_text(document, encoding="utf-8")
    try:
        loaded = load_settings(str(path))
    except ConfigError as err:
        message = str(err)
        assert message.startswith(f"{path}: ")
        assert "\n" not in message and len(message) < 600
        assert any(names(message, key) for key in keys_of(data)), message
        event("refused")
    else:
        assert_documented(loaded)
        event("loaded")
