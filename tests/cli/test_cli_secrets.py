"""Every CLI error path: one line, the right exit code, no traceback, and no secret shown.

Each case sets up a site (config file, database, templates), runs one
command with test values in every secret variable, and checks what the
operator sees. To cover a new error path, add a row to ``CASES``.

The table runs in-process (click's runner: the real ``digest`` command, its
real files and database, just without a new interpreter each time); a few
rows also run as a real subprocess, to show that what an operator sees in
a terminal is the same.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import POSTAL, ROOT, article, run_digest, subscriber

from digest.cli import cli
from digest.store.store import Store

KEY = "SG.leak-test-key.5e1f9c0d"
SMTP_PASSWORD = "smtp-pw-8d1f2a"
SMTP_URL = f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:1"
SIGNING_SECRET = "unsubscribe-signing-secret-51f2"
PG_PASSWORD = "pg-pw-77a1c3"
SECRETS = {"SENDGRID_API_KEY": KEY, "DIGEST_SMTP_URL": SMTP_URL, "DIGEST_SECRET": SIGNING_SECRET}
NEVER_SHOWN = [KEY, SMTP_URL, SMTP_PASSWORD, SIGNING_SECRET, PG_PASSWORD, "Secret42"]


@dataclass(frozen=True)
class Case:
    """One command in one site. ``{site}`` in args, config and env is the site's folder."""

    args: tuple[str, ...]
    exit: int
    says: str  # in the last line on stderr
    config: str = ""
    env: dict[str, str | None] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None  # break something in the site
    unchanged: tuple[str, ...] = ()  # files in the site the command must leave as they were


def junk_database(site: Path) -> None:
    (site / "digest.db").write_bytes(b"\x00" + os.urandom(4000))


def foreign_database(site: Path) -> None:
    (site / "digest.db").unlink()
    engine = sa.create_engine(f"sqlite:///{site / 'digest.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE subscribers (handle TEXT)")
    engine.dispose()


def broken_template(change: Callable[[str], str], name: str = "digest.html.j2"):
    def prepare(site: Path) -> None:
        shutil.copytree(ROOT / "templates", site / "templates")
        path = site / "templates" / name
        path.write_text(change(path.read_text("utf-8")), "utf-8")

    return prepare


OWN_TEMPLATES = 'templates_dir = "templates"\n'
RO = "sqlite:///file:{site}/digest.db?mode=ro&uri=true"
PG_DOWN = f"postgresql://digest:{PG_PASSWORD}@127.0.0.1:1/digest"
QUICK_SMTP = "[smtp]\ntimeout = 2\nmax_retries = 0\n"
QUICK_SENDGRID = "[sendgrid]\ntimeout = 2\nmax_retries = 0\nmax_wait = 0\n"
SENDGRID_DOWN = {"SENDGRID_API_HOST": "http://127.0.0.1:1"}

CASES: dict[str, Case] = {
    # -- configuration ------------------------------------------------------------
    "lease-zero": Case(("send",), 2, "lease_seconds", "lease_seconds = 0\n"),
    "subject-attribute": Case(("status",), 2, "subject", 'subject = "{date.year.__class__}"\n'),
    "send-time-7am": Case(("send",), 2, "send_time: expected HH:MM", 'send_time = "7am"\n'),
    "timezone-folder": Case(("status",), 2, "timezone", 'timezone = "America"\n'),
    "asm-group-true": Case(("send",), 2, "asm_group_id", "[sendgrid]\nasm_group_id = true\n"),
    "nan-timeout": Case(("send",), 2, "smtp.timeout", "[smtp]\ntimeout = nan\n"),
    "not-toml": Case(("status",), 2, "not valid TOML", "title = \n"),
    "unknown-key": Case(("status",), 2, "colour", 'colour = "blue"\n'),
    "key-in-file": Case(("send",), 2, "api_key", f'[sendgrid]\napi_key = "{KEY}"\n'),
    "smtp-url-in-file": Case(("send",), 2, "smtp_url", f'smtp_url = "{SMTP_URL}"\n'),
    "key-as-a-value": Case(("send",), 2, "asm_group_id", f'[sendgrid]\nasm_group_id = "{KEY}"\n'),
    "password-as-a-value": Case(("send",), 2, "title", f"title = [{SMTP_PASSWORD!r}]\n"),
    "bad-from-address": Case(("send",), 2, "from_address", 'from_address = "nobody"\n'),
    "no-templates-dir": Case(("preview",), 2, "templates_dir", 'templates_dir = "nowhere"\n'),
    # -- the database ---------------------------------------------------------------
    "junk-database": Case(("status",), 2, "is not a SQLite database", prepare=junk_database),
    "database-is-a-folder": Case(
        ("status",), 2, "is a folder", env={"DIGEST_DATABASE_URL": "sqlite:///{site}"}
    ),
    "database-folder-blocked": Case(
        ("status",),
        2,
        "its folder cannot be created",
        env={"DIGEST_DATABASE_URL": "sqlite:///{site}/digest.toml/data/digest.db"},
    ),
    "read-only-database": Case(
        ("subscribers", "import", str(ROOT / "subscribers.example.csv")),
        2,
        "is read-only",
        env={"DIGEST_DATABASE_URL": RO},
    ),
    # A server that does not answer is not a setting to fix: exit 1 (the services wait).
    "postgres-unreachable": Case(
        ("status",), 1, "cannot connect", env={"DIGEST_DATABASE_URL": PG_DOWN}
    ),
    "postgres-unknown-role": Case(
        ("status",),
        2,
        "cannot connect",
        env={"DIGEST_DATABASE_URL": f"postgresql://nobody:{PG_PASSWORD}@127.0.0.1:5432/test"},
    ),
    "database-url-unreadable": Case(
        ("status",),
        2,
        "DIGEST_DATABASE_URL",
        env={"DIGEST_DATABASE_URL": f"postgresql://digest:{PG_PASSWORD}@db:port/digest"},
    ),
    "another-apps-database": Case(
        ("subscribers", "list"), 1, "database error", prepare=foreign_database
    ),
    # -- templates ----------------------------------------------------------------------
    "template-syntax": Case(
        ("preview",),
        2,
        "parts.html.j2:",
        OWN_TEMPLATES,
        prepare=broken_template(lambda t: t.replace("{{ title }}", "{{ title }"), "parts.html.j2"),
    ),
    "template-undefined": Case(
        ("send", "--dry-run"),
        2,
        "'nosuch' is undefined",
        OWN_TEMPLATES,
        prepare=broken_template(lambda t: t + "{{ nosuch }}", "digest.txt.j2"),
    ),
    # -- providers --------------------------------------------------------------------
    "sendgrid-without-key": Case(
        ("send", "--provider", "sendgrid"), 2, "SENDGRID_API_KEY", env={"SENDGRID_API_KEY": None}
    ),
    "smtp-without-url": Case(
        ("send", "--provider", "smtp"), 2, "DIGEST_SMTP_URL", env={"DIGEST_SMTP_URL": None}
    ),
    "smtp-url-bad-port": Case(
        ("send", "--provider", "smtp"),
        2,
        "port",
        env={"DIGEST_SMTP_URL": f"smtp://mailer:{SMTP_PASSWORD}@mail.example.com:smtp"},
    ),
    "smtp-url-bad-scheme": Case(
        ("send", "--provider", "smtp"),
        2,
        "DIGEST_SMTP_URL",
        env={"DIGEST_SMTP_URL": f"https://mailer:{SMTP_PASSWORD}@mail.example.com"},
    ),
    "smtp-unreachable": Case(("send", "--provider", "smtp"), 1, "127.0.0.1", QUICK_SMTP),
    "smtp-test-copy-unreachable": Case(
        ("send", "--provider", "smtp", "--to", "me@example.com"), 1, "127.0.0.1", QUICK_SMTP
    ),
    "sendgrid-unreachable": Case(
        ("send", "--provider", "sendgrid"), 1, "127.0.0.1", QUICK_SENDGRID, env=SENDGRID_DOWN
    ),
    # -- usage --------------------------------------------------------------------------
    "preview-to-missing-folder": Case(
        ("preview", "-o", "{site}/no/such/folder/p.html"), 2, "cannot write the preview"
    ),
    "preview-path-with-escapes": Case(
        ("preview", "-o", "{site}/no/\x1b[2J\x1b]0;pwned\x07\n.html"), 2, "cannot write the preview"
    ),
    "preview-over-the-database": Case(
        ("preview", "-o", "digest.db"), 2, "that is the database", unchanged=("digest.db",)
    ),
    "preview-over-the-config": Case(
        ("preview", "-o", "./digest.toml"), 2, "the config file", unchanged=("digest.toml",)
    ),
    "preview-unknown-subscriber": Case(
        ("preview", "--email", "nobody@example.com"), 2, "nobody@example.com"
    ),
    "dry-run-and-to": Case(("send", "--dry-run", "--to", "me@example.com"), 2, "--dry-run"),
    "to-injects-a-header": Case(
        ("send", "--to", "me@example.com\r\nBcc: evil@example.net"), 2, "--to: not a valid"
    ),
    "to-not-an-address": Case(("send", "--to", "notanaddress"), 2, "--to: not a valid"),
    "to-two-addresses": Case(("send", "--to", "a@example.com, b@example.org"), 2, "--to:"),
    "to-display-name": Case(("send", "--to", "Me <me@example.com>"), 2, "--to:"),
    "to-with-a-comment": Case(("send", "--to", "(c)me@example.com"), 2, "--to: not a valid"),
    "future-edition": Case(("send", "--date", "2999-01-01"), 2, "has not begun yet"),
    "unknown-timezone-option": Case(("send", "--timezone", "Mars/Olympus"), 2, "--timezone"),
    "sendgrid-key-with-newline": Case(
        ("send", "--provider", "sendgrid"),
        2,
        "SENDGRID_API_KEY contains",
        env={"SENDGRID_API_KEY": f"{KEY}\nX-Injected: 1"},
    ),
    "sendgrid-host-not-a-url": Case(
        ("send", "--provider", "sendgrid"),
        2,
        "SENDGRID_API_HOST",
        env={"SENDGRID_API_HOST": "notaurl"},
    ),
    "sendgrid-host-ftp": Case(
        ("send", "--provider", "sendgrid"),
        2,
        "SENDGRID_API_HOST",
        env={"SENDGRID_API_HOST": "ftp://127.0.0.1:21/"},
    ),
    "import-missing-file": Case(("subscribers", "import", "{site}/none.csv"), 2, "none.csv"),
    "bad-date": Case(("status", "--date", "2026-13-45"), 2, "2026-13-45"),
    "date-out-of-range": Case(("preview", "--date", "0001-01-01"), 2, "must be between"),
    "unknown-command": Case(("frobnicate",), 2, "frobnicate"),
    # -- found by a hostile tester: settings that failed only once a batch was handed over
    "outbox-dir-is-a-file": Case(
        ("send",),
        2,
        "outbox_dir: cannot make the folder",
        'outbox_dir = "afile/sub"\n',
        prepare=lambda site: (site / "afile").write_text("not a folder"),
    ),
    "test-copy-outbox-dir-is-a-file": Case(
        ("send", "--to", "me@example.com"),
        2,
        "outbox_dir",
        'outbox_dir = "afile/sub"\n',
        prepare=lambda site: (site / "afile").write_text("not a folder"),
    ),
    "smtp-host-is-a-dot": Case(
        ("send", "--provider", "smtp"),
        2,
        "DIGEST_SMTP_URL: not a host name",
        env={"DIGEST_SMTP_URL": f"smtp://u:{SMTP_PASSWORD}@.:2525"},
    ),
    "smtp-host-label-too-long": Case(
        ("send", "--provider", "smtp"),
        2,
        "not a host name",
        env={"DIGEST_SMTP_URL": f"smtp://u:{SMTP_PASSWORD}@{'a' * 64}.example:25"},
    ),
    "sendgrid-host-is-a-dot": Case(
        ("send", "--provider", "sendgrid"),
        2,
        "SENDGRID_API_HOST",
        env={"SENDGRID_API_HOST": "http://."},
    ),
    "secret-not-utf8": Case(
        ("send",),
        2,
        "DIGEST_SECRET has bytes that are not UTF-8",
        env={"DIGEST_SECRET": "se\udcffcret"},
    ),
    "database-url-not-utf8": Case(
        ("status",),
        2,
        "DIGEST_DATABASE_URL has bytes",
        env={"DIGEST_DATABASE_URL": "sqlite:///db\udcff.db"},
    ),
    # -- found by a hostile tester: a secret pasted into another setting or option ------
    "key-as-from-address": Case(("status",), 2, "from_address", f'from_address = "{KEY}"\n'),
    "password-as-from-name": Case(
        ("status",), 2, "from_address", f'from_address = "Me <{SMTP_PASSWORD}>"\n'
    ),
    "key-as-timezone": Case(("status",), 2, "timezone", f'timezone = "{KEY}"\n'),
    "key-as-templates-dir": Case(("status",), 2, "templates_dir", f'templates_dir = "{KEY}"\n'),
    "key-as-subject-field": Case(("status",), 2, "subject", f'subject = "{{{KEY}}}"\n'),
    "key-as-setting-name": Case(("status",), 2, "unknown setting", f'"{KEY}" = 1\n'),
    "key-as-alias": Case(
        ("status",), 2, "keywords.aliases", f'[keywords]\naliases = {{ "{KEY}" = 5 }}\n'
    ),
    "escaped-secret-as-send-time": Case(
        ("status",),
        2,
        "send_time",
        'send_time = "esc\\\\nape\\"Secret42"\n',
        env={"DIGEST_SECRET": 'esc\\nape"Secret42'},
    ),
    "key-as-date-option": Case(("status", "--date", KEY), 2, "--date"),
    "database-password-in-query": Case(
        ("status",),
        1,
        "cannot connect",
        env={
            "DIGEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:1/test?password={PG_PASSWORD}"
        },
    ),
}


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory) -> Path:
    """A database with today's articles and three subscribers, copied into each site."""
    folder = tmp_path_factory.mktemp("newsroom")
    store = Store(f"sqlite:///{folder / 'digest.db'}")
    now = datetime.now(UTC)
    store.save_articles(
        [
            article("Heat records fall", ["Climate"], published=now - timedelta(hours=2)),
            article("Grid storage doubles", ["Energy"], published=now - timedelta(hours=1)),
        ]
    )
    store.save_subscribers(
        [subscriber(f"reader{i}@example.com", name=f"Reader {i}") for i in range(3)]
    )
    store.close()
    return folder / "digest.db"


def make_site(case: Case, newsroom: Path, tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(newsroom, site / "digest.db")
    # Links that work, so that smtp and sendgrid get as far as the error each case is about.
    live = "" if "public_url" in case.config else 'public_url = "https://news.example.org"\n'
    (site / "digest.toml").write_text(live + POSTAL + case.config, "utf-8")
    if case.prepare:
        case.prepare(site)
    env: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("DIGEST_", "SENDGRID_"))
    }
    env.update(SECRETS, DIGEST_DATABASE_URL=f"sqlite:///{site / 'digest.db'}", COLUMNS="200")
    env.update(case.env)
    env = {k: v.format(site=site) if v else v for k, v in env.items()}
    return site, env


def check(case: Case, exit_code: int, stdout: str, stderr: str) -> None:
    seen = stdout + stderr
    assert "Traceback" not in seen, seen
    assert "\x1b" not in stderr and "\x07" not in stderr, stderr
    for secret in NEVER_SHOWN:
        assert secret not in seen, f"{secret!r} shown:\n{seen}"
    assert exit_code == case.exit, seen
    assert case.says in stderr, seen
    if case.exit == 2 and stderr.startswith("Error: "):  # ours, not click's usage help
        assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("name", list(CASES))
def test_an_error_path_shows_no_secret_and_no_traceback(name, newsroom, tmp_path, monkeypatch):
    case = CASES[name]
    site, env = make_site(case, newsroom, tmp_path)
    monkeypatch.chdir(site)
    args = [a.format(site=site) for a in case.args]
    before = {name: (site / name).read_bytes() for name in case.unchanged}

    result = CliRunner().invoke(cli, args, env=env, prog_name="digest")

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    check(case, result.exit_code, result.stdout, result.stderr)
    assert {name: (site / name).read_bytes() for name in case.unchanged} == before


@pytest.mark.parametrize("name", ["key-as-a-value", "postgres-unreachable"])
def test_the_same_in_a_real_process(name, newsroom, tmp_path):
    case = CASES[name]
    site, env = make_site(case, newsroom, tmp_path)
    process_env = {k: v for k, v in os.environ.items() if k not in env}
    process_env.update({k: v for k, v in env.items() if v is not None})
    args = [a.format(site=site) for a in case.args]

    result = run_digest(*args, cwd=site, env=process_env)

    check(case, result.returncode, result.stdout, result.stderr)
