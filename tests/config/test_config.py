"""Settings: defaults, where the file is found, relative paths, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
from datetime import time
from pathlib import Path

import pytest

from digest.config.settings import (
    RANGES,
    DatabaseSettings,
    SendGridSettings,
    Settings,
    SignupSettings,
    SMTPSettings,
    load_settings,
)
from digest.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No config or database from the caller's environment; an empty working directory."""
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(text: str, tmp_path: Path) -> str:
    path = write_toml(tmp_path / "conf" / "digest.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# -- defaults and where the file is ---------------------------------------------------


def test_defaults_without_a_file(clean_env):
    settings = load_settings()
    defaults = Settings()
    assert settings.config_path is None
    assert settings.title == defaults.title == "Daily Digest"
    assert settings.provider == "outbox"
    assert settings.timezone == "UTC"
    assert settings.send_time == time(7, 0)
    assert settings.window_hours == 36
    assert settings.max_per_section == 8
    assert settings.aliases == {}
    assert settings.outbox_dir == clean_env / "outbox"
    assert settings.database_url == f"sqlite:///{clean_env / 'digest.db'}"
    assert (settings.templates_dir / "digest.html.j2").is_file()


def test_digest_toml_in_the_working_directory(clean_env):
    write_toml(
        clean_env / "digest.toml",
        'title = "Morning Brief"\n'
        'timezone = "Europe/London"\n'
        'send_time = "06:30"\n'
        "window_hours = 24\n"
        'provider = "smtp"\n'
        "[smtp]\n"
        "connections = 2\n"
        "[sendgrid]\n"
        'data_residency = "eu"\n',
    )
    settings = load_settings()
    assert settings.config_path == Path("digest.toml")
    assert settings.title == "Morning Brief"
    assert settings.timezone == "Europe/London"
    assert str(settings.zone) == "Europe/London"
    assert settings.send_time == time(6, 30)
    assert settings.window_hours == 24
    assert settings.provider == "smtp"
    assert settings.smtp.connections == 2
    assert settings.sendgrid.data_residency == "eu"
    assert settings.database_url == f"sqlite:///{clean_env / 'digest.db'}"


def test_send_time_as_a_toml_time(clean_env):
    write_toml(clean_env / "digest.toml", "send_time = 06:30:00\n")
    assert load_settings().send_time == time(6, 30)


def test_config_option_path(clean_env, tmp_path):
    write_toml(clean_env / "digest.toml", 'title = "From the working directory"\n')
    path = write_toml(tmp_path / "etc" / "other.toml", 'title = "From --config"\n')
    settings = load_settings(str(path))
    assert settings.title == "From --config"
    assert settings.config_path == path


def test_digest_config_variable(clean_env, tmp_path, monkeypatch):
    write_toml(clean_env / "digest.toml", 'title = "From the working directory"\n')
    path = write_toml(tmp_path / "etc" / "env.toml", 'title = "From DIGEST_CONFIG"\n')
    monkeypatch.setenv("DIGEST_CONFIG", str(path))
    assert load_settings().title == "From DIGEST_CONFIG"
    # --config beats the variable
    explicit = write_toml(tmp_path / "etc" / "explicit.toml", 'title = "Explicit"\n')
    assert load_settings(str(explicit)).title == "Explicit"


def test_missing_config_file_is_an_error(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"nowhere\.toml"):
        load_settings(str(missing))


def test_relative_paths_are_relative_to_the_config_file(clean_env, tmp_path):
    folder = tmp_path / "site"
    path = write_toml(
        folder / "digest.toml",
        'outbox_dir = "mail/out"\nsources = ["articles", "https://example.org/feed.xml"]\n',
    )
    settings = load_settings(str(path))
    assert settings.outbox_dir == folder / "mail" / "out"
    assert [s.target for s in settings.sources] == [
        str(folder / "articles"),
        "https://example.org/feed.xml",
    ]
    # the database sits next to the config file, not in the working directory
    assert settings.database_url == f"sqlite:///{folder / 'digest.db'}"


def test_relative_config_path_resolves_against_its_own_folder(clean_env):
    write_toml(clean_env / "conf" / "digest.toml", 'outbox_dir = "out"\n')
    settings = load_settings("conf/digest.toml")
    assert settings.outbox_dir == clean_env / "conf" / "out"
    assert settings.outbox_dir.is_absolute()


def test_absolute_outbox_dir_is_kept(clean_env, tmp_path):
    target = tmp_path / "elsewhere"
    write_toml(clean_env / "digest.toml", f'outbox_dir = "{target.as_posix()}"\n')
    assert load_settings().outbox_dir == target


def test_keyword_aliases_and_topics(clean_env):
    write_toml(
        clean_env / "digest.toml",
        "[keywords]\n"
        'topics = ["Space", "Energy"]\n'
        "[keywords.aliases]\n"
        'Climate = ["global warming", "climate change"]\n'
        '"Artificial Intelligence" = "AI"\n',
    )
    settings = load_settings()
    assert settings.aliases == {
        "Climate": ["global warming", "climate change"],
        "Artificial Intelligence": ["AI"],
    }
    assert settings.topics == ["Space", "Energy"]


def test_database_url_from_the_environment_wins(clean_env, monkeypatch):
    write_toml(clean_env / "digest.toml", 'title = "x"\n')
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql+psycopg://digest@db.internal/digest")
    assert load_settings().database_url == "postgresql+psycopg://digest@db.internal/digest"


# -- errors: one line naming the file and the setting -----------------------------


def test_unknown_setting(tmp_path):
    message = config_error('titel = "typo"\n', tmp_path)
    assert "titel" in message


def test_unknown_setting_in_a_section(tmp_path):
    message = config_error("[smtp]\nconection = 3\n", tmp_path)
    assert "conection" in message


def test_unknown_keywords_setting(tmp_path):
    message = config_error("[keywords]\nalias = {}\n", tmp_path)
    assert "alias" in message


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ('window_hours = "36"\n', "window_hours"),
        ("window_hours = 1.5\n", "window_hours"),
        ("max_per_section = true\n", "max_per_section"),
        ("title = 5\n", "title"),
        ('sources = "articles"\n', "sources"),
        ('send_time = "seven"\n', "send_time"),
        ('send_time = "25:00"\n', "send_time"),
        ('[smtp]\nrequire_starttls = "yes"\n', "require_starttls"),
        ('[sendgrid]\ntimeout = "slow"\n', "timeout"),
        ("[keywords]\naliases = 3\n", "aliases"),
        ("[keywords.aliases]\nClimate = [1, 2]\n", "aliases"),
        ("[keywords]\ntopics = [1]\n", "topics"),
    ],
)
def test_wrong_type(tmp_path, text, setting):
    assert setting in config_error(text, tmp_path)


def test_bad_timezone(tmp_path):
    message = config_error('timezone = "Europe/Atlantis"\n', tmp_path)
    assert "timezone" in message
    assert "Europe/Atlantis" in message


def test_bad_provider(tmp_path):
    message = config_error('provider = "carrier-pigeon"\n', tmp_path)
    assert "provider" in message
    assert "carrier-pigeon" in message


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ('[sendgrid]\napi_key = "SG.secret"\n', "api_key"),
        ('api_key = "SG.secret"\n', "api_key"),
        ('[smtp]\npassword = "hunter2"\n', "password"),
        ('smtp_url = "smtp://u:p@mail.example.org"\n', "smtp_url"),
        ('secret = "s3cr3t"\n', "secret"),
        ('database_url = "sqlite:///x.db"\n', "database_url"),
    ],
)
def test_secrets_do_not_belong_in_the_file(tmp_path, text, setting):
    message = config_error(text, tmp_path)
    assert setting in message
    assert "environment" in message
    # the secret itself is never echoed back
    assert "SG.secret" not in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ("window_hours = 0\n", "window_hours"),
        ("max_per_section = 0\n", "max_per_section"),
        ('public_url = "example.org"\n', "public_url"),
        ('subject = "Digest {unknown}"\n', "subject"),
        ('[sendgrid]\ndata_residency = "mars"\n', "data_residency"),
    ],
)
def test_bad_values(tmp_path, text, setting):
    assert setting in config_error(text, tmp_path)


def test_invalid_toml_names_the_file(tmp_path):
    message = config_error('title = "unclosed\n', tmp_path)
    assert "TOML" in message


# -- every number in its range ------------------------------------------------------


def number_fields() -> dict[str, bool]:
    """Every number setting, by its name in the file (``smtp.rate``): is it whole?"""
    found = {}
    for prefix, cls in (
        ("", Settings),
        ("sendgrid.", SendGridSettings),
        ("smtp.", SMTPSettings),
        ("database.", DatabaseSettings),
        ("signup.", SignupSettings),
    ):
        for f in dataclasses.fields(cls):
            if f.type in ("int", "float", "int | None"):
                found[prefix + f.name] = f.type != "float"
    return found


def toml_for(setting: str, value: str) -> str:
    section, _, key = setting.rpartition(".")
    return f"[{section}]\n{key} = {value}\n" if section else f"{key} = {value}\n"


def test_every_number_setting_has_a_declared_range():
    assert sorted(number_fields()) == sorted(RANGES)


@pytest.mark.parametrize("setting", sorted(RANGES))
def test_numbers_outside_the_range_are_refused_naming_the_setting(tmp_path, setting):
    limits = RANGES[setting]
    too_low = limits.low - (1 if number_fields()[setting] else 0.001)
    if limits.above:
        too_low = limits.low
    for value in (too_low, limits.high + 1, 10**30, -(10**400)):
        if limits.zero and value == 0:
            continue
        shown = repr(value) if isinstance(value, float) else str(value)
        message = config_error(toml_for(setting, shown), tmp_path)
        assert setting in message, message
        assert "must be" in message


@pytest.mark.parametrize("setting", sorted(RANGES))
def test_the_ends_of_each_range_are_accepted(clean_env, setting):
    limits = RANGES[setting]
    section, _, key = setting.rpartition(".")
    for value in (limits.high, limits.low + (1 if limits.above else 0)):
        (clean_env / "digest.toml").write_text(toml_for(setting, str(value)), "utf-8")
        settings = load_settings()
        got = getattr(getattr(settings, section) if section else settings, key)
        assert got == value


@pytest.mark.parametrize("setting", sorted(RANGES))
@pytest.mark.parametrize("value", ["true", "nan", "inf", "-inf", '"12"', "[1]", "{ a = 1 }"])
def test_booleans_nan_infinity_and_strings_are_not_numbers(tmp_path, setting, value):
    assert setting in config_error(toml_for(setting, value), tmp_path)


def test_a_lease_shorter_than_a_batch_is_refused(tmp_path):
    # A lease of 0 lets a second sender claim a batch the first is mailing.
    for value in ("0", "-600", "29"):
        message = config_error(f"lease_seconds = {value}\n", tmp_path)
        assert "lease_seconds: must be from 30 to" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("catch_up_hours = 24\n", "catch_up_hours: must be from 0 to 23, got 24"),
        ("catch_up_hours = 1.5\n", "catch_up_hours: expected a whole number, got 1.5"),
        ("ingest_every = 0\n", "ingest_every: must be from 1 to 1440, got 0"),
        ("ingest_every = 1441\n", "ingest_every: must be from 1 to 1440, got 1441"),
    ],
)
def test_the_schedules_settings_are_whole_numbers_in_range(tmp_path, text, expected):
    # A catch-up of a day or more would send yesterday's edition beside today's.
    assert expected in config_error(text, tmp_path)


def test_the_schedules_settings_have_defaults(clean_env):
    settings = load_settings()
    assert (settings.ingest_every, settings.catch_up_hours) == (30, 6)


@pytest.mark.parametrize("value", ["true", "1.5", '"12"', "0", "-3", "1.0"])
def test_asm_group_id_is_a_positive_whole_number(tmp_path, value):
    assert "sendgrid.asm_group_id" in config_error(
        f"[sendgrid]\nasm_group_id = {value}\n", tmp_path
    )


def test_an_smtp_rate_of_zero_means_unlimited(clean_env):
    (clean_env / "digest.toml").write_text("[smtp]\nrate = 0\n", "utf-8")
    assert load_settings().smtp.rate == 0.0


# -- subject, send_time, timezone ------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "named"),
    [
        ("{date.year.__class__}", "{date.year.__class__}"),
        ("{date.__class__.__mro__}", "{date.__class__.__mro__}"),
        ("{keywords[0]}", "{keywords[0]}"),
        ("Digest {}", "{}"),
        ("Digest {0}", "{0}"),
        ("{unknown}", "{unknown}"),
        ("{count:{date}}", "{count}"),
        ("{count:999999999}", "{count}"),
        ("{date:%Y}", "format"),
        ("{date!x}", "format"),
        ("{count:c}", "control character"),
        ("Digest {date", "brace"),
        ("Digest }", "brace"),
    ],
)
def test_the_subject_may_use_only_its_fields(tmp_path, subject, named):
    text = f"subject = {json.dumps(subject)}\n"
    message = config_error(text, tmp_path)
    assert "subject:" in message
    assert named in message


@pytest.mark.parametrize(
    "subject",
    [
        "{date}",
        "{keywords} ({count} stories)",
        "{count:>3} on {date!s}",
        "{{braces}}",
        "{lead} + {more} more",
        "{lead} and {more:,} more, {date}",
    ],
)
def test_subject_fields_with_format_specs_are_fine(clean_env, subject):
    (clean_env / "digest.toml").write_text(f"subject = {json.dumps(subject)}\n", "utf-8")
    assert load_settings().subject == subject


def test_the_defaults_of_the_new_email_settings(clean_env):
    settings = load_settings()
    assert settings.subject == "{lead} + {more} more"
    assert settings.greeting == "Hello {first_name},"
    assert settings.postal_address == ""


@pytest.mark.parametrize(
    ("greeting", "named"),
    [
        ("Hello {name.__class__},", "{name.__class__}"),
        ("Hi {0}", "{0}"),
        ("Hi {}", "{}"),
        ("Hi {email}", "{email}"),
        ("Hi {first_name:>10}", "no format"),
        ("Hi {first_name!r}", "no format"),
        ("Hi {first_name", "brace"),
        ("Hi\n{first_name}", "line break"),
    ],
)
def test_the_greeting_may_use_only_first_name_and_name(tmp_path, greeting, named):
    message = config_error(f"greeting = {json.dumps(greeting)}\n", tmp_path)
    assert "greeting:" in message and named in message


@pytest.mark.parametrize("greeting", ["Bonjour {first_name} !", "Dear {name},", "Good morning"])
def test_greetings_that_are_fine(clean_env, greeting):
    (clean_env / "digest.toml").write_text(f"greeting = {json.dumps(greeting)}\n", "utf-8")
    assert load_settings().greeting == greeting


def test_a_postal_address_is_one_line(tmp_path):
    message = config_error('postal_address = "1 Main St\\nBcc: x@example.com"\n', tmp_path)
    assert "postal_address:" in message


@pytest.mark.parametrize("value", ['"7am"', '"24:00"', '"07:60"', '"7"', '"07:00 pm"', "7"])
def test_send_time_says_what_it_expects(tmp_path, value):
    message = config_error(f"send_time = {value}\n", tmp_path)
    assert "send_time: expected HH:MM (24-hour clock), got " in message
    assert "unpack" not in message


def test_send_time_with_one_digit_hour(clean_env):
    (clean_env / "digest.toml").write_text('send_time = "6:05"\n', "utf-8")
    assert load_settings().send_time == time(6, 5)


@pytest.mark.parametrize("zone", ["America", "Europe", "Etc", "../../etc/passwd", ""])
def test_a_timezone_folder_is_not_a_timezone(tmp_path, zone):
    message = config_error(f'timezone = "{zone}"\n', tmp_path)
    assert "timezone: unknown timezone" in message


def test_a_byte_order_mark_is_fine(clean_env):
    (clean_env / "digest.toml").write_bytes(b'\xef\xbb\xbftitle = "Morning Brief"\n')
    assert load_settings().title == "Morning Brief"


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"digest\.toml: not UTF-8"):
        load_settings(str(path))


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_settings(str(tmp_path))


# -- text settings: one line, no control characters --------------------------------


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ('title = "Daily\\u0000Digest"\n', "title"),
        ('title = "\\u001b[31mRed alert"\n', "title"),
        ('title = "Daily \\u202eDigest"\n', "title"),
        ('subject = "{date}\\r\\nBcc: victim@example.com"\n', "subject"),
        ('public_url = "https://example.org\\nBcc: x"\n', "public_url"),
        ('public_url = "javascript:alert(1)"\n', "public_url"),
        ('public_url = "https://"\n', "public_url"),
        ('public_url = "https://digest.example.com/?from=mail"\n', "public_url"),
        (f'public_url = "https://digest.example.com/{"n" * 280}"\n', "public_url"),
        (f'public_url = "https://digest.example.com/{"ü" * 100}"\n', "public_url"),
        ('from_address = "Digest <digest@example.com>\\r\\nBcc: x@example.com"\n', "from_address"),
        ('from_address = "nobody"\n', "from_address"),
        ('outbox_dir = "out\\u0000box"\n', "outbox_dir"),
        ('outbox_dir = ""\n', "outbox_dir"),
        ("outbox_dir = 5\n", "outbox_dir"),
        ('templates_dir = "no/such/folder"\n', "templates_dir"),
        ('sources = ["articles", ""]\n', "sources"),
        ('[keywords]\ntopics = [""]\n', "topics"),
        ("[keywords.aliases]\nClimate = { warming = 1 }\n", "aliases"),
        ('[sendgrid]\ncategories = ["a\\tb"]\n', "categories"),
        (f"[sendgrid]\ncategories = {json.dumps(list('abcdefghij'))}\n", "categories"),
        (f'title = "{"x" * 5000}"\n', "title"),
    ],
)
def test_text_settings_are_single_clean_lines(tmp_path, text, setting):
    message = config_error(text, tmp_path)
    assert setting in message
    assert "\x1b" not in message and "\x00" not in message and "\u202e" not in message
    assert len(message) < 400


def test_an_unknown_key_with_escape_codes_is_shown_escaped(tmp_path):
    message = config_error('"\\u001b[2Jcolour" = 1\n', tmp_path)
    assert "unknown setting" in message
    assert "\x1b" not in message
    assert "\\x1b[2Jcolour" in message


def test_the_same_setting_twice_is_refused(tmp_path):
    assert "set twice" in config_error("max-per-section = 3\nmax_per_section = 4\n", tmp_path)


def test_toml_nested_too_deeply_is_refused(tmp_path):
    message = config_error("sources = " + "[" * 5000 + "]" * 5000 + "\n", tmp_path)
    assert "not valid TOML: nested too deeply" in message
