"""The domain objects passed between the pipeline's stages."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo


@dataclass
class Article:
    """One news item as a source produced it, before it is stored.

    ``guid`` is what makes re-ingesting idempotent: the feed's id, else the
    url, else a hash of source and title (see ``sources.base.make_guid``).
    """

    guid: str
    title: str
    url: str | None = None
    summary: str = ""
    body: str = ""
    source: str = ""
    published: datetime | None = None  # aware; None when the source gave no date
    keywords: list[str] = field(default_factory=list)
    # Where it was read (FILE, FILE:LINE, a feed entry), to name it in messages; not stored.
    origin: str = field(default="", compare=False, repr=False)


@dataclass
class StoredArticle(Article):
    id: int = 0
    first_seen: datetime | None = None

    @property
    def when(self) -> datetime:
        """The time the window is judged by: published, else first ingested."""
        return self.published or self.first_seen  # type: ignore[return-value]


@dataclass
class Subscriber:
    email: str
    name: str = ""
    topics: list[str] = field(default_factory=list)  # empty: everything
    timezone: str | None = None  # None: the configured default
    id: int = 0
    unsubscribed_at: datetime | None = None  # aware, UTC; None: subscribed


@dataclass(frozen=True)
class Change:
    """What adding or removing one person did: the line the CLI prints, the page the web shows.

    ``outcome`` is one of added, updated, unchanged, resubscribed (adding);
    unsubscribed, already, unknown (removing). ``subscriber`` is the stored
    row afterwards (None when unknown); ``fields`` names what an update changed.
    """

    outcome: str
    subscriber: Subscriber | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edition:
    """One digest for one date and one delivery timezone, with its window."""

    date: date
    timezone: str
    window_start: datetime  # aware, UTC
    cutoff: datetime  # aware, UTC
    id: int = 0

    @property
    def label(self) -> str:
        return f"{self.date.isoformat()} {self.timezone}"

    @property
    def slug(self) -> str:
        """A folder-safe name: ``2026-11-24_Europe-London``."""
        return f"{self.date.isoformat()}_{self.timezone.replace('/', '-')}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Recipient(NamedTuple):
    """One person in a batch, with the values that personalise their copy.

    A NamedTuple rather than a dataclass: a million are made per large send.
    """

    subscriber_id: int
    email: str
    name: str
    unsubscribe_url: str


@dataclass(frozen=True)
class Batch:
    """A claimed batch of an edition: one segment's recipients, one provider request."""

    id: int
    edition_id: int
    segment: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient of a batch."""

    subscriber_id: int
    status: str  # sent | failed | in_doubt | skipped | unsent (never tried: stays pending)
    message_id: str | None = None
    error: str | None = None
    retry: bool = False  # a later attempt may succeed


@functools.cache
def zone_of(name: str) -> ZoneInfo:
    """A zone kept for good: ZoneInfo's own cache holds 8 strongly, and a year of
    runs in 500 zones would read each zone's file again for every run."""
    return ZoneInfo(name)


class Run(NamedTuple):
    """One scheduled edition: a timezone's ``send_time`` on one local date, as a UTC instant."""

    timezone: str
    date: date
    at: datetime  # aware, UTC

    @property
    def label(self) -> str:
        return f"{self.date.isoformat()} {self.timezone}"

    @property
    def local(self) -> datetime:
        return self.at.astimezone(zone_of(self.timezone))


@dataclass(frozen=True)
class Beat:
    """A scheduler's heartbeat as recorded in the store: who it is and when it runs next."""

    id: int
    host: str
    pid: int
    started: datetime  # aware, UTC
    last: datetime  # the last beat
    stopped: datetime | None = None  # a clean stop; None while running (or after a crash)
    next_runs: tuple[Run, ...] = ()
