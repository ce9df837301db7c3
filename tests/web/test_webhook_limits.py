"""What the Event Webhook costs a stranger's requests: junk is refused from its
headers before its body is read, a body is hashed as it comes and kept on disk
beyond ``webhooks.IN_MEMORY``, and at most ``webhooks.MAX_BODIES`` are read at
once (503 with Retry-After beyond). On the real server (uvicorn on 127.0.0.1);
the memory itself is measured by benchmarks/webhook_memory_benchmark.py."""

from __future__ import annotations

import base64
import json
import signal
import socket
import time
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from test_events import Signer
from test_web_server import site, start  # noqa: F401
from test_webhooks import BOUNCE, people, post, server, sg_event, signed, signer  # noqa: F401

from digest.web import events, webhooks

SIXTEEN_MB = 16 * 1024 * 1024
WELL_FORMED = base64.b64encode(encode_dss_signature(12345, 67890)).decode()  # signs nothing


@contextmanager
def half_sent(served, headers: dict, length: int = SIXTEEN_MB, sent: bytes = b"[{", wait=10):
    """A POST that declares ``length`` bytes and sends only ``sent`` of them; the
    socket, kept open while the block runs (closed after: the client leaves)."""
    host, port = served.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=wait)
    head = f"POST {webhooks.PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    try:
        conn.sendall(head.encode() + sent)
        yield conn
    finally:
        conn.close()


def answer_of(conn: socket.socket) -> str:
    """What the server answered, up to its body, read within the socket's timeout."""
    reply = b""
    while b"}" not in reply:
        part = conn.recv(4096)
        if not part:
            break
        reply += part
    return reply.decode()


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({events.SIGNATURE_HEADER: WELL_FORMED, events.TIMESTAMP_HEADER: "1600000000"}, "older"),
        (
            {events.SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl", events.TIMESTAMP_HEADER: "{now}"},
            "ECDSA",
        ),
        ({events.SIGNATURE_HEADER: "not base64!", events.TIMESTAMP_HEADER: "{now}"}, "base64"),
        ({events.TIMESTAMP_HEADER: "{now}"}, "unsigned"),
    ],
)
def test_junk_headers_are_refused_before_the_body_is_read(server, headers, words):  # noqa: F811
    """16 MB declared, two bytes sent: the answer comes at once, not after the body."""
    now = str(int(time.time()))
    headers = {k: v.replace("{now}", now) for k, v in headers.items()}
    with half_sent(server, headers) as conn:
        reply = answer_of(conn)
    assert reply.startswith("HTTP/1.1 403"), reply
    assert words in reply


def test_a_declared_length_over_the_cap_is_refused_before_the_body(server, signer):  # noqa: F811
    headers = {events.SIGNATURE_HEADER: WELL_FORMED, events.TIMESTAMP_HEADER: str(int(time.time()))}
    with half_sent(server, headers, length=events.MAX_BODY + 1) as conn:
        reply = answer_of(conn)
    assert reply.startswith("HTTP/1.1 413"), reply


def test_a_large_junk_body_is_refused_and_a_large_signed_batch_is_applied(
    server,  # noqa: F811
    signer,  # noqa: F811
    people,  # noqa: F811
    monkeypatch,
):
    """Bodies past the spool's memory part go through its file, and verify the same."""
    monkeypatch.setattr(webhooks, "IN_MEMORY", 1024)
    items = [sg_event("open", "reader0@example.com", n) for n in range(300)]
    items.append(sg_event("bounce", "reader1@example.com"))
    body = json.dumps(items).encode()
    assert len(body) > 20 * 1024
    junk = {events.SIGNATURE_HEADER: WELL_FORMED, events.TIMESTAMP_HEADER: str(int(time.time()))}
    refused = post(server, body, junk)
    assert refused.status_code == 403, refused.text
    assert "does not match" in refused.json()["error"]
    assert people.find_subscriber("reader1@example.com").suppressed is None

    answer = post(server, body, signer.sign(body, int(time.time())))
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 301
    assert people.find_subscriber("reader1@example.com").suppressed == "bounced"


def until(check, seconds: float = 10.0):
    """``check()``'s first true answer, asked again until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found


def test_bodies_beyond_the_cap_get_503_with_retry_after_until_one_is_done(
    server,  # noqa: F811
    signer,  # noqa: F811
    people,  # noqa: F811
    monkeypatch,
):
    monkeypatch.setattr(webhooks, "MAX_BODIES", 1)
    stamp = int(time.time())
    with half_sent(server, signer.sign(b"[]", stamp), length=1000):  # holds the one place
        busy = until(lambda: (r := signed(server, signer, BOUNCE)).status_code == 503 and r)
        assert busy, "the second body was read although one was being read already"
        assert busy.headers["Retry-After"] == str(webhooks.RETRY_AFTER)
        assert "busy" in busy.json()["error"]
        assert people.find_subscriber("reader1@example.com").suppressed is None
    # The first client left: its place is free again, and SendGrid's retry is applied.
    again = until(lambda: (r := signed(server, signer, BOUNCE)).status_code == 200 and r)
    assert again, "the place of a client that left was never given back"
    assert people.find_subscriber("reader1@example.com").suppressed == "bounced"


def test_a_refused_signature_frees_its_place(server, signer, people, monkeypatch):  # noqa: F811
    monkeypatch.setattr(webhooks, "MAX_BODIES", 1)
    for _ in range(3):
        assert signed(server, Signer(), BOUNCE).status_code == 403
    assert signed(server, signer, BOUNCE).status_code == 200


HEADER_TEXT = st.none() | st.text(max_size=200) | st.sampled_from(["", "0", WELL_FORMED, "MEUC"])


@given(signature=HEADER_TEXT, timestamp=HEADER_TEXT | st.integers(0, 2**40).map(str))
def test_any_header_text_is_refused_in_one_line_or_passed(signature, timestamp):
    """Whatever the two headers hold: ``Refused`` with one line, or the signature's bytes."""
    try:
        decoded = events.check_headers(signature, timestamp, 1_800_000_000)
    except events.Refused as err:
        assert "\n" not in str(err)
        assert len(str(err)) < 200
    else:
        assert decoded == base64.b64decode(signature.strip())


def test_httpx_is_given_the_answer_of_a_junk_post_in_full(server):  # noqa: F811
    """An ordinary client posting junk sees 403, not a reset (the body is discarded)."""
    headers = {events.SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl", events.TIMESTAMP_HEADER: "1"}
    answer = httpx.post(server.url + webhooks.PATH, content=b"x" * SIXTEEN_MB, headers=headers)
    assert answer.status_code == 403


def test_a_body_still_arriving_when_serve_stops_is_answered_503_without_a_traceback(
    site,  # noqa: F811
    signer,  # noqa: F811
):
    """SIGTERM while SendGrid's body trickles in: after the grace period the request
    is answered 503 with Retry-After (nothing applied; SendGrid retries), one log line."""
    folder, env, _ = site
    process, base = start(folder, {**env, events.KEY_VARIABLE: signer.public_text}, "--port", "0")
    try:
        headers = signer.sign(b"[]", int(time.time()))
        with half_sent(SimpleNamespace(url=base), headers, length=1000, wait=60) as conn:
            assert httpx.get(f"{base}/healthz").status_code == 200  # the POST is being read
            process.send_signal(signal.SIGTERM)
            reply = answer_of(conn)
        assert process.wait(60) == 0
    finally:
        process.kill()
    assert reply.startswith("HTTP/1.1 503"), reply
    assert f"retry-after: {webhooks.RETRY_AFTER}" in reply.lower()
    log = (folder / "serve.err").read_text()
    assert "the server is stopping; retry" in log
    assert "Traceback" not in log
