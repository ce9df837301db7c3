"""Schema version 16: who an edition goes to is read from one index, not the table.

Planning a million-recipient day reads each zone's audience four times (its
topics, its numbering into batches, who is already in another zone's edition,
who had part of the window); with send time, cadence and pause only in the
table, each read was a table row per reader (docs/performance.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from conftest import AUDIENCE_INDEX_15, as_release, subscriber

from digest.models import Edition, Subscriber
from digest.store.audience import audience_clause
from digest.store.schema import ACTIVE, SCHEMA_VERSION, schema_version, subscribers
from digest.store.store import Store

DAY = date(2026, 12, 7)
CUT = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def edition(zone: str, send_time: time | None = None, cadence: str = "daily") -> Edition:
    days = 7 if cadence == "weekly" else 1
    return Edition(
        date=DAY,
        timezone=zone,
        window_start=CUT - timedelta(days=days),
        cutoff=CUT,
        send_time=send_time,
        cadence=cadence,
    )


def indexes(store: Store) -> set[str]:
    return {i["name"] for i in sa.inspect(store.engine).get_indexes("subscribers")}


def audience(store: Store, of: Edition) -> list[str]:
    query = (
        sa.select(subscribers.c.email)
        .where(audience_clause(store.engine, "UTC", of), ACTIVE)
        .order_by(subscribers.c.email)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def test_a_version_15_database_upgrades_to_the_audience_index_with_its_people(db_url):
    old = Store(db_url)
    try:
        old.save_subscribers(
            [
                Subscriber("ana@example.com", topics=["Climate"], timezone="Europe/Paris"),
                Subscriber("ben@example.com", timezone="Europe/Paris", frequency="weekly"),
                Subscriber("cy@example.com", timezone="Asia/Tokyo", send_time=time(6, 30)),
                Subscriber("dee@example.com", timezone="Asia/Tokyo", paused_until=DAY),
            ]
        )
    finally:
        old.close()
    as_release(db_url, 15, *AUDIENCE_INDEX_15)

    upgraded = Store(db_url)
    try:
        with upgraded.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
        found = indexes(upgraded)
        assert "ix_subscribers_audience" in found
        assert "ix_subscribers_segment" not in found
        # The same people in each edition as before the upgrade.
        assert audience(upgraded, edition("Europe/Paris")) == ["ana@example.com"]
        assert audience(upgraded, edition("Europe/Paris", cadence="weekly")) == ["ben@example.com"]
        assert audience(upgraded, edition("Asia/Tokyo", send_time=time(6, 30))) == [
            "cy@example.com"
        ]
        assert audience(upgraded, edition("Asia/Tokyo")) == []  # dee is paused today
    finally:
        upgraded.close()
    # Opening it again changes nothing: the step is not run twice.
    again = Store(db_url)
    try:
        assert indexes(again) == found
    finally:
        again.close()


def test_an_editions_audience_is_read_from_the_index_alone_on_sqlite(sqlite_store):
    """Every column the audience is chosen by is in the index, for every kind of
    edition: the site's, a personal send time's, a weekly one, the default zone's."""
    sqlite_store.save_subscribers([subscriber("ana@example.com", ["Climate"], timezone="UTC")])
    kinds = [
        edition("UTC"),
        edition("Europe/Paris"),
        edition("Europe/Paris", send_time=time(6, 30)),
        edition("Asia/Tokyo", cadence="weekly"),
    ]
    with sqlite_store.engine.connect() as conn:
        for kind in kinds:
            query = (
                sa.select(subscribers.c.id, subscribers.c.topics)
                .where(audience_clause(sqlite_store.engine, "UTC", kind), ACTIVE)
                .compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            )
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
            assert "COVERING INDEX ix_subscribers_audience" in plan, (kind, plan)
