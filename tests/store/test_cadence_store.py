"""Schema version 15 on SQLite and PostgreSQL: a version 14 database upgrades with its
editions and people as they were, and editions are keyed by the four."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from conftest import AUDIENCE_INDEX_15, as_release, subscriber

from digest.models import Edition, PendingSignup, Subscriber
from digest.store import signups
from digest.store.editions import find_edition, list_editions, previous_cutoff, start_edition
from digest.store.schema import SCHEMA_VERSION, schema_version
from digest.store.store import Store

DAY = date(2026, 12, 7)
CUT = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def edition(send_time=None, cadence="daily", day=DAY, cutoff=CUT) -> Edition:
    return Edition(
        date=day,
        timezone="UTC",
        window_start=cutoff - timedelta(days=7 if cadence == "weekly" else 1),
        cutoff=cutoff,
        send_time=send_time,
        cadence=cadence,
    )


SQLITE_14 = (
    "CREATE TABLE editions_14 (id INTEGER NOT NULL PRIMARY KEY, date VARCHAR(10) NOT NULL, "
    "timezone VARCHAR(64) NOT NULL, window_start DATETIME NOT NULL, cutoff DATETIME NOT NULL, "
    "created_at DATETIME NOT NULL, CONSTRAINT uq_editions_date_timezone UNIQUE (date, timezone))",
    "INSERT INTO editions_14 SELECT id, date, timezone, window_start, cutoff, created_at "
    "FROM editions",
    "DROP TABLE editions",
    "ALTER TABLE editions_14 RENAME TO editions",
)
POSTGRESQL_14 = (
    "ALTER TABLE editions DROP CONSTRAINT uq_editions_key",
    "ALTER TABLE editions DROP COLUMN send_time",
    "ALTER TABLE editions DROP COLUMN cadence",
    "ALTER TABLE editions ADD CONSTRAINT uq_editions_date_timezone UNIQUE (date, timezone)",
)
SUBSCRIBERS_14 = (
    *AUDIENCE_INDEX_15,
    "DROP INDEX ix_subscribers_runs",
    "ALTER TABLE subscribers DROP COLUMN frequency",
    "ALTER TABLE subscribers DROP COLUMN send_time",
    "ALTER TABLE subscribers DROP COLUMN paused_until",
    "ALTER TABLE signups DROP COLUMN frequency",
)


def test_a_version_14_database_upgrades_with_its_editions_and_people_as_they_were(db_url):
    old = Store(db_url)
    try:
        old.save_subscribers([subscriber("ana@example.com", timezone="UTC")])
        sent = start_edition(old.engine, edition())
        pending = PendingSignup(id=0, email="pen@example.org")
        signups.save(old.engine, pending, CUT, CUT - timedelta(days=2))
    finally:
        old.close()
    sqlite = db_url.startswith("sqlite")
    as_release(db_url, 14, *SUBSCRIBERS_14, *(SQLITE_14 if sqlite else POSTGRESQL_14))

    upgraded = Store(db_url)
    try:
        with upgraded.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
        (kept,) = list_editions(upgraded.engine)
        assert (kept.id, kept.label, kept.send_time, kept.cadence) == (
            sent.id,
            "2026-12-07 UTC",
            None,
            "daily",
        )
        ana = upgraded.find_subscriber("ana@example.com")
        assert (ana.frequency, ana.send_time, ana.paused_until) == (None, None, None)
        # A sign-up pending across the upgrade confirms at the site's frequency.
        assert signups.by_address(upgraded.engine, "pen@example.org").frequency is None
        # The same date and zone now has room for the other series, and not twice for one.
        weekly = start_edition(upgraded.engine, edition(cadence="weekly"))
        early = start_edition(upgraded.engine, edition(send_time=time(6, 30)))
        assert len({sent.id, weekly.id, early.id}) == 3
        assert start_edition(upgraded.engine, edition(cadence="weekly")).id == weekly.id
        assert start_edition(upgraded.engine, edition()).id == sent.id
    finally:
        upgraded.close()


def test_each_series_starts_where_its_own_last_edition_stopped(store):
    start_edition(
        store.engine,
        edition(cadence="weekly", day=date(2026, 11, 30), cutoff=CUT - timedelta(days=7)),
    )
    start_edition(store.engine, edition(day=date(2026, 12, 6), cutoff=CUT - timedelta(days=1)))
    at = time(6, 30)
    start_edition(
        store.engine, edition(send_time=at, day=date(2026, 12, 5), cutoff=CUT - timedelta(days=2))
    )

    assert previous_cutoff(store.engine, "UTC", CUT) == CUT - timedelta(days=1)
    assert previous_cutoff(store.engine, "UTC", CUT, None, "weekly") == CUT - timedelta(days=7)
    assert previous_cutoff(store.engine, "UTC", CUT, at) == CUT - timedelta(days=2)
    assert find_edition(store.engine, date(2026, 12, 5), "UTC") is None
    assert find_edition(store.engine, date(2026, 12, 5), "UTC", at).send_time == at


def test_a_subscribers_choices_are_stored_and_read_back(store):
    store.save_subscribers(
        [
            Subscriber("w@example.com", timezone="UTC", frequency="weekly", send_time=time(6, 30)),
            Subscriber("p@example.com", paused_until=date(2026, 12, 24)),
        ]
    )
    w, p = store.find_subscriber("w@example.com"), store.find_subscriber("p@example.com")
    assert (w.frequency, w.send_time, w.paused_until) == ("weekly", time(6, 30), None)
    assert (p.frequency, p.send_time, p.paused_until) == (None, None, date(2026, 12, 24))
    # Changed by hand, one field: the others stay.
    w.paused_until = date(2027, 1, 4)
    change = store.add_subscriber(w, given=("paused_until",))
    assert change.fields == ("paused_until",)
    again = store.find_subscriber("w@example.com")
    assert (again.frequency, again.send_time, again.paused_until) == (
        "weekly",
        time(6, 30),
        date(2027, 1, 4),
    )
