"""Settings: defaults, where the file is found, relative paths, and one-line errors."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from digest.config import Settings, load_settings
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
    assert settings.sources == [str(folder / "articles"), "https://example.org/feed.xml"]
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
