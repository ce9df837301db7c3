"""Subscribers CSV: good rows kept, each bad row named by file and line; the import CLI."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.errors import ConfigError
from digest.models import Subscriber
from digest.subscribers import read_csv

HEADER = "email,name,topics,timezone"


def write_csv(path: Path, *rows: str, header: str = HEADER, newline: str = "\n") -> Path:
    path.write_bytes(newline.join([header, *rows, ""]).encode("utf-8"))
    return path


def by_email(subscribers):
    return {s.email: s for s in subscribers}


# -- reading ------------------------------------------------------------------


def test_fields_topics_and_timezone(tmp_path):
    path = write_csv(
        tmp_path / "subs.csv",
        "ana@example.com,Ana Silva,Space;Climate ; Local  Politics,Europe/Lisbon",
        "bo@example.org,Bo,,",
        "cy@example.net,,Energy,America/New_York",
    )
    result = read_csv(path)
    assert result.errors == []
    subs = by_email(result.subscribers)
    assert list(subs) == ["ana@example.com", "bo@example.org", "cy@example.net"]
    assert subs["ana@example.com"].name == "Ana Silva"
    assert subs["ana@example.com"].topics == ["Space", "Climate", "Local Politics"]
    assert subs["ana@example.com"].timezone == "Europe/Lisbon"
    assert subs["bo@example.org"].topics == []  # empty: everything
    assert subs["bo@example.org"].timezone is None  # empty: the configured default
    assert subs["cy@example.net"].name == ""
    assert subs["cy@example.net"].topics == ["Energy"]


def test_bom_crlf_and_quoted_fields(tmp_path):
    path = tmp_path / "excel.csv"
    text = (
        "Email,Name,Topics,Timezone\r\n"
        '"dee@example.com","Doe, Dee ""DJ""","Space;Science, Policy",Europe/Paris\r\n'
        "eve@example.com,Eve,,\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = read_csv(path)
    assert result.errors == []
    dee, eve = result.subscribers
    assert dee.email == "dee@example.com"  # not "\ufeffemail" mangling the first column
    assert dee.name == 'Doe, Dee "DJ"'
    assert dee.topics == ["Space", "Science, Policy"]
    assert dee.timezone == "Europe/Paris"
    assert eve.timezone is None
    assert "\r" not in eve.name


def test_cp1252_names(tmp_path):
    path = tmp_path / "ansi.csv"
    path.write_bytes(f"{HEADER}\nzoe@example.com,Zoë Müller,,\n".encode("cp1252"))
    (zoe,) = read_csv(path).subscribers
    assert zoe.name == "Zoë Müller"


def test_missing_email_column_is_a_config_error_naming_the_file(tmp_path):
    path = write_csv(tmp_path / "wrong.csv", "ana@example.com,Ana", header="address,name")
    with pytest.raises(ConfigError) as caught:
        read_csv(path)
    assert str(path) in str(caught.value)
    assert "email" in str(caught.value)


def test_bad_rows_are_named_by_line_and_good_rows_kept(tmp_path):
    path = write_csv(
        tmp_path / "mixed.csv",
        "ok1@example.com,One,,",  # line 2
        "not-an-address,Two,,",  # line 3
        "ok2@example.com,Three,,Mars/Olympus_Mons",  # line 4
        '"multi@example.com","Line one',  # lines 5-6: one quoted field over two lines
        'line two",,',
        "OK1@Example.COM,Dup,,",  # line 7: same address as line 2
        "two@@example.com,Bad,,",  # line 8
        ",No address,,",  # line 9
        "ok3@example.com,Four,Space,UTC",  # line 10
    )
    result = read_csv(path)
    assert [s.email for s in result.subscribers] == [
        "ok1@example.com",
        "multi@example.com",
        "ok3@example.com",
    ]
    messages = [str(e) for e in result.errors]
    assert [m.split(": ", 1)[0] for m in messages] == [
        f"{path}:3",
        f"{path}:4",
        f"{path}:7",
        f"{path}:8",
        f"{path}:9",
    ]
    assert "not-an-address" in messages[0]
    assert "timezone" in messages[1]
    assert "Mars/Olympus_Mons" in messages[1]
    assert "duplicate" in messages[2]
    assert "line 2" in messages[2]
    assert "email" in messages[4]


@pytest.mark.parametrize(
    "address",
    [
        "plain",
        "no-domain@",
        "@no-local.example.com",
        "space in@example.com",
        "dotless@localhost",
        "a@b@example.com",
        "trailing-dot@example.com.",
    ],
)
def test_invalid_addresses_are_rejected(tmp_path, address):
    path = write_csv(tmp_path / "one.csv", f'"{address}",X,,', "good@example.com,Good,,")
    result = read_csv(path)
    assert [s.email for s in result.subscribers] == ["good@example.com"]
    assert [e.where for e in result.errors] == [f"{path}:2"]


def test_name_with_line_breaks_cannot_inject_a_header(tmp_path):
    path = write_csv(
        tmp_path / "evil.csv",
        '"mallory@example.com","Mallory\r\nBcc: victim@example.org\rX\x00Y\tZ",,',
    )
    (mallory,) = read_csv(path).subscribers
    assert not re.search(r"[\x00-\x1f\x7f]", mallory.name)
    assert mallory.name == "Mallory Bcc: victim@example.org X Y Z"
    message = EmailMessage(policy=SMTP)
    message["To"] = formataddr((mallory.name, mallory.email))
    message["Subject"] = "digest"
    headers = message.as_string().split("\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith("bcc:") for line in headers.split("\r\n"))


def test_extra_fields_are_an_error_for_that_row(tmp_path):
    path = write_csv(tmp_path / "extra.csv", "a@example.com,A,,UTC,surprise", "b@example.com,B,,")
    result = read_csv(path)
    assert [s.email for s in result.subscribers] == ["b@example.com"]
    assert [e.where for e in result.errors] == [f"{path}:2"]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        read_csv(tmp_path / "nope.csv")


# -- storing ------------------------------------------------------------------


def test_reimport_updates_instead_of_duplicating(sqlite_store):
    first = [
        Subscriber("Ana@Example.com", "Ana", ["Space"], "Europe/Lisbon"),
        Subscriber("bo@example.org", "Bo", [], None),
    ]
    assert sqlite_store.save_subscribers(first) == {"added": 2, "updated": 0}
    again = [
        Subscriber("ana@example.COM", "Ana Silva", ["Climate", "Energy"], None),
        Subscriber("cy@example.net", "Cy", [], "UTC"),
    ]
    assert sqlite_store.save_subscribers(again) == {"added": 1, "updated": 1}
    stored = list(sqlite_store.list_subscribers())
    assert len(stored) == 3
    ana = sqlite_store.find_subscriber("ANA@EXAMPLE.COM")
    assert ana is not None
    assert ana.name == "Ana Silva"
    assert ana.topics == ["Climate", "Energy"]
    assert ana.timezone is None
    bo = sqlite_store.find_subscriber("bo@example.org")
    assert bo.topics == []
    assert bo.timezone is None


def test_csv_to_store_round_trip(tmp_path, sqlite_store):
    path = write_csv(
        tmp_path / "s.csv",
        'ana@example.com,"Silva, Ana",Space;Local Politics,Europe/Lisbon',
        "bo@example.org,Bo,,",
    )
    sqlite_store.save_subscribers(read_csv(path).subscribers)
    stored = by_email(sqlite_store.list_subscribers())
    assert stored["ana@example.com"].name == "Silva, Ana"
    assert stored["ana@example.com"].topics == ["Space", "Local Politics"]
    assert stored["ana@example.com"].timezone == "Europe/Lisbon"
    assert stored["bo@example.org"].topics == []
    assert stored["bo@example.org"].timezone is None


# -- the CLI ------------------------------------------------------------------


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray ./digest.toml
    runner = CliRunner()
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIGEST_CONFIG": None}

    def invoke(*args):
        return runner.invoke(cli, list(args), env=env)

    return invoke


def test_cli_import_reports_bad_rows_and_keeps_good_ones(tmp_path, run):
    path = write_csv(
        tmp_path / "s.csv",
        "ana@example.com,Ana,Space,Europe/Lisbon",
        "broken,Nobody,,",
        "bo@example.org,Bo,,",
        "cy@example.net,Cy,,Not/AZone",
    )
    result = run("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    assert f"{path}:3:" in result.stderr
    assert f"{path}:5:" in result.stderr
    assert "2 added" in result.stdout

    listed = run("subscribers", "list")
    assert listed.exit_code == 0
    assert "ana@example.com" in listed.stdout
    assert "bo@example.org" in listed.stdout
    assert "cy@example.net" not in listed.stdout
    assert "broken" not in listed.stdout
    assert "2 subscriber(s)" in listed.stdout


def test_cli_import_error_lines_are_one_per_bad_row(tmp_path, run):
    path = write_csv(
        tmp_path / "s.csv",
        "ana@example.com,Ana,,",
        "broken-address-without-an-at-sign,Nobody,,",
        "cy@example.net,Cy,,Not/AZone",
    )
    result = run("subscribers", "import", str(path))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if str(path) in line]
    assert len(lines) == 2
    assert re.fullmatch(rf"(error: )?{re.escape(str(path))}:3: .*broken-address.*", lines[0])
    assert re.fullmatch(rf"(error: )?{re.escape(str(path))}:4: .*Not/AZone.*", lines[1])


def test_cli_reimport_updates(tmp_path, run):
    path = write_csv(tmp_path / "s.csv", "ana@example.com,Ana,,")
    assert run("subscribers", "import", str(path)).exit_code == 0
    path = write_csv(tmp_path / "s.csv", "ANA@example.com,Ana Silva,Space,")
    result = run("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert "0 added, 1 updated" in result.stdout
    listed = run("subscribers", "list")
    assert "1 subscriber(s)" in listed.stdout
    assert "Ana Silva" in listed.stdout


def test_cli_missing_email_column_is_exit_2_with_one_line(tmp_path, run):
    path = write_csv(tmp_path / "nomail.csv", "Ana,Space", header="name,topics")
    result = run("subscribers", "import", str(path))
    assert result.exit_code == 2
    assert "Traceback" not in result.output + result.stderr
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(message) == 1
    assert str(path) in message[0]
    assert "email" in message[0]
    assert "0 subscriber(s)" in run("subscribers", "list").stdout
