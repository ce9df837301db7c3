"""Sent editions as web pages: what ``/archive`` lists and shows.

An edition is in the archive once anyone has been sent it. Its page is the
segment's digest without anything personal (``Renderer.render_web``): no
greeting, no unsubscribe link. The everything-segment is the public copy;
a topic segment's copy is what an email's "View in your browser" link opens,
and only a segment the edition was sent to has one.

``/archive`` lists one entry per date, not per (date, timezone): a reader
looks for a day, and the zones' copies of one day are the same news cut off
at different hours. Each entry shows the day's lead headline, taken from the
everything-segment's sections alone (no render), kept per process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date
from datetime import time as wall_time
from itertools import groupby

import sqlalchemy as sa

from digest.config.settings import Settings
from digest.editions.contents import EditionContent
from digest.grouping.front import rank
from digest.grouping.sections import Section
from digest.models import Edition, StoredArticle
from digest.rendering.renderer import Renderer
from digest.store.editions import find_edition
from digest.store.schema import batches, editions, ledger
from digest.store.store import Store
from digest.zones import usable_timezone

MAX_LISTED = 1000  # the newest; older ones are still at their own address
# Dates listed with their lead headline: finding a lead groups that edition's
# window (~7 ms for 100 articles), so a first listing after a start stays under
# half a second; older dates are listed by date alone.
LEADS_SHOWN = 60


@dataclass(frozen=True)
class ArchivedEdition:
    date: date
    timezone: str


def sent_editions(store: Store, limit: int = MAX_LISTED) -> list[ArchivedEdition]:
    """The site-time daily editions anyone was sent, newest first. (A personal send
    time's and a weekly edition have pages too, reached from their emails' links:
    the list is of days, and those are the same news cut at other hours.)"""
    sent = sa.exists().where(ledger.c.edition_id == editions.c.id, ledger.c.status == "sent")
    query = (
        sa.select(editions.c.date, editions.c.timezone)
        .where(sent, editions.c.send_time == "", editions.c.cadence == "daily")
        .order_by(editions.c.date.desc(), editions.c.timezone)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [
            ArchivedEdition(date.fromisoformat(d), tz)
            for d, tz in conn.execute(query)
            if usable_timezone(tz)  # as ``find_sent``: no link to a page that cannot be shown
        ]


@dataclass(frozen=True)
class ArchivedDay:
    """One date in ``/archive``: the zone its entry links to (the configured
    timezone's edition when there is one, else the first sent), the other
    zones' copies, and the lead story's headline ("" when it had none)."""

    date: date
    zone: str
    others: list[str] = field(default_factory=list)
    headline: str = ""


def lead_of(sections: list[Section]) -> StoredArticle | None:
    """The edition's lead story, ranked as the email's front page ranks it
    (``digest.grouping.front``: most sources, then newest, then section size), so
    the archive and the email name the same lead."""
    picked = rank(sections, 1)
    if not picked:
        return None
    section, position = picked[0]
    return sections[section].articles[position]


class Leads:
    """Each edition's lead headline, computed once and kept ``ttl`` seconds (then an
    edited article shows its new headline): grouping a window costs milliseconds,
    and ``/archive`` lists many. Kept by (date, timezone), so a listing whose
    leads are all known reads one query."""

    def __init__(self, store: Store, settings: Settings, ttl: float = 600):
        self.store = store
        self.settings = settings
        self.renderer = Renderer(settings)
        self.ttl = ttl
        self._kept: dict[tuple[date, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def headline(self, day: date, zone: str) -> str:
        now = time.monotonic()
        with self._lock:
            found = self._kept.get((day, zone))
            if found and now - found[0] < self.ttl:
                return found[1]
        edition = find_edition(self.store.engine, day, zone)
        lead = None
        if edition is not None:
            content = EditionContent(self.store, self.settings, edition, self.renderer)
            lead = lead_of(content.sections("", everything=True))
        title = lead.title if lead else ""
        with self._lock:
            if len(self._kept) >= MAX_LISTED:
                self._kept.clear()
            self._kept[(day, zone)] = (now, title)
        return title

    def days(self, limit: int = MAX_LISTED) -> list[ArchivedDay]:
        """The dates anyone was sent an edition, newest first, each with its lead."""
        listed: list[ArchivedDay] = []
        for day, group in groupby(sent_editions(self.store, limit), lambda e: e.date):
            zones = [e.timezone for e in group]
            zone = self.settings.timezone if self.settings.timezone in zones else zones[0]
            others = [z for z in zones if z != zone]
            headline = self.headline(day, zone) if len(listed) < LEADS_SHOWN else ""
            listed.append(ArchivedDay(day, zone, others, headline))
        return listed


def find_sent(
    store: Store,
    settings: Settings,
    day: date,
    timezone: str,
    send_time: wall_time | None = None,
    cadence: str = "daily",
) -> Edition | None:
    """The recorded edition with this key if anyone was sent it, else None.

    None too for a zone this machine cannot use (a tzdata update removed it since):
    its times cannot be shown, and a page that fails is no answer.
    """
    if not usable_timezone(timezone):
        return None
    edition = find_edition(store.engine, day, timezone, send_time, cadence)
    if edition is None:
        return None
    query = sa.select(ledger.c.status).where(
        ledger.c.edition_id == edition.id, ledger.c.status == "sent"
    )
    with store.engine.connect() as conn:
        return edition if conn.execute(query.limit(1)).first() else None


def has_segment(store: Store, edition: Edition, segment: str) -> bool:
    """Whether ``edition`` was planned for ``segment`` (a topic segment's copy exists)."""
    query = sa.select(batches.c.id).where(
        batches.c.edition_id == edition.id, batches.c.segment == segment
    )
    with store.engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


class WebCopies:
    """Each (edition, segment)'s web page, rendered once and kept ``ttl`` seconds.

    Rendering is the expensive step (grouping the window's articles, premailer):
    a link in a newsletter is opened by many at once, so it is rendered once,
    not once per visitor. After ``ttl`` an edited article shows its new text.
    """

    def __init__(self, store: Store, settings: Settings, size: int = 64, ttl: float = 600):
        self.store = store
        self.settings = settings
        self.renderer = Renderer(settings)
        self.size = size
        self.ttl = ttl
        self._kept: dict[tuple[int, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def html(self, edition: Edition, segment: str) -> str:
        key = (edition.id, segment)
        now = time.monotonic()
        with self._lock:
            found = self._kept.get(key)
            if found and now - found[0] < self.ttl:
                return found[1]
        content = EditionContent(self.store, self.settings, edition, self.renderer)
        html = self.renderer.render_web(
            edition, content.sections(segment, everything=True), content.topic_names(segment)
        ).html
        with self._lock:
            if len(self._kept) >= self.size:
                del self._kept[min(self._kept, key=lambda k: self._kept[k][0])]
            self._kept[key] = (now, html)
        return html
