"""The steps that upgrade an older database, numbered, each run once and in order.

``Store`` runs every step above the version a database records, in one
transaction, when it opens it (``MIGRATION_LOCK`` keeps two processes on
PostgreSQL from doing it at once). A step changes tables that already exist;
a new table needs none (``create_all`` makes it). Each step is safe on a
database that already has what it adds, since an older digest may have made
some of it another way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from digest import validate
from digest.errors import ConfigError
from digest.keywords import keyword_key
from digest.store import database
from digest.store.schema import (
    LEDGER_FILLFACTOR,
    SCHEMA_VERSION,
    articles,
    editions,
    keyword_sources,
    metadata,
    schema_version,
    subscribers,
)
from digest.validate import clean_line

MIGRATION_LOCK = 0x6469676573740001  # a PostgreSQL advisory lock key: "digest", 1

MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {}


def up_to_date(engine: sa.Engine) -> bool:
    """Whether the database has every table, at this schema version: then opening
    writes nothing.

    Asked in a read, which waits for no writer. Every ``digest`` command and the
    web server open a store; behind a send or an import holding the write lock,
    each would otherwise queue just to find nothing to do.
    """
    with engine.connect() as conn:
        if not set(sa.inspect(conn).get_table_names()) >= set(metadata.tables):
            return False
        found = conn.execute(sa.select(schema_version.c.version)).scalar()
    return type(found) is int and found == SCHEMA_VERSION


def upgrade(engine: sa.Engine, shown_url: str, is_sqlite: bool) -> None:
    """Create what is missing and run every step above the recorded version.

    A writer: on SQLite its BEGIN takes the write lock, so two processes creating
    or upgrading one file queue rather than fail half-way.
    """
    with database.write_transaction(engine) as conn:
        if not is_sqlite:
            # Two senders starting at once on a new database would both create
            # the tables, and one would fail; this waits instead (SQLite's BEGIN
            # IMMEDIATE already does).
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        metadata.create_all(conn)
        found = conn.execute(sa.select(schema_version.c.version)).scalar()
        if found is None:
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        elif not isinstance(found, int) or isinstance(found, bool) or found < 1:
            raise ConfigError(
                f"the database {shown_url} records schema version {found!r:.40}, which no "
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


def _add_unsubscribed_at(conn: sa.Connection) -> None:
    """Version 5: subscribers.unsubscribed_at. Who left before it existed left at the
    latest when their row last changed, so that is the date they are given."""
    kind = sa.DateTime().compile(dialect=conn.dialect)
    conn.execute(sa.text(f"ALTER TABLE subscribers ADD COLUMN unsubscribed_at {kind}"))
    conn.execute(
        subscribers.update()
        .where(subscribers.c.active == sa.false())
        .values(unsubscribed_at=subscribers.c.updated_at)
    )


MIGRATIONS[2] = _add_url_key
MIGRATIONS[3] = _index_first_seen
MIGRATIONS[4] = _clean_stored_text
MIGRATIONS[5] = _add_unsubscribed_at


def _cheaper_ledger_updates(conn: sa.Connection) -> None:
    """Version 6: the ledger's batch index without status, and room in its pages, so
    recording a batch is a cheap update (existing pages keep their old fill)."""
    conn.execute(sa.text("DROP INDEX ix_ledger_batch"))
    conn.execute(sa.text("CREATE INDEX ix_ledger_batch ON ledger (batch_id)"))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"ALTER TABLE ledger SET (fillfactor = {LEDGER_FILLFACTOR})"))


MIGRATIONS[6] = _cheaper_ledger_updates


def _add_suppression(conn: sa.Connection) -> None:
    """Version 7: subscribers.suppressed_at, _reason and _detail (bounces, drops and
    complaints from the provider). Nobody is suppressed before it existed. Each
    column only if missing, so the step can be run over a table that has them.
    """
    kind = sa.DateTime().compile(dialect=conn.dialect)
    present = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
    for column, sql_type in (
        ("suppressed_at", kind),
        ("suppressed_reason", "VARCHAR(20)"),
        ("suppressed_detail", "TEXT"),
    ):
        if column not in present:
            conn.execute(sa.text(f"ALTER TABLE subscribers ADD COLUMN {column} {sql_type}"))


MIGRATIONS[7] = _add_suppression


def _ledger_without_edition_check(conn: sa.Connection) -> None:
    """Version 8: the ledger's foreign key to editions goes (PostgreSQL; SQLite never
    enforced it, and would have to rebuild the table to drop it)."""
    if conn.dialect.name != "postgresql":
        return
    for key in sa.inspect(conn).get_foreign_keys("ledger"):
        if key["referred_table"] == "editions" and key["name"]:
            conn.execute(sa.text(f'ALTER TABLE ledger DROP CONSTRAINT "{key["name"]}"'))


MIGRATIONS[8] = _ledger_without_edition_check


def _keywords_by_article(conn: sa.Connection) -> Iterator[tuple[str, list[str]]]:
    """Each stored article's source (as ``keyword_sources`` keys it) and keywords, read
    in chunks by id: a million articles are never in memory at once."""
    last = 0
    while rows := conn.execute(
        sa.select(articles.c.id, articles.c.source, articles.c.keywords)
        .where(articles.c.id > last)
        .order_by(articles.c.id)
        .limit(5000)
    ).all():
        last = rows[-1].id
        for row in rows:
            yield row.source[:256], json.loads(row.keywords)


def _backfill_keyword_sources(conn: sa.Connection) -> None:
    """Version 9: ``keyword_sources`` filled from the articles already stored, so an
    older database keeps its vocabulary. A pair already there is kept as it is: a
    version-8 database may have had the table, kept up to date by every ingest."""
    uses: dict[tuple[str, str], str] = {}
    for source, keywords in _keywords_by_article(conn):
        for word in keywords:
            if keyword_key(word):
                uses[(keyword_key(word), source)] = word.strip()
    if not uses:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(keyword_sources).on_conflict_do_nothing(),
        [{"key": k, "source": source, "spelling": word} for (k, source), word in uses.items()],
    )


MIGRATIONS[9] = _backfill_keyword_sources


def _count_keyword_uses(conn: sa.Connection) -> None:
    """Version 10: ``keyword_sources.uses``, on how many stored articles each source
    uses each keyword, counted from the articles (a pair only the articles know is
    added), so a newsroom's own keywords are vocabulary from the first edition on."""
    if "uses" not in {c["name"] for c in sa.inspect(conn).get_columns("keyword_sources")}:
        conn.execute(
            sa.text("ALTER TABLE keyword_sources ADD COLUMN uses INTEGER NOT NULL DEFAULT 0")
        )
    uses, spelt = Counter(), {}
    for source, keywords in _keywords_by_article(conn):
        words = {keyword_key(w): w.strip() for w in keywords if keyword_key(w)}
        for key, word in words.items():
            uses[(key, source)] += 1
            spelt.setdefault((key, source), word)
    if not uses:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(keyword_sources)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["key", "source"], set_={"uses": insert.excluded.uses}
        ),
        [{"key": k, "source": s, "spelling": spelt[k, s], "uses": n} for (k, s), n in uses.items()],
    )


MIGRATIONS[10] = _count_keyword_uses


def _add_first_name(conn: sa.Connection) -> None:
    """Version 11: subscribers.first_name, empty for everyone already stored, who
    are greeted by their name whole until they give one. Only if missing."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
    if "first_name" not in present:
        conn.execute(
            sa.text("ALTER TABLE subscribers ADD COLUMN first_name TEXT NOT NULL DEFAULT ''")
        )


MIGRATIONS[11] = _add_first_name


def _add_subscribed_at(conn: sa.Connection) -> None:
    """Version 12: subscribers.subscribed_at, NULL for everyone already stored: when
    they last subscribed is not known, and an unsubscribe must not be lost for a
    guess (a provider's event is then applied as before). Only if missing."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
    if "subscribed_at" not in present:
        kind = sa.DateTime().compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE subscribers ADD COLUMN subscribed_at {kind}"))


MIGRATIONS[12] = _add_subscribed_at


def _add_scope(conn: sa.Connection) -> None:
    """Version 13: articles.scope, the address of the feed an article came from, which
    its identity is scoped to (it was the feed's title: two feeds both titled "News"
    overwrote each other). NULL for the articles already stored: the address they
    came from was never recorded, so they keep their title-scoped guid until their
    feed is read again, and the first feed that gives the same guid under that title
    takes the row over (``article_writer``): an unchanged feed adds nothing. The
    partial index keeps "is any left?" one lookup. Each part only if missing."""
    if "scope" not in {c["name"] for c in sa.inspect(conn).get_columns("articles")}:
        conn.execute(sa.text("ALTER TABLE articles ADD COLUMN scope TEXT"))
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_articles_unscoped ON articles (id) WHERE scope IS NULL"
        )
    )


MIGRATIONS[13] = _add_scope


def _add_signups(conn: sa.Connection) -> None:
    """Version 14: the front door's tables (``signups``, ``signup_counters``,
    ``address_mail``, ``signup_events``). All new, so ``create_all`` has made them
    before this step runs: nothing already stored changes, and a database of
    version 13 opened by this digest simply has four empty tables more."""


MIGRATIONS[14] = _add_signups


def _add_cadence(conn: sa.Connection) -> None:
    """Version 15: how often and when. ``subscribers`` (and ``signups``) gain ``frequency``,
    ``send_time`` and ``paused_until`` (NULL for everyone stored: daily, at the
    site's time, never paused, as before) and an index on (timezone, send_time,
    frequency, active) that answers the scheduler's question alone;
    ``editions`` gains ``send_time`` ("": the site's time) and ``cadence`` ("daily"
    for every edition already sent: they were), and its unique key becomes the four.
    SQLite cannot drop a table's constraint, so there the small ``editions`` table is
    made again under its new key and its rows copied, ids kept (the ledger and
    batches name editions by id). Each part only if missing."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
    for column, sql_type in (
        ("frequency", "VARCHAR(10)"),
        ("send_time", "VARCHAR(5)"),
        ("paused_until", "VARCHAR(10)"),
    ):
        if column not in present:
            conn.execute(sa.text(f"ALTER TABLE subscribers ADD COLUMN {column} {sql_type}"))
    # A pending sign-up's daily or weekly, which confirming sets (NULL: the site's).
    if "frequency" not in {c["name"] for c in sa.inspect(conn).get_columns("signups")}:
        conn.execute(sa.text("ALTER TABLE signups ADD COLUMN frequency VARCHAR(10)"))
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_subscribers_runs "
            "ON subscribers (timezone, send_time, frequency, active)"
        )
    )
    if "cadence" in {c["name"] for c in sa.inspect(conn).get_columns("editions")}:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("ALTER TABLE editions DROP CONSTRAINT IF EXISTS uq_editions_date_timezone")
        )
        conn.execute(
            sa.text("ALTER TABLE editions ADD COLUMN send_time VARCHAR(5) NOT NULL DEFAULT ''")
        )
        conn.execute(
            sa.text("ALTER TABLE editions ADD COLUMN cadence VARCHAR(10) NOT NULL DEFAULT 'daily'")
        )
        conn.execute(
            sa.text(
                "ALTER TABLE editions ADD CONSTRAINT uq_editions_key "
                "UNIQUE (date, timezone, send_time, cadence)"
            )
        )
        return
    # SQLite: the new table under another name, filled, the old one dropped, and the
    # new one renamed (renaming the old one instead would rewrite batches' reference
    # to follow it). Foreign keys are not enforced here (never switched on).
    new = editions.to_metadata(sa.MetaData(), name="editions_v15")
    new.create(conn)
    kept = ["id", "date", "timezone", "window_start", "cutoff", "created_at"]
    old = sa.table("editions", *(sa.column(c) for c in kept))
    conn.execute(new.insert().from_select(kept, sa.select(*(old.c[c] for c in kept))))
    conn.execute(sa.text("DROP TABLE editions"))
    conn.execute(sa.text("ALTER TABLE editions_v15 RENAME TO editions"))


MIGRATIONS[15] = _add_cadence


def _cover_the_audience(conn: sa.Connection) -> None:
    """Version 16: the segment index (timezone, topics, active, id) becomes the audience
    index, with send time, cadence and pause after the id, so that who an edition
    goes to is read from the index alone (``schema.subscribers``)."""
    conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_subscribers_audience ON subscribers "
            "(timezone, topics, active, id, send_time, frequency, paused_until)"
        )
    )
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_subscribers_segment"))


MIGRATIONS[16] = _cover_the_audience

# Every version from 2 up to the tables' own has its step: a version left out would
# be skipped on upgrade, silently.
assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1)), sorted(MIGRATIONS)
