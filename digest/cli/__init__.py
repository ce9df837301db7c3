"""The ``digest`` command: one module per command group, all sharing ``app``.

``digest.cli.app`` holds the group and what every command shares; importing the
command modules here registers them on it.
"""

from __future__ import annotations

from digest.cli import (  # noqa: F401  (registers)
    ingest,
    preview,
    schedule,
    send,
    serve,
    sources,
    status,
    subscribers,
    subscribers_out,
)
from digest.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="digest")
