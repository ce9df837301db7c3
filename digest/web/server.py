"""``digest serve``: the app under uvicorn, on a socket bound before anything starts.

The socket is bound here rather than by uvicorn so that a port in use or a
host that is not this machine's is one line and exit 2, and so that port 0
(any free port) can be reported. uvicorn's access log stays off: ours
(``middleware.AccessLog``) redacts the tokens. A SIGINT or SIGTERM stops
the server gracefully (requests in progress finish) and ``serve`` returns.

uvicorn's HTTP/1.1 protocol (h11) has no deadline for a request's head and
checks its size only while the head is incomplete, so a client trickling
headers held a connection forever, and whether a large head was served, got
a 400 or a reset depended on how TCP cut it up. ``Protocol`` adds both
limits (``MAX_HEAD``, ``HEAD_TIMEOUT``), and answers a refused request
before closing gently: it stops writing and reads what the client is still
sending, so the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.config.settings import Settings
from digest.errors import ConfigError
from digest.store.store import Store
from digest.web.app import create_app

# Behind a reverse proxy on this machine, X-Forwarded-For/-Proto from it are believed.
TRUSTED_PROXIES = "127.0.0.1,::1"
MAX_HEAD = 32 * 1024  # bytes of a request line and headers; more: 431
HEAD_TIMEOUT = 10.0  # seconds from a connection (or the last answer) to a whole head
LINGER = 2.0  # seconds a refused client's remaining bytes are read and dropped
KEEP_ALIVE = 5  # seconds an idle connection stays open between requests
MAX_CONNECTIONS = 500  # open at once; beyond, uvicorn answers 503


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; ``ConfigError`` if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        raise ConfigError(f"--host {host}: not an address of this machine ({err})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Server(uvicorn.Server):
    """uvicorn's server, which after a graceful stop returns instead of raising
    the signal again (uvicorn re-raises it, so the process would die of it)."""

    stopped_by: list[int]

    @contextlib.contextmanager
    def capture_signals(self):
        with super().capture_signals():
            try:
                yield
            finally:
                # uvicorn's private list: pyproject.toml bounds uvicorn to the versions tested.
                self.stopped_by = list(self._captured_signals)
                self._captured_signals.clear()


class Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline and a size limit for each request's head."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_seen = 0  # bytes of the head being received, so far
        self.head_tail = b""  # its last 3 bytes: an end split across two reads
        self.refused = False
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # read and dropped until the client stops or LINGER is up
        if self.conn.their_state is h11.IDLE and not self._head_fits(data):
            self._refuse(431, "Request Header Fields Too Large")
            return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._wait_for_head()
        else:
            self._stop_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """h11 found the head malformed or, split across reads, too large."""
        if self.cycle is not None and not self.cycle.response_complete:
            super().send_400_response(msg)  # a body gone wrong mid-request: uvicorn's way
        elif len(self.conn.trailing_data[0]) > MAX_HEAD:
            self._refuse(431, "Request Header Fields Too Large")
        else:
            self._refuse(400, "Bad Request")

    def shutdown(self) -> None:
        if self.refused:
            self.transport.close()
        else:
            super().shutdown()

    def _head_fits(self, data: bytes) -> bool:
        """Count ``data`` toward the head being received; False once it is over MAX_HEAD."""
        seen = self.head_tail + data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self.head_seen += len(data)
            self.head_tail = seen[-3:]
            return self.head_seen <= MAX_HEAD
        size = self.head_seen + end + 4 - len(self.head_tail)
        self.head_seen, self.head_tail = 0, b""
        return size <= MAX_HEAD

    def _wait_for_head(self) -> None:
        if self.head_timer is None and not self.transport.is_closing():
            self.head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        self.head_seen, self.head_tail = 0, b""

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self.head_seen or self.conn.trailing_data[0]:
            self._refuse(408, "Request Timeout")  # a head begun and not finished
        else:
            self.transport.close()  # a connection that never asked anything

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` and close: stop writing, drop what still comes for up to
        LINGER seconds, then close (closing with unread bytes would send a reset,
        and the client might never read the answer)."""
        if self.refused or self.transport.is_closing():
            return
        self.refused = True
        self._stop_waiting()
        self._unset_keepalive_if_required()
        self.logger.warning("%s %s from %s", status, reason, self.client and self.client[0])
        body = f"{reason}\n".encode()
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        self.transport.write(head.encode() + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER, self.transport.close)


def make_server(store: Store, settings: Settings, key: bytes | None = None) -> Server:
    config = uvicorn.Config(
        create_app(store, settings, key),
        access_log=False,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=TRUSTED_PROXIES,
        server_header=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE,
        limit_concurrency=MAX_CONNECTIONS,
        http=Protocol,
        h11_max_incomplete_event_size=MAX_HEAD + 1024,  # ours is checked first
        lifespan="off",
    )
    return Server(config)


def serve(
    store: Store,
    settings: Settings,
    host: str,
    port: int,
    on_ready: Callable[[str], None] = lambda url: None,
) -> list[int]:
    """Serve until SIGINT or SIGTERM; returns the signals that stopped it."""
    sock = bind(host, port)
    _log_to_stderr()
    server = make_server(store, settings)
    on_ready(url_of(sock))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return getattr(server, "stopped_by", [])


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    for name, level in (("digest.web", logging.INFO), ("uvicorn.error", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
