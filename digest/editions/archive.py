"""Sent editions as web pages: what ``/archive`` lists and shows.

An edition is in the archive once anyone has been sent it. Its page is the
segment's digest without anything personal (``Renderer.render_web``): no
greeting, no unsubscribe link. The everything-segment is the public copy;
a topic segment's copy is what an email's "View in your browser" link opens,
and only a segment the edition was sent to has one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from digest.config.settings import Settings
from digest.editions.contents import EditionContent
from digest.models import Edition
from digest.rendering.renderer import Renderer
from digest.store.editions import find_edition
from digest.store.schema import batches, editions, ledger
from digest.store.store import Store

MAX_LISTED = 1000  # the newest; older ones are still at their own address


@dataclass(frozen=True)
class ArchivedEdition:
    date: date
    timezone: str


def sent_editions(store: Store, limit: int = MAX_LISTED) -> list[ArchivedEdition]:
    """Editions anyone was sent, newest first."""
    sent = sa.exists().where(ledger.c.edition_id == editions.c.id, ledger.c.status == "sent")
    query = (
        sa.select(editions.c.date, editions.c.timezone)
        .where(sent)
        .order_by(editions.c.date.desc(), editions.c.timezone)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [ArchivedEdition(date.fromisoformat(d), tz) for d, tz in conn.execute(query)]


def find_sent(store: Store, settings: Settings, day: date, timezone: str) -> Edition | None:
    """The recorded edition of ``day`` in ``timezone`` if anyone was sent it, else None."""
    edition = find_edition(store.engine, day, timezone)
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
