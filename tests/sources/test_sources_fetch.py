"""Feeds over http against a real loopback server that misbehaves slowly.

A timeout of ``feed_timeout`` seconds is the whole download: connecting, the
status line and headers, every redirect hop and the body. Each slow server
here stays inside any per-read timeout (it sends something every 0.1 s), so
only a total deadline stops it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from conftest import every_article
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.sources import ingest, read

ZONE = ZoneInfo("UTC")
TIMEOUT = 1.0
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quick news</title>'
    b"<item><title>A feed that arrives at once</title><link>/posts/1</link>"
    b"<guid>quick-1</guid></item></channel></rss>"
)


class SlowHandler(socketserver.StreamRequestHandler):
    """HTTP/1.0 spoken by hand, so the status line itself can be trickled."""

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        self.headers: dict[str, str] = {}
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        path = request[1] if len(request) > 1 else "/"
        with contextlib.suppress(OSError):  # the client gave up, as it should
            self.answer(path)

    def trickle(self, data: bytes, every: float = 0.1) -> None:
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(every)

    def answer(self, path: str) -> None:
        if path == "/slow-headers.xml":  # a byte every 0.1 s of a never-ending status line
            self.trickle(b"HTTP/1.0 200 OK\r\nX-Padding: " + b"x" * 600)
        elif path == "/slow-body.xml":
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n")
            self.trickle(b" " * 600)
        elif path.startswith("/hop/"):  # five redirects, each 0.8 s of trickled headers
            hop = int(path.removeprefix("/hop/"))
            if hop < 5:
                head = f"HTTP/1.0 302 Found\r\nLocation: /hop/{hop + 1}\r\nContent-Length: 0\r\n"
                self.trickle(head.encode(), every=0.8 / len(head))
                self.wfile.write(b"\r\n")
            else:
                self.send_feed()
        elif path == "/feed.xml":
            self.send_feed()
        elif path == "/echo.xml":  # links built from the credentials it was sent
            self.send_feed(echo_feed(self.headers.get("authorization", ""), self.server))
        elif path == "/untitled.xml":  # no title: the feed is named by its URL
            self.send_feed(FEED.replace(b"<title>Quick news</title>", b""))
        elif path == "/loop.xml":
            self.wfile.write(
                b"HTTP/1.0 302 Found\r\nLocation: /loop.xml\r\nContent-Length: 0\r\n\r\n"
            )
        elif path == "/moved.xml":
            self.wfile.write(
                b"HTTP/1.0 301 Moved\r\nLocation: /echo.xml\r\nContent-Length: 0\r\n\r\n"
            )
        else:
            self.wfile.write(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def send_feed(self, body: bytes = FEED) -> None:
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.wfile.write(head + body)


def echo_feed(authorization: str, server) -> bytes:
    """A feed whose links and guid carry the user and password it was fetched with,
    as generators that build self-links from the request do."""
    user, _, password = "", "", ""
    if authorization.lower().startswith("basic "):
        decoded = base64.b64decode(authorization[6:]).decode("utf-8", "replace")
        user, _, password = decoded.partition(":")
    where = f"http://{quote(user)}:{quote(password)}@127.0.0.1:{server.server_address[1]}"
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Members only</title>'
        f"<item><title>A story for members</title><link>{escape(where)}/posts/1</link>"
        f"<guid>{escape(where)}/guid/1</guid></item></channel></rss>"
    ).encode()


@pytest.fixture
def slow_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/slow-headers.xml", "/slow-body.xml", "/hop/0"])
def test_a_slow_server_is_cut_off_at_the_deadline_whatever_the_phase(slow_server, path):
    url = slow_server + path
    started = time.monotonic()
    result = read(url, ZONE, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + 1.5, f"took {elapsed:.1f} s"
    assert result.articles == []
    assert [str(e) for e in result.errors] == [f"{url}: cannot fetch: not complete after 1 seconds"]


def test_slow_hops_within_the_deadline_are_followed(slow_server):
    result = read(slow_server + "/hop/0", ZONE, timeout=6)
    assert result.errors == []
    [article] = result.articles
    assert article.url == f"{slow_server}/posts/1"  # resolved against the last hop


def test_the_other_sources_still_ingest(slow_server, sqlite_store, tmp_path):
    story = tmp_path / "story.md"
    story.write_text("---\ntitle: A file beside the feeds\n---\nBody.\n")
    slow = [slow_server + p for p in ("/slow-headers.xml", "/slow-body.xml", "/hop/0")]
    started = time.monotonic()
    report = ingest(sqlite_store, [*slow, str(story), slow_server + "/feed.xml"], ZONE, timeout=1)
    assert time.monotonic() - started < 3 * (TIMEOUT + 1.5)
    assert report.new == 2
    assert [e.where for e in report.errors] == slow
    assert sorted(a.title for a in every_article(sqlite_store)) == [
        "A feed that arrives at once",
        "A file beside the feeds",
    ]


def test_feed_timeout_setting_bounds_the_command(slow_server, tmp_path):
    sources = f'["{slow_server}/slow-headers.xml", "{slow_server}/feed.xml"]'
    (tmp_path / "digest.toml").write_text(f"feed_timeout = 1.5\nsources = {sources}\n")
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "digest", "ingest"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 1.5 + 1.5 + 3  # the deadline, plus starting Python
    assert run.returncode == 1
    assert (
        f"error: {slow_server}/slow-headers.xml: cannot fetch: not complete after 1.5 seconds"
        in run.stderr.splitlines()
    )
    assert "Traceback" not in run.stderr
    assert run.stdout.strip() == "ingested: 1 new, 0 updated, 0 skipped, 1 failed"


def test_an_out_of_range_feed_timeout_is_refused(tmp_path):
    (tmp_path / "digest.toml").write_text("feed_timeout = 0\n")
    run = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", str(Path(tmp_path))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "feed_timeout" in run.stderr
    assert "Traceback" not in run.stderr


# -- passwords in feed URLs ---------------------------------------------------------

MALFORMED = [
    "https://user:S3cret-pw@[bad/feed.xml",
    "https://user:S3cret-pw@127.0.0.1:99999/x",
    "https://user:S3cret-pw@127.0.0.1:0/x",
    "https://user:S3 cret pw@127.0.0.1:9/feed.xml",
    "https://user:S3cret-pw@exä mple.org/feed.xml",
    "https://user:S3cret/pw@127.0.0.1/feed.xml",  # a "/" in it: read as port "S3cret"
    "https://user:S3cret-pw@/feed.xml",
    "https://us@er:S3cret@pw@127.0.0.1:9/feed.xml",
]


def everything_said(result) -> str:
    """Every message and every stored field of a read, as one text."""
    parts = [str(e) for e in result.errors + result.warnings]
    for a in result.articles:
        parts += [a.guid, a.title, a.url or "", a.summary, a.body, a.source, a.origin, *a.keywords]
    return "\n".join(parts)


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_is_named_without_its_password(url):
    result = read(url, ZONE, timeout=2)
    said = everything_said(result)
    assert [e.reason for e in result.errors] != []
    for piece in ("S3cret", "S3 cret", "pw"):
        assert piece not in said, said


def test_a_password_reaches_no_message_field_or_link(slow_server):
    host = slow_server.removeprefix("http://")
    for path in ("/echo.xml", "/moved.xml", "/untitled.xml", "/gone.xml", "/hop/0"):
        result = read(f"http://reader:S3cret-pw@{host}{path}", ZONE, timeout=0.5)
        assert "S3cret" not in everything_said(result), path
    [article] = read(f"http://reader:S3cret-pw@{host}/echo.xml", ZONE, timeout=5).articles
    assert article.url == f"{slow_server}/posts/1"
    assert article.guid == f"http://reader:***@{host}/guid/1"
    [untitled] = read(f"http://reader:S3cret-pw@{host}/untitled.xml", ZONE, timeout=5).articles
    assert untitled.source == f"http://reader:***@{host}/untitled.xml"


# The password: printable, may hold ":" and "@" (the last "@" ends it), never "/?#"
# (they end the authority, so they cannot be part of one). A marker keeps it from
# matching words of digest's own messages by chance.
PASSWORD = st.builds(
    lambda a, b: f"Pw{a}Zq{b}",
    st.text(
        st.characters(blacklist_characters="/?#\r\n", blacklist_categories=["Cs"]), max_size=12
    ),
    st.text(
        st.characters(blacklist_characters="/?#@\r\n", blacklist_categories=["Cs"]), max_size=4
    ),
)
USER = st.text(
    st.characters(blacklist_characters=":/?#@\r\n", blacklist_categories=["Cs"]), max_size=8
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scheme=st.sampled_from(["http", "HTTP", "hTtP"]),
    user=USER,
    password=PASSWORD,
    where=st.sampled_from(["live", "[bad", "127.0.0.1:99999", "exä mple.org", "127.0.0.1:0", ""]),
    path=st.sampled_from(["/echo.xml", "/moved.xml", "/untitled.xml", "/gone.xml", "/x y"]),
)
def test_no_output_of_a_read_holds_the_password(slow_server, scheme, user, password, where, path):
    host = slow_server.removeprefix("http://") if where == "live" else where
    result = read(f"{scheme}://{user}:{password}@{host}{path}", ZONE, timeout=2)
    said = everything_said(result)
    for secret in {password, unquote(password), quote(password, safe="")}:
        assert secret not in said


def test_the_command_never_prints_or_stores_a_feed_password(slow_server, tmp_path):
    host = slow_server.removeprefix("http://")
    urls = [
        f"http://reader:S3cret-pw@{host}/echo.xml",
        f"http://reader:S3cret-pw@{host}/untitled.xml",
        f"http://reader:S3cret-pw@{host}/gone.xml",
        *MALFORMED,
    ]
    database = tmp_path / "d.db"
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{database}"}
    run = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", *urls],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert (
        run.stdout.strip() == f"ingested: 2 new, 0 updated, 0 skipped, {1 + len(MALFORMED)} failed"
    )
    assert f"http://reader:***@{host}/gone.xml: HTTP 404 Not Found" in run.stderr
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("d.db*"))  # and its -wal
    for piece in ("S3cret", "S3 cret"):
        assert piece not in run.stdout + run.stderr
        assert piece.encode() not in stored


def test_a_feed_is_fetched_when_called_from_inside_an_event_loop(slow_server):
    async def from_async_code():
        return read(slow_server + "/feed.xml", ZONE, timeout=5)

    result = asyncio.run(from_async_code())
    assert [a.title for a in result.articles] == ["A feed that arrives at once"]


def test_a_refused_connection_and_too_many_redirects_are_one_line_each(slow_server):
    refused = read("http://127.0.0.1:9/feed.xml", ZONE, timeout=2)
    assert [e.reason for e in refused.errors] == ["cannot fetch: All connection attempts failed"]
    looping = read(slow_server + "/loop.xml", ZONE, timeout=5)
    assert [e.reason for e in looping.errors] == [
        "cannot fetch: Exceeded maximum allowed redirects."
    ]
    port = slow_server.rsplit(":", 1)[1]
    bad = read(f"http://127.0.0.1:{port}:{port}/feed.xml", ZONE, timeout=2)
    assert [e.reason.split(":")[0] for e in bad.errors] == ["not a valid http(s) URL"]
