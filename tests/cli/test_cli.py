"""End to end through the real ``digest`` command, run as a subprocess.

Ingest the example articles, import the example subscribers, send, and read
every ``.eml`` the way a recipient's mail client would. Once on SQLite and
once on PostgreSQL.
"""

from __future__ import annotations

import csv
import email
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from email.policy import default
from pathlib import Path

import pytest
from conftest import LIVE_LINKS, ROOT, every_article, status_blocks
from conftest import run_digest as digest

from digest import __version__
from digest.models import Subscriber
from digest.store.schema import subscribers
from digest.store.store import Store
from digest.web.context import subscriber_for

SECRET = "cli-test-secret"
EXAMPLES = ROOT / "examples" / "articles"
CSV_FILE = ROOT / "subscribers.example.csv"
HEADING = re.compile(r"^(.+)\n(=+)$", re.M)


def cli_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=database_url, DIGEST_SECRET=SECRET, COLUMNS="200")
    return env


def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default)


def plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*.eml"))} if folder.exists() else {}


@dataclass
class Run:
    """Everything the operator saw, in the order it happened."""

    tmp: Path
    env: dict[str, str]
    results: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    snapshots: dict[str, dict[Path, bytes]] = field(default_factory=dict)

    @property
    def outbox(self) -> Path:
        return self.tmp / "outbox"

    def step(self, name: str, *args: str) -> subprocess.CompletedProcess:
        result = digest(*args, cwd=self.tmp, env=self.env)
        self.results[name] = result
        self.snapshots[name] = snapshot(self.outbox)
        return result


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def run(request, tmp_path_factory) -> Run:
    tmp = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'digest.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")()
    r = Run(tmp, cli_env(url))
    (tmp / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")  # else a warning, rightly
    r.step("ingest", "ingest", str(EXAMPLES))
    r.step("import", "subscribers", "import", str(CSV_FILE))
    r.step("dry-run", "send", "--dry-run")
    r.step("status-after-dry-run", "status")
    r.step("test-copy", "send", "--to", "test@example.com")
    r.step("status-after-test-copy", "status")
    r.step("send", "send")
    r.step("send-again", "send")
    r.step("status", "status")
    r.step("preview", "preview", "--email", "alice.moreau@example.com", "-o", "alice.html")
    return r


@pytest.fixture(scope="module")
def subscribers_csv() -> dict[str, dict[str, str]]:
    with CSV_FILE.open(encoding="utf-8", newline="") as handle:
        return {row["email"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def sent(run) -> dict[str, tuple[Path, email.message.EmailMessage]]:
    """Every edition .eml, by recipient address."""
    found = {}
    for path in run.snapshots["send"]:
        if path.parent.name == "test":
            continue
        message = parse(path)
        address = message["To"].addresses[0].addr_spec
        assert address not in found, f"{address} got two messages"
        found[address] = (path, message)
    return found


def test_every_step_succeeds(run):
    for name, result in run.results.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert "Traceback" not in result.stderr
        assert "warning" not in result.stderr.lower(), f"{name}: {result.stderr}"
    assert re.search(
        r"ingested: \d+ new, 0 updated, 0 skipped, 0 failed", run.results["ingest"].stdout
    )
    assert "subscribers: 10 added, 0 updated, 0 rejected" in run.results["import"].stdout


def test_everyone_in_the_csv_gets_exactly_one_email(run, sent, subscribers_csv):
    assert set(sent) == set(subscribers_csv)
    edition_files = [p for p in run.snapshots["send"] if p.parent.name != "test"]
    assert len(edition_files) == len(subscribers_csv)
    for address, (path, message) in sent.items():
        zone = subscribers_csv[address]["timezone"] or "UTC"
        label = message["X-Digest-Edition"]
        assert label.endswith(" " + zone)
        assert path.parent.name == label.replace(" ", "_").replace("/", "-")


def test_each_email_is_well_formed(run, sent, subscribers_csv):
    store = Store(run.env["DIGEST_DATABASE_URL"])
    for address, (path, message) in sent.items():
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        assert message["From"] == "Daily Digest <digest@example.com>"
        assert message["To"].addresses[0].display_name == subscribers_csv[address]["name"]
        # The lead headline (and how many more), the first story in the email.
        lead = message["Subject"].split(" + ")[0].removesuffix("…")  # cut to fit an inbox line
        assert " ".join(plain(message).split()).split("* ", 1)[1].startswith(lead)
        assert "\n" not in message["Subject"]
        assert message["Date"] and message["Message-ID"] and message["MIME-Version"] == "1.0"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        raw = path.read_bytes().split(b"\r\n\r\n", 1)[0]
        line = re.search(
            rb"\r\nList-Unsubscribe: <(https://news.example.org/unsubscribe/(\S+))>\r\n", raw
        )
        assert line, raw
        url, token = line.group(1).decode(), line.group(2).decode()
        assert subscriber_for(token, SECRET.encode(), store).email == address
        # The recipient's own link, in both parts.
        assert f"Unsubscribe:\n{url}\n" in plain(message)
        assert f'href="{url}"' in message.get_body(("html",)).get_content()
    store.close()


def test_grouping_follows_each_subscribers_topics(run, sent, subscribers_csv):
    ingested = int(re.search(r"ingested: (\d+) new", run.results["ingest"].stdout).group(1))
    for address, (_, message) in sent.items():
        text = plain(message)
        titles = re.findall(r"^\* (.+)$", text, re.M)
        assert titles, address
        assert len(titles) == len(set(titles)), f"{address}: an article twice"
        headings = [h for h, rule in HEADING.findall(text) if len(rule) == len(h)]
        headings = [h for h in headings if h != "TOP STORIES"]  # the front page, not a topic
        topics = [t for t in subscribers_csv[address]["topics"].split(";") if t]
        if topics:
            assert headings
            assert set(headings) <= {t.upper() for t in topics}, address
            chosen = sorted(topics, key=str.casefold)
            named = ", ".join(chosen[:-1]) + " and " + chosen[-1] if len(chosen) > 1 else topics[0]
            assert f"You chose {named}." in " ".join(text.split())
        else:
            # Everything: every article of the window, shown or counted as "more".
            more = sum(int(n) for n in re.findall(r"^ +(\d+) more on ", text, re.M))
            assert len(titles) + more == ingested, address
            assert "You get all topics." in " ".join(text.split())
        html = message.get_body(("html",)).get_content()
        for title in titles:
            assert title.replace("&", "&amp;") in html


def test_each_email_greets_its_recipient_by_first_name_else_whole_name(sent, subscribers_csv):
    for address, (_, message) in sent.items():
        row = subscribers_csv[address]
        called = row["first_name"] or row["name"]  # never a word guessed from the name
        assert f"Hello {called}," in plain(message).splitlines()
        html = message.get_body(("html",)).get_content()
        assert f"Hello {called.replace('&', '&amp;')}," in html
    assert "Hello Chidi," in plain(sent["chidi.okafor@example.net"][1]).splitlines()
    assert "Hello Bob Tanaka," in plain(sent["bob.tanaka@example.org"][1]).splitlines()


def test_a_second_send_mails_nobody(run, sent):
    result = run.results["send-again"]
    assert result.returncode == 0
    assert f"nothing to send: {len(sent)} already sent" in result.stdout
    assert run.snapshots["send-again"] == run.snapshots["send"]


def test_status_lists_every_edition_with_its_counts(run, sent):
    by_label = Counter(message["X-Digest-Edition"] for _, message in sent.values())
    rows = {r["edition"]: r for r in status_blocks(run.results["status"].stdout)["edition"]}
    assert set(rows) == set(by_label)
    for label, count in by_label.items():
        counts = [int(rows[label][k]) for k in ("sent", "failed", "in_doubt", "skipped", "pending")]
        assert counts == [count, 0, 0, 0, 0]


def test_preview_writes_the_html_one_subscriber_gets(run, sent):
    assert "written to alice.html" in run.results["preview"].stdout
    html = (run.tmp / "alice.html").read_text("utf-8")
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "Hello Alice," in html
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    assert headings and set(headings) <= {"Climate", "Energy"}
    mailed = sent["alice.moreau@example.com"][1].get_body(("html",)).get_content()
    assert re.findall(r"<h2[^>]*>([^<]+)</h2>", mailed) == headings


def test_dry_run_counts_and_records_nothing(run, subscribers_csv):
    result = run.results["dry-run"]
    assert "nothing sent, nothing recorded" in result.stdout
    assert f"would send {len(subscribers_csv)}, skip 0" in result.stdout
    assert run.snapshots["dry-run"] == {}
    assert "no editions sent yet" in run.results["status-after-dry-run"].stderr


def test_a_test_copy_is_written_once_and_recorded_nowhere(run):
    assert "test copy sent to test@example.com" in run.results["test-copy"].stdout
    (path,) = run.snapshots["test-copy"]
    assert path.parent == run.outbox / "test"
    message = parse(path)
    assert message["Subject"].startswith("[TEST] ")
    assert message["Subject"].endswith(" more")
    assert message["To"].addresses[0].addr_spec == "test@example.com"
    assert "no editions sent yet" in run.results["status-after-test-copy"].stderr
    # Still just the one test copy after the real send.
    assert [p for p in run.snapshots["send"] if p.parent.name == "test"] == [path]


# -- failures an operator must be told about ----------------------------------------


GOOD_MD = """---
title: "Good article"
url: https://news.example.org/good
keywords: [Climate]
---
A body.
"""


def test_a_malformed_article_file_is_named_and_the_good_ones_kept(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "good.md").write_text(GOOD_MD, "utf-8")
    bad_md = folder / "broken.md"
    bad_md.write_text('---\ntitle: "Unclosed\nkeywords: [Climate\n---\nBody.\n', "utf-8")
    wire = folder / "wire.jsonl"
    wire.write_text(
        '{"title": "Wire story", "url": "https://news.example.org/wire", "keywords": ["Space"]}\n'
        '{"title": "Cut off in the middle\n',
        "utf-8",
    )
    url = f"sqlite:///{tmp_path / 'digest.db'}"

    result = digest("ingest", str(folder), cwd=tmp_path, env=cli_env(url))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(rf"{re.escape(str(bad_md))}: front matter is not valid YAML", result.stderr)
    assert re.search(rf"{re.escape(str(wire))}:2: not valid JSON", result.stderr)
    assert "ingested: 2 new, 0 updated, 0 skipped, 2 failed" in result.stdout
    store = Store(url)
    try:
        found = every_article(store)
        assert sorted(a.title for a in found) == ["Good article", "Wire story"]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('colour = "blue"\n', "colour"),
        ('timezone = "Mars/Olympus_Mons"\n', "timezone"),
        ('window_hours = "a day"\n', "window_hours"),
        ("title = \n", "TOML"),
        ('[smtp]\npassword = "hunter2"\n', "password"),
    ],
    ids=["unknown-key", "bad-timezone", "wrong-type", "not-toml", "secret-in-file"],
)
def test_a_bad_config_exits_2_with_one_line(tmp_path, toml, named):
    (tmp_path / "digest.toml").write_text(toml, "utf-8")
    url = f"sqlite:///{tmp_path / 'digest.db'}"

    result = digest("send", cwd=tmp_path, env=cli_env(url))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "digest.toml" in lines[0] and named in lines[0]
    assert "hunter2" not in result.stderr
    assert not (tmp_path / "outbox").exists()


def test_a_bad_database_url_exits_2_with_one_line(tmp_path):
    result = digest("status", cwd=tmp_path, env=cli_env("nosuchdb://user:secret@host/db"))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DIGEST_DATABASE_URL" in result.stderr


def test_version(tmp_path):
    (tmp_path / "digest.toml").write_text("lease_seconds = 0\n", "utf-8")  # not even read
    result = digest("--version", cwd=tmp_path, env=cli_env(f"sqlite:///{tmp_path / 'x.db'}"))
    assert result.returncode == 0
    assert result.stdout.strip() == f"digest, version {__version__}"
    assert not (tmp_path / "x.db").exists()


def test_status_with_a_bad_setting_exits_2_with_one_line(tmp_path):
    (tmp_path / "digest.toml").write_text("lease_seconds = 0\n", "utf-8")
    url = f"sqlite:///{tmp_path / 'digest.db'}"

    result = digest("status", cwd=tmp_path, env=cli_env(url))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "Error: digest.toml: lease_seconds: must be from 30 to 86400, got 0"
    ]
    assert result.stdout == ""


def test_brackets_and_colons_in_untrusted_text_are_printed_as_they_are(tmp_path):
    # rich would read "[/x]" as a closing tag (and crash) and ":fire:" as an emoji.
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    store = Store(url)
    store.save_subscribers(
        [Subscriber(email="ann@example.com", name="Ann [/x] Lee :fire:", topics=["[bold]Tech"])]
    )
    store.close()

    result = digest("subscribers", "list", cwd=tmp_path, env=cli_env(url))

    assert result.returncode == 0, result.stderr
    assert "Ann [/x] Lee :fire:" in result.stdout
    assert "[bold]Tech" in result.stdout


def test_a_subscriber_in_a_zone_that_no_longer_exists_stops_no_command(tmp_path, db_url):
    """A tzdata update removed Ana's zone: every command still runs, sends her in the
    default zone with one warning naming her, and sends everyone else as usual."""
    env = cli_env(db_url)
    (tmp_path / "subscribers.csv").write_text(
        "email,name,topics,timezone\n"
        "ana@example.com,Ana,,Europe/Lisbon\n"
        "bo@example.org,Bo,,\n"
        "cy@example.net,Cy,,Asia/Tokyo\n",
        "utf-8",
    )
    assert digest("ingest", str(EXAMPLES), cwd=tmp_path, env=env).returncode == 0
    assert digest("subscribers", "import", "subscribers.csv", cwd=tmp_path, env=env).returncode == 0
    store = Store(db_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.email == "ana@example.com")
                .values(timezone="Europe/Atlantis")
            )
    finally:
        store.close()
    warning = (
        "warning: ana@example.com: unknown timezone 'Europe/Atlantis': sent in UTC, "
        "the default timezone, until it is changed "
        "(digest subscribers add ana@example.com --timezone ZONE)"
    )

    runs = {
        command: digest(*command.split(), cwd=tmp_path, env=env)
        for command in (
            "send --dry-run",
            "preview --email ana@example.com",
            "schedule --list",
            "send",
        )
    }

    for command, result in runs.items():
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr, command
    for command in ("send --dry-run", "preview --email ana@example.com", "schedule --list", "send"):
        assert runs[command].stderr.splitlines().count(warning) == 1, runs[command].stderr
    assert "would send 3" in runs["send --dry-run"].stdout
    assert "preview of" in runs["preview --email ana@example.com"].stdout
    listed = [line.split("\t") for line in runs["schedule --list"].stdout.splitlines()[1:]]
    assert {row[0]: row[5] for row in listed if len(row) == 8} == {"UTC": "2", "Asia/Tokyo": "1"}
    sent = {
        parse(path)["To"].addresses[0].addr_spec: path.parent.name
        for path in (tmp_path / "outbox").rglob("*.eml")
    }
    assert {address: folder.split("_", 1)[1] for address, folder in sent.items()} == {
        "ana@example.com": "UTC",
        "bo@example.org": "UTC",
        "cy@example.net": "Asia-Tokyo",
    }
