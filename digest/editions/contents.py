"""What goes into an edition: each segment's sections, one subscriber's copy, a preview.

An edition's window (which articles it covers) is ``editions.windows``. Of
those, each segment (subscribers with the same topics) gets its sections, and
a segment whose key ends ``@<instant>`` only the articles first ingested after
that instant: its people had the rest before, in another series' edition
(``sending/planning.py``; docs/editions.md).
"""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from digest.clock import utcnow
from digest.config.settings import Settings
from digest.config.sources import as_source
from digest.editions.windows import describe_left_out as describe_left_out
from digest.editions.windows import left_out, local_today, oldest_shown, propose_edition
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
from digest.zones import delivery_timezone, fallback_line

if TYPE_CHECKING:  # the render-ahead child unpickles this module's content, never a store
    from digest.store.store import Store

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


def segment_key(topic_keys: frozenset[str], since: datetime | None = None) -> str:
    """``climate;energy``; with ``since``, ``climate;energy@2026-12-03T07:00:00Z``: the
    segment's articles first ingested after that instant only. Rounded up to the
    second: an article of the split second before is not sent twice."""
    key = ";".join(sorted(topic_keys))
    if since is None:
        return key
    if since.microsecond:
        since = since.replace(microsecond=0) + timedelta(seconds=1)
    return f"{key}@{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


_SINCE = re.compile(r"@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$")


def split_segment(segment: str) -> tuple[frozenset[str], datetime | None]:
    """A segment key's topic keys, and its "since" instant (None: the whole window)."""
    found = _SINCE.search(segment)
    since = None
    if found:
        since = datetime.strptime(found[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        segment = segment[: found.start()]
    return frozenset(k for k in segment.split(";") if k), since


class EditionContent:
    """The edition's articles, tagged once; sections and renders cached per segment."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        edition: Edition,
        renderer: Renderer,
        vocab: Vocabulary | None = None,
    ):
        self.settings = settings
        self.edition = edition
        self.renderer = renderer
        # A send of several editions passes one vocabulary: it is the same for each,
        # and reading every subscriber's topics for it took 0.5 s a million.
        self.vocab = vocab if vocab is not None else vocabulary(store, settings)
        weekly = edition.cadence == "weekly"
        self.cap = settings.weekly_max_per_section if weekly else settings.max_per_section
        oldest = oldest_shown(settings, edition.cutoff, edition.cadence)
        stored = store.window_articles(edition.window_start, edition.cutoff, oldest)
        self.store: Store | None = store  # None in a detached copy
        configured = {s.name for s in map(as_source, settings.sources) if s.name}
        articles = distinct(shown_sources(stored, configured))
        articles = fold_items(articles)  # a thread, a status page's updates: one item each
        self.tagged = Grouped(tag_articles(articles, self.vocab))
        # The window's articles first ingested after an instant, per instant: the
        # segments of people who had the rest in another series' edition.
        self._after: dict[datetime, Grouped] = {}
        # Each kept for the last ``SEGMENTS_KEPT`` segments only: a send goes segment
        # by segment, and every segment's sections and email held at once were most
        # of a send's memory once segments ran into tens of thousands.
        self._sections: dict[tuple[str, bool], list[Section]] = {}
        self._email: dict[str, list[Section]] = {}
        self._rendered: dict[str, Rendered] = {}
        self._empty: dict[str, bool] = {}
        self._topic_names: dict[frozenset[str], list[str]] = {}

    def detached(self) -> EditionContent:
        """A copy to pickle for another process that renders segments
        (``editions/ahead.py``): what rendering reads (settings, edition,
        vocabulary, tagged articles, cap, the topics as subscribers spelt them)
        and the renderer, which pickles as one with the same placeholders; not
        the store, which that process must not open, nor this one's caches."""
        copy = object.__new__(EditionContent)
        copy.__dict__.update(self.__dict__)
        copy.store = None
        copy._after, copy._sections, copy._email, copy._rendered, copy._empty = {}, {}, {}, {}, {}
        copy._topic_names = dict(self._topic_names)
        return copy

    @functools.cached_property
    def left_out(self) -> LeftOut:
        """What the window left out for age (asked by a preview and a dry run only)."""
        assert self.store is not None, "a detached copy has no store"
        return left_out(self.store, self.settings, self.edition)

    def segment_of(self, raw_topics: str, since: datetime | None = None) -> tuple[str, bool]:
        """(segment key, is empty) for a subscriber's ``;``-joined topics; ``since``:
        they were sent what was first ingested up to then in another edition."""
        topics = [t for t in raw_topics.split(";") if t.strip()]
        key = segment_key(self.vocab.topic_keys(topics), since)
        self._topic_names.setdefault(split_segment(key)[0], topics)
        if key not in self._empty:
            keys, after = split_segment(key)
            self._empty[key] = self.articles_after(after).gives_nothing(keys)
        return key, self._empty[key]

    def sections(self, segment: str, everything: bool = False) -> list[Section]:
        """The segment's sections, each cut at ``max_per_section`` (a weekly edition's:
        ``weekly_max_per_section``); ``everything``: uncut, for the archive's web
        copy, where an email's "N more" links lead."""
        topics, since = split_segment(segment)
        cap = sys.maxsize if everything else self.cap
        return recent(
            self._sections,
            (segment, everything),
            lambda: build_sections(self.articles_after(since), topics, self.vocab, cap),
        )

    def articles_after(self, since: datetime | None) -> Grouped:
        """The window's tagged articles first ingested after ``since`` (all: None)."""
        if since is None:
            return self.tagged
        found = self._after.get(since)
        if found is None:
            found = self._after[since] = Grouped(
                [t for t in self.tagged if t.article.first_seen > since]
            )
        return found

    def email_sections(self, segment: str) -> list[Section]:
        """What the segment's email holds before the size guard: the front page
        first (``grouping/front.py``), ranked from every article of the segment,
        so a story past ``max_per_section`` can still lead, then the sections
        without the front's stories, each cut at ``max_per_section``."""
        return recent(
            self._email,
            segment,
            lambda: front_page(self.sections(segment, everything=True), self.cap),
        )

    def topic_names(self, segment: str) -> list[str]:
        """How the segment's topics are shown in its footer."""
        # A topic no article or setting has spelt yet keeps the subscriber's spelling.
        keys = split_segment(segment)[0]
        given = {
            self.vocab.resolve(t): " ".join(t.split()) for t in self._topic_names.get(keys, [])
        }
        return [self.vocab.name(key, given.get(key, "")) for key in sorted(keys)]

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

    def forget(self, segment: str) -> None:
        """Let ``segment``'s render and sections go now: the render-ahead child sends
        each once and never renders it again."""
        self._rendered.pop(segment, None)
        self._email.pop(segment, None)
        self._sections.pop((segment, True), None)
        self._sections.pop((segment, False), None)


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
    edition = propose_edition(
        store,
        settings,
        day or local_today(zone, now),
        zone,
        now,
        subscriber.send_time,
        subscriber.frequency or "daily",
    )
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
