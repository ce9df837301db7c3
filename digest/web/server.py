"""``digest serve``: the app under uvicorn, on a socket bound before anything starts.

The socket is bound here rather than by uvicorn so that a port in use or a
host that is not this machine's is one line and exit 2, and so that port 0
(any free port) can be reported. uvicorn's access log stays off: ours
(``middleware.AccessLog``) redacts the tokens. A SIGINT or SIGTERM stops
the server gracefully (requests in progress finish) and ``serve`` returns.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Callable

import uvicorn

from digest.config.settings import Settings
from digest.errors import ConfigError
from digest.store.store import Store
from digest.web.app import create_app

# Behind a reverse proxy on this machine, X-Forwarded-For/-Proto from it are believed.
TRUSTED_PROXIES = "127.0.0.1,::1"


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


def make_server(store: Store, settings: Settings, key: bytes | None = None) -> Server:
    config = uvicorn.Config(
        create_app(store, settings, key),
        access_log=False,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=TRUSTED_PROXIES,
        server_header=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=5,
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
