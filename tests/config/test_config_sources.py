"""``sources`` as a list of tables (plain strings still work), and the feed settings.

Every bad entry is refused at start-up with one line naming the file, the
entry (by number and name) and the key; the command exits 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_config import config_error, write_toml

from digest.config.settings import load_settings
from digest.models import Source


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_tables_and_strings_side_by_side(tmp_path):
    path = write_toml(
        tmp_path / "site" / "digest.toml",
        'sources = ["articles/", "https://example.org/feed.xml", '
        '{ name = "Harbour Gazette", url = "https://harbour.example/rss", keywords = ["Local"], '
        'categories = false, timeout = 5 }, { path = "exports", name = "Exports" }]\n',
    )
    site = tmp_path / "site"
    assert load_settings(str(path)).sources == [
        Source(str(site / "articles")),
        Source("https://example.org/feed.xml"),
        Source("https://harbour.example/rss", "Harbour Gazette", ("Local",), False, 5.0),
        Source(str(site / "exports"), "Exports"),
    ]


def test_the_array_of_tables_form(tmp_path):
    path = write_toml(
        tmp_path / "digest.toml",
        '[[sources]]\nname = "A"\nurl = "https://a.example/feed"\n'
        '[[sources]]\npath = "/srv/articles"\n',
    )
    assert [s.target for s in load_settings(str(path)).sources] == [
        "https://a.example/feed",
        "/srv/articles",
    ]


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ('{ url = "https://a.example/f", timeout = 0 }',
         "sources: entry 1: timeout: must be more than 0 and at most 600, got 0"),
        ('{ url = "https://a.example/f", timeout = 601 }', "entry 1: timeout: must be more than 0"),
        ('{ url = "https://a.example/f", timeout = true }', "entry 1: timeout: expected a number"),
        ('{ name = "A", url = "https://a.example/f", path = "x" }',
         "sources: entry 1 ('A'): give either url or path"),
        ('{ name = "A" }', "entry 1 ('A'): give either url or path"),
        ('{ url = "ftp://a.example/f" }', "entry 1: url: must be an http(s) URL"),
        ('{ url = "https://" }', "entry 1: url: not a valid http(s) URL"),
        ('{ path = "https://a.example/f" }', "entry 1: path: a URL is given as url, not path"),
        ('{ url = "https://a.example/f", categories = "no" }', "categories: expected true"),
        ('{ url = "https://a.example/f", keywords = "Local" }', "keywords: expected a list"),
        ('{ url = "https://a.example/f", nmae = "typo" }', "entry 1: unknown key nmae"),
        ('{ url = "https://a.example/f", name = "" }', "entry 1: name: must not be empty"),
        ('{ url = "https://a.example/f", name = "a\\u001b[31m" }', "name: contains a control"),
        ("3", "entry 1: expected a URL, a path or a table, got 3"),
        ('""', "entry 1: must not be empty"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_named_by_its_number_and_key(tmp_path, entry, said):
    assert said in config_error(f"sources = [{entry}]\n", tmp_path)


def test_a_source_given_twice_or_two_with_one_name_are_refused(tmp_path):
    twice = 'sources = ["https://a.example/f", "https://A.EXAMPLE/f?utm_source=x"]\n'
    assert "entry 2: the same source as entry 1" in config_error(twice, tmp_path)
    named = (
        'sources = [{ name = "News", url = "https://a.example/f" }, '
        '{ name = "news", url = "https://b.example/f" }]\n'
    )
    assert "entry 2 ('news'): name: the same name as entry 1" in config_error(named, tmp_path)


def test_a_password_in_a_bad_source_url_is_not_shown(tmp_path):
    message = config_error('sources = [{ url = "ftp://u:S3cretPw@a.example/f" }]\n', tmp_path)
    assert "S3cretPw" not in message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("feed_concurrency = 0\n", "feed_concurrency: must be from 1 to 64, got 0"),
        ("feed_concurrency = 65\n", "feed_concurrency: must be from 1 to 64"),
        ("feed_concurrency = 2.5\n", "feed_concurrency: expected a whole number"),
        ('user_agent = "digest ☃"\n', "user_agent: must be ASCII text of at most 300 characters"),
        ('user_agent = "a\\nb"\n', "user_agent: contains a control character"),
        ("[keywords]\nignore = [1]\n", "ignore"),
        ("[keywords]\nignor = []\n", "unknown setting keywords.ignor"),
    ],
)
def test_the_feed_settings_are_range_checked(tmp_path, text, said):
    assert said in config_error(text, tmp_path)


def test_the_command_exits_2_naming_the_setting(tmp_path):
    (tmp_path / "digest.toml").write_text(
        '[[sources]]\nname = "A"\nurl = "https://a.example/f"\ntimeout = -1\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "digest", "ingest"],
        cwd=tmp_path,
        env={**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"Error: {Path('digest.toml')}: sources: entry 1 ('A'): timeout: "
        "must be more than 0 and at most 600, got -1"
    )
