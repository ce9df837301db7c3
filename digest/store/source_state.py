"""What is remembered of each source between runs: validators, redirects, failures.

One row per source (``schema.source_state``), keyed by the SHA-256 of what
names it: a feed's URL with its password hidden, or a file's path. So the
password itself is never stored, and a URL too long to index still has a key.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from digest.models import SourceState
from digest.store.database import write_transaction
from digest.store.schema import from_db, source_state, to_db

_TIMES = ("retry_after", "gone_at", "last_fetched", "last_new", "last_error_at")


def state_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def load(engine: sa.Engine, keys: Iterable[str] | None = None) -> dict[str, SourceState]:
    """The stored state of each of ``keys`` that has one (every source's when None)."""
    query = sa.select(source_state)
    if keys is not None:
        ids = sorted({state_id(k) for k in keys})
        if not ids:
            return {}
        query = query.where(source_state.c.id.in_(ids))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found = {}
    for row in rows:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(SourceState)}
        for name in _TIMES:
            values[name] = from_db(values[name])
        found[row.key] = SourceState(**values)
    return found


def save(engine: sa.Engine, states: Iterable[SourceState]) -> None:
    """Write each state whole, over what was stored (one transaction)."""
    rows = []
    for state in states:
        values = dataclasses.asdict(state)
        for name in _TIMES:
            values[name] = to_db(values[name])
        rows.append({"id": state_id(state.key), **values})
    if not rows:
        return
    with write_transaction(engine) as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        insert = dialect.insert(source_state)
        columns = {c: insert.excluded[c] for c in rows[0] if c != "id"}
        conn.execute(insert.on_conflict_do_update(index_elements=["id"], set_=columns), rows)
