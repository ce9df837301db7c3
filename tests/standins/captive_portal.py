"""Something that is not SendGrid answering in its place, on 127.0.0.1.

A captive portal (a hotel's or an office's login page), a filtering proxy's
block page or a wrong ``SENDGRID_API_HOST`` answer a Mail Send request with a
page of their own: typically ``200 text/html``, whatever was asked. This server
reads each request whole and answers every one with the same ``status``,
``content_type``, ``body`` and ``headers`` (a redirect's ``Location``), and
counts the requests, so a test can see that the provider did not keep trying.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
    b"<title>Grand Hotel Wi-Fi \xe2\x80\x93 please log in</title></head>"
    b"<body><form action='/login'><input name='room'></form></body></html>"
)


class CaptivePortal:
    def __init__(
        self,
        status: int = 200,
        body: bytes = LOGIN_PAGE,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    def __enter__(self) -> CaptivePortal:
        portal = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = self.headers.get("Content-Length", "0")
                self.rfile.read(int(length) if length.isdigit() else 0)
                with portal._lock:
                    portal.requests += 1
                self.send_response(portal.status)
                if portal.content_type:
                    self.send_header("Content-Type", portal.content_type)
                for name, value in portal.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(portal.body)))
                self.end_headers()
                self.wfile.write(portal.body)

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"
