"""The shipped systemd units: they parse, and what they run is a command digest has.

``systemd-analyze verify`` where the machine has it (it checks every key and
that ExecStart is an executable; here the unit's venv path is pointed at this
checkout's ``digest``); otherwise a check of the keys that matter. Either way
ExecStart's arguments are parsed by digest's own command line, so a renamed
option fails here rather than at a newcomer's first ``systemctl start``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import ROOT

from digest.cli import cli

DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs"
UNITS = {"digest.service": "schedule", "digest-serve.service": "serve"}
VENV_DIGEST = "/opt/digest/venv/bin/digest"


def keys(unit: Path) -> dict[str, str]:
    found = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line[:1].isalpha() and "=" in line:
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


@pytest.mark.parametrize(("name", "command"), UNITS.items())
def test_each_unit_runs_its_command_from_the_venv_the_docs_create(name, command):
    unit = keys(DEPLOY / name)
    program, *args = shlex.split(unit["ExecStart"])
    assert program == VENV_DIGEST
    assert args[0] == command
    # digest's own parser takes the arguments (an unknown option raises here).
    found = cli.get_command(click.Context(cli), args[0])
    assert found is not None, f"{name}: digest has no command {args[0]!r}"
    found.make_context(args[0], args[1:])

    assert unit["User"] == "digest" and unit["WorkingDirectory"] == "/srv/digest"
    assert unit["EnvironmentFile"] == "/etc/digest/env"  # secrets from a file, not the unit
    assert unit["Restart"] == "on-failure"
    assert unit["RestartPreventExitStatus"].split() == ["2"]  # a setting to fix: no loop
    assert unit["KillSignal"] == "SIGTERM"
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert unit[hardening] == "true", f"{name}: {hardening}"
    assert unit["ProtectSystem"] == "strict" and unit["ReadWritePaths"] == "/srv/digest"
    assert f"deploy/{name}" in (DOCS / "deployment.md").read_text(encoding="utf-8")


def test_serve_listens_on_loopback_only_behind_the_proxy():
    args = shlex.split(keys(DEPLOY / "digest-serve.service")["ExecStart"])
    assert args[args.index("--host") + 1] == "127.0.0.1"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.parametrize("name", UNITS)
def test_systemd_verifies_each_unit(tmp_path, name):
    here = str(Path(sys.executable).with_name("digest"))
    text = (DEPLOY / name).read_text(encoding="utf-8").replace(VENV_DIGEST, here)
    unit = tmp_path / name
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Unknown" not in done.stderr and "ignoring" not in done.stderr, done.stderr
