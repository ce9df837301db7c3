"""``[database] url`` in digest.toml, its password from ``DIGEST_DATABASE_PASSWORD``.

Without it a shell that lacks the service's environment (no DIGEST_DATABASE_URL)
silently opened a new, empty SQLite file: `digest status` said "no editions sent
yet", an import went into the wrong database. The file may now name the
database; a password never goes in the file; the environment's URL still wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.config.settings import load_settings
from digest.errors import ConfigError

PG = "postgresql://digest@db.internal:5432/digest"


@pytest.fixture
def folder(monkeypatch, tmp_path) -> Path:
    for name in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_DATABASE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def toml(folder: Path, text: str) -> Path:
    path = folder / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_names_the_database_when_the_environment_does_not(folder):
    toml(folder, f'[database]\nurl = "{PG}"\n')
    assert load_settings().database_url == PG


def test_the_password_comes_from_the_environment(folder, monkeypatch):
    toml(folder, f'[database]\nurl = "{PG}"\n')
    monkeypatch.setenv("DIGEST_DATABASE_PASSWORD", "p@ss:w/rd#1")
    url = load_settings().database_url
    assert url == "postgresql://digest:p%40ss%3Aw%2Frd%231@db.internal:5432/digest"


def test_an_sqlite_url_takes_no_password(folder, monkeypatch):
    toml(folder, '[database]\nurl = "sqlite:////srv/digest/digest.db"\n')
    monkeypatch.setenv("DIGEST_DATABASE_PASSWORD", "for-another-database")
    assert load_settings().database_url == "sqlite:////srv/digest/digest.db"


def test_the_environment_url_still_wins_and_keeps_its_own_password(folder, monkeypatch):
    toml(folder, f'[database]\nurl = "{PG}"\n')
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql://other:own-pw@elsewhere/x")
    monkeypatch.setenv("DIGEST_DATABASE_PASSWORD", "not-this-one")
    assert load_settings().database_url == "postgresql://other:own-pw@elsewhere/x"


def test_an_sqlite_file_in_the_file_is_relative_to_the_file(folder, tmp_path):
    (tmp_path / "etc").mkdir()
    config = toml(tmp_path / "etc", '[database]\nurl = "sqlite:///data/digest.db"\n')
    settings = load_settings(str(config))  # run from another folder
    assert settings.database_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'digest.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://digest:hunter2-secret@db/digest",
        "postgresql://digest@db/digest?password=hunter2-secret",
        "postgresql://digest@db/digest?sslpassword=hunter2-secret",
    ],
)
def test_a_password_in_the_file_is_refused_without_showing_it(folder, url):
    toml(folder, f'[database]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "database.url: has a password in it" in message
    assert "DIGEST_DATABASE_PASSWORD" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("text", ['password = "x"', 'url = "postgresql://a@b/c"\npassword = "x"'])
def test_a_password_setting_is_refused(folder, text):
    toml(folder, f"[database]\n{text}\n")
    with pytest.raises(ConfigError, match="'password' does not belong in the config file"):
        load_settings()


def test_not_a_url_is_refused_naming_the_setting(folder):
    toml(folder, '[database]\nurl = "db.internal:5432"\n')
    with pytest.raises(ConfigError, match=r"database\.url: not a database URL"):
        load_settings()


@given(st.text(max_size=80))
def test_any_url_text_gives_settings_or_one_config_error(text):
    # (No fixture: hypothesis runs many examples; the file is written per example.)
    import json
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "digest.toml"
        path.write_text(f"[database]\nurl = {json.dumps(text)}\n", encoding="utf-8")
        saved = {k: os.environ.pop(k) for k in ("DIGEST_DATABASE_URL",) if k in os.environ}
        try:
            settings = load_settings(str(path))
        except ConfigError as error:
            assert "\n" not in str(error) and str(path) in str(error)
        else:
            assert settings.database_url  # the file's URL, or the default SQLite file
        finally:
            os.environ.update(saved)
