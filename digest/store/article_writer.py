"""How articles are written: checked, matched, and stored in bulk, one bad one alone.

Every article is first checked against the column limits (``_problem``), the
same rules on SQLite and PostgreSQL, so a value one database would refuse and
the other silently accept is refused on both. Then articles go in chunks of
``CHUNK``: one SELECT finds the stored ones (by guid, or by ``url_key``, or by
the guid schema version 12 gave them: ``legacy_key``), and one bulk INSERT and
one bulk UPDATE write the chunk. A chunk the database
still refuses is retried one article at a time, each in its own SAVEPOINT,
so the article at fault is named in ``failed`` and the others are stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from digest import validate
from digest.errors import DigestError, InputError
from digest.keywords import keyword_key
from digest.models import Article
from digest.store.database import record_error, redact, write_transaction
from digest.store.keyword_uses import remember_keywords
from digest.store.schema import articles, from_db, to_db

CHUNK = 500  # articles per SELECT and bulk write
# What the database says about one record (a constraint, a value it cannot hold),
# as against the database as a whole (a lost connection, a full disk, a lock).


TEXTS = postgresql.ARRAY(sa.String)


@dataclass
class Counts:
    """How many articles were new, changed, or the same as stored."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class SaveResult(Counts):
    """What ``save_articles`` did; ``failed`` names each article it could not store."""

    failed: list[InputError] = field(default_factory=list)

    def add(self, counts: Counts) -> None:
        self.new += counts.new
        self.updated += counts.updated
        self.unchanged += counts.unchanged


def store_key(item: Article) -> str:
    """What the store knows an article by: its identity (``sources.identity``) scoped to
    the address of its feed (``scope``), so two feeds that both number their entries
    1, 2, 3 stay apart whatever they are called; an article file's, to its source's
    name. A key too long to index (a long link in Chinese, say) is its SHA-256.

    The two kinds never meet: a scoped key holds U+001E, which neither a name nor a
    guid (clean lines, ``validate.clean_line``) ever does."""
    return _bounded(f"{item.scope}\x1e{item.guid}") if item.scope else legacy_key(item)


def legacy_key(item: Article) -> str:
    """The key schema version 12 gave every article: its identity scoped to its source's
    name (a feed's title), what a row stored then is found by (``_find_existing``)."""
    return _bounded(f"{item.source}\x1f{item.guid}")


def _bounded(key: str) -> str:
    if len(key) > validate.MAX_GUID or validate.key_bytes(key) > validate.MAX_KEY_BYTES:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _last_per_key(items: Iterable[Article]) -> list[tuple[str, Article]]:
    """A feed that repeats a guid means its last entry: keep one per key."""
    by_key: dict[str, Article] = {}
    for item in items:
        key = store_key(item)
        by_key.pop(key, None)
        by_key[key] = item
    return list(by_key.items())


def _values(item: Article, key: str | None, digest: str, first_seen: datetime) -> dict:
    """The stored columns of ``item`` but guid and first_seen."""
    published = item.published
    if published is not None and published > first_seen:
        published = first_seen  # "published" tomorrow: we have it now, not then
    return {
        "url": item.url,
        "url_key": key,
        "title": item.title,
        "summary": item.summary,
        "body": item.body,
        "source": item.source,
        "keywords": json.dumps(item.keywords, ensure_ascii=False),
        "published": to_db(published),
        "sort_time": to_db(published or first_seen),
        "content_hash": digest,
    }


# What PostgreSQL cannot hold in text at all: NUL, and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _problem(item: Article) -> str | None:
    """Why ``item`` breaks the column limits, or None. The sources keep within them;
    this holds any other caller to the same rules on both databases."""
    limits = (
        ("guid", item.guid, validate.MAX_GUID),
        ("url", item.url or "", validate.MAX_URL),
        ("title", item.title, validate.MAX_TITLE),
        ("source", item.source, validate.MAX_SOURCE),
    )
    if not item.guid:
        return "no guid"
    for name, value, limit in limits:
        if len(value) > limit:
            return f"{name} longer than {limit} characters"
    if len(item.keywords) > validate.MAX_KEYWORDS:
        return f"more than {validate.MAX_KEYWORDS} keywords"
    for word in item.keywords:
        if max(len(word), len(keyword_key(word))) > validate.MAX_KEYWORD:
            return f"a keyword longer than {validate.MAX_KEYWORD} characters"
    texts = (item.guid, item.url or "", item.title, item.summary, item.body, item.source)
    if any(_UNSTORABLE.search(text) for text in (*texts, item.scope, *item.keywords)):
        return "contains a NUL character or a lone surrogate"
    if item.published is not None and item.published.tzinfo is None:
        return "published has no timezone"
    return None


def _refused(item: Article, reason: str) -> InputError:
    title = validate.shorten(validate.clean_line(item.title), 80)
    return InputError(item.origin or "article", f"{title!r} not stored: {reason}")


def _db_reason(err: sa.exc.DBAPIError) -> str:
    # Only the driver's first line: str(err) would repeat the statement and a whole body.
    first = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else ""
    reason = f"{type(err.orig).__name__}: {first}" if first else type(err.orig).__name__
    return "the database refused it (" + validate.shorten(validate.clean_line(reason), 200) + ")"


def save_articles(engine: sa.Engine, items: Iterable[Article], now: datetime) -> SaveResult:
    """``Store.save_articles``: checked, then written in chunks (see the module doc)."""
    result = SaveResult()
    good = []
    for key, item in _last_per_key(items):
        problem = _problem(item)
        if problem:
            result.failed.append(_refused(item, problem))
        else:
            good.append((key, item))
    if not good:
        return result
    try:
        with write_transaction(engine) as conn:
            old_keys = _has_unscoped(conn) and any(item.scope for _, item in good)
            for start in range(0, len(good), CHUNK):
                chunk = good[start : start + CHUNK]
                try:
                    with conn.begin_nested():
                        result.add(_save_chunk(conn, chunk, now, old_keys))
                except sa.exc.DBAPIError as err:
                    if not record_error(err):
                        raise
                    for key, item in chunk:
                        try:
                            with conn.begin_nested():
                                result.add(_save_chunk(conn, [(key, item)], now, old_keys))
                        except sa.exc.DBAPIError as err:
                            if not record_error(err):
                                raise
                            result.failed.append(_refused(item, _db_reason(err)))
    except sa.exc.DBAPIError as err:  # the database as a whole: gone, full, locked
        where = redact(engine.url)
        raise DigestError(f"cannot store articles in {where}: {_db_reason(err)}") from None
    return result


def _has_unscoped(conn: sa.Connection) -> bool:
    """Whether a row from before schema version 13 still waits for its feed (one
    lookup in ``ix_articles_unscoped``): if not, no article is looked up twice."""
    query = sa.select(articles.c.id).where(articles.c.scope.is_(None)).limit(1)
    return conn.execute(query).first() is not None


def _save_chunk(conn: sa.Connection, chunk: list, now: datetime, old_keys: bool) -> Counts:
    """Save ``chunk`` ((store key, article), distinct keys) as if one at a time, in three
    statements; ``old_keys``: also find rows by the key schema version 12 gave them."""
    links = {key: validate.url_key(item.url) if item.url else None for key, item in chunk}
    legacy = {key: legacy_key(item) for key, item in chunk if item.scope} if old_keys else {}
    stored = _find_existing(
        conn, list(links), sorted({link for link in links.values() if link}), list(legacy.values())
    )
    plan = _plan_writes(chunk, links, legacy, stored, now)
    # Before the write: it reads the keywords each update replaces.
    remember_keywords(conn, [item for _, item in chunk], list(plan.inserts.values()), plan.updates)
    _write(conn, plan)
    return plan.counts


@dataclass
class _Stored:
    """The stored articles a chunk may be: by guid (store key), by where each
    (source, url_key) leads: a stored row's id, or the guid of an article the chunk
    inserts (``_plan_writes`` adds those as it goes, and the hashes they will have);
    and the rows from before version 13 not yet taken over, by their old key."""

    by_guid: dict[str, sa.Row]
    by_link: dict[tuple[str, str], int | str]
    unscoped: dict[str, int]
    first_seen: dict[int, datetime]
    hashes: dict[int | str, str]


@dataclass
class _Plan:
    """The rows to insert (by guid), to update (by id) and to take over from version 12
    (by id: their new guid and scope), and what each article was."""

    inserts: dict[str, dict] = field(default_factory=dict)
    updates: dict[int, dict] = field(default_factory=dict)
    claims: dict[int, dict] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)


def _find_existing(
    conn: sa.Connection, guids: list[str], links: list[str], old: list[str]
) -> _Stored:
    """The stored rows with one of these guids or canonical links, or from before
    version 13 with one of the ``old`` keys, in one statement."""
    columns = (
        articles.c.id,
        articles.c.guid,
        articles.c.source,
        articles.c.url_key,
        articles.c.content_hash,
        articles.c.first_seen,
        articles.c.scope,
    )
    # Index lookups. PostgreSQL gets each list as one array: "IN (500
    # parameters)" in a prepared statement's generic plan becomes a scan of
    # the whole table with 500 comparisons a row.
    if conn.dialect.name == "sqlite":
        same_guid, same_link = articles.c.guid.in_(guids), articles.c.url_key.in_(links)
    else:
        same_guid = articles.c.guid == sa.any_(sa.bindparam("guids", guids, type_=TEXTS))
        same_link = articles.c.url_key == sa.any_(sa.bindparam("links", links, type_=TEXTS))
    parts = [sa.select(*columns).where(same_guid), sa.select(*columns).where(same_link)]
    if old:
        same_old = (
            articles.c.guid.in_(old)
            if conn.dialect.name == "sqlite"
            else articles.c.guid == sa.any_(sa.bindparam("old", old, type_=TEXTS))
        )
        unscoped = sa.select(*columns).where(same_old, articles.c.scope.is_(None))
        if conn.dialect.name == "postgresql":
            # Locked first: an ingest beside this one that takes a row over commits
            # before this sees the row, or waits until this one has; never both.
            conn.execute(unscoped.with_only_columns(articles.c.id).order_by("id").with_for_update())
        parts.append(unscoped)
    found = sorted(set(conn.execute(sa.union(*parts)).all()), key=lambda row: row.id)
    by_link: dict[tuple[str, str], int | str] = {}
    for row in found:  # the oldest row with a link is the one it leads to
        by_link.setdefault((row.source, row.url_key), row.id)
    return _Stored(
        by_guid={row.guid: row for row in found},
        by_link=by_link,
        unscoped={row.guid: row.id for row in found if row.scope is None},
        first_seen={row.id: from_db(row.first_seen) for row in found},
        hashes={row.id: row.content_hash for row in found},
    )


def _plan_writes(
    chunk: list[tuple[str, Article]],
    links: dict[str, str | None],
    legacy: dict[str, str],
    stored: _Stored,
    now: datetime,
) -> _Plan:
    """Each article new, the same, or changed, as if saved one after the other: a
    later one with an earlier one's link updates it, even before it is written. A
    row from before version 13 with an article's old key (``legacy``) is taken over
    by the first that has it, even unchanged, so no feed of that title finds it again."""
    plan = _Plan()
    for guid, item in chunk:
        link = links[guid]
        old = legacy.get(guid)
        target = _target(guid, item.source, link, old, stored)
        if old is not None and target is not None and stored.unscoped.get(old) == target:
            del stored.unscoped[old]  # taken over by this one: no other may have it
            plan.claims[target] = {"_id": target, "_guid": guid, "_scope": item.scope}
        digest = content_hash(item)
        if target is None:
            target = guid
            plan.inserts[guid] = {
                "guid": guid,
                "first_seen": to_db(now),
                "scope": item.scope,
                **_values(item, link, digest, now),
            }
            plan.counts.new += 1
        elif stored.hashes[target] == digest:
            plan.counts.unchanged += 1
        elif isinstance(target, str):  # an article inserted earlier in this chunk
            plan.inserts[target].update(_values(item, link, digest, now))
            plan.counts.updated += 1
        else:
            first_seen = stored.first_seen[target]
            plan.updates[target] = {"_id": target, **_values(item, link, digest, first_seen)}
            plan.counts.updated += 1
        stored.hashes[target] = digest
        if link:
            stored.by_link[(item.source, link)] = target
    return plan


def _target(
    guid: str, source: str, link: str | None, old: str | None, stored: _Stored
) -> int | str | None:
    """The article this one is: the row with its guid, else the row from before version
    13 with its ``old`` key, else where its link leads, else none."""
    row = stored.by_guid.get(guid)
    if row is not None:
        return row.id
    if old is not None and old in stored.unscoped:
        return stored.unscoped[old]
    return stored.by_link.get((source, link)) if link else None


def _write(conn: sa.Connection, plan: _Plan) -> None:
    """The planned inserts (one statement, or COPY) and updates (one executemany)."""
    if plan.inserts:
        if conn.dialect.name == "sqlite":
            conn.execute(articles.insert(), list(plan.inserts.values()))
        else:
            _copy_in(conn, list(plan.inserts.values()))
    if plan.claims:
        conn.execute(
            articles.update()
            .where(articles.c.id == sa.bindparam("_id"))
            .values(guid=sa.bindparam("_guid"), scope=sa.bindparam("_scope")),
            list(plan.claims.values()),
        )
    if plan.updates:
        columns = [c for c in next(iter(plan.updates.values())) if c != "_id"]
        conn.execute(
            articles.update()
            .where(articles.c.id == sa.bindparam("_id"))
            .values({c: sa.bindparam(f"_{c}") for c in columns}),
            [{"_id": u["_id"], **{f"_{c}": u[c] for c in columns}} for u in plan.updates.values()],
        )


def _copy_in(conn: sa.Connection, rows: list[dict]) -> None:
    """New articles into PostgreSQL by COPY, in the connection's transaction: an
    executemany is one INSERT per row on the server, five times slower."""
    names = list(rows[0])
    columns = ", ".join(names)
    statement = f"COPY articles ({columns}) FROM STDIN"
    dbapi = conn.dialect.dbapi
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except dbapi.Error as err:  # as SQLAlchemy would raise it: a refused row is told apart
        raise sa.exc.DBAPIError.instance(statement, None, err, dbapi.Error) from err
    finally:
        cursor.close()


def content_hash(item: Article) -> str:
    """What decides whether a re-ingested article changed."""
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
