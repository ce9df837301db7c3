"""``digest serve`` as an operator runs it: a real process, its one-line errors, its
log, and a graceful stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from conftest import LIVE_LINKS, run_digest

from digest.rendering.links import make_token
from digest.store.store import Store

SECRET = "Zq81xWv3pLm0"


@pytest.fixture
def site(tmp_path):
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    store = Store(url)
    from conftest import subscriber

    store.save_subscribers([subscriber("ann@example.com"), subscriber("bob@example.org")])
    ann = store.find_subscriber("ann@example.com")
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        DIGEST_DATABASE_URL=url,
        DIGEST_SECRET=SECRET,
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    return tmp_path, env, make_token(ann.id, ann.email, SECRET.encode())


def start(folder, env, *args) -> tuple[subprocess.Popen, str]:
    """``digest serve`` in the background; returns it and the URL it says it serves on."""
    log = (folder / "serve.err").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"serving on (http://\S+)", (folder / "serve.err").read_text())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            raise AssertionError((folder / "serve.err").read_text())
        time.sleep(0.05)
    process.kill()
    raise AssertionError("digest serve did not start")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_logs_without_tokens_and_stops_cleanly(site, sig):
    folder, env, token = site
    process, base = start(folder, env, "--port", "0")
    try:
        assert httpx.get(f"{base}/healthz").text == "ok\n"
        assert httpx.post(f"{base}/unsubscribe/{token}").status_code == 200
    finally:
        code, out = stop(process, sig)

    assert code == 0
    assert out.strip() == f"stopped by {signal.Signals(sig).name}"
    log = (folder / "serve.err").read_text()
    assert '"GET /healthz" 200' in log and '"POST /unsubscribe/…" 200' in log
    assert token not in log and SECRET not in log and "Traceback" not in log
    assert "warning" not in log  # a live public_url and a secret: nothing to warn of
    store = Store(env["DIGEST_DATABASE_URL"])
    assert [s.email for s in store.list_subscribers()] == ["bob@example.org"]
    store.close()


def test_serve_with_development_values_works_with_a_warning(site):
    folder, env, _ = site
    (folder / "digest.toml").write_text("", encoding="utf-8")
    del env["DIGEST_SECRET"]
    process, base = start(folder, env, "--host", "127.0.0.1", "--port", "0")
    try:
        assert httpx.get(f"{base}/archive").status_code == 200
    finally:
        code, _ = stop(process)

    log = (folder / "serve.err").read_text()
    assert code == 0
    assert "warning: DIGEST_SECRET is not set" in log
    assert "warning: public_url http://localhost:8000 is not https" in log


def test_a_port_in_use_is_one_line_and_exit_2(site):
    folder, env, _ = site
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_digest("serve", "--port", str(port), cwd=folder, env=env, timeout=30)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--host", "no-such-host.invalid"), "--host no-such-host.invalid: not an address"),
        (("--port", "70000"), "70000 is not in the range 0<=x<=65535"),
        (("--port", "http"), "'http' is not a valid integer"),
    ],
)
def test_bad_host_or_port_is_one_line_and_exit_2(site, args, says):
    folder, env, _ = site

    result = run_digest("serve", *args, cwd=folder, env=env, timeout=30)

    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


def test_an_operators_page_overrides_the_shipped_one_and_a_broken_one_stops_the_start(site):
    folder, env, token = site
    pages = folder / "mytemplates" / "web"
    pages.mkdir(parents=True)
    (folder / "digest.toml").write_text(
        LIVE_LINKS + 'templates_dir = "mytemplates"\n', encoding="utf-8"
    )
    (pages / "bad_link.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block heading %}Oops{% endblock %}'
        "{% block content %}<h1>Our own words</h1>{% endblock %}",
        encoding="utf-8",
    )
    process, base = start(folder, env, "--port", "0")
    try:
        bad = httpx.get(f"{base}/unsubscribe/{token[:-2]}")
        good = httpx.get(f"{base}/unsubscribe/{token}")
    finally:
        stop(process)
    assert bad.status_code == 400 and "<h1>Our own words</h1>" in bad.text
    assert good.status_code == 200 and "Unsubscribe a•••@e•••.com" in good.text  # shipped

    (pages / "bad_link.html.j2").write_text("line one\n{% if %}\n", encoding="utf-8")

    result = run_digest("serve", "--port", "0", cwd=folder, env=env, timeout=30)

    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: template {pages / 'bad_link.html.j2'}:2: ")
    )
    assert "Traceback" not in result.stderr
