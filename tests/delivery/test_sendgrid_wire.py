"""The SendGrid provider's connection, against small local servers that behave as
the stand-in cannot: one that closes every connection after its answer (as a
load balancer does with idle keep-alive), and a forward proxy named in the
environment. What is checked is what an operator sees: every notice sent, none
in doubt, the proxy used when the environment names one.
"""

from __future__ import annotations

import socket
import threading

import pytest
from standins.sendgrid_server import SendGridStandIn

from digest.config.settings import Settings
from digest.delivery.base import Notice
from digest.delivery.sendgrid import SendGridProvider

KEY = "SG.wire-test-key.Pq4Vn8Ks"
LOOPBACK = "127.0.0.1,localhost"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nX-Message-Id: m-%d\r\n\r\n"


def notice() -> Notice:
    return Notice(
        to="zoe@example.org",
        subject="Confirm your subscription",
        text="Confirm here.\n",
        sender="The Harbour Daily <news@harbour.example>",
        kind="confirm",
    )


class OneAnswerServer:
    """Accepts connections; on each, reads one request, answers 202 (keep-alive, as
    far as the headers say) and closes the connection. Keeps each request's head."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.heads: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> OneAnswerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        self.thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.heads.append(head)
                conn.sendall(ACCEPTED % len(self.heads))


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NO_PROXY", LOOPBACK)
    monkeypatch.setenv("no_proxy", LOOPBACK)


def test_a_connection_the_server_closed_after_its_answer_is_not_reused():
    # A request written to a connection the server had closed would find no answer,
    # and that batch would be in doubt: every notice here must be plainly sent.
    with OneAnswerServer() as server:
        provider = SendGridProvider(KEY, Settings(), server.url)
        try:
            outcomes = []
            for _ in range(3):
                outcomes.append(provider.send_notice(notice()))
                threading.Event().wait(0.05)  # the server's close has arrived
        finally:
            provider.close()
    assert [o.status for o in outcomes] == ["sent"] * 3
    assert [o.message_id for o in outcomes] == ["m-1", "m-2", "m-3"]


def test_requests_keep_one_connection_alive_to_sendgrid():
    with SendGridStandIn(KEY) as standin:
        provider = SendGridProvider(KEY, Settings(), standin.url)
        try:
            outcomes = [provider.send_notice(notice()) for _ in range(3)]
            sock = provider.wire.sock
            assert sock is not None
            assert [o.status for o in outcomes] == ["sent"] * 3
            assert provider.wire.sock is sock  # the same connection throughout
        finally:
            provider.close()


def test_a_proxy_in_the_environment_carries_the_request(monkeypatch):
    with OneAnswerServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("no_proxy", "")
        provider = SendGridProvider(KEY, Settings(), "http://sendgrid.invalid")
        try:
            outcome = provider.send_notice(notice())
        finally:
            provider.close()
    assert outcome.status == "sent"
    (head,) = proxy.heads
    assert head.startswith(b"POST http://sendgrid.invalid/v3/mail/send HTTP/1.1")
    assert b"Bearer " + KEY.encode() in head
