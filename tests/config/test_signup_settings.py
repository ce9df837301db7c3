"""``[signup]``: the page is off until the site can mail strangers lawfully and link
back to itself, and asking for it without those is refused, naming what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config.settings import load_settings
from digest.errors import ConfigError

READY = 'public_url = "https://news.example.org"\npostal_address = "1 Quay Street"\n'


@pytest.fixture(autouse=True)
def _clean(monkeypatch, tmp_path):
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def load(tmp_path: Path, text: str):
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(str(path))


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("", False),
        (READY, True),
        ('public_url = "https://news.example.org"\n', False),  # no postal address
        ('public_url = "http://127.0.0.1:8000"\npostal_address = "1 Quay Street"\n', False),
        ('public_url = "http://localhost:8000"\npostal_address = "1 Quay Street"\n', False),
        (READY + "[signup]\nenabled = false\n", False),
    ],
)
def test_the_page_is_on_by_default_only_when_the_site_can_mail_strangers(tmp_path, text, enabled):
    assert load(tmp_path, text).signup.enabled is enabled


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("", "postal_address and a public_url other than localhost"),
        ('postal_address = "1 Quay Street"\n', "a public_url other than localhost"),
        ('public_url = "https://news.example.org"\n', "it needs postal_address"),
    ],
)
def test_asking_for_the_page_without_what_it_needs_is_refused(tmp_path, text, missing):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text + "[signup]\nenabled = true\n")
    message = str(caught.value)
    assert "signup.enabled" in message and missing in message


def test_the_defaults_are_the_documented_ones(tmp_path):
    signup = load(tmp_path, READY).signup
    assert (signup.confirm_hours, signup.min_seconds, signup.max_form_age_hours) == (48, 3, 24)
    assert (signup.address_cooldown_hours, signup.per_client_hour, signup.per_client_day) == (
        24,
        5,
        20,
    )
    assert (signup.welcome, signup.altcha, signup.altcha_max_number) == (False, False, 100_000)


def test_an_unknown_signup_setting_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting signup\.captcha"):
        load(tmp_path, READY + "[signup]\ncaptcha = true\n")
