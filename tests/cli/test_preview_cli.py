"""`digest preview`'s flags, and the postal address a real send will not go without."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import POSTAL, ROOT, copy_database, run_digest

EXAMPLES = ROOT / "examples" / "articles"


def site_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=f"sqlite:///{folder / 'digest.db'}", DIGEST_SECRET="s")
    return env


@pytest.fixture(scope="module")
def site_template(tmp_path_factory) -> Path:
    """The demo's articles and subscribers, put in through the CLI once for the module."""
    folder = tmp_path_factory.mktemp("preview-site")
    for args in (
        ("ingest", str(EXAMPLES)),
        ("subscribers", "import", str(ROOT / "subscribers.example.csv")),
    ):
        done = run_digest(*args, cwd=folder, env=site_env(folder))
        assert done.returncode == 0, done.stderr
    return folder / "digest.db"


@pytest.fixture
def site(tmp_path, site_template) -> tuple[Path, dict[str, str]]:
    copy_database(site_template, tmp_path / "digest.db")
    return tmp_path, site_env(tmp_path)


PUBLIC_URL = 'public_url = "https://news.example.org"\n'


def with_postal(folder: Path) -> None:
    (folder / "digest.toml").write_text(POSTAL, encoding="utf-8")


# -- preview ---------------------------------------------------------------------------


def test_width_writes_the_email_in_a_phone_wide_frame(site):
    folder, env = site
    with_postal(folder)
    done = run_digest("preview", "--width", "375", "-o", "phone.html", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    assert "written to phone.html, in a 375 px frame" in done.stdout
    page = (folder / "phone.html").read_text("utf-8")
    assert '<iframe title="The email at 375 px" width="375" srcdoc="&lt;!DOCTYPE html&gt;' in page
    assert "width: 375px" in page and "<script" not in page
    assert done.stderr == ""


@pytest.mark.parametrize("width", ["10", "abc", "99999"])
def test_a_width_that_is_no_width_is_refused(site, width):
    folder, env = site
    done = run_digest("preview", "--width", width, cwd=folder, env=env)
    assert done.returncode == 2 and "--width" in done.stderr
    assert not (folder / "preview.html").exists()


def test_open_hands_the_file_to_the_browser(site):
    folder, env = site
    with_postal(folder)
    opened = folder / "opened.txt"
    browser = folder / "browser.py"
    browser.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    env = {**env, "BROWSER": f"{sys.executable} {browser} %s"}

    done = run_digest("preview", "--open", "-o", "today.html", cwd=folder, env=env)

    assert done.returncode == 0, done.stderr
    assert opened.read_text() == (folder / "today.html").resolve().as_uri()


def test_a_day_with_nothing_to_show_says_so_and_writes_nothing(site):
    folder, env = site
    with_postal(folder)
    done = run_digest("preview", "--date", "2020-01-01", "-o", "empty.html", cwd=folder, env=env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: nothing to preview: ") and "no file written" in line
    assert not (folder / "empty.html").exists()


# -- the postal address ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "secret"),
    [
        ("smtp", {"DIGEST_SMTP_URL": "smtp://127.0.0.1:9"}),
        ("sendgrid", {"SENDGRID_API_KEY": "SG.x"}),
    ],
)
def test_a_real_send_without_a_postal_address_does_not_start(site, provider, secret):
    folder, env = site
    (folder / "digest.toml").write_text(PUBLIC_URL, encoding="utf-8")  # links that work
    done = run_digest("send", "--provider", provider, cwd=folder, env={**env, **secret})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: digest.toml: postal_address: not set")
    assert f"before sending through {provider}" in line
    status = run_digest("status", cwd=folder, env=env)
    assert "no editions sent yet" in status.stderr


def test_the_scheduler_does_not_start_without_one_either(site):
    folder, env = site
    (folder / "digest.toml").write_text('provider = "smtp"\n' + PUBLIC_URL, encoding="utf-8")
    env = {**env, "DIGEST_SMTP_URL": "smtp://127.0.0.1:9"}
    done = run_digest("schedule", cwd=folder, env=env, timeout=60)
    assert done.returncode == 2
    assert "postal_address: not set" in done.stderr and "Traceback" not in done.stderr


def test_the_outbox_a_dry_run_and_a_preview_only_warn(site):
    folder, env = site
    env = {**env, "DIGEST_SMTP_URL": "smtp://127.0.0.1:9"}  # a dry run never connects
    for args in (("send", "--dry-run", "--provider", "smtp"), ("send",), ("preview",)):
        done = run_digest(*args, cwd=folder, env=env)
        assert done.returncode == 0, (args, done.stderr)
        if "--dry-run" in args:  # what the real send would refuse, said before it is tried
            assert done.stderr.splitlines() == [
                "warning: a real send through smtp would not start: refusing to send through "
                "smtp: the unsubscribe links would not work: public_url http://localhost:8000 "
                "is not https; public_url http://localhost:8000 is this machine (loopback) "
                "(set DIGEST_SECRET, and public_url to the https address where `digest serve` "
                "answers)"
            ]
            continue
        warnings = [line for line in done.stderr.splitlines() if "postal_address" in line]
        assert warnings == [
            "warning: postal_address is not set: the footer has no "
            "postal address (set it before sending through smtp or sendgrid)"
        ], args
    assert list((folder / "outbox").rglob("*.eml"))


@pytest.mark.parametrize(
    ("provider", "variable"), [("sendgrid", "SENDGRID_API_KEY"), ("smtp", "DIGEST_SMTP_URL")]
)
def test_a_dry_run_needs_no_provider_secret_and_a_real_send_still_does(site, provider, variable):
    """A newcomer tries a dry run before having a key: it sends nothing, so it needs none."""
    folder, env = site
    (folder / "digest.toml").write_text(
        f'provider = "{provider}"\n{PUBLIC_URL}{POSTAL}', encoding="utf-8"
    )
    assert variable not in env
    dry = run_digest("send", "--dry-run", cwd=folder, env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"dry run via {provider}: nothing sent, nothing recorded" in dry.stdout
    assert f"would send 10, skip 0 (via {provider})" in dry.stdout
    assert dry.stderr.splitlines() == [
        f"warning: a real send through {provider} would not start: "
        f"the {provider} provider needs {variable} in the environment"
    ]
    real = run_digest("send", cwd=folder, env=env)
    assert real.returncode == 2
    assert real.stderr.splitlines() == [
        f"Error: the {provider} provider needs {variable} in the environment"
    ]
    assert not (folder / "outbox").exists()
    assert "no editions sent yet" in run_digest("status", cwd=folder, env=env).stderr


def test_with_a_postal_address_every_footer_carries_it(site):
    folder, env = site
    with_postal(folder)
    done = run_digest("send", cwd=folder, env=env)
    assert done.returncode == 0 and "postal_address" not in done.stderr
    for path in (folder / "outbox").rglob("*.eml"):
        assert b"Example Media Ltd, 1 High Street, London N1 1AA, UK" in path.read_bytes()
