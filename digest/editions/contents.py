"""What goes into an edition: its window of articles and each segment's sections.

An edition (date D, timezone Z) covers the articles digest first ingested
after the previous edition's cut-off in Z and up to its own cut-off: D's
``send_time`` in Z, or the moment of sending for a one-off send of today's
edition. Of those, only articles published (or, undated, ingested) within
``window_hours`` of the cut-off are shown. Judging by ingest time puts each
article into the first edition cut off after it arrived: a late arrival
(published before yesterday's cut-off, ingested after it) goes out today,
and an edited article never goes out again. The cut-off is recorded when
the edition is sent, so previewing a past edition later shows the same
articles.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from digest.clock import utcnow
from digest.config.settings import Settings
from digest.errors import ConfigError
from digest.grouping.dedup import distinct
from digest.grouping.front import front_page, is_front
from digest.grouping.items import fold_items
from digest.grouping.sections import (
    Grouped,
    Section,
    Vocabulary,
    build_sections,
    tag_articles,
)
from digest.keywords import most_common
from digest.models import Edition, LeftOut, Recipient, Subscriber
from digest.rendering.frame import framed
from digest.rendering.links import Links, signing_key, view_url
from digest.rendering.renderer import Rendered, Renderer
from digest.sources.names import shown_sources
from digest.sources.run import as_source
from digest.store.editions import find_edition, older_arrivals, previous_cutoff
from digest.store.store import Store
from digest.zones import delivery_timezone, fallback_line, zone_of


def local_today(timezone: str, now: datetime) -> date:
    return now.astimezone(zone_of(timezone)).date()


def propose_edition(
    store: Store, settings: Settings, day: date, timezone: str, now: datetime
) -> Edition:
    """The edition as recorded, or as it would be if it were sent ``now``."""
    recorded = find_edition(store.engine, day, timezone)
    if recorded is not None:
        return recorded
    zone = zone_of(timezone)
    if day == local_today(timezone, now):
        cutoff = now  # a one-off send of today's edition takes everything so far
    else:
        # A past edition that was never sent, or a look ahead (preview, dry run: a
        # future edition cannot be sent): its scheduled cut-off, never "now".
        cutoff = datetime.combine(day, settings.send_time, zone).astimezone(UTC)
    floor = oldest_shown(settings, cutoff)
    previous = previous_cutoff(store.engine, timezone, cutoff)
    start = max(previous, floor) if previous else floor
    return Edition(date=day, timezone=timezone, window_start=start, cutoff=cutoff)


def oldest_shown(settings: Settings, cutoff: datetime) -> datetime:
    """An edition shows only articles published (or, undated, ingested) after this."""
    return cutoff - timedelta(hours=settings.window_hours)


def left_out(store: Store, settings: Settings, edition: Edition) -> LeftOut:
    """The articles that arrived for ``edition`` but are too old for its window:
    what ``preview``, ``send --dry-run`` and ``status`` tell an operator whose
    feeds hold only old entries, instead of an unexplained empty digest."""
    since = oldest_shown(settings, edition.cutoff)
    count, newest = older_arrivals(store.engine, edition.window_start, edition.cutoff, since)
    return LeftOut(count, newest, since)


def describe_left_out(left: LeftOut, edition: Edition) -> str:
    """One sentence for ``left`` (empty when nothing was left out), in the edition's zone."""
    if not left.count or left.newest is None:
        return ""
    zone = edition.zone
    since = left.since.astimezone(zone)
    what = "article ingested for it is" if left.count == 1 else "articles ingested for it are"
    return (
        f"{edition.label}: {left.count:,} {what} older than its window and left out "
        f"(it shows articles published since {since:%Y-%m-%d %H:%M} {edition.timezone}; "
        f"window_hours sets how far back); the newest is from "
        f"{left.newest.astimezone(zone):%Y-%m-%d}"
    )


# A store keyword tags untagged articles once this many sources use it, or once one
# source uses it on ``USED_ON`` of its articles: a newsroom's own tags ("Syria",
# "Aleppo" on its pages) are its vocabulary, but one blog's one-off category
# or a feed's junk tag on two entries (a language code) is not.
SHARED_BY = 2
USED_ON = 3


def vocabulary(store: Store, settings: Settings) -> Vocabulary:
    """The configured topics and aliases, every active subscriber's topics, the keywords
    at least ``SHARED_BY`` sources share or one source uses on ``USED_ON`` articles,
    each keyword's name (its most common spelling), and the ignore list."""
    spelt: dict[str, Counter] = {}
    for key, spelling, sources in store.keyword_spellings():
        spelt.setdefault(key, Counter())[spelling] += sources
    consistent = set(store.keywords_used_on(USED_ON))
    known = [
        s
        for key, c in spelt.items()
        if c.total() >= SHARED_BY or key in consistent
        for s in c.elements()
    ]
    return Vocabulary(
        settings.aliases,
        known,
        topics=settings.topics,
        names={key: most_common(c) for key, c in spelt.items()},
        ignore=settings.ignore,
        chosen=store.subscriber_topics(),
        # Sections for everyone: what several sources share, not one source's own.
        shared=[key for key, c in spelt.items() if c.total() >= SHARED_BY],
    )


def segment_key(topic_keys: frozenset[str]) -> str:
    return ";".join(sorted(topic_keys))


class EditionContent:
    """The edition's articles, tagged once; sections and renders cached per segment."""

    def __init__(self, store: Store, settings: Settings, edition: Edition, renderer: Renderer):
        self.settings = settings
        self.edition = edition
        self.renderer = renderer
        self.vocab = vocabulary(store, settings)
        oldest = oldest_shown(settings, edition.cutoff)
        stored = store.window_articles(edition.window_start, edition.cutoff, oldest)
        self.store = store
        configured = {s.name for s in map(as_source, settings.sources) if s.name}
        articles = distinct(shown_sources(stored, configured))
        articles = fold_items(articles)  # a thread, a status page's updates: one item each
        self.tagged = Grouped(tag_articles(articles, self.vocab))
        # Each kept for the last ``SEGMENTS_KEPT`` segments only: a send goes segment
        # by segment, and every segment's sections and email held at once were most
        # of a send's memory once segments ran into tens of thousands.
        self._sections: dict[tuple[str, bool], list[Section]] = {}
        self._email: dict[str, list[Section]] = {}
        self._rendered: dict[str, Rendered] = {}
        self._empty: dict[str, bool] = {}
        self._topic_names: dict[str, list[str]] = {}

    @functools.cached_property
    def left_out(self) -> LeftOut:
        """What the window left out for age (asked by a preview and a dry run only)."""
        return left_out(self.store, self.settings, self.edition)

    def segment_of(self, raw_topics: str) -> tuple[str, bool]:
        """(segment key, is empty) for a subscriber's ``;``-joined topics."""
        topics = [t for t in raw_topics.split(";") if t.strip()]
        key = segment_key(self.vocab.topic_keys(topics))
        self._topic_names.setdefault(key, topics)
        if key not in self._empty:
            self._empty[key] = self.tagged.gives_nothing(frozenset(k for k in key.split(";") if k))
        return key, self._empty[key]

    def sections(self, segment: str, everything: bool = False) -> list[Section]:
        """The segment's sections, each cut at ``max_per_section``; ``everything``:
        uncut, for the archive's web copy, where an email's "N more" links lead."""
        topics = frozenset(k for k in segment.split(";") if k)
        cap = sys.maxsize if everything else self.settings.max_per_section
        return recent(
            self._sections,
            (segment, everything),
            lambda: build_sections(self.tagged, topics, self.vocab, cap),
        )

    def email_sections(self, segment: str) -> list[Section]:
        """What the segment's email holds before the size guard: the front page
        first (``grouping/front.py``), ranked from every article of the segment,
        so a story past ``max_per_section`` can still lead, then the sections
        without the front's stories, each cut at ``max_per_section``."""
        return recent(
            self._email,
            segment,
            lambda: front_page(
                self.sections(segment, everything=True), self.settings.max_per_section
            ),
        )

    def topic_names(self, segment: str) -> list[str]:
        """How the segment's topics are shown in its footer."""
        # A topic no article or setting has spelt yet keeps the subscriber's spelling.
        given = {
            self.vocab.resolve(t): " ".join(t.split()) for t in self._topic_names.get(segment, [])
        }
        return [self.vocab.name(key, given.get(key, "")) for key in segment.split(";") if key]

    def rendered(self, segment: str) -> Rendered:
        return recent(
            self._rendered,
            segment,
            lambda: self.renderer.render_segment(
                self.edition,
                self.email_sections(segment),
                self.topic_names(segment),
                view_url(self.settings.public_url, self.edition, segment),
            ),
        )


SEGMENTS_KEPT = 64
T = TypeVar("T")


def recent(cache: dict[Any, T], key: Any, make: Callable[[], T]) -> T:
    """``cache[key]``, made by ``make`` if missing; the oldest of more than
    ``SEGMENTS_KEPT`` entries goes."""
    value = cache.get(key)
    if value is None:
        value = cache[key] = make()
        if len(cache) > SEGMENTS_KEPT:
            del cache[next(iter(cache))]
    return value


@dataclass
class SubscriberCopy:
    """One subscriber's copy of an edition: its segment rendered once, and who it is for.

    The one path by which ``preview`` and ``send --to`` find what a subscriber
    gets, so the test copy an operator mails themself is the previewed page.
    """

    edition: Edition
    content: EditionContent
    segment: str
    recipient: Recipient

    @property
    def sections(self) -> list[Section]:
        """The email's: the front page first, then the sections."""
        return self.content.email_sections(self.segment)

    @property
    def segment_render(self) -> Rendered:
        return self.content.rendered(self.segment)

    def personalised(self) -> Rendered:
        r = self.recipient
        return self.content.renderer.personal.fill(
            self.segment_render, r.name, r.token, r.first_name
        )


def subscriber_copy(
    store: Store,
    settings: Settings,
    subscriber: Subscriber,
    day: date | None,
    now: datetime,
    renderer: Renderer,
    links: Links,
) -> SubscriberCopy:
    """What ``subscriber`` gets in ``day``'s edition of their timezone (default: today)."""
    zone = delivery_timezone(subscriber.timezone, settings.timezone)
    edition = propose_edition(store, settings, day or local_today(zone, now), zone, now)
    content = EditionContent(store, settings, edition, renderer)
    segment, _ = content.segment_of(";".join(subscriber.topics))
    recipient = Recipient(
        subscriber.id,
        subscriber.email,
        subscriber.name,
        links.token(subscriber.id, subscriber.email),
        subscriber.first_name,
    )
    return SubscriberCopy(edition, content, segment, recipient)


@dataclass
class PreviewResult:
    edition: Edition
    rendered: Rendered
    sections: int
    articles: int
    page: str = ""  # what `digest preview` writes: the email, or the email in a frame
    left_out: LeftOut | None = None  # what the edition's window left out for age
    warning: str = ""  # the subscriber's own zone cannot be used: previewed in the default


def preview(
    store: Store,
    settings: Settings,
    day: date | None,
    email: str | None,
    now: datetime | None = None,
    width: int | None = None,
) -> PreviewResult:
    """What one subscriber (or an everything-subscriber) gets in an edition, unsent;
    with ``width``, the page shows it in a frame that many pixels wide."""
    subscriber = Subscriber(email="subscriber@example.com")
    if email:
        found = store.find_subscriber(email)
        if found is None:
            raise ConfigError(f"--email: no subscriber {email}")
        subscriber = found
    links = Links(settings.public_url, signing_key())
    copy = subscriber_copy(
        store, settings, subscriber, day, now or utcnow(), Renderer(settings), links
    )
    sections = copy.sections
    rendered = copy.personalised()
    page = framed(rendered.html, width, rendered.subject) if width else rendered.html
    stored = subscriber.timezone
    return PreviewResult(
        copy.edition,
        rendered,
        sum(not is_front(s) for s in sections),
        sum(len(s.articles) for s in sections),
        page,
        copy.content.left_out,
        fallback_line(stored, settings.timezone, [subscriber.email], 1)
        if stored and stored != copy.edition.timezone
        else "",
    )
