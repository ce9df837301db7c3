"""Feeds over http(s): one deadline for the whole download, and no password in what is said.

httpx's timeouts are per phase and start again with every read, so a server
that sends its status line and headers a byte a second, or redirects through
a chain of slow hops, would hold an ingest far past any timeout; httpx has no
total timeout of its own (encode/httpx#1450). So the request runs as an
asyncio task under ``asyncio.timeout``: at the deadline the task is cancelled
wherever it is (connecting, reading headers, between redirects, in the body)
and httpx closes the connection.

A feed URL may carry a password (``https://user:password@host/feed``); what
names the feed in messages and in the store is the URL with ``***`` in its
place, and an error about a URL that does not parse never quotes it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx

from digest import __version__
from digest.errors import InputError
from digest.sources import feed
from digest.sources.base import SourceResult
from digest.validate import hide_passwords

MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 10
_DEADLINE = "\x00deadline"


@dataclass
class _Download:
    data: bytes = b""
    final_url: str = ""
    error: str = ""  # why there is no feed to parse


def read_url(url: str, timeout: float) -> SourceResult:
    """A feed over http(s), connected, redirected and downloaded within ``timeout`` seconds.

    The size is capped like a file's. Every failure is one ``InputError``
    naming the feed (its password hidden); nothing raises.
    """
    where = shown_url(url)
    problem = _malformed(url)
    if problem:
        return SourceResult(errors=[InputError(where, problem)])
    download = _run(_download(url, timeout))
    if download.error == _DEADLINE:
        # The same words whatever phase it was in: the operator's setting is the total.
        reason = f"cannot fetch: not complete after {timeout:g} seconds"
        return SourceResult(errors=[InputError(where, reason)])
    if download.error:
        return SourceResult(errors=[InputError(where, _scrub(download.error, url))])
    return feed.parse(download.data, where, base_url=download.final_url)


async def _download(url: str, timeout: float) -> _Download:
    headers = {"User-Agent": f"digest/{__version__}"}
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(timeout),  # each phase; the deadline above bounds the sum
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
            ) as client:
                return await _get(client, url)
    except (TimeoutError, httpx.TimeoutException):  # the deadline, or a phase ending with it
        return _Download(error=_DEADLINE)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as err:
        return _Download(error=f"cannot fetch: {err or type(err).__name__}")
    except ExceptionGroup as group:  # anyio's happy eyeballs: one error per address tried
        err = group.exceptions[0]
        return _Download(error=f"cannot fetch: {err or type(err).__name__}")


async def _get(client: httpx.AsyncClient, url: str) -> _Download:
    async with client.stream("GET", url) as response:
        if response.status_code >= 400:
            reason = f"HTTP {response.status_code} {response.reason_phrase or ''}".strip()
            return _Download(error=reason)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                return _Download(error=f"feed larger than {MAX_FEED_BYTES // 2**20} MB")
        # The base for relative links: with a user:password@ it would be copied
        # into every resolved link, and so into emails.
        final = response.url.copy_with(username=None, password=None)
        return _Download(data=b"".join(chunks), final_url=str(final))


def _run(work) -> _Download:
    """Run a coroutine to its end from synchronous code, in this thread if it has no loop.

    Not ``asyncio.run``: it waits for the loop's worker threads, and a name
    lookup cut off at the deadline may still be running in one of them.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(work)
        finally:
            loop.close()
    box: list[_Download] = []  # called from inside an event loop: run beside it
    thread = threading.Thread(target=lambda: box.append(_run(work)), daemon=True)
    thread.start()
    thread.join()
    return box[0]


def shown_url(url: str) -> str:
    """``url`` fit to print and store: it names the feed in messages and as its source.

    A URL that does not parse shows nothing between ``://`` and its last "@":
    in "https://user:pa/ss@host/feed" the password holds a "/", so no parser
    (and no pattern) can say where it ends.
    """
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest and _malformed(url):
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return hide_passwords(url)


def _malformed(url: str) -> str:
    """Why ``url`` cannot be fetched at all, or "".

    Both httpx and urlsplit must read it, with a host and a port from 1 to
    65535: httpx alone takes "[bad" for a host name (and asks DNS for it),
    and a port of 99999 would fail deep inside the connection code. httpx's
    own complaint is kept only when the URL has no user part: it may quote any
    piece of the URL, and a password with a "/" in it is read as a port.
    """
    try:
        parsed, parts = httpx.URL(url), urlsplit(url)
        port = parts.port  # a ValueError when it is not a number from 0 to 65535
        if not parsed.host or not parts.hostname or "%" in parsed.host:
            raise ValueError("no usable host name")
        if port == 0:
            raise ValueError("port 0")
    except (httpx.InvalidURL, ValueError) as err:
        if "@" in url.partition("://")[2]:
            return "not a valid http(s) URL (not quoted: it has a user part)"
        return f"not a valid http(s) URL: {err}"
    return ""


def _scrub(message: str, url: str) -> str:
    """``message`` with the feed's password taken out, spelt as in the URL or decoded."""
    message = hide_passwords(message)
    try:
        password = httpx.URL(url).password  # percent-decoded
    except (httpx.InvalidURL, ValueError):
        return message
    for secret in {password, unquote(password)}:
        if len(secret) >= 3:
            message = message.replace(secret, "***")
    return message
