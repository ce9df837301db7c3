"""Which database a command opens, as an operator sees it from a plain shell.

Forgetting DIGEST_DATABASE_URL used to open a new, empty SQLite file without a
word. Now the file may name the database (``[database] url``, the password from
DIGEST_DATABASE_PASSWORD), and a new SQLite file is announced on stderr once.
"""

from __future__ import annotations

import os

import pytest
from conftest import run_digest

PASSWORD = "Pw-from-the-env-9Zr"  # the local server trusts loopback: any password works


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(extra)
    return env


def test_a_new_sqlite_database_is_announced_once(tmp_path):
    first = run_digest("status", cwd=tmp_path, env=clean_env())
    assert first.returncode == 0, first.stderr
    announced = [line for line in first.stderr.splitlines() if "created" in line]
    assert announced == [
        f"warning: created a new SQLite database at {tmp_path / 'digest.db'} (to use another, "
        "set DIGEST_DATABASE_URL or [database] url in digest.toml)"
    ]
    again = run_digest("status", cwd=tmp_path, env=clean_env())
    assert again.returncode == 0 and "created" not in again.stderr


@pytest.mark.postgres
def test_the_database_named_in_the_file_is_used_with_the_password_from_the_environment(
    tmp_path, pg_schema_url
):
    url = pg_schema_url().replace("postgresql+psycopg://", "postgresql://")
    (tmp_path / "digest.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text("email,name,topics,timezone\nana@example.com,Ana,,\n", encoding="utf-8")
    env = clean_env(DIGEST_DATABASE_PASSWORD=PASSWORD)

    imported = run_digest("subscribers", "import", str(people), cwd=tmp_path, env=env)
    listed = run_digest("subscribers", "list", cwd=tmp_path, env=env)

    assert imported.returncode == 0, imported.stderr
    assert listed.returncode == 0, listed.stderr
    assert "ana@example.com" in listed.stdout
    assert not (tmp_path / "digest.db").exists()  # no SQLite file on the side
    assert PASSWORD not in imported.stdout + imported.stderr + listed.stderr


def test_a_password_in_the_file_exits_2_without_showing_it(tmp_path):
    (tmp_path / "digest.toml").write_text(
        '[database]\nurl = "postgresql://digest:hunter2-in-file@db/digest"\n', encoding="utf-8"
    )
    done = run_digest("status", cwd=tmp_path, env=clean_env())
    assert done.returncode == 2
    assert "database.url: has a password in it" in done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "digest.db").exists()
