"""Feeds over http(s), fetched the way a good feed reader does.

- **Conditional GET**: the ``ETag`` and ``Last-Modified`` of the last download go
  back as ``If-None-Match`` / ``If-Modified-Since``; a 304 costs no parse.
- **Compressed**: ``Accept-Encoding: gzip, deflate``; an ``Accept`` header that
  asks for feeds; a User-Agent naming digest, its version and where it lives.
- **One deadline per feed**: httpx's timeouts are per phase and start again with
  every read, so a server that trickles its status line, or redirects through
  slow hops, would hold an ingest far past any timeout (encode/httpx#1450). So
  each download runs as an asyncio task under ``asyncio.timeout``: at the
  deadline it is cancelled wherever it is, and httpx closes the connection.
- **Concurrent**: many feeds download at once through one client, at most
  ``concurrency`` of them at a time; one slow server costs its own deadline,
  not everyone's time. A feed's deadline starts when its download does.
- **What the server says is kept**: permanent redirects (301/308), 410 Gone,
  ``Retry-After`` on 429/503 are returned for the caller to remember.

A feed URL may carry a password (``https://user:password@host/feed``); what
names the feed in messages and in the store is the URL with ``***`` in its
place, and an error about a URL that does not parse never quotes it.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

import httpx

from digest import PROJECT_URL, __version__
from digest.validate import clean_line, hide_passwords

MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = timedelta(hours=24)  # a server asking for a week is asked again tomorrow
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
DEFAULT_USER_AGENT = f"digest/{__version__} (+{PROJECT_URL})"
_PERMANENT = (301, 308)


@dataclass(frozen=True)
class Request:
    """One feed to download: where, within how long, and what we have of it already."""

    url: str
    timeout: float
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Fetched:
    """How a download ended. ``outcome`` is one of:

    ``ok`` (``data`` is the body), ``not_modified`` (304), ``gone`` (410),
    ``error`` (``error`` says why, in words a person understands).
    """

    outcome: str
    data: bytes = b""
    final_url: str = ""  # where the body came from, without user or password
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # a permanent redirect's target, without user or password
    retry_after: str = ""  # a 429/503's Retry-After: when to come back (see ``retry_after``)
    error: str = ""
    seconds: float = 0.0


class Downloads:
    """Every request downloaded concurrently; iterate for ``(index, result)`` as each ends.

    The downloads start on entering, on an event loop in a thread of their own,
    so the caller can read local files, or parse and store one feed, while the
    others arrive. When ``should_stop()`` turns true, or the ``with`` block is
    left, the downloads still running are cancelled (nothing is yielded for them).
    """

    def __init__(
        self,
        requests: Sequence[Request],
        concurrency: int = 8,
        user_agent: str = "",
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.requests = list(requests)
        self.concurrency = concurrency
        self.user_agent = user_agent
        self.should_stop = should_stop
        self._results: queue.Queue = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task] = []
        self._done = object()

    def __enter__(self) -> Downloads:
        if self.requests:
            self._loop = asyncio.new_event_loop()
            # Not asyncio.run: it waits for the loop's worker threads, and a name
            # lookup cut off at the deadline may still be running in one of them.
            self._thread = threading.Thread(target=self._run, name="digest-fetch", daemon=True)
            self._thread.start()
        return self

    def __iter__(self) -> Iterator[tuple[int, Fetched]]:
        if self._thread is None:
            return
        while True:
            if self.should_stop and self.should_stop():
                return
            try:
                item = self._results.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is self._done:
                return
            yield item

    def __exit__(self, *exc) -> None:
        if self._thread is None or self._loop is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._cancel)
        self._thread.join()
        self._loop.close()

    def _cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _run(self) -> None:
        assert self._loop is not None
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._results.put(self._done)

    async def _main(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)
        async with _client(self.concurrency, self.user_agent) as client:

            async def one(index: int, request: Request) -> None:
                async with limit:
                    try:
                        result = await _fetch(client, request)
                    except Exception as err:  # a bug: this feed fails, the others go on
                        result = Fetched("error", error=f"cannot fetch: {type(err).__name__}")
                self._results.put((index, result))

            self._tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(self.requests)]
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _client(concurrency: int, user_agent: str) -> httpx.AsyncClient:
    headers = {
        "User-Agent": user_agent or DEFAULT_USER_AGENT,
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip, deflate",
    }
    return httpx.AsyncClient(
        headers=headers,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )


async def _fetch(client: httpx.AsyncClient, request: Request) -> Fetched:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await _download(client, request)
    result.seconds = loop.time() - started
    if result.outcome == "error":
        result.error = _scrub(result.error, request.url)
    return result


async def _download(client: httpx.AsyncClient, request: Request) -> Fetched:
    problem = malformed(request.url)
    if problem:
        return Fetched("error", error=problem)
    headers = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    try:
        async with asyncio.timeout(request.timeout):
            # Each phase may take the whole deadline; the deadline above bounds the sum.
            async with client.stream(
                "GET", request.url, headers=headers, timeout=httpx.Timeout(request.timeout)
            ) as response:
                return await _answer(response)
    except (TimeoutError, httpx.TimeoutException):  # the deadline, or a phase ending with it
        # The same words whatever phase it was in: the operator's setting is the total.
        return Fetched(
            "error", error=f"cannot fetch: not complete after {request.timeout:g} seconds"
        )
    except httpx.RemoteProtocolError as err:
        return Fetched("error", error=_cut_short(err))
    except httpx.DecodingError:
        return Fetched("error", error="cannot fetch: the server's compressed data is damaged")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as err:
        return Fetched("error", error=f"cannot fetch: {err or type(err).__name__}")
    except ExceptionGroup as group:  # anyio's happy eyeballs: one error per address tried
        err = group.exceptions[0]
        return Fetched("error", error=f"cannot fetch: {err or type(err).__name__}")


async def _answer(response: httpx.Response) -> Fetched:
    status = response.status_code
    moved = _moved_to(response) if status < 400 else None
    if status == 304:
        return Fetched("not_modified", moved_to=moved)
    if status == 410:
        return Fetched("gone", error="HTTP 410 Gone: the feed was removed for good")
    if status >= 400 or status < 200:
        fetched = Fetched("error", error=_http_error(response))
        if status in (429, 503):
            fetched.retry_after = clean_line(response.headers.get("retry-after", ""))[:100]
        return fetched
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FEED_BYTES and not _compressed(response):
        return Fetched("error", error=_too_large())
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():  # decompressed: the cap is on what we parse
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            return Fetched("error", error=_too_large())
    return Fetched(
        "ok",
        data=b"".join(chunks),
        final_url=_without_user(response.url),
        content_type=response.headers.get("content-type", ""),
        etag=_header(response, "etag"),
        last_modified=_header(response, "last-modified"),
        moved_to=moved,
    )


def _moved_to(response: httpx.Response) -> str | None:
    """Where the first hops, if each was permanent (301/308), lead; else None.

    A temporary redirect anywhere before ends it: what it points at may change.
    """
    moved = None
    hops = [*response.history, response]
    for hop, after in itertools.pairwise(hops):
        if hop.status_code not in _PERMANENT:
            break
        moved = _without_user(after.url)
    return moved


def _without_user(url: httpx.URL) -> str:
    # With a user:password@ it would be copied into every resolved link, and stored.
    return str(url.copy_with(username=None, password=None))


def _header(response: httpx.Response, name: str) -> str | None:
    """A validator to send back next time, or None: it must be a header we can send
    (printable ASCII), else every later fetch of the feed would fail on it."""
    value = clean_line(response.headers.get(name, ""))
    if not value.isascii() or len(value) > 1000:
        return None
    return value or None


def _compressed(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity").strip().lower() != "identity"


def _too_large() -> str:
    return f"the feed is larger than {MAX_FEED_BYTES // 2**20} MB; not read"


_REASONS = {
    401: "the feed needs a user name and password",
    403: "the server refused access",
    404: "no feed at this address",
    429: "too many requests",
    500: "the server failed",
    502: "the server's gateway failed",
    503: "the server is unavailable",
    504: "the server's gateway timed out",
}


def _http_error(response: httpx.Response) -> str:
    code = response.status_code
    phrase = clean_line(response.reason_phrase or "")[:60]
    text = f"HTTP {code} {phrase}".strip()
    why = _REASONS.get(code)
    return f"{text}: {why}" if why else text


def _cut_short(err: httpx.RemoteProtocolError) -> str:
    said = str(err)
    if "incomplete" in said or "complete message body" in said or "closed" in said:
        detail = said.rpartition("(")[2].rstrip(")") if "(" in said else ""
        more = f" ({detail})" if detail else ""
        return f"cannot fetch: the connection closed before the whole feed arrived{more}"
    return f"cannot fetch: {said}"


def retry_after(value: str | None, now: datetime | None = None) -> datetime | None:
    """When a ``Retry-After`` (seconds, or an HTTP date) says to come back; at most a day."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    value = value.strip()
    try:
        if value.isdigit():
            wait = timedelta(seconds=int(value[:9]))
        else:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            wait = when - now
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if wait <= timedelta(0):
        return None
    return now + min(wait, MAX_RETRY_AFTER)


def shown_url(url: str) -> str:
    """``url`` fit to print and store: it names the feed in messages and as its source.

    A URL that does not parse shows nothing between ``://`` and its last "@":
    in "https://user:pa/ss@host/feed" the password holds a "/", so no parser
    (and no pattern) can say where it ends.
    """
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest and malformed(url):
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return hide_passwords(url)


def with_user_of(url: str, configured: str) -> str:
    """``url`` (a stored redirect target) with the user and password of the configured
    URL, when both are on the same host: the password is never stored, only configured."""
    try:
        given, target = httpx.URL(configured), httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return url
    if given.username and given.host == target.host:
        return str(target.copy_with(username=given.username, password=given.password))
    return url


def malformed(url: str) -> str:
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
