"""A stand-in for the web servers feeds live on, on 127.0.0.1, in-process or as a subprocess.

Why a real server: what a good feed reader does (conditional GET, gzip, redirects
remembered, 410, Retry-After, one deadline for a slow server) is all on the wire.
Every feed it serves is a file of ``tests/data/feeds/`` or one a test put in
``feeds``; how it is served is the first part of the path:

==================  ===============================================================
``/feed/NAME``      200 with ``ETag`` and ``Last-Modified``; 304 when the request's
                    ``If-None-Match`` or ``If-Modified-Since`` matches; gzip when
                    the client accepts it
``/gzip/NAME``      always gzip-encoded, whatever the client said
``/deflate/NAME``   always deflate-encoded
``/301/NAME``       301 (moved permanently) to ``/feed/NAME``; ``/308/`` the same
``/302/NAME``       302 (found: a temporary redirect) to ``/feed/NAME``
``/gone/NAME``      410 Gone
``/busy/NAME``      429 with ``Retry-After: 120``; ``/unavailable/`` 503, an HTTP date
``/trickle/NAME``   the feed one byte every 0.2 s: never done within a short deadline
``/never/NAME``     accepts the connection and never answers
``/html/NAME``      a web page (``text/html``), not a feed
``/truncated/NAME`` promises the whole feed, sends half, closes
``/cut/NAME``       sends half the feed without a length, closes (a cut-off document)
``/huge/NAME``      more than 20 MB of feed (gzip: 20 KB on the wire)
``/written/NAME``   with the headers the feed's own ``Header: Name: value`` comment
                    lines give (feedparser's corpus), ``Content-Type: text/xml``
                    unless one of them says otherwise
==================  ===============================================================

Each request's path and headers are kept in ``requests``. ``python
tests/standins/feed_server.py --port 8080 [--folder DIR]`` serves until stopped
(the feeds of DIR besides those of tests/data/feeds), after printing
``READY <url>``: benchmarks run it apart, so its memory is not theirs.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import re
import threading
import time
import zlib
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"
LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Example News</title>"
    b'<link rel="alternate" type="application/rss+xml" href="/feed/news.xml"></head>'
    b"<body><h1>Example News</h1><p>Our feed moved.</p></body></html>"
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # the 200-feed benchmark connects 8 at a time, but quickly

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (the deadline) is expected, not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx's pool do
    server: _Server
    standin: FeedStandIn

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.standin.serve(self)


class FeedStandIn:
    """The server, its feeds (``feeds[NAME] = bytes`` adds or changes one) and what it was asked."""

    def __init__(self, port: int = 0, folder: Path | None = None) -> None:
        self.feeds: dict[str, bytes] = {}
        self.folder = folder
        self._compressed: dict[str, bytes] = {}  # gzip of a body, by its ETag: made once
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread: threading.Thread | None = None

    def start(self) -> FeedStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FeedStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def asked(self, path: str) -> list[dict[str, str]]:
        """The headers of every request for ``path``."""
        with self._lock:
            return [headers for p, headers in self.requests if p == path]

    def feed(self, name: str) -> bytes:
        if name in self.feeds:
            return self.feeds[name]
        for folder in (self.folder, DATA):
            path = folder / name if folder else None
            if path and path.is_file() and path.parent == folder:
                return path.read_bytes()
        raise KeyError(name)

    def gzipped(self, body: bytes) -> bytes:
        tag = hashlib.sha1(body).hexdigest()
        with self._lock:
            found = self._compressed.get(tag)
        if found is None:
            found = gzip.compress(body, compresslevel=6)
            with self._lock:
                self._compressed[tag] = found
        return found

    # -- serving -------------------------------------------------------------

    def serve(self, h: _Handler) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append((h.path, headers))
        kind, _, name = h.path.lstrip("/").partition("/")
        try:
            body = self.feed(name)
        except KeyError:
            return self._send(h, 404, b"no such feed\n", {"Content-Type": "text/plain"})
        answer = getattr(self, f"_{kind}", None)
        if answer is None:
            return self._send(h, 404, b"no such way to serve\n", {"Content-Type": "text/plain"})
        with contextlib.suppress(OSError):  # the client went away: its deadline, as it should
            answer(h, name, body, headers)

    def _feed(self, h, name, body, headers) -> None:
        tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        fixed = {"ETag": tag, "Last-Modified": LAST_MODIFIED}
        matches = headers.get("if-none-match") == tag
        if "if-none-match" not in headers:
            matches = headers.get("if-modified-since") == LAST_MODIFIED
        if matches:
            return self._send(h, 304, b"", fixed)
        if "gzip" in headers.get("accept-encoding", ""):
            return self._send(h, 200, self.gzipped(body), {**fixed, **_xml("gzip")})
        self._send(h, 200, body, {**fixed, **_xml()})

    def _gzip(self, h, name, body, headers) -> None:
        self._send(h, 200, self.gzipped(body), _xml("gzip"))

    def _deflate(self, h, name, body, headers) -> None:
        self._send(h, 200, zlib.compress(body), _xml("deflate"))

    def _redirect(self, h, code: int, name: str) -> None:
        self._send(h, code, b"", {"Location": f"/feed/{name}"})

    def _301(self, h, name, body, headers) -> None:
        self._redirect(h, 301, name)

    def _308(self, h, name, body, headers) -> None:
        self._redirect(h, 308, name)

    def _302(self, h, name, body, headers) -> None:
        self._redirect(h, 302, name)

    def _gone(self, h, name, body, headers) -> None:
        self._send(h, 410, b"gone\n", {"Content-Type": "text/plain"})

    def _busy(self, h, name, body, headers) -> None:
        self._send(h, 429, b"slow down\n", {"Retry-After": "120"})

    def _unavailable(self, h, name, body, headers) -> None:
        later = formatdate(time.time() + 3600, usegmt=True)
        self._send(h, 503, b"down for maintenance\n", {"Retry-After": later})

    def _trickle(self, h, name, body, headers) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for byte in body:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(0.2)

    def _never(self, h, name, body, headers) -> None:
        h.close_connection = True
        time.sleep(3600)

    def _html(self, h, name, body, headers) -> None:
        self._send(h, 200, HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})

    def _truncated(self, h, name, body, headers) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Content-Type", "application/rss+xml")
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.close_connection = True

    def _cut(self, h, name, body, headers) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.close_connection = True

    def _huge(self, h, name, body, headers) -> None:
        padding = b"<!-- " + b"x" * (21 * 2**20) + b" -->"
        huge = body.replace(b"?>", b"?>" + padding, 1) if body.startswith(b"<?xml") else padding
        self._send(h, 200, gzip.compress(huge, compresslevel=1), _xml("gzip"))

    def _written(self, h, name, body, headers) -> None:
        text = body.decode("utf-8", "ignore")
        given = {k.strip(): v.strip() for k, v in re.findall(r"(?m)^Header:\s+([^:]+):(.*)$", text)}
        given.pop("Content-Length", None)
        kind = next((given.pop(k) for k in list(given) if k.lower() == "content-type"), "text/xml")
        self._send(h, 200, body, {"Content-Type": kind, **given})

    def _send(self, h: _Handler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body:
            h.wfile.write(body)


def _xml(encoding: str = "") -> dict[str, str]:
    found = {"Content-Type": "application/rss+xml; charset=utf-8"}
    if encoding:
        found["Content-Encoding"] = encoding
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--folder", type=Path, help="serve the feeds of this folder too")
    args = parser.parse_args()
    server = FeedStandIn(args.port, args.folder)
    print(f"READY {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._server.serve_forever()


if __name__ == "__main__":
    main()
