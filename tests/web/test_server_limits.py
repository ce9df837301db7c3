"""``digest serve``'s limits on a request's head (``digest.web.server.Protocol``), on
the real server (tests/webserver.py): a head too large is answered 431 and the
client reads that answer, not a reset; a head that does not arrive within
``HEAD_TIMEOUT`` is answered 408 and the connection closed."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webserver import running

from digest.config.settings import Settings
from digest.store.store import Store
from digest.web import server as web_server


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    store = Store(f"sqlite:///{folder / 'digest.db'}")
    site = Settings(outbox_dir=folder / "outbox", templates_dir=ROOT / "templates")
    with running(store, site, b"limits-test-secret") as url:
        yield url
    store.close()


def connect(base: str, timeout: float = 10) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_all(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset raises)."""
    got = b""
    while part := conn.recv(65536):
        got += part
    return got


def test_a_100_kb_header_is_answered_431_not_a_reset(base):
    with connect(base) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_an_ordinary_client_sending_huge_headers_and_a_body_reads_431(base):
    """httpx still sending its body when refused: it reads the answer, not a reset."""
    headers = {f"X-H{i}": "b" * 1000 for i in range(200)}
    answer = httpx.post(f"{base}/webhooks/sendgrid", headers=headers, content=b"x" * 5_000_000)
    assert answer.status_code == 431


def test_a_head_within_the_limit_is_served_and_the_connection_kept(base):
    headers = {f"X-H{i}": "c" * 1000 for i in range(20)}  # 20 KB: under 32 KB
    with httpx.Client() as client:
        assert client.get(f"{base}/healthz", headers=headers).status_code == 200
        assert client.get(f"{base}/healthz").text == "ok\n"  # same connection, again


def test_a_head_split_into_many_small_reads_is_limited_the_same(base):
    with connect(base) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(40):
                conn.sendall(b"X-Part: " + b"d" * 1000 + b"\r\n")
        except ConnectionError:
            pass  # refused while sending: the answer is still there to read
        reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_a_client_trickling_its_head_is_cut_off_at_the_deadline(base, monkeypatch):
    monkeypatch.setattr(web_server, "HEAD_TIMEOUT", 1.0)
    started = time.monotonic()
    with connect(base) as conn:
        conn.settimeout(0.2)
        reply = b""
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"e" * 100:
            try:
                conn.sendall(bytes([byte]))
                reply += conn.recv(4096)
            except TimeoutError:
                continue
            except ConnectionError:
                break
            if reply:
                break
    waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert 0.9 < waited < 4


def test_a_connection_that_asks_nothing_is_closed_at_the_deadline(base, monkeypatch):
    monkeypatch.setattr(web_server, "HEAD_TIMEOUT", 1.0)
    started = time.monotonic()
    with connect(base, timeout=10) as conn:
        assert read_all(conn) == b""
    assert 0.9 < time.monotonic() - started < 4


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=st.binary(min_size=1, max_size=3000), cut=st.integers(1, 50))
def test_any_bytes_as_a_head_get_an_answer_or_a_close_never_a_hang(base, head, cut):
    """Odd bytes in pieces: the server answers (4xx, or 200 for a chance request) and
    stays up for the next client."""
    with connect(base, timeout=15) as conn:
        try:
            for start in range(0, len(head), cut):
                conn.sendall(head[start : start + cut])
            conn.shutdown(socket.SHUT_WR)
            reply = read_all(conn)
        except ConnectionError:
            reply = b""
    assert reply == b"" or reply.startswith(b"HTTP/1.1 "), reply[:100]
    assert httpx.get(f"{base}/healthz").status_code == 200
