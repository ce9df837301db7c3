"""A database that cannot be used is named with what is wrong, and left as it was.

Random bytes, a truncated file, a folder, a folder that cannot be created, a
read-only file, a PostgreSQL server that is not there: one line naming the
file (or the URL without its password), exit 2. Any other database error
that escapes a command is one line too, exit 1, never a traceback.
"""

from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa
from conftest import ROOT, run_digest, subscriber
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import ConfigError, DatabaseUnreachable
from digest.store import database
from digest.store.store import Store

CSV_FILE = ROOT / "subscribers.example.csv"


def cli_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=database_url, DIGEST_SECRET="test-secret", COLUMNS="200")
    return env


def open_error(url: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Store(url)
    message = str(caught.value)
    assert "\n" not in message
    return message


def filled_database(path) -> bytes:
    store = Store(f"sqlite:///{path}")
    store.save_subscribers([subscriber(f"reader{i}@example.com") for i in range(200)])
    store.close()
    return path.read_bytes()


def test_random_bytes_are_not_a_sqlite_database_and_are_left_alone(tmp_path):
    path = tmp_path / "digest.db"
    junk = os.urandom(3000)
    junk = b"\x00" + junk[1:]  # never, by chance, the SQLite header
    path.write_bytes(junk)

    message = open_error(f"sqlite:///{path}")

    assert message == f"the database file {path} is not a SQLite database"
    assert path.read_bytes() == junk


def test_a_truncated_database_is_named_and_left_alone(tmp_path):
    path = tmp_path / "digest.db"
    whole = filled_database(path)
    path.write_bytes(whole[:5000])

    message = open_error(f"sqlite:///{path}")

    assert message.startswith(f"the database file {path} is ")
    assert "damaged" in message or "not a SQLite database" in message
    assert path.read_bytes() == whole[:5000]


def test_a_folder_is_not_a_database_file(tmp_path):
    assert open_error(f"sqlite:///{tmp_path}") == (
        f"the database file {tmp_path} is a folder, not a file"
    )


def test_a_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be", "utf-8")
    path = tmp_path / "taken" / "data" / "digest.db"

    message = open_error(f"sqlite:///{path}")

    assert message.startswith(f"the database file {path}: its folder cannot be created")


def test_a_read_only_database_refuses_writes_by_name_and_keeps_its_rows(tmp_path):
    path = tmp_path / "digest.db"
    before = filled_database(path)
    url = f"sqlite:///file:{path}?mode=ro&uri=true"

    result = run_digest("subscribers", "import", str(CSV_FILE), cwd=tmp_path, env=cli_env(url))

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"Error: the database file {path} is read-only"
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files anyway")
def test_a_database_file_without_write_permission(tmp_path):
    path = tmp_path / "digest.db"
    filled_database(path)
    path.chmod(0o444)
    store = Store(f"sqlite:///{path}")
    try:
        with pytest.raises(sa.exc.OperationalError) as caught:
            store.save_subscribers([subscriber("new@example.com")])
        assert store.problem(caught.value) == f"the database file {path} is read-only"
    finally:
        store.close()


def test_an_unreachable_postgresql_is_one_line_without_the_password():
    # Not a ConfigError: a server away is worth waiting for (store.waiting), not fixing.
    with pytest.raises(DatabaseUnreachable) as caught:
        Store("postgresql://digest:pg-pw-1f3e@127.0.0.1:1/digest")
    message = str(caught.value)
    assert "\n" not in message

    assert message.startswith("cannot connect to the database postgresql")
    assert "digest:***@127.0.0.1:1/digest" in message
    assert "pg-pw-1f3e" not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://digest:pg-pw-1f3e@db.internal:port/digest",
        "postgresql://digest:pg-pw-1f3e@[::1/digest",
        "pg-pw-1f3e",
        "sqlite:/pg-pw-1f3e.db",
        "   ",
    ],
)
def test_a_url_that_cannot_be_read_is_never_repeated(url):
    message = open_error(url)
    assert message.startswith("DIGEST_DATABASE_URL: not a database URL")
    assert "pg-pw-1f3e" not in message


def test_a_database_url_in_sqlite_uri_form_creates_no_stray_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(f"sqlite:///file:{tmp_path / 'digest.db'}?uri=true")
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("digest.db")) == []


def test_the_cli_names_a_database_file_that_is_not_one(tmp_path):
    path = tmp_path / "digest.db"
    path.write_bytes(b"\x00not a database at all" * 100)

    result = run_digest("status", cwd=tmp_path, env=cli_env(f"sqlite:///{path}"))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"Error: the database file {path} is not a SQLite database"


def test_any_other_database_error_is_one_line_and_exit_1(db_url, tmp_path):
    # Another application's database: a "subscribers" table digest did not make.
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE subscribers (handle TEXT)")
        conn.exec_driver_sql("INSERT INTO subscribers VALUES ('someone')")
    engine.dispose()

    result = run_digest("subscribers", "list", cwd=tmp_path, env=cli_env(db_url))

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: database error: ")
    assert "[SQL" not in line and "SELECT" not in line
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:  # nothing of the other application's was lost
        assert conn.exec_driver_sql("SELECT handle FROM subscribers").scalars().all() == ["someone"]
    engine.dispose()


@pytest.mark.parametrize("recorded", ["'abc'", "0", "-5"])
def test_a_schema_version_no_digest_wrote_is_named(tmp_path, recorded):
    path = tmp_path / "digest.db"
    filled_database(path)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE schema_version SET version = {recorded}")
    engine.dispose()

    message = open_error(f"sqlite:///{path}")

    assert message.startswith(f"the database sqlite:///{path} records schema version ")
    assert "not digest's database, or it is damaged" in message


@pytest.mark.parametrize("url", ["mysql://digest:pg-pw-1f3e@db/digest", "nosuchdb://x@y/z"])
def test_only_sqlite_and_postgresql(url):
    message = open_error(url)
    assert "digest stores its data in SQLite or PostgreSQL" in message
    assert "pg-pw-1f3e" not in message


def test_senders_starting_at_once_on_a_new_postgresql_all_start(pg_schema_url):
    # Two schedulers firing together on a fresh database both create the tables.
    url = pg_schema_url()
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def open_store() -> None:
        start.wait()
        try:
            Store(url).close()
            outcomes.append("opened")
        except ConfigError as err:
            outcomes.append(str(err))

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["opened"] * 4


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://postgres@127.0.0.1:5432/no_such_db_7", 'database "no_such_db_7" does not'),
        ("postgresql://no_such_role_7@127.0.0.1:5432/test", 'role "no_such_role_7" does not'),
    ],
)
def test_a_server_that_answers_no_is_a_setting_to_fix_not_worth_waiting_for(
    pg_schema_url, url, said
):
    message = open_error(url)
    assert said in message


def test_waiting_for_a_server_stops_when_asked_and_gives_up_when_told():
    import threading
    import time

    from digest.store.waiting import open_when_up

    url = "postgresql://digest:pg-pw-1f3e@127.0.0.1:1/digest"
    said: list[str] = []
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert open_when_up(url, 3600, said.append, stop) is None  # a SIGTERM while waiting
    assert said and said[0].endswith("Connection refused; attempt 1, next in 1 s")
    assert all("pg-pw-1f3e" not in line for line in said)

    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable, match=r"gave up after \d+ attempt\(s\) in 1.5 s"):
        open_when_up(url, 1.5, said.append)
    assert time.monotonic() - started < 10


@given(st.text(max_size=200), st.sampled_from(database._UNREACHABLE), st.text(max_size=50))
def test_a_server_away_is_told_from_one_that_said_no_whatever_the_words_around(
    before, phrase, after
):
    def failed(text: str) -> sa.exc.OperationalError:
        return sa.exc.OperationalError("SELECT 1", {}, Exception(text))

    assert database.unreachable(failed(f"{before}{phrase.upper()}{after}"))
    said_no = f"FATAL: {before}"
    if not any(p in said_no.lower() for p in database._UNREACHABLE):
        assert not database.unreachable(failed(said_no))
    assert not database.unreachable(sa.exc.IntegrityError("x", {}, Exception(phrase)))
