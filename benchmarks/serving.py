"""A real ``digest serve`` for a benchmark: started on a free port in ``work``, its
address read from its own "serving on" line, stopped when the block ends. Shared so
each benchmark of the web side measures the same server the same way."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def serving(work: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """(base URL, process) of ``digest serve`` running in ``work`` with ``env``."""
    log = work / "serve.err"
    with log.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", "0"],
            cwd=work,
            env=env,
            stderr=err,
            stdout=subprocess.DEVNULL,
        )
    try:
        while "serving on" not in log.read_text():
            if server.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.05)
        yield re.search(r"serving on (\S+)", log.read_text()).group(1), server
    finally:
        server.terminate()
        server.wait()


@contextlib.contextmanager
def throwaway_database(postgres: str | None, work: Path, prefix: str) -> Iterator[str]:
    """A database URL for one run: a SQLite file in ``work``, or a schema of its own on
    the PostgreSQL server at ``postgres``, dropped afterwards."""
    if not postgres:
        yield f"sqlite:///{work / 'digest.db'}"
        return
    import uuid

    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(postgres).begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{postgres}?options=-csearch_path%3D{schema}"
    finally:
        with sa.create_engine(postgres).begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
