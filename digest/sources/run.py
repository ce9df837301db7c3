"""One ingest: every source read (feeds downloaded concurrently), stored, and remembered.

Feeds start downloading first, on their own thread (``fetch.Downloads``); local
files and folders are read meanwhile; then each feed is parsed and stored as
its download ends. What each source did is kept in the store
(``SourceState``), so the next run can:

- ask for a feed conditionally (ETag, Last-Modified) and skip it on a 304;
- fetch a feed that moved for good (301/308) at its new address;
- leave alone a feed that answered 410 Gone, or a 429/503 until its Retry-After;
- skip a local file whose bytes (and options) are the same as last time.

Validators and a file's hash are kept only when everything it gave was stored:
otherwise the next run would be told "not modified" and never retry what failed.
Messages are reported in the order the sources were given, however the
downloads ended.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest import __version__
from digest.config.settings import Settings
from digest.config.sources import as_source, canonical_target
from digest.errors import InputError
from digest.models import Source, SourceState
from digest.sources import feed
from digest.sources.base import SourceResult
from digest.sources.fetch import Downloads, Fetched, Request, retry_after, shown_url, with_user_of
from digest.sources.files import parse_file, read_bytes, read_local

if TYPE_CHECKING:
    from digest.store.store import Store


@dataclass
class IngestReport:
    """What an ingest did: counts, and every failure and warning, each naming its input."""

    new: int = 0
    updated: int = 0
    skipped: int = 0  # articles unchanged since last time, and files of other kinds
    errors: list[InputError] = field(default_factory=list)
    warnings: list[InputError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    def add(self, other: IngestReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.skipped += other.skipped
        self.errors += other.errors
        self.warnings += other.warnings


def state_key(source: Source) -> str:
    """What names a source's state: its URL with the password hidden, or its absolute path."""
    if source.is_url:
        return shown_url(source.target)
    return os.path.abspath(source.target) if source.target.strip() else source.target


def ingest(
    store: Store,
    targets: Iterable[str | Source],
    zone: ZoneInfo,
    now: datetime | None = None,
    timeout: float = 30.0,
    *,
    concurrency: int = 8,
    user_agent: str = "",
    should_stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """Read each target (file, folder, feed URL, or a configured ``Source``) and store it.

    A source that cannot be read, and an article the store refuses, are errors
    in the report; everything else is stored. ``now`` is the ingest time
    (first-seen of new articles, and the time each source's state records), by
    default the store's clock (``Store.now``). ``timeout`` is
    a feed's whole-download deadline unless its ``Source`` has its own;
    ``concurrency`` feeds download at once. When ``should_stop()`` turns true,
    downloads in flight are cancelled and no further source is read.
    """
    sources = [as_source(t) for t in targets]
    first_seen = now  # None: each save's own time, by the store's clock
    run_at = now or store.now()  # what each source's state records of this run
    keys = [state_key(s) for s in sources]
    states = store.source_states(keys)
    reports = [IngestReport() for _ in sources]
    touched: dict[str, SourceState] = {}
    requests: list[Request] = []
    asked: list[int] = []  # the source of each request
    for index, source in enumerate(sources):
        if not source.is_url:
            continue
        state = touched[keys[index]] = states.get(keys[index]) or SourceState(keys[index])
        reason = _not_now(state, run_at)
        if reason:
            reports[index].warnings.append(InputError(keys[index], reason))
            reports[index].skipped += state.articles
            continue
        url = with_user_of(state.moved_to, source.target) if state.moved_to else source.target
        requests.append(Request(url, source.timeout or timeout, state.etag, state.last_modified))
        asked.append(index)
    with Downloads(requests, concurrency, user_agent, should_stop) as downloads:
        for index, source in enumerate(sources):
            if source.is_url:
                continue
            if should_stop and should_stop():
                break
            state = touched[keys[index]] = states.get(keys[index]) or SourceState(keys[index])
            reports[index] = _local(store, source, state, zone, first_seen, run_at)
        for number, fetched in downloads:
            index = asked[number]
            reports[index] = _fetched(
                store, sources[index], touched[keys[index]], fetched, first_seen, run_at
            )
    store.save_source_states(touched.values())
    total = IngestReport()
    for report in reports:
        total.add(report)
    return total


def ingest_configured(
    store: Store,
    settings: Settings,
    targets: Iterable[str] = (),
    should_stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """``ingest`` with the settings: the configured sources, or ``targets`` (a target
    that is a configured source keeps that source's name, keywords and timeout)."""
    sources = [as_source(s) for s in settings.sources]
    configured = {canonical_target(s.target): s for s in sources}
    chosen: list[Source] = []
    for target in targets:
        key = canonical_target(target if as_source(target).is_url else os.path.abspath(target))
        chosen.append(configured.get(key) or Source(target=target))
    return ingest(
        store,
        chosen or sources,
        settings.zone,
        timeout=settings.feed_timeout,
        concurrency=settings.feed_concurrency,
        user_agent=settings.user_agent,
        should_stop=should_stop,
    )


def read(target: str, zone: ZoneInfo, timeout: float = 30.0, user_agent: str = "") -> SourceResult:
    """One file, folder or feed URL, read without a store (nothing remembered)."""
    source = as_source(target)
    if not source.is_url:
        return read_local(target, zone)
    where = shown_url(target)
    with Downloads([Request(target, timeout)], 1, user_agent) as downloads:
        for _number, fetched in downloads:
            if fetched.outcome == "ok":
                url, kind = fetched.final_url, fetched.content_type
                return feed.parse(
                    fetched.data, where, base_url=url, content_type=kind, address=target
                )
            return SourceResult(errors=[InputError(where, fetched.error)])
    return SourceResult(errors=[InputError(where, "cannot fetch: stopped")])


def _not_now(state: SourceState, run_at: datetime) -> str:
    """Why a feed is not fetched this time, or ""."""
    if state.gone_at is not None:
        return (
            f"not fetched: it answered 410 Gone on {state.gone_at:%Y-%m-%d} and is disabled; "
            "remove it from sources (or `digest sources --reset` it)"
        )
    if state.retry_after is not None and run_at < state.retry_after:
        return (
            "not fetched: the server asked to wait until "
            f"{state.retry_after:%Y-%m-%d %H:%M} UTC (Retry-After)"
        )
    return ""


def _fetched(
    store: Store,
    source: Source,
    state: SourceState,
    fetched: Fetched,
    first_seen: datetime | None,
    run_at: datetime,
) -> IngestReport:
    """Store what one download brought, and remember what the server said."""
    where = state.key
    report = IngestReport()
    if fetched.moved_to and fetched.moved_to != state.moved_to:
        state.moved_to = fetched.moved_to
        said = (
            f"moved permanently to {shown_url(fetched.moved_to)}; "
            "fetched from there from now on (update sources)"
        )
        report.warnings.append(InputError(where, said))
    if fetched.outcome == "not_modified":
        report.skipped += state.articles
        _fine(state, run_at)
    elif fetched.outcome == "gone":
        state.gone_at = run_at
        _failed(state, run_at, fetched.error)
        report.warnings.append(
            InputError(where, f"{fetched.error}; disabled (remove it from sources)")
        )
    elif fetched.outcome == "error":
        state.retry_after = retry_after(fetched.retry_after, run_at)
        reason = fetched.error
        if state.retry_after:
            reason += f"; not fetched again before {state.retry_after:%Y-%m-%d %H:%M} UTC"
        _failed(state, run_at, reason)
        report.errors.append(InputError(where, reason))
    else:
        result = feed.parse(
            fetched.data,
            where,
            base_url=fetched.final_url,
            content_type=fetched.content_type,
            name=source.name,
            categories=source.categories,
            keywords=source.keywords,
            address=source.target,  # as configured: a redirect does not make another feed
        )
        clean = _store(store, result, report, first_seen, state, run_at, where)
        state.etag = fetched.etag if clean else None
        state.last_modified = fetched.last_modified if clean else None
        state.retry_after = None
    return report


def _local(
    store: Store,
    source: Source,
    state: SourceState,
    zone: ZoneInfo,
    first_seen: datetime | None,
    run_at: datetime,
) -> IngestReport:
    """A file or folder; a file whose bytes and options are as last time is not read again."""
    report = IngestReport()
    path = Path(source.target)
    try:
        is_file = bool(source.target.strip()) and path.is_file()
    except OSError:
        is_file = False
    if not is_file:
        result = read_local(source.target, zone, source)
        _store(store, result, report, first_seen, state, run_at, source.target)
        return report
    fingerprint = None
    try:
        data = read_bytes(path, source.target)
    except InputError as err:
        result = SourceResult(errors=[err])
    except OSError as err:
        result = SourceResult(errors=[InputError(source.target, err.strerror or str(err))])
    else:
        fingerprint = _fingerprint(data, source, zone)
        if fingerprint == state.content_hash:
            report.skipped += state.articles
            _fine(state, run_at)
            return report
        result = parse_file(data, path, zone, source)
    clean = _store(store, result, report, first_seen, state, run_at, source.target)
    state.content_hash = fingerprint if clean else None
    return report


def _store(
    store: Store,
    result: SourceResult,
    report: IngestReport,
    first_seen: datetime | None,
    state: SourceState,
    run_at: datetime,
    where: str,
) -> bool:
    """Save ``result``'s articles into ``report``; True run_at all of it was used."""
    saved = store.save_articles(result.articles, now=first_seen)
    report.new += saved.new
    report.updated += saved.updated
    report.skipped += saved.unchanged + len(result.skipped)
    report.errors += result.errors + saved.failed
    report.warnings += result.warnings
    state.articles = len(result.articles)
    if saved.new:
        state.last_new = run_at
    # A problem with the source itself (not one of its entries) is a failure.
    whole = [e for e in result.errors if e.where == where]
    if whole and not result.articles:
        _failed(state, run_at, whole[0].reason)
    else:
        _fine(state, run_at)
    return not (result.errors or saved.failed)


def _fine(state: SourceState, run_at: datetime) -> None:
    state.last_fetched = run_at
    state.failures = 0
    state.last_error = None
    state.last_error_at = None


def _failed(state: SourceState, run_at: datetime, reason: str) -> None:
    state.failures += 1
    state.last_error = reason[:1000]
    state.last_error_at = run_at


def _fingerprint(data: bytes, source: Source, zone: ZoneInfo) -> str:
    """What decides that a file need not be read again: its bytes, what the source adds
    to its articles, the timezone naive dates are read in, and digest's version."""
    options = (
        f"{source.name}\x1f{source.keywords}\x1f{source.categories}\x1f{zone}\x1f{__version__}"
    )
    digest = hashlib.sha256(data)
    digest.update(options.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
