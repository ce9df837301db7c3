"""Write every command's ``--help`` into ``docs/commands.md``, so the reference cannot drift.

The page is prose written by hand with generated blocks in it, the way cog
works (sqlite-utils' ``docs/cli-reference.rst``) but without a dependency:
between ``<!-- [[[help digest COMMAND]]] -->`` and ``<!-- [[[end]]] -->`` this
script puts what ``digest COMMAND --help`` prints, and leaves the rest alone.
The help is taken through click's ``CliRunner`` at a fixed width and program
name, so it is the same on every machine and terminal.

    make docs                               # or: .venv/bin/python docs/generate.py
    .venv/bin/python docs/generate.py --check   # exit 1 if the page is out of date

``tests/test_docs.py`` runs ``regenerate`` in memory and fails when the page differs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from digest.cli import cli

PAGE = Path(__file__).resolve().parent / "commands.md"
WIDTH = 80
BLOCK = re.compile(
    r"(?P<open><!-- \[\[\[help (?P<command>digest[a-z -]*?)\]\]\] -->\n)"
    r".*?"
    r"(?P<close><!-- \[\[\[end\]\]\] -->)",
    re.DOTALL,
)


def commands(group: click.Group = cli, prefix: str = "digest") -> list[str]:
    """Every command and group, as typed (``digest subscribers add``), the group first."""
    found = [prefix]
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


def help_text(command: str) -> str:
    """What ``COMMAND --help`` prints, at WIDTH columns, whatever the terminal."""
    words = command.split()[1:]
    result = CliRunner().invoke(
        cli, [*words, "--help"], prog_name="digest", terminal_width=WIDTH, color=False
    )
    if result.exit_code != 0:
        raise SystemExit(f"{command} --help failed ({result.exit_code}): {result.output}")
    return result.output


def regenerate(text: str) -> str:
    """The page with every help block replaced by what that command prints now."""

    def block(match: re.Match[str]) -> str:
        output = help_text(match["command"]).rstrip("\n")
        return f"{match['open']}```text\n{output}\n```\n{match['close']}"

    return BLOCK.sub(block, text)


def documented(text: str) -> list[str]:
    """The commands the page has a help block for, in page order."""
    return [match["command"] for match in BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8")
    fresh = regenerate(current)
    missing = [command for command in commands() if command not in documented(current)]
    if missing:
        print(f"docs/{PAGE.name}: no help block for {', '.join(missing)}", file=sys.stderr)
        return 1
    if "--check" in argv:
        if fresh != current:
            print(f"docs/{PAGE.name} is out of date with --help: run make docs", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        PAGE.write_text(fresh, encoding="utf-8")
        print(f"rewrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
