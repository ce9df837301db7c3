"""Around every route: security headers, the access log (tokens redacted), and
the public_url's path prefix.

Plain ASGI, not Starlette's ``BaseHTTPMiddleware``: it adds no task per request
and never buffers a response.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

from digest.validate import clean_line

access_log = logging.getLogger("digest.web.access")

# The pages a person sees: our own stylesheet, our own forms, nothing else. A
# route may set a policy of its own (the archive shows the email's inline styles).
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def script_policy(nonce: str) -> str:
    """``PAGE_POLICY`` plus the one inline script whose tag carries ``nonce``: for
    the one page with a script (the sign-up form), made afresh for each answer,
    so a script injected into the page, which cannot know it, never runs."""
    return f"{PAGE_POLICY}; script-src 'nonce-{nonce}'"


HEADERS = {
    "x-content-type-options": "nosniff",
    # The token is in the page's URL: no link on a page may send it on as a Referer.
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
# Everything after one of these is a token (or garbage in its place): never logged.
TOKEN_PATH = re.compile(r"/(unsubscribe|preferences|resubscribe|confirm)/.*", re.S)
MAX_LOGGED = 300


def redact(path: str) -> str:
    """``path`` as the access log shows it: tokens replaced by ``…``, one clean line."""
    return clean_line(TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", path))[:MAX_LOGGED]


class SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessLog:
    """One line per request: client, method, path (tokens redacted), status, time.

    uvicorn's own access log is switched off (``server``): it would write
    every unsubscribe token into the log, where anyone who reads the log could
    unsubscribe those people or see their topics.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = 500  # what the client gets when the app fails before answering

        async def noting_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            client = scope.get("client") or ("-", 0)
            query = scope.get("query_string", b"")
            shown = redact(scope.get("path", ""))
            if query and not TOKEN_PATH.search(scope.get("path", "")):
                shown += "?" + clean_line(query.decode("latin-1"))[:MAX_LOGGED]
            access_log.info(
                '%s "%s %s" %d %.0fms',
                client[0],
                clean_line(scope.get("method", "-"))[:20],
                shown,
                status,
                (time.monotonic() - started) * 1000,
            )


class StripPrefix:
    """Serve the same routes under the path of ``public_url`` (``/digest`` of
    ``https://example.org/digest``), so a reverse proxy may pass the path on
    as it is or strip it: the links in the emails work either way."""

    def __init__(self, app, public_url: str) -> None:
        self.app = app
        self.prefix = urlsplit(public_url).path.rstrip("/")

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if self.prefix and scope["type"] == "http" and path.startswith(self.prefix + "/"):
            scope = {**scope, "path": path[len(self.prefix) :]}
            raw = scope.get("raw_path") or b""
            if raw.startswith(self.prefix.encode("latin-1", "replace") + b"/"):
                scope["raw_path"] = raw[len(self.prefix) :]
        await self.app(scope, receive, send)
