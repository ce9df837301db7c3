"""The README documents every command, setting and environment variable (sqlite-utils style)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest

from digest.cli import cli
from digest.config.settings import SECRET_VARIABLES, SendGridSettings, Settings, SMTPSettings
from digest.web import events

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
INTERNAL = {"config_path", "database_url", "sendgrid", "smtp", "aliases", "topics", "ignore"}


def _commands(group: click.Group, prefix: str = "digest") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


@pytest.mark.parametrize("command", _commands(cli))
def test_every_command_is_in_the_readme_with_help(command):
    assert f"`{command}" in README, f"{command} is not documented in README.md"
    words = command.split()[1:]
    target = cli
    for word in words:
        target = target.commands[word]
    assert target.help, f"{command} has no --help text"


@pytest.mark.parametrize(
    "key",
    [f.name for f in dataclasses.fields(Settings) if f.name not in INTERNAL]
    + [f"[keywords] {name}" for name in ("topics", "aliases", "ignore")]
    + [f"[[sources]] {name}" for name in ("name", "url", "keywords", "categories", "timeout")],
)
def test_every_setting_is_in_the_configuration_reference(key):
    name = key.split()[-1]
    assert f"\n{name} = " in README, f"setting {name!r} missing from the README reference"


@pytest.mark.parametrize(
    ("section", "cls"), [("sendgrid", SendGridSettings), ("smtp", SMTPSettings)]
)
def test_every_provider_setting_is_in_the_reference(section, cls):
    block = README.split(f"[{section}]", 1)[1].split("```", 1)[0]
    for field in dataclasses.fields(cls):
        assert f"\n{field.name} = " in block, f"{section}.{field.name} missing from the README"


@pytest.mark.parametrize(
    "variable",
    [
        *SECRET_VARIABLES,
        "DIGEST_DATABASE_URL",
        "DIGEST_CONFIG",
        "SENDGRID_API_HOST",
        events.KEY_VARIABLE,
        events.INSECURE_VARIABLE,
    ],
)
def test_every_environment_variable_is_in_the_readme(variable):
    assert f"`{variable}`" in README


def test_the_systemd_unit_runs_the_scheduler_as_the_readme_says():
    unit = (Path(__file__).resolve().parent.parent / "deploy" / "digest.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0].isalpha()
    )
    assert "digest schedule" in settings["ExecStart"]
    assert settings["Restart"] == "on-failure"
    assert settings["KillSignal"] == "SIGTERM"
    assert settings["EnvironmentFile"].startswith("/")  # secrets from a file, not the unit
    assert int(settings["TimeoutStopSec"]) >= 60  # time to finish the batch in flight
    assert "2" in settings["RestartPreventExitStatus"].split()  # a bad setting: no loop
    assert "deploy/digest.service" in README


@pytest.mark.parametrize("option", ["--unsuppress", "--resubscribe"])
def test_the_options_of_subscribers_add_are_in_the_readme(option):
    assert option in README.split("### `digest subscribers add EMAIL`", 1)[1].split("\n### ", 1)[0]
