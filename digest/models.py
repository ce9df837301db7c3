"""The domain objects passed between the pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

from digest.zones import usable_timezone, zone_of


@dataclass
class Article:
    """One news item as a source produced it, before it is stored.

    ``guid`` is what makes re-ingesting idempotent: the entry's guid as given,
    else its canonical url, else a hash of title and content (see
    ``sources.identity``); the store scopes it to ``scope``, the address of the
    feed it came from, else (an article file) to ``source``.
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
    # The address of the feed it was read from (``sources.identity.scope_of``), "" for
    # an article file: what the store scopes ``guid`` to. Who it is, not what it says.
    scope: str = field(default="", compare=False, repr=False)


@dataclass
class StoredArticle(Article):
    id: int = 0
    first_seen: datetime | None = None
    # Other sources that carried the same story (same page, or a near-identical
    # headline the same day), named under it as "also: …"; set by grouping.
    also: list[str] = field(default_factory=list, compare=False)
    # Set by grouping when it folds several of one source's items into this one
    # (``grouping/items.py``), for the renderer to say so:
    # ``thread_size``: how many messages of one thread (a mailing list's "Re: …"),
    # or updates of one status-page component, this item stands for (0: just itself);
    # its link is the latest one's. ``state``: a status page's latest state ("Up",
    # "Resolved"), when its updates were folded. ``folded``: the links of the same
    # source's text-less posts ("Photo") folded under it: "N more from <source>".
    thread_size: int = field(default=0, compare=False)
    state: str = field(default="", compare=False)
    folded: list[str] = field(default_factory=list, compare=False)

    @property
    def cluster_size(self) -> int:
        """How many sources carried this story (itself and ``also``): the front page's rank."""
        return 1 + len(self.also)

    @property
    def when(self) -> datetime:
        """The time the window is judged by: published, else first ingested."""
        return self.published or self.first_seen  # type: ignore[return-value]


@dataclass(frozen=True)
class Source:
    """One configured source: where to read, and what to make of what it gives.

    ``target`` is an http(s) URL or a file or folder: a feed's address, which
    scopes its guids. ``name`` is shown as the source of its articles (else the
    feed's own title);
    ``keywords`` go on every article it gives; ``categories`` says whether the
    feed's own categories become keywords; ``timeout`` (seconds, the whole
    download) overrides ``feed_timeout``.
    """

    target: str
    name: str = ""
    keywords: tuple[str, ...] = ()
    categories: bool = True
    timeout: float | None = None

    @property
    def is_url(self) -> bool:
        return self.target[:8].lower().startswith(("http://", "https://"))


@dataclass
class SourceState:
    """What the store remembers of one source between runs (``digest sources`` shows it).

    The validators (``etag``, ``last_modified``) make the next fetch conditional;
    ``moved_to`` is where a permanent redirect (301/308) sent it; ``retry_after``
    is when a 429/503 said to come back; ``gone_at`` is when it answered 410 and
    was disabled. ``content_hash`` lets an unchanged local file be skipped unread,
    and ``articles`` is how many it gave last time (counted as skipped when it is
    skipped). Times are aware UTC.
    """

    key: str
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    retry_after: datetime | None = None
    gone_at: datetime | None = None
    content_hash: str | None = None
    articles: int = 0
    last_fetched: datetime | None = None
    last_new: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0


@dataclass
class Subscriber:
    email: str
    name: str = ""  # as they gave it, whole: what a greeting uses without a first name
    topics: list[str] = field(default_factory=list)  # empty: everything
    timezone: str | None = None  # None: the configured default
    id: int = 0
    unsubscribed_at: datetime | None = None  # aware, UTC; None: never unsubscribed
    # Set when the provider will not deliver to the address, or its owner
    # complained: when (aware, UTC), why (bounced, dropped, complaint) and the
    # provider's own words. Not mailed while either date is set.
    suppressed_at: datetime | None = None
    suppressed: str | None = None
    suppressed_detail: str = ""
    # The name they are greeted by, as they gave it ("" : greeted by ``name``).
    # Never guessed from ``name``: "Abd al-Rahman" is not "Abd", and "Zhang Wei"
    # is not "Zhang".
    first_name: str = ""
    # How often and when (schema version 15): "daily" | "weekly" (None: the site's
    # default, daily); a local time in their zone (None: the site's ``send_time``);
    # no edition of any kind on or before ``paused_until`` (None: not paused).
    frequency: str | None = None
    send_time: time | None = None
    paused_until: date | None = None

    @property
    def left_at(self) -> datetime | None:
        """When mail to them stopped (unsubscribed or suppressed, the earlier); None: mailed."""
        dates = [d for d in (self.unsubscribed_at, self.suppressed_at) if d is not None]
        return min(dates) if dates else None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PendingSignup:
    """Someone who signed up on ``/subscribe`` and has not confirmed yet: not a
    subscriber, so never planned into an edition. ``created_at`` is when the
    sign-up began (aware, UTC): its confirmation link expires counted from it."""

    id: int
    email: str
    name: str = ""
    first_name: str = ""
    topics: tuple[str, ...] = ()  # empty: everything
    timezone: str | None = None  # None: the configured default
    created_at: datetime = EPOCH
    mailed_at: datetime | None = None  # the confirmation mail last sent; None: never
    frequency: str | None = None  # "daily" | "weekly"; None: the site's default, daily


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
class ProviderEvent:
    """One event from the provider's webhook, as digest understands it.

    ``kind`` is the provider's event name (bounce, dropped, spamreport,
    unsubscribe, group_unsubscribe, delivered, open, click). ``edition_id`` and
    ``subscriber_id`` come from the request's custom_args, when they name a
    real send (None for a test copy or mail sent by something else).
    """

    event_id: str
    kind: str
    email: str
    occurred_at: datetime  # aware, UTC, never later than it was received
    edition_id: int | None = None
    subscriber_id: int | None = None
    detail: str = ""  # the provider's words: an SMTP reply, a drop reason
    # What it does to the address: suppress it (why: bounced, dropped,
    # complaint), unsubscribe it, or nothing (only counted).
    suppress: str | None = None
    unsubscribe: bool = False


@dataclass(frozen=True)
class Applied:
    """What one webhook request changed: the line logged, the JSON answered."""

    received: int = 0  # events in the request
    applied: int = 0  # new events recorded
    duplicates: int = 0  # seen before (a retry, a replay): changed nothing
    ignored: int = 0  # kinds digest does not act on (processed, deferred, blocked …)
    suppressed: int = 0  # subscribers suppressed by this request
    unsubscribed: int = 0  # subscribers unsubscribed by this request


@dataclass(frozen=True)
class EditionEvents:
    """What the provider reported about one edition, for ``digest status``.

    Opens and clicks count people, not events (a reader opens many times).
    ``unsubscribed`` counts recipients who left after it was sent to them,
    by any way (the link, SendGrid, ``subscribers remove``).
    """

    delivered: int = 0
    bounced: int = 0
    dropped: int = 0
    complaints: int = 0
    unsubscribed: int = 0
    opened: int = 0
    clicked: int = 0


@dataclass(frozen=True)
class Edition:
    """One digest for one date, one delivery timezone, one send time and one cadence,
    with its window. ``send_time`` None: the site's, for the subscribers with no
    personal time; a ``time``: the subscribers who chose it. The four are its key."""

    date: date
    timezone: str
    window_start: datetime  # aware, UTC
    cutoff: datetime  # aware, UTC
    id: int = 0
    send_time: time | None = None
    cadence: str = "daily"  # "daily" | "weekly"

    @property
    def label(self) -> str:
        """``2026-12-07 UTC``; ``2026-12-07 UTC 06:30`` for a personal time; `` weekly``
        after a weekly one: the site-time daily edition reads as every edition did."""
        return (
            f"{self.date.isoformat()} {self.timezone}{series_suffix(self.send_time, self.cadence)}"
        )

    @property
    def slug(self) -> str:
        """A folder-safe name: ``2026-11-24_Europe-London``, ``…_0630``, ``…_weekly``."""
        slug = f"{self.date.isoformat()}_{self.timezone.replace('/', '-')}"
        if self.send_time is not None:
            slug += f"_{self.send_time:%H%M}"
        return slug + ("_weekly" if self.cadence == "weekly" else "")

    @property
    def series(self) -> tuple[str, str, str]:
        """(timezone, send time "HH:MM" or "", cadence): the editions one after
        another whose windows follow on."""
        return (self.timezone, time_text(self.send_time), self.cadence)

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone)


@dataclass(frozen=True)
class LeftOut:
    """What an edition's window left out for age: articles ingested for it (first
    seen between its start and its cut-off) but published at or before ``since``
    (the cut-off less ``window_hours``), and the newest one's date. Old feeds give
    an empty digest; this says why."""

    count: int
    newest: datetime | None  # aware, UTC; None when nothing was left out
    since: datetime  # aware, UTC: the window shows only articles published after it


class Recipient(NamedTuple):
    """One person in a batch, with what personalises their copy: their names (for
    the greeting) and their signed token (``rendering/links.py``), from which
    their copy's links are made (``rendering/personal.py``).

    A NamedTuple rather than a dataclass: a million are made per large send.
    """

    subscriber_id: int
    email: str
    name: str
    token: str
    first_name: str = ""  # last, with a default: a Recipient without one greets by name


@dataclass(frozen=True)
class Batch:
    """A claimed batch of an edition: one segment's recipients, one provider request."""

    id: int
    edition_id: int
    segment: str
    attempts: int


class Outcome(NamedTuple):
    """What happened to one recipient of a batch.

    A named tuple, not a frozen dataclass: a large send makes a million, on the
    delivery thread between two requests, at 0.6 µs each instead of 1.6.
    """

    subscriber_id: int
    status: str  # sent | failed | in_doubt | skipped | unsent (never tried: stays pending)
    message_id: str | None = None
    error: str | None = None
    retry: bool = False  # a later attempt may succeed


def time_text(at: time | None) -> str:
    """``06:30``, or "" for None (the site's time): how a send time is stored."""
    # Not strftime: this runs for every row of an import, and "%H:%M" costs 2 µs.
    return "" if at is None else f"{at.hour:02d}:{at.minute:02d}"


def series_suffix(send_time: time | None, cadence: str = "daily") -> str:
    """What a label adds for a personal time and for a weekly edition."""
    return (f" {send_time:%H:%M}" if send_time is not None else "") + (
        " weekly" if cadence == "weekly" else ""
    )


class Run(NamedTuple):
    """One scheduled run: a (timezone, send time) pair's time on one local date, as a
    UTC instant. ``send_time`` None: the site's ``send_time``. A run sends the pair's
    daily edition and, on ``weekly_day``, its weekly one."""

    timezone: str
    date: date
    at: datetime  # aware, UTC
    send_time: time | None = None

    @property
    def label(self) -> str:
        return f"{self.date.isoformat()} {self.timezone}{series_suffix(self.send_time)}"

    @property
    def pair(self) -> tuple[str, time | None]:
        return (self.timezone, self.send_time)

    @property
    def key(self) -> str:
        """``Europe/London``, ``Europe/London@06:30``: the run's jobs are named by it."""
        return pair_key(self.timezone, self.send_time)

    @property
    def local(self) -> datetime:
        """In its zone; in UTC if this machine cannot use it (a heartbeat written
        where a zone existed, read where a tzdata update removed it)."""
        return self.at.astimezone(zone_of(self.timezone) if usable_timezone(self.timezone) else UTC)


def pair_key(timezone: str, send_time: time | None) -> str:
    return timezone if send_time is None else f"{timezone}@{send_time:%H:%M}"


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


@dataclass(frozen=True)
class EditionStatus:
    """One edition as ``digest status`` shows it: the ledger's counts per state
    (``sent``, ``failed``, ``in_doubt``, ``skipped``, ``pending``), what the
    provider reported since, and what its window left out for age."""

    edition: Edition
    counts: dict[str, int]
    events: EditionEvents
    left_out: LeftOut


@dataclass(frozen=True)
class Status:
    """What ``digest status`` reports: the editions (newest first), the schedulers
    shown (those alive, then the latest gone) each with its state, and whether
    one is alive; its next runs are on its beat."""

    editions: list[EditionStatus]
    schedulers: list[tuple[Beat, str]]  # (beat, "alive" | "stopped" | "not beating")
    ever_scheduled: bool  # any scheduler has run here (within heartbeat.KEEP)
    now: datetime
    # The front door's last days, newest first: (UTC day, kind -> count), every kind
    # of store.schema.SIGNUP_EVENTS present; empty when the page is off and never ran.
    signup_days: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    pending_signups: int = 0  # sign-ups waiting for their confirmation now
    # Active subscribers sent daily, weekly, and (of either) paused today.
    frequencies: dict[str, int] = field(default_factory=dict)

    @property
    def live(self) -> list[Beat]:
        return [beat for beat, state in self.schedulers if state == "alive"]
