"""``digest subscribers`` (import, list, add, remove, export) as an operator runs them,
on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import pty
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import run_digest
from rich.console import Console

import digest.cli.subscribers_out as cli_module
from digest.cli import cli
from digest.store.store import Store

GOOD = [
    "ana@example.com,Ana Silva,Space;Climate,Europe/Lisbon",
    'bo@example.org,"Okafor, Bo",,',
    "cy@example.net,[bold]Cy[/bold] [/],Energy;[b]Kw[/b],UTC",  # rich markup, shown as written
    "dee@example.com,\x1b[31mDee\x1b[0m,\x1b[1mSpace\x1b[0m;Heat\x00 Pumps,",  # ANSI, NUL
    "eve@example.com,Eve \u202eevE,,Asia/Tokyo",  # a bidi override
]
POISONED = {
    # line number in the file below -> what the error must say
    3: "a quoted value does not end on this line",
    5: "email address longer than 254 characters",
    7: "unknown timezone 'America'",
    9: "topic longer than 100 characters",
    10: "5 fields, but the header has 4",
    12: "duplicate email ANA@example.com (first on line 2)",
}


def poisoned_file(folder: Path) -> Path:
    rows = [
        GOOD[0],  # 2
        'first@example.com,"Smith, J,,',  # 3: an unterminated quote
        GOOD[1],  # 4
        "u@" + "d" * 360 + ".example.com,Long,,",  # 5: 371 characters, over varchar(320)
        GOOD[2],  # 6
        "tz@example.com,Tz,,America",  # 7: a folder of the tz database
        GOOD[3],  # 8
        "topic@example.com,T," + "x" * 150 + ",",  # 9
        "shift@example.com,Smith, John,,UTC",  # 10
        GOOD[4],  # 11
        "ANA@example.com,Again,,",  # 12
    ]
    path = folder / "subscribers.csv"
    path.write_bytes(("email,name,topics,timezone\n" + "\n".join(rows) + "\n").encode("utf-8"))
    return path


@pytest.fixture
def env(db_url) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="test", COLUMNS="200")
    return env


def test_each_poisoned_row_is_named_once_and_every_good_row_is_stored(tmp_path, env, db_url):
    path = poisoned_file(tmp_path)
    result = run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    named = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(named) == len(POISONED)
    for line, (number, reason) in zip(named, POISONED.items(), strict=True):
        assert line.startswith(f"error: {path}:{number}: "), line
        assert reason in line
    assert "subscribers: 5 added, 0 updated, 6 rejected" in result.stdout

    store = Store(db_url)
    try:
        stored = {s.email: s for s in store.list_subscribers()}
    finally:
        store.close()
    assert sorted(stored) == sorted(row.split(",", 1)[0] for row in GOOD)
    assert stored["bo@example.org"].name == "Okafor, Bo"
    dee = stored["dee@example.com"]
    assert (dee.name, dee.topics) == ("Dee", ["Space", "Heat Pumps"])  # whole escapes gone
    assert stored["eve@example.com"].name == "Eve evE"

    # What was imported is listed as written, with nothing for a terminal to obey;
    # piped, one tab-separated line a subscriber.
    listed = run_digest("subscribers", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0] == (
        "email\tname\tfirst_name\ttopics\ttimezone\tfrequency\tsend_time\tpaused_until"
    )
    assert (
        "bo@example.org\tOkafor, Bo\t\t(everything)\tUTC (default)"
        "\tdaily (default)\t07:00 (default)\t\n" in listed.stdout
    )
    assert (
        "cy@example.net\t[bold]Cy[/bold] [/]\t\tEnergy; [b]Kw[/b]\tUTC"
        "\tdaily (default)\t07:00 (default)\t\n" in listed.stdout
    )
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e]", listed.stdout)
    assert listed.stdout.endswith("5 subscriber(s)\n")
    dry = run_digest("send", "--dry-run", cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "\x1b" not in dry.stdout
    assert "[b]Kw[/b]" in dry.stdout and "\\[" not in dry.stdout  # as stored, unescaped


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("name,topics\nAna,Space\n", "no 'email' column"),
        ("", "empty file"),
    ],
)
def test_a_file_that_is_not_a_subscribers_csv_is_exit_2_with_one_line(tmp_path, content, reason):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"  # nothing is stored
    path = tmp_path / "odd.csv"
    path.write_text(content)
    result = run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)
    assert result.returncode == 2
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(message) == 1
    assert str(path) in message[0]
    assert reason in message[0]
    assert "Traceback" not in result.stderr


def test_on_a_terminal_the_list_is_a_table_printed_a_page_at_a_time(tmp_path, monkeypatch):
    """In-process, with the CLI's console writing to a string as if to a terminal."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    screen = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=screen, force_terminal=True, width=200))
    monkeypatch.setattr(cli_module, "LIST_PAGE", 2)
    runner = CliRunner()
    path = poisoned_file(tmp_path)
    assert runner.invoke(cli, ["subscribers", "import", str(path)]).exit_code == 1
    screen.truncate(0)

    result = runner.invoke(cli, ["subscribers", "list"])

    assert result.exit_code == 0, result.output
    shown = re.sub("\x1b\\[[0-9;]*m", "", screen.getvalue())  # the table's own styles
    assert shown.count("email") == 1  # one header over three pages
    assert "[bold]Cy[/bold] [/]" in shown  # markup shown, not applied or refused
    assert "\x1b[31m" not in screen.getvalue()
    rows = [line for line in shown.splitlines() if "@" in line]
    assert len(rows) == 5
    # bo (first page), cy and dee (second): the timezone column lines up across pages.
    assert len({line.find("UTC") for line in rows if "UTC" in line}) == 1
    assert shown.rstrip().endswith("5 subscriber(s)")


def test_on_a_terminal_list_all_marks_who_left_with_the_date(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    screen = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=screen, force_terminal=True, width=200))
    runner = CliRunner()
    for email in ("ana@example.com", "bo@example.org"):
        assert runner.invoke(cli, ["subscribers", "add", email]).exit_code == 0
    assert runner.invoke(cli, ["subscribers", "remove", "ana@example.com"]).exit_code == 0
    screen.truncate(0)

    assert runner.invoke(cli, ["subscribers", "list", "--all"]).exit_code == 0

    shown = re.sub("\x1b\\[[0-9;]*m", "", screen.getvalue())
    assert re.search(
        r"email +name +first_name +topics +timezone +frequency +send_time +paused_until +status",
        shown,
    )
    assert re.search(
        r"ana@example\.com .*UTC \(default\) +daily \(default\) +07:00 \(default\) +"
        r"unsubscribed \d{4}-\d\d-\d\d \d\d:\d\d UTC",
        shown,
    )
    assert re.search(r"bo@example\.org .*07:00 \(default\) +subscribed *$", shown, re.MULTILINE)
    assert shown.rstrip().endswith("2 subscriber(s), 1 of them unsubscribed")


def test_a_full_disk_under_the_temporary_file_is_one_line_not_a_traceback(tmp_path):
    """A real fault: the child may write no file larger than 2 MB (RLIMIT_FSIZE)."""
    path = tmp_path / "wide.csv"
    topics = ";".join(f"Topic{j}" for j in range(40))
    with path.open("w") as out:
        out.write("email,name,topics,timezone\n")
        for i in range(40_000):  # ~20 MB: more than the temporary file's page cache
            out.write(f"r{i}@example.com,{'N' * 190},{topics},UTC\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024 * 1024, resource.RLIM_INFINITY))

    result = subprocess.run(
        [sys.executable, "-m", "digest", "subscribers", "import", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path}: sorting the rows in a temporary file failed" in result.stderr


def test_a_database_that_refuses_all_writes_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("email,name,topics,timezone\nana@example.com,Ana,,\n")
    Store(f"sqlite:///{tmp_path / 'd.db'}").close()  # the tables exist; the file is read-only
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///file:{tmp_path / 'd.db'}?mode=ro&uri=true"
    result = run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)
    assert result.returncode == 2  # the file itself: the operator must fix it first
    assert "Traceback" not in result.stderr
    assert f"the database file {tmp_path / 'd.db'} is read-only" in result.stderr


# -- add, remove, list --all, export ----------------------------------------------


def test_one_person_added_changed_removed_and_listed(tmp_path, env):
    def digest(*args):
        result = run_digest("subscribers", *args, cwd=tmp_path, env=env)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout.strip(), result.stderr.strip()

    assert digest(
        "add",
        "ana@example.com",
        "--name",
        "Silva, Ana",
        "--first-name",
        "Ana",
        "--topics",
        "Climate;Energy",
    ) == (
        0,
        "added: ana@example.com",
        "",
    )
    assert digest("add", "ANA@example.com", "--timezone", "Europe/Lisbon")[:2] == (
        0,
        "updated: ANA@example.com (email, timezone)",
    )
    assert digest("add", "ANA@example.com", "--name", "Silva, Ana")[1] == (
        "unchanged: ANA@example.com (already subscribed as given)"
    )
    assert digest("add", "ANA@example.com", "--first-name", "Ana Maria")[1] == (
        "updated: ANA@example.com (first_name)"
    )
    code, said, _ = digest("remove", "ana@example.com")
    assert code == 0
    assert re.fullmatch(
        r"unsubscribed: ANA@example\.com at \d{4}-\d\d-\d\d \d\d:\d\d UTC; "
        "their ledger history is kept",
        said,
    )
    code, said, _ = digest("remove", "ana@example.com")
    assert (code, said.split(" (")[0]) == (0, "already unsubscribed: ANA@example.com")
    assert digest("remove", "nobody@example.com") == (
        1,
        "",
        "Error: no subscriber 'nobody@example.com'",
    )
    code, _, said = digest("add", "ana@example.com", "--name", "Ana again")
    assert code == 1
    assert re.fullmatch(
        r"Error: ANA@example\.com unsubscribed on [\d: -]+ UTC; "
        "add --resubscribe to subscribe them again",
        said,
    )
    assert digest("add", "bo@example.org")[1] == "added: bo@example.org"

    assert digest("list")[1].splitlines()[1:] == [
        "bo@example.org\t\t\t(everything)\tUTC (default)\tdaily (default)\t07:00 (default)\t",
        "1 subscriber(s)",
    ]
    listed = digest("list", "--all")[1].splitlines()
    assert listed[0] == (
        "email\tname\tfirst_name\ttopics\ttimezone\tfrequency\tsend_time\tpaused_until\tstatus"
    )
    assert re.fullmatch(
        r"ANA@example\.com\tSilva, Ana\tAna Maria\tClimate; Energy\tEurope/Lisbon"
        r"\tdaily \(default\)\t07:00 \(default\)\t\tunsubscribed [\d: -]+ UTC",
        listed[1],
    )
    assert listed[2:] == [
        "bo@example.org\t\t\t(everything)\tUTC (default)\tdaily (default)"
        "\t07:00 (default)\t\tsubscribed",
        "2 subscriber(s), 1 of them unsubscribed",
    ]

    assert (
        digest("add", "ana@example.com", "--resubscribe")[1]
        == "resubscribed: ana@example.com (email)"
    )
    assert digest("list")[1].endswith("2 subscriber(s)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob@"], "Error: EMAIL: not a valid email address: 'bob@'"),
        (
            ["a@example.com", "--timezone", "Mars/Olympus"],
            "Error: --timezone: unknown timezone 'Mars/Olympus' (use an IANA name such as "
            "Europe/London)",
        ),
        (
            ["a@example.com", "--timezone", "localtime"],
            "Error: --timezone: timezone 'localtime' is this machine's own setting, not a "
            "place (use an IANA name such as Europe/London)",
        ),
        (
            ["a@example.com", "--topics", "Climate;News"],
            "Error: --topics: topic 'News' is a word feeds file everything under, which digest "
            "ignores: it never matches",
        ),
        (
            ["a@example.com", "--topics", "Cli\u200bmate"],
            "Error: --topics: topic 'Cli\\u200bmate' holds an invisible character (U+200B): it "
            "would never match the word as articles spell it",
        ),
        (
            ["a@example.com", "--topics", ";".join(f"T{i}" for i in range(51))],
            "Error: --topics: 51 topics; at most 50 are allowed",
        ),
        (
            ["a@example.com", "--topics", "x" * 1001],
            f"Error: --topics: topic longer than 100 characters: '{'x' * 39}…'",
        ),
    ],
)
def test_add_with_a_value_import_would_refuse_is_exit_2_naming_it(tmp_path, args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    result = run_digest("subscribers", "add", *args, cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", message)


def test_a_name_with_line_breaks_or_nul_is_cleaned_as_an_import_cleans_it(tmp_path, env, db_url):
    result = run_digest(
        "subscribers",
        "add",
        "ana@example.com",
        "--name",
        "Ana\r\nBcc: x@example.org\x01",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    store = Store(db_url)
    try:
        assert store.find_subscriber("ana@example.com").name == "Ana Bcc: x@example.org"
    finally:
        store.close()


def test_a_long_name_imported_or_added_is_shortened_alike_with_the_same_warning(
    tmp_path, env, db_url
):
    long_name = "Dr " + "Maria Helena " * 20 + "da Silva"  # 271 characters
    path = tmp_path / "long.csv"
    path.write_text(f"email,name\nana@example.com,{long_name}\n", encoding="utf-8")

    imported = run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)
    added = run_digest(
        "subscribers", "add", "bo@example.org", "--name", long_name, cwd=tmp_path, env=env
    )

    assert (imported.returncode, added.returncode) == (0, 0), imported.stderr + added.stderr
    warned = "warning: name longer than 200 characters, shortened"
    assert imported.stderr.splitlines() == [warned.replace(": ", f": {path}:2: ", 1)]
    assert added.stderr.splitlines() == [warned]
    store = Store(db_url)
    try:
        ana = store.find_subscriber("ana@example.com").name
        bo = store.find_subscriber("bo@example.org").name
    finally:
        store.close()
    assert ana == bo
    assert len(ana) <= 200 and ana.endswith("Helena…")


def test_an_export_reads_back_with_no_change(tmp_path, env):
    path = poisoned_file(tmp_path)
    run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)
    run_digest(
        "subscribers", "add", "zed@example.com", "--name", 'Zed "Z", Jr.', cwd=tmp_path, env=env
    )
    run_digest("subscribers", "remove", "bo@example.org", cwd=tmp_path, env=env)
    listed = run_digest("subscribers", "list", "--all", cwd=tmp_path, env=env).stdout

    exported = run_digest("subscribers", "export", "-o", "out.csv", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == "exported 5 subscriber(s) to out.csv\n"
    again = run_digest("subscribers", "import", "out.csv", cwd=tmp_path, env=env)

    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == "subscribers: 0 added, 0 updated, 5 unchanged, 0 rejected\n"
    assert run_digest("subscribers", "list", "--all", cwd=tmp_path, env=env).stdout == listed
    streamed = run_digest("subscribers", "export", cwd=tmp_path, env=env).stdout
    assert streamed == (tmp_path / "out.csv").read_text("utf-8")
    assert 'zed@example.com,"Zed ""Z"", Jr.",,,,,,\n' in streamed


def test_import_resubscribe_brings_back_those_in_the_file(tmp_path, env):
    path = tmp_path / "s.csv"
    path.write_text("email,name,topics,timezone\nana@example.com,Ana,,\nbo@example.org,Bo,,\n")
    run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)
    run_digest("subscribers", "remove", "bo@example.org", cwd=tmp_path, env=env)
    run_digest("subscribers", "import", str(path), cwd=tmp_path, env=env)
    assert "1 subscriber(s)" in run_digest("subscribers", "list", cwd=tmp_path, env=env).stdout

    result = run_digest("subscribers", "import", "--resubscribe", str(path), cwd=tmp_path, env=env)

    assert result.stdout == "subscribers: 0 added, 1 updated, 1 unchanged, 0 rejected\n"
    assert "2 subscriber(s)" in run_digest("subscribers", "list", cwd=tmp_path, env=env).stdout


def many(folder: Path, count: int) -> Path:
    path = folder / "many.csv"
    with path.open("w") as out:
        out.write("email,name,topics,timezone\n")
        for i in range(count):
            out.write(f"reader{i}@example.com,Reader {i},Climate,UTC\n")
    return path


@pytest.mark.parametrize("command", [["export"], ["export", "--all"], ["list"], ["list", "--all"]])
def test_output_into_a_pipe_that_closes_early_stops_quietly(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    run_digest("subscribers", "import", str(many(tmp_path, 5_000)), cwd=tmp_path, env=env)

    reader = subprocess.Popen(  # digest subscribers export | head -1
        [sys.executable, "-m", "digest", "subscribers", *command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout.readline().startswith(b"email")
    reader.stdout.close()
    assert reader.wait(timeout=60) == 141
    assert reader.stderr.read() == b""


def test_export_to_dev_stdout_is_the_same_as_to_stdout(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    run_digest("subscribers", "add", "ana@example.com", "--name", "Ana", cwd=tmp_path, env=env)
    with (tmp_path / "out.txt").open("w") as out:  # digest ... -o /dev/stdout > out.txt
        subprocess.run(
            [sys.executable, "-m", "digest", "subscribers", "export", "-o", "/dev/stdout"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            check=True,
        )
    assert (tmp_path / "out.txt").read_text() == (
        "email,name,first_name,topics,timezone,frequency,send_time,paused_until\n"
        "ana@example.com,Ana,,,,,,\n"
    )


def test_export_will_not_write_over_the_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    run_digest("subscribers", "add", "ana@example.com", cwd=tmp_path, env=env)
    result = run_digest("subscribers", "export", "-o", "d.db", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr == "Error: -o d.db: that is the database; choose another file\n"
    assert Store(env["DIGEST_DATABASE_URL"]).find_subscriber("ana@example.com") is not None


def test_an_export_that_cannot_be_written_whole_leaves_the_old_file(tmp_path):
    """A real fault: the child may write no file larger than 100 KB (RLIMIT_FSIZE)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    run_digest("subscribers", "import", str(many(tmp_path, 5_000)), cwd=tmp_path, env=env)
    (tmp_path / "out.csv").write_text("the last good export\n")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, resource.RLIM_INFINITY))

    result = subprocess.run(
        [sys.executable, "-m", "digest", "subscribers", "export", "-o", "out.csv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
    )
    assert result.returncode == 2
    assert result.stderr == "Error: out.csv: cannot write the export: File too large\n"
    assert (tmp_path / "out.csv").read_text() == "the last good export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == ["out.csv"]


# -- the progress bar ---------------------------------------------------------------


def test_a_large_import_shows_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}", FORCE_COLOR="1")
    result = run_digest("subscribers", "import", str(many(tmp_path, 12_000)), cwd=tmp_path, env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "subscribers: 12000 added, 0 updated, 0 rejected\n"


def on_a_terminal(args: list[str], cwd: Path, env: dict) -> tuple[int, str, str]:
    """Run digest with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=child,
    )
    os.close(child)
    screen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child has gone and the terminal closed
            break
        if not chunk:
            break
        screen += chunk
    os.close(main)
    stdout = proc.stdout.read().decode()
    return proc.wait(timeout=60), stdout, screen.decode("utf-8", "replace")


@pytest.mark.parametrize(("rows", "bar"), [(12_000, True), (3_000, False)])
def test_on_a_terminal_a_large_import_shows_a_bar_and_the_same_summary(tmp_path, rows, bar):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}", TERM="xterm", COLUMNS="100")
    code, stdout, screen = on_a_terminal(
        ["subscribers", "import", str(many(tmp_path, rows))], tmp_path, env
    )
    assert code == 0
    assert stdout == f"subscribers: {rows} added, 0 updated, 0 rejected\n"
    assert ("writing to the store" in screen) is bar
    assert (f"{rows}/{rows}" in screen) is bar


def test_a_bounced_address_is_added_back_only_with_unsuppress(tmp_path, env, db_url):
    from datetime import UTC, datetime

    from digest.models import ProviderEvent, Subscriber

    def digest(*args):
        result = run_digest("subscribers", *args, cwd=tmp_path, env=env)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout.strip(), result.stderr.strip()

    store = Store(db_url)
    # Subscribed before the bounce: an event from before it would change nothing.
    store.add_subscriber(Subscriber("ana@example.com"), now=datetime(2026, 11, 24, tzinfo=UTC))
    bounce = ProviderEvent(
        "e1",
        "bounce",
        "ana@example.com",
        datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
        detail="550 5.1.1 user unknown",
        suppress="bounced",
    )
    store.apply_events([bounce])
    store.close()

    assert digest("list")[1].splitlines()[-1] == "0 subscriber(s)"
    assert digest("add", "ana@example.com", "--resubscribe") == (
        1,
        "",
        "Error: ana@example.com: bounced on 2026-11-25 08:00 UTC (550 5.1.1 user unknown); "
        "once the address works again (and is off SendGrid's own suppression list), add "
        "--unsuppress to mail it again",
    )
    assert digest("remove", "ana@example.com")[1].startswith("unsubscribed: ana@example.com at ")
    listed = digest("list", "--all")[1].splitlines()
    assert re.fullmatch(
        r"ana@example\.com\t\t\t\(everything\)\tUTC \(default\)\tdaily \(default\)"
        r"\t07:00 \(default\)\t\tunsubscribed [\d: -]+ UTC; "
        r"bounced 2026-11-25 08:00 UTC: 550 5\.1\.1 user unknown",
        listed[1],
    )
    assert listed[2] == (
        "1 subscriber(s), 1 of them unsubscribed, 1 suppressed (bounced, dropped or complaint)"
    )
    assert digest("add", "ana@example.com", "--unsuppress")[0] == 1  # still unsubscribed
    assert digest("add", "ana@example.com", "--unsuppress", "--resubscribe")[:2] == (
        0,
        "resubscribed: ana@example.com",
    )
    assert digest("list")[1].splitlines()[-1] == "1 subscriber(s)"
