"""The store: one database connection and the queries the pipeline reads with.

SQLAlchemy Core on SQLite (the default, one machine) or PostgreSQL (larger
installs, several senders). The tables are in ``schema``; opening a store
creates them on first use and upgrades an older database. Writes of many
records have modules of their own (``article_writer``, ``subscriber_writer``),
and so do changes to one subscriber (``membership``); the ledger's queries
are in ``ledger``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime

import sqlalchemy as sa

from digest.clock import utcnow
from digest.errors import ConfigError, DatabaseUnreachable, InputError
from digest.models import (
    Applied,
    Article,
    Change,
    EditionEvents,
    ProviderEvent,
    SourceState,
    StoredArticle,
    Subscriber,
)
from digest.store import (
    article_writer,
    audience,
    database,
    membership,
    source_state,
    subscriber_writer,
    suppression,
)
from digest.store.article_writer import SaveResult
from digest.store.membership import to_subscriber
from digest.store.migrations import up_to_date, upgrade
from digest.store.schema import (
    ACTIVE,
    articles,
    from_db,
    keyword_sources,
    keywords,
    subscribers,
    to_db,
)
from digest.validate import clean_line, email_key


def normalise_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


class Store:
    """A database connection and the plain queries the pipeline needs."""

    def __init__(self, url: str) -> None:
        parsed = database.parse_url(normalise_url(url))
        self._parsed_url = parsed
        # "Now" for first-seen times when the caller gives none: a test sets its own.
        self.now: Callable[[], datetime] = utcnow
        self.url = database.redact(parsed)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            # The upserts and SKIP LOCKED claims are written for these two.
            raise ConfigError(
                "DIGEST_DATABASE_URL: digest stores its data in SQLite or PostgreSQL, "
                f"not {clean_line(parsed.get_backend_name())[:40]!r}"
            )
        path = self.file = database.sqlite_file(parsed)  # None on PostgreSQL
        # Whether opening it made a new, empty SQLite file: said by whoever opened it,
        # since a forgotten DIGEST_DATABASE_URL otherwise goes unnoticed.
        self.created = path is not None and not _has_data(path)
        if path is not None:
            database.make_folder(path)
        try:
            self.engine = sa.create_engine(parsed, **_engine_options(parsed))
        except (ImportError, sa.exc.NoSuchModuleError) as err:
            raise ConfigError(database.no_driver(parsed, err)) from None
        if self.is_sqlite:
            database.sqlite_transactions(self.engine)
        else:
            database.ping_when_idle(self.engine)
        try:
            if not (self.is_sqlite and up_to_date(self.engine)):
                upgrade(self.engine, self.url, self.is_sqlite)
        except sa.exc.SQLAlchemyError as err:
            self.engine.dispose()
            refused = not self.is_sqlite and isinstance(err, sa.exc.OperationalError)
            verb = "connect to" if refused else "open"
            line = f"cannot {verb} the database {self.url}: {database.first_line(err, parsed)}"
            if not self.is_sqlite and database.unreachable(err):
                raise DatabaseUnreachable(line) from None  # transient: worth waiting for
            raise ConfigError(self.problem(err) or line) from None
        except ConfigError:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def problem(self, error: sa.exc.SQLAlchemyError) -> str | None:
        """One line for a problem with the database file the operator must fix, else None."""
        return database.known_problem(error, self._parsed_url)

    def describe(self, error: sa.exc.SQLAlchemyError) -> str:
        """The driver's first line about ``error``: no SQL, no parameters, no password."""
        return database.first_line(error, self._parsed_url)

    # -- articles ----------------------------------------------------------

    def save_articles(self, items: Iterable[Article], now: datetime | None = None) -> SaveResult:
        """Insert new articles, update changed ones, leave identical ones alone.

        An article is the stored one with its guid, else the one from the same
        source with the same canonical link (``url_key``): the same story
        under a second guid updates the first rather than adding a row.
        Re-ingesting keeps ``first_seen`` (``now`` for new articles), so an
        undated article does not come back in the next edition just because
        its file was read again; a publish time later than ``first_seen`` is
        clamped to it. An article the store cannot hold is named in
        ``failed``, and the others are stored (see ``digest.store.article_writer``).
        """
        return article_writer.save_articles(self.engine, items, now or self.now())

    def window_articles(
        self, start: datetime, cutoff: datetime, oldest: datetime
    ) -> list[StoredArticle]:
        """The articles of an edition: first ingested in ``(start, cutoff]`` and
        published (or, undated, ingested) after ``oldest``; newest first.

        Judged by when digest first had an article, each goes into the first
        edition cut off after it arrived: one published before yesterday's
        cut-off but ingested after it is in today's edition, not in none.
        """
        query = (
            sa.select(articles)
            .where(
                articles.c.first_seen > to_db(start),
                articles.c.first_seen <= to_db(cutoff),
                articles.c.sort_time > to_db(oldest),
            )
            .order_by(articles.c.sort_time.desc(), articles.c.id)
        )
        with self.engine.connect() as conn:
            return [_article(row) for row in conn.execute(query)]

    def recent_articles(
        self, since: datetime, until: datetime, limit: int
    ) -> tuple[list[StoredArticle], bool]:
        """The newest ``limit`` articles published (or, undated, first seen) in
        ``(since, until]``, newest first, and whether there were more: what a
        typed topic is counted against, bounded so a page view stays cheap."""
        query = (
            sa.select(articles)
            .where(articles.c.sort_time > to_db(since), articles.c.sort_time <= to_db(until))
            .order_by(articles.c.sort_time.desc(), articles.c.id)
            .limit(limit + 1)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_article(row) for row in rows[:limit]], len(rows) > limit

    # -- sources -----------------------------------------------------------

    def source_states(self, keys: Iterable[str] | None = None) -> dict[str, SourceState]:
        """What is remembered of each of these sources (of every source when None)."""
        return source_state.load(self.engine, keys)

    def save_source_states(self, states: Iterable[SourceState]) -> None:
        source_state.save(self.engine, states)

    def keyword_spellings(self) -> list[tuple[str, str, int]]:
        """(key, spelling, how many sources spell it so) for every keyword stored."""
        query = sa.select(
            keyword_sources.c.key, keyword_sources.c.spelling, sa.func.count()
        ).group_by(keyword_sources.c.key, keyword_sources.c.spelling)
        with self.engine.connect() as conn:
            return [(k, s, n) for k, s, n in conn.execute(query)]

    def keywords_used_on(self, articles: int) -> list[str]:
        """The keys some one source uses on at least ``articles`` of its stored articles."""
        query = sa.select(keyword_sources.c.key).where(keyword_sources.c.uses >= articles)
        with self.engine.connect() as conn:
            return list(conn.execute(query.distinct()).scalars())

    def subscriber_topics(self) -> Counter:
        """Each topic spelling active subscribers hold -> how many hold it. Grouped
        by the ``;``-joined column first: a million subscribers share few of those."""
        query = (
            sa.select(subscribers.c.topics, sa.func.count())
            .where(ACTIVE, subscribers.c.topics != "")
            .group_by(subscribers.c.topics)
        )
        held: Counter = Counter()
        with self.engine.connect() as conn:
            for topics, count in conn.execute(query):
                for topic in {t.strip() for t in topics.split(";")} - {""}:
                    held[topic] += count
        return held

    def known_keywords(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(keywords.c.display)).scalars())

    # -- subscribers -------------------------------------------------------

    def save_subscribers(
        self,
        items: Iterable[Subscriber],
        *,
        resubscribe: bool = False,
        on_refused: Callable[[Subscriber, str], None] | None = None,
        progress: Callable[[int], None] | None = None,
        keep_first_names: bool = False,
        now: datetime | None = None,
        keep_cadence: bool | Collection[str] = False,
    ) -> dict[str, int]:
        """Add or update subscribers, matched by email case-insensitively.

        ``items`` is consumed as a stream, written in large statements and
        committed every 200,000 rows (see ``subscriber_writer``): memory stays
        flat, and a sender waiting for SQLite's write lock waits a couple of
        seconds, not for a whole import. ``progress(rows)`` is told how many
        are written, every 10,000.

        An update never re-activates someone who unsubscribed, unless
        ``resubscribe``. A subscriber with ``unsubscribed_at`` (a row of an
        export that includes those who left) is added as unsubscribed, and
        never re-activated, even with ``resubscribe``. With ``keep_first_names``
        (the items carry none: a CSV without the column) a stored subscriber's
        first name stays as it is; with ``keep_cadence``, so do frequency, send time
        and pause (a CSV without those columns), or those of them it names.
        ``now`` (default: the store's clock, ``self.now``) is when those added or
        resubscribed subscribed.

        Values are checked before they get here (``validate``); should the
        database still refuse a row, its statement's rows are written again
        one by one, each in a SAVEPOINT, so only that row is lost. It goes to
        ``on_refused(subscriber, reason)``; without that callback the first
        refusal is raised as InputError once everything else is stored.

        Returns how many were ``added``, ``updated`` (a value changed) and
        ``unchanged`` (stored already as given).
        """
        refused: list[tuple[Subscriber, str]] = []
        counts = subscriber_writer.save(
            self.engine,
            items,
            resubscribe,
            on_refused or (lambda *r: refused.append(r)),
            progress,
            keep_first_names,
            now or self.now(),
            keep_cadence,
        )
        if refused:
            sub, reason = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise InputError(
                f"subscriber {sub.email!r}", f"refused by the database: {reason}{more}"
            )
        return counts

    def add_subscriber(
        self,
        subscriber: Subscriber,
        *,
        given: Collection[str] = membership.EDITABLE,
        resubscribe: bool = False,
        unsuppress: bool = False,
        now: datetime | None = None,
    ) -> Change:
        """Add one subscriber, or update the one with that address (any case).

        Of a stored subscriber only the fields named in ``given`` (name,
        first_name, topics, timezone) change, and the address's spelling. Someone who
        unsubscribed is refused with ``StillUnsubscribed``, unless
        ``resubscribe``; an address that bounced or complained is refused
        with ``StillSuppressed``, unless ``unsuppress``. Returns what was
        done (added, updated, unchanged, resubscribed) with the stored
        subscriber; one transaction.
        """
        return membership.add_one(
            self.engine, subscriber, given, resubscribe, now or utcnow(), unsuppress
        )

    def unsubscribe(self, email: str, now: datetime | None = None) -> Change:
        """Unsubscribe the subscriber with this address (any case): the one home for it.

        The CLI's ``subscribers remove`` and the web's unsubscribe link both
        come here. Idempotent: ``unsubscribed`` the first time (recording
        when), ``already`` after, ``unknown`` for an address never stored.
        The row and its ledger history stay; the next batch claimed skips them.
        """
        return membership.unsubscribe(self.engine, email, now or utcnow())

    def apply_events(self, events: list[ProviderEvent], now: datetime | None = None) -> Applied:
        """Apply the provider's events, each once (by its id), in one transaction.

        Bounces, drops and complaints suppress the address, unsubscribes
        unsubscribe it, and every event digest acts on is kept for the
        per-edition counts (see ``digest.store.suppression``). An event seen before
        changes nothing, so a retried or replayed request is harmless.
        """
        return suppression.apply(self.engine, events, now or utcnow())

    def edition_events(self, edition_id: int) -> EditionEvents:
        """What the provider reported about one edition (delivered, bounced, dropped,
        complaints, opened, clicked) and how many of its recipients left since."""
        return suppression.edition_events(self.engine, edition_id)

    def list_subscribers(self, active_only: bool = True) -> Iterator[Subscriber]:
        """Subscribers by address; with ``active_only=False`` those who left too (each
        with ``unsubscribed_at`` or ``suppressed_at``). Streamed: memory does not grow."""
        query = sa.select(subscribers).order_by(subscribers.c.email_key)
        if active_only:
            query = query.where(subscribers.c.active)
        # yield_per: a server-side cursor on PostgreSQL, so a million rows are
        # never fetched at once.
        with self.engine.connect().execution_options(yield_per=1_000) as conn:
            for row in conn.execute(query):
                yield to_subscriber(row)

    def subscriber_widths(self, active_only: bool = True) -> dict[str, int]:
        return audience.widths(self.engine, active_only)

    def find_subscriber(self, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.email_key == email_key(email))
            ).first()
        return to_subscriber(row) if row else None

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber with this id (an unsubscribe link names them by it), or None."""
        # Beyond the column's range (a PostgreSQL INTEGER is 32-bit) nobody is stored;
        # asking would be a driver error, not an answer.
        if not 0 < subscriber_id <= (2**63 - 1 if self.is_sqlite else 2**31 - 1):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.id == subscriber_id)
            ).first()
        return to_subscriber(row) if row else None

    def subscriber_timezones(self, default: str) -> list[str]:
        """Every delivery timezone with at least one active subscriber."""
        return sorted(audience.by_timezone(self.engine, default))

    def audience_by_timezone(self, default: str) -> dict[str, int]:
        return audience.by_timezone(self.engine, default)

    def unusable_timezones(
        self, named: int = 3, zones: int = 20
    ) -> list[tuple[str, int, list[str]]]:
        return audience.unusable_timezones(self.engine, named, zones)


def _has_data(path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _article(row) -> StoredArticle:
    return StoredArticle(
        id=row.id,
        # Without its scope, or its source (store_key): the entry's own guid.
        guid=(row.guid.rpartition("\x1e") if "\x1e" in row.guid else row.guid.partition("\x1f"))[2]
        or row.guid,
        url=row.url,
        title=row.title,
        summary=row.summary,
        body=row.body,
        source=row.source,
        keywords=json.loads(row.keywords),
        published=from_db(row.published),
        first_seen=from_db(row.first_seen),
    )


def _engine_options(url: sa.URL) -> dict:
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": database.BUSY_TIMEOUT}}
    # libpq waits for an unreachable host for minutes; the URL may ask otherwise.
    connect = {} if "connect_timeout" in url.query else {"connect_timeout": 10}
    return {"connect_args": connect}  # pinged when taken from the pool idle (``ping_when_idle``)
