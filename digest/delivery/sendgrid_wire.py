"""One keep-alive connection to SendGrid, and a request on it at the least cost.

A send is thousands of requests to one host, one at a time, on the delivery
thread. httpx's client cost three times the CPU of a plain socket per request
(URL merging, header models, the pool's bookkeeping), and each of its extra
socket calls releases the GIL, which the rendering main thread then holds
for up to a switch interval. Here a request is one ``sendall`` of head and
body, and the answer is read by ``http.client.HTTPResponse``: status, headers,
at most ``MAX_BODY`` of the body.

What it keeps of httpx's behaviour: the timeout applies to each phase
(connect, write, read); TLS uses httpx's own context (certifi, or
``SSL_CERT_FILE``/``SSL_CERT_DIR``), so a real host is trusted exactly as
before; an idle connection is not reused after ``KEEPALIVE`` seconds, or
once the server has closed it (it is readable while idle), since a request
lost on a closed connection would put a batch in doubt. Failures are raised
as httpx's exception types, so ``sendgrid.SendGridProvider._post`` tells the
phases apart (never sent, sent and unanswered) the same way for both paths.

Which host (``api_host``) and which key (``api_key``) are read here too.

Requests that go through a proxy, or to a URL with a user in it, keep using
httpx (``direct`` says which): that path is rare and httpx knows proxies.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import time
import urllib.request
from urllib.parse import urlsplit

import httpx

from digest.config.settings import Settings, secret
from digest.delivery.sendgrid_answers import MAX_BODY, Answer
from digest.errors import ConfigError
from digest.hosts import check_host

HOSTS = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
KEEPALIVE = 5.0  # seconds an idle connection is reused (httpx's keepalive_expiry, as before)


def direct(host: str) -> bool:
    """Whether requests to ``host`` go straight to it: no proxy in the environment
    applies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, read as
    urllib reads them) and the URL names no user."""
    parts = urlsplit(host)
    if parts.username is not None or parts.password is not None:
        return False
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass_environment(parts.netloc, proxies))


class Wire:
    """Requests to one host over one connection, opened when first needed."""

    def __init__(self, host: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(host)
        self.secure = parts.scheme == "https"
        self.address = (parts.hostname or "", parts.port or (443 if self.secure else 80))
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.context: ssl.SSLContext | None = httpx.create_ssl_context() if self.secure else None
        default = parts.port is None or parts.port == (443 if self.secure else 80)
        authority = parts.hostname if default else f"{parts.hostname}:{parts.port}"
        if ":" in (parts.hostname or ""):  # an IPv6 literal keeps its brackets
            authority = parts.netloc.rsplit("@", 1)[-1]
        lines = [f"Host: {authority}"] + [f"{k}: {v}" for k, v in headers.items()]
        self.head = "\r\n".join(lines).encode("latin-1")
        self.sock: socket.socket | ssl.SSLSocket | None = None
        self.idle_since = 0.0

    def post(self, path: str, body: bytes) -> Answer:
        """POST ``body``; the answer, or httpx's exception for the phase that failed."""
        sock = self._connection()
        request = b"POST %s HTTP/1.1\r\n%s\r\nContent-Length: %d\r\n\r\n" % (
            (self.prefix + path).encode("ascii"),
            self.head,
            len(body),
        )
        try:
            sock.sendall(request + body)
        except TimeoutError as err:
            self.close()
            raise httpx.WriteTimeout(_reason(err)) from err
        except OSError as err:
            self.close()
            raise httpx.WriteError(_reason(err)) from err
        try:
            response = http.client.HTTPResponse(sock, method="POST")
            response.begin()
            read = response.read(MAX_BODY)
        except TimeoutError as err:
            self.close()
            raise httpx.ReadTimeout(_reason(err)) from err
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise httpx.ReadError(_reason(err)) from err
        if response.will_close or not response.isclosed():  # closing, or unread bytes left
            self.close()
        else:
            self.idle_since = time.monotonic()
        headers = response.headers
        return Answer(
            response.status,
            headers.get("Content-Type", ""),
            read,
            message_id=headers.get("X-Message-Id"),
            location=headers.get("Location"),
            reset=headers.get("X-RateLimit-Reset"),
        )

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def _connection(self) -> socket.socket:
        sock = self.sock
        if sock is not None and (time.monotonic() - self.idle_since > KEEPALIVE or _readable(sock)):
            self.close()  # expired, or the server closed it: never send on it
            sock = None
        if sock is None:
            try:
                sock = socket.create_connection(self.address, timeout=self.timeout)
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if self.context is not None:
                        sock = self.context.wrap_socket(sock, server_hostname=self.address[0])
                except BaseException:
                    sock.close()
                    raise
            except TimeoutError as err:
                raise httpx.ConnectTimeout(_reason(err)) from err
            except OSError as err:  # refused, unreachable, unresolvable, TLS refused
                raise httpx.ConnectError(_reason(err)) from err
            self.sock = sock
        return sock


def api_key() -> str:
    """``SENDGRID_API_KEY``, trimmed; refused (without echoing it) if it cannot be a key."""
    key = (secret("SENDGRID_API_KEY") or "").strip()
    if not key:
        raise ConfigError("the sendgrid provider needs SENDGRID_API_KEY in the environment")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise ConfigError(
            "SENDGRID_API_KEY contains spaces, control or non-ASCII characters; "
            "copy the key again (it is not shown here)"
        )
    return key


def api_host(settings: Settings) -> str:
    """``SENDGRID_API_HOST`` (an http(s) base URL) or the data-residency default."""
    host = secret("SENDGRID_API_HOST")
    if host is None:
        return HOSTS[settings.sendgrid.data_residency]
    try:
        parts = urlsplit(host.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        ok = ok and bool(check_host(parts.hostname)) and host.isascii()
    except ValueError:  # a bad port, an unclosed [IPv6 bracket, a host that is no name
        ok = False
    if not ok or parts.query or parts.fragment:
        raise ConfigError(
            "SENDGRID_API_HOST: expected an http(s) base URL such as "
            f"https://api.sendgrid.com, got {host.strip()[:100]!r}"
        )
    return host.strip()


def _readable(sock: socket.socket) -> bool:
    """An idle connection with something to read has been closed (or spoken on) by
    the server: it is not used for a request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__
