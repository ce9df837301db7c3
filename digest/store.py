"""The store: articles, keywords, subscribers, and (in ``ledger``) editions and sends.

SQLAlchemy Core on SQLite (the default, one machine) or PostgreSQL (larger
installs, several senders). Tables are created on first use and the schema
version is recorded, so later releases can migrate an existing database.
Datetimes are stored as naive UTC and handed out as aware UTC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from digest.errors import ConfigError, InputError
from digest.models import Article, StoredArticle, Subscriber

SCHEMA_VERSION = 1

# Steps that bring an existing database from version N-1 to N, run in order in
# one transaction. New tables need no step (``create_all`` makes them); a step
# alters tables that already exist (a column, an index, a backfill).
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {}

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("guid", sa.String(2048), nullable=False, unique=True),
    sa.Column("url", sa.String(2048)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("body", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("keywords", sa.Text, nullable=False, default="[]"),  # JSON list, as spelt
    sa.Column("published", sa.DateTime),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    # published, else first_seen: what an edition's window is judged by.
    sa.Column("sort_time", sa.DateTime, nullable=False, index=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
)

keywords = sa.Table(
    "keywords",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),  # normalised, case-folded
    sa.Column("display", sa.Text, nullable=False),  # first spelling seen
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),  # lower-cased
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("topics", sa.Text, nullable=False, default=""),  # ";"-joined, as given
    sa.Column("timezone", sa.String(64)),  # NULL: the configured default
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_subscribers_segment", "timezone", "topics", "active", "id"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


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
        url = normalise_url(url)
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError(f"DIGEST_DATABASE_URL: not a database URL: {url!r}") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(parsed, **_engine_options(self.is_sqlite))
        except (ImportError, sa.exc.NoSuchModuleError) as err:
            raise ConfigError(
                f"DIGEST_DATABASE_URL: no driver for {parsed.drivername} ({err}); "
                "for PostgreSQL install digest[postgres]"
            ) from None
        self.url = redact_url(url)
        self._migrate()

    def close(self) -> None:
        self.engine.dispose()

    def _migrate(self) -> None:
        import digest.ledger  # noqa: F401  (its tables join the metadata)

        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn)
                found = conn.execute(sa.select(schema_version.c.version)).scalar()
                if found is None:
                    conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
                elif found > SCHEMA_VERSION:
                    raise ConfigError(
                        f"database schema version {found} is newer than this digest "
                        f"understands ({SCHEMA_VERSION}); upgrade digest"
                    )
                elif found < SCHEMA_VERSION:
                    for version in range(found + 1, SCHEMA_VERSION + 1):
                        MIGRATIONS[version](conn)
                    conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
        except OperationalError as err:
            raise ConfigError(f"cannot open the database {self.url}: {err.orig}") from None

    def insert_ignore(self, table: sa.Table):
        """An INSERT that skips rows whose key already exists (both dialects)."""
        dialect = sqlite if self.is_sqlite else postgresql
        return dialect.insert(table).on_conflict_do_nothing()

    def upsert(self, table: sa.Table, key: str, update: list[str]):
        dialect = sqlite if self.is_sqlite else postgresql
        stmt = dialect.insert(table)
        return stmt.on_conflict_do_update(
            index_elements=[key], set_={c: stmt.excluded[c] for c in update}
        )

    # -- articles ----------------------------------------------------------

    def save_articles(self, items: Iterable[Article]) -> dict[str, int]:
        """Insert new articles, update changed ones, leave identical ones alone.

        Returns counts of ``new``, ``updated`` and ``unchanged``. Re-ingesting
        keeps ``first_seen``, so an undated article does not come back in the
        next edition just because its file was read again.
        """
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        now = to_db(utcnow())
        with self.engine.begin() as conn:
            for item in _last_per_guid(items):
                digest = content_hash(item)
                row = conn.execute(
                    sa.select(articles.c.id, articles.c.content_hash, articles.c.first_seen).where(
                        articles.c.guid == item.guid
                    )
                ).first()
                values = {
                    "url": item.url,
                    "title": item.title,
                    "summary": item.summary,
                    "body": item.body,
                    "source": item.source,
                    "keywords": json.dumps(item.keywords, ensure_ascii=False),
                    "published": to_db(item.published),
                    "content_hash": digest,
                }
                if row is None:
                    values.update(guid=item.guid, first_seen=now)
                    values["sort_time"] = values["published"] or now
                    conn.execute(articles.insert().values(**values))
                    counts["new"] += 1
                elif row.content_hash != digest:
                    values["sort_time"] = values["published"] or row.first_seen
                    conn.execute(articles.update().where(articles.c.id == row.id).values(**values))
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
                self._remember_keywords(conn, item.keywords)
        return counts

    def _remember_keywords(self, conn: sa.Connection, spellings: list[str]) -> None:
        from digest.grouping import keyword_key

        rows = {keyword_key(s): s.strip() for s in reversed(spellings) if keyword_key(s)}
        if rows:
            conn.execute(
                self.insert_ignore(keywords), [{"key": k, "display": d} for k, d in rows.items()]
            )

    def articles_between(self, start: datetime, end: datetime) -> list[StoredArticle]:
        """Articles whose publish (or first-ingest) time is in ``(start, end]``."""
        query = (
            sa.select(articles)
            .where(articles.c.sort_time > to_db(start), articles.c.sort_time <= to_db(end))
            .order_by(articles.c.sort_time.desc(), articles.c.id)
        )
        with self.engine.connect() as conn:
            return [_article(row) for row in conn.execute(query)]

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
    ) -> dict[str, int]:
        """Add or update subscribers, matched by email case-insensitively.

        ``items`` is consumed as a stream, written in large statements and
        committed every 200,000 rows (see ``subscriber_store``): memory stays
        flat, and a sender waiting for SQLite's write lock waits a couple of
        seconds, not for a whole import. An update never re-activates someone
        who unsubscribed, unless ``resubscribe``.

        Values are checked before they get here (``validate``); should the
        database still refuse a row, its statement's rows are written again
        one by one, each in a SAVEPOINT, so only that row is lost. It goes to
        ``on_refused(subscriber, reason)``; without that callback the first
        refusal is raised as InputError once everything else is stored.
        """
        from digest.subscriber_store import save

        refused: list[tuple[Subscriber, str]] = []
        counts = save(self, items, resubscribe, on_refused or (lambda *r: refused.append(r)))
        if refused:
            sub, reason = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise InputError(
                f"subscriber {sub.email!r}", f"refused by the database: {reason}{more}"
            )
        return counts

    def list_subscribers(self, active_only: bool = True) -> Iterator[Subscriber]:
        query = sa.select(subscribers).order_by(subscribers.c.email_key)
        if active_only:
            query = query.where(subscribers.c.active)
        # yield_per: a server-side cursor on PostgreSQL, so a million rows are
        # never fetched at once.
        with self.engine.connect().execution_options(yield_per=1_000) as conn:
            for row in conn.execute(query):
                yield _subscriber(row)

    def subscriber_widths(self, active_only: bool = True) -> dict[str, int]:
        """The longest email, name, topics ("; "-joined) and timezone, in characters.

        So a listing can be laid out before its rows are read, and printed a
        page at a time instead of held whole.
        """
        c = subscribers.c
        separators = sa.func.length(c.topics) - sa.func.length(sa.func.replace(c.topics, ";", ""))
        query = sa.select(
            sa.func.max(sa.func.length(c.email)),
            sa.func.max(sa.func.length(c.name)),
            sa.func.max(sa.func.length(c.topics) + separators),
            sa.func.max(sa.func.length(c.timezone)),
        )
        if active_only:
            query = query.where(c.active)
        with self.engine.connect() as conn:
            found = conn.execute(query).one()
        return {
            k: v or 0 for k, v in zip(("email", "name", "topics", "timezone"), found, strict=True)
        }

    def find_subscriber(self, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.email_key == email.lower())
            ).first()
        return _subscriber(row) if row else None

    def subscriber_timezones(self, default: str) -> list[str]:
        """Every delivery timezone with at least one active subscriber."""
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(subscribers.c.timezone).where(subscribers.c.active).distinct()
            ).scalars()
            return sorted({tz or default for tz in found})


def _last_per_guid(items: Iterable[Article]) -> list[Article]:
    """A feed that repeats a guid means its last entry: keep one per guid."""
    by_guid: dict[str, Article] = {}
    for item in items:
        by_guid.pop(item.guid, None)
        by_guid[item.guid] = item
    return list(by_guid.values())


def content_hash(item: Article) -> str:
    parts = [
        item.url or "",
        item.title,
        item.summary,
        item.body,
        item.source,
        "\x1f".join(item.keywords),
        item.published.isoformat() if item.published else "",
    ]
    return hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()


def _article(row) -> StoredArticle:
    return StoredArticle(
        id=row.id,
        guid=row.guid,
        url=row.url,
        title=row.title,
        summary=row.summary,
        body=row.body,
        source=row.source,
        keywords=json.loads(row.keywords),
        published=from_db(row.published),
        first_seen=from_db(row.first_seen),
    )


def _subscriber(row) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        topics=[t for t in row.topics.split(";") if t],
        timezone=row.timezone,
    )


def _engine_options(is_sqlite: bool) -> dict:
    if not is_sqlite:
        return {"pool_pre_ping": True}
    return {"connect_args": {"timeout": 60}}


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets `digest status` read while a send writes; the driver's own
    # transaction handling is switched off so the "begin" hook below decides.
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@sa.event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(conn) -> None:
    # pysqlite would not BEGIN before a SELECT, so read-then-write steps (planning
    # an edition, claiming a batch) would not be atomic. IMMEDIATE takes the write
    # lock up front: concurrent senders queue instead of failing half-way.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
