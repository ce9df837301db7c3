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
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from digest import database, validate
from digest.errors import ConfigError, InputError
from digest.models import Article, StoredArticle, Subscriber
from digest.validate import clean_line

if TYPE_CHECKING:
    from digest.saving import SaveResult

SCHEMA_VERSION = 4
MIGRATION_LOCK = 0x6469676573740001  # a PostgreSQL advisory lock key: "digest", 1

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
    # When digest first had it: which edition it belongs to (the first one cut off
    # after it arrived), so a late arrival still goes out and an edit never again.
    sa.Column("first_seen", sa.DateTime, nullable=False, index=True),
    # published (never later than first_seen), else first_seen: how old it is.
    sa.Column("sort_time", sa.DateTime, nullable=False, index=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    # validate.url_key(url): finds the same link under another guid (schema version 2).
    sa.Column("url_key", sa.String(64), index=True),
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
        parsed = database.parse_url(normalise_url(url))
        self._parsed_url = parsed
        self.clock: Callable[[], datetime] | None = None  # "now" for ingest times (tests)
        self.url = database.redact(parsed)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            # The upserts and SKIP LOCKED claims are written for these two.
            raise ConfigError(
                "DIGEST_DATABASE_URL: digest stores its data in SQLite or PostgreSQL, "
                f"not {clean_line(parsed.get_backend_name())[:40]!r}"
            )
        path = self.file = database.sqlite_file(parsed)  # None on PostgreSQL
        if path is not None:
            database.make_folder(path)
        try:
            self.engine = sa.create_engine(parsed, **_engine_options(parsed))
        except (ImportError, sa.exc.NoSuchModuleError) as err:
            raise ConfigError(
                f"DIGEST_DATABASE_URL: no driver for {parsed.drivername} ({err}); "
                "for PostgreSQL install digest[postgres]"
            ) from None
        try:
            self._migrate()
        except sa.exc.SQLAlchemyError as err:
            self.engine.dispose()
            unreachable = not self.is_sqlite and isinstance(err, sa.exc.OperationalError)
            verb = "connect to" if unreachable else "open"
            raise ConfigError(
                self.problem(err)
                or f"cannot {verb} the database {self.url}: {database.first_line(err, parsed)}"
            ) from None
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

    def _migrate(self) -> None:
        import digest.ledger  # noqa: F401  (its tables join the metadata)

        with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Two senders starting at once on a new database would both
                # create the tables, and one would fail; this waits instead
                # (SQLite's BEGIN IMMEDIATE already does).
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            metadata.create_all(conn)
            found = conn.execute(sa.select(schema_version.c.version)).scalar()
            if found is None:
                conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
            elif not isinstance(found, int) or isinstance(found, bool) or found < 1:
                raise ConfigError(
                    f"the database {self.url} records schema version {found!r:.40}, which no "
                    "digest writes: it is not digest's database, or it is damaged"
                )
            elif found > SCHEMA_VERSION:
                raise ConfigError(
                    f"database schema version {found} is newer than this digest "
                    f"understands ({SCHEMA_VERSION}); upgrade digest"
                )
            elif found < SCHEMA_VERSION:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[version](conn)
                conn.execute(schema_version.update().values(version=SCHEMA_VERSION))

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

    def save_articles(self, items: Iterable[Article], now: datetime | None = None) -> SaveResult:
        """Insert new articles, update changed ones, leave identical ones alone.

        An article is the stored one with its guid, else the one from the same
        source with the same canonical link (``url_key``): the same story
        under a second guid updates the first rather than adding a row.
        Re-ingesting keeps ``first_seen`` (``now`` for new articles), so an
        undated article does not come back in the next edition just because
        its file was read again; a publish time later than ``first_seen`` is
        clamped to it. An article the store cannot hold is named in
        ``failed``, and the others are stored (see ``digest.saving``).
        """
        from digest.saving import save_articles

        return save_articles(self, items, now or (self.clock or utcnow)())

    def _remember_keywords(self, conn: sa.Connection, spellings: list[str]) -> None:
        from digest.grouping import keyword_key

        rows = {keyword_key(s): s.strip() for s in reversed(spellings) if keyword_key(s)}
        if rows:
            conn.execute(
                self.insert_ignore(keywords), [{"key": k, "display": d} for k, d in rows.items()]
            )

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
    return hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _add_url_key(conn: sa.Connection) -> None:
    """Version 2: articles.url_key, indexed, filled in for the articles already stored."""
    conn.execute(sa.text("ALTER TABLE articles ADD COLUMN url_key VARCHAR(64)"))
    conn.execute(sa.text("CREATE INDEX ix_articles_url_key ON articles (url_key)"))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(articles.c.id, articles.c.url)
            .where(articles.c.id > last, articles.c.url.is_not(None))
            .order_by(articles.c.id)
            .limit(5000)
        ).all()
        if not rows:
            return
        conn.execute(
            articles.update()
            .where(articles.c.id == sa.bindparam("_id"))
            .values(url_key=sa.bindparam("_key")),
            [{"_id": row.id, "_key": validate.url_key(row.url)} for row in rows],
        )
        last = rows[-1].id


def _index_first_seen(conn: sa.Connection) -> None:
    """Version 3: editions are collected by first-ingest time, so index it."""
    conn.execute(
        sa.text("CREATE INDEX IF NOT EXISTS ix_articles_first_seen ON articles (first_seen)")
    )


def _clean_stored_text(conn: sa.Connection) -> None:
    """Version 4: text stored before the edge rules existed loses its control characters
    (terminal escapes, NULs, bidi overrides), as everything stored since does."""

    def topics(raw: str) -> str:
        return ";".join(t for t in (clean_line(t) for t in raw.split(";")) if t)

    def keywords(raw: str) -> str:
        cleaned = [k for k in (clean_line(str(k)) for k in json.loads(raw)) if k]
        return json.dumps(cleaned, ensure_ascii=False)

    _clean_rows(conn, subscribers, {"name": clean_line, "topics": topics})
    _clean_rows(
        conn,
        articles,
        {
            "title": clean_line,
            "summary": clean_line,
            "source": clean_line,
            "body": validate.clean_block,
            "keywords": keywords,
        },
    )


def _clean_rows(conn: sa.Connection, table: sa.Table, cleaners: dict) -> None:
    """Rewrite the rows of ``table`` whose text a cleaner changes, a page at a time."""
    last = 0
    columns = [table.c[name] for name in cleaners]
    while rows := conn.execute(
        sa.select(table.c.id, *columns).where(table.c.id > last).order_by(table.c.id).limit(5000)
    ).all():
        last = rows[-1].id
        changed = []
        for row in rows:
            values = {name: clean(getattr(row, name)) for name, clean in cleaners.items()}
            if any(values[name] != getattr(row, name) for name in cleaners):
                changed.append({"_id": row.id, **{f"_{k}": v for k, v in values.items()}})
        if changed:
            conn.execute(
                table.update()
                .where(table.c.id == sa.bindparam("_id"))
                .values({name: sa.bindparam(f"_{name}") for name in cleaners}),
                changed,
            )


MIGRATIONS[2] = _add_url_key
MIGRATIONS[3] = _index_first_seen
MIGRATIONS[4] = _clean_stored_text


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


def _engine_options(url: sa.URL) -> dict:
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 60}}
    # libpq waits for an unreachable host for minutes; the URL may ask otherwise.
    connect = {} if "connect_timeout" in url.query else {"connect_timeout": 10}
    return {"pool_pre_ping": True, "connect_args": connect}


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
