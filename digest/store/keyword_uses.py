"""Who spells each keyword how, kept as articles are written: the tagging vocabulary.

Written in the same transaction as the articles (``article_writer``), from what
a chunk inserts and updates, so ``keyword_sources`` always says what counting the
stored articles again would (schema version 10 counts them once).
"""

from __future__ import annotations

import json
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from digest.keywords import keyword_key
from digest.models import Article
from digest.store.schema import articles, keyword_sources, keywords

IDS = postgresql.ARRAY(sa.Integer)


def remember_keywords(
    conn: sa.Connection, items: list[Article], inserts: list[dict], updates: dict[int, dict]
) -> None:
    """Every keyword seen (first spelling kept), how each source spells it, and on how
    many of its stored articles: the vocabulary for tagging is what sources share or
    one uses consistently (``editions.contents.vocabulary``).

    ``uses`` counts the articles that carry the keyword now: an edit that drops it
    counts down (a retracted tag is not the source's word), so the count is always
    what counting the stored articles again would give (schema version 10 does).
    """
    change = _uses_change(conn, inserts, updates)
    spellings = [k for item in items for k in item.keywords]
    rows = {keyword_key(s): s.strip() for s in reversed(spellings) if keyword_key(s)}
    if rows:
        _remember_spellings(conn, items, rows, change)
    dropped = [{"_key": k, "_source": s, "_n": -n} for (k, s), n in change.items() if n < 0]
    if dropped:
        left = keyword_sources.c.uses - sa.bindparam("_n")
        conn.execute(
            keyword_sources.update()
            .where(
                keyword_sources.c.key == sa.bindparam("_key"),
                keyword_sources.c.source == sa.bindparam("_source"),
            )
            .values(uses=sa.case((left > 0, left), else_=0)),
            dropped,
        )


def _remember_spellings(
    conn: sa.Connection, items: list[Article], rows: dict[str, str], change: Counter
) -> None:
    """Each new keyword; each (keyword, source)'s last spelling, and its added uses."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(keywords).on_conflict_do_nothing(),
        [{"key": k, "display": d} for k, d in rows.items()],
    )
    uses = {
        (keyword_key(word), item.source): word.strip()
        for item in items
        for word in item.keywords
        if keyword_key(word)
    }
    insert = dialect.insert(keyword_sources)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["key", "source"],
            set_={
                "spelling": insert.excluded.spelling,
                "uses": keyword_sources.c.uses + insert.excluded.uses,
            },
        ),
        [
            {"key": k, "source": source, "spelling": word, "uses": max(change[k, source], 0)}
            for (k, source), word in uses.items()
        ],
    )


def _uses_change(conn: sa.Connection, inserts: list[dict], updates: dict[int, dict]) -> Counter:
    """(key, source) -> how many more of the source's articles carry the keyword once
    the chunk is written: each insert adds its keywords, each update its new ones
    less the ones it replaces (under its source then and now: a feed renamed)."""
    change: Counter = Counter()
    for row in inserts:
        change.update(_keyed(row["source"], row["keywords"]))
    if updates:
        ids = list(updates)
        if conn.dialect.name == "sqlite":
            which = articles.c.id.in_(ids)
        else:  # one array, as article_writer._find_existing does
            which = articles.c.id == sa.any_(sa.bindparam("ids", ids, type_=IDS))
        query = sa.select(articles.c.source, articles.c.keywords).where(which)
        for source, words in conn.execute(query):
            change.subtract(_keyed(source, words))
        for row in updates.values():
            change.update(_keyed(row["source"], row["keywords"]))
    return change


def _keyed(source: str, words: str) -> set[tuple[str, str]]:
    """The (key, source) pairs of one article's stored keywords (a JSON list)."""
    return {(keyword_key(w), source) for w in json.loads(words) if keyword_key(w)}
