"""Every table digest keeps, in one place, and the version they are at.

The bottom of the data layer: it imports nothing of digest's, so the store, the
ledger and the planner all build on it without importing each other. Datetimes
are stored as naive UTC (``to_db``) and handed out as aware UTC (``from_db``).

A new table needs no migration (``create_all`` makes it on first use); a change
to a table that already exists is a numbered step in ``digest.store.migrations``,
and ``SCHEMA_VERSION`` here is the number of the last one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

SCHEMA_VERSION = 16

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
    # The address of the feed it came from (sources.identity.scope_of), which ``guid``
    # is scoped to; "" for an article file (scoped to its source's name). NULL: stored
    # before schema version 13, its guid scoped to the feed's title, until the feed is
    # read again (article_writer re-keys it then). The partial index finds those.
    sa.Column("scope", sa.Text),
    sa.Index(
        "ix_articles_unscoped",
        "id",
        sqlite_where=sa.text("scope IS NULL"),
        postgresql_where=sa.text("scope IS NULL"),
    ),
)

keywords = sa.Table(
    "keywords",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),  # normalised, case-folded
    sa.Column("display", sa.Text, nullable=False),  # first spelling seen
)

# Who spells each keyword how: one row per (keyword, source), the spelling that
# source used last, and on how many of its stored articles (``uses``, version 10).
# The vocabulary for tagging is the keywords at least two sources share or one
# source uses consistently, and a keyword's name is its most common spelling here.
# An older database gets the table from `create_all`, filled by versions 9 and 10.
keyword_sources = sa.Table(
    "keyword_sources",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(256), primary_key=True),
    sa.Column("spelling", sa.Text, nullable=False),
    sa.Column("uses", sa.Integer, nullable=False, default=0, server_default="0"),
)

# What is remembered of each source between runs (models.SourceState). ``id`` is
# the SHA-256 of ``key`` (a URL, its password hidden, or a file's path), which may
# be too long to index. A new table: no migration.
source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("moved_to", sa.Text),
    sa.Column("retry_after", sa.DateTime),
    sa.Column("gone_at", sa.DateTime),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("articles", sa.Integer, nullable=False, default=0),
    sa.Column("last_fetched", sa.DateTime),
    sa.Column("last_new", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.DateTime),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
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
    # When they unsubscribed (schema version 5). ``active`` stays, as the column
    # the audience index needs: false when this or suppressed_at is set.
    sa.Column("unsubscribed_at", sa.DateTime),
    # The provider will not deliver to the address, or its owner complained
    # (schema version 7, from SendGrid's Event Webhook): when, which of
    # SUPPRESSIONS, and the provider's words (an SMTP reply, a drop reason).
    # Apart from unsubscribed_at: a complaint after an unsubscribe is kept, and
    # a resubscribe does not lift a suppression. ``active`` is false exactly
    # when one of the two dates is set.
    sa.Column("suppressed_at", sa.DateTime),
    sa.Column("suppressed_reason", sa.String(20)),
    sa.Column("suppressed_detail", sa.Text),
    # The name they are greeted by, as given ("": greeted by ``name`` whole);
    # schema version 11.
    sa.Column("first_name", sa.Text, nullable=False, default="", server_default=""),
    # When they last became subscribed: added, resubscribed or unsuppressed
    # (schema version 12; NULL for rows from before, not known). A provider's
    # event from before it is about the address as it was then, and changes
    # nothing now (``suppression``): a late unsubscribe event does not undo a
    # newer resubscribe.
    sa.Column("subscribed_at", sa.DateTime),
    # How often and when (schema version 15): "daily" | "weekly" (NULL: the site's
    # default, daily); "HH:MM" local to their zone (NULL: the site's ``send_time``);
    # an ISO date on or before which no edition of any kind is sent (NULL: none).
    sa.Column("frequency", sa.String(10)),
    sa.Column("send_time", sa.String(5)),
    sa.Column("paused_until", sa.String(10)),
    # Who an edition goes to, by segment: planning, the counts and ``digest status``
    # read a zone's audience (``audience.audience_clause``) from this index alone.
    # Send time, cadence and pause follow the id (schema version 16): without them
    # each of the audience was also a row read from the table, 200,000 random reads
    # a zone (its distinct topics on SQLite: 0.4 s against 0.05 s; docs/performance.md).
    sa.Index(
        "ix_subscribers_audience",
        *("timezone", "topics", "active", "id", "send_time", "frequency", "paused_until"),
    ),
    # The scheduler's runs: the distinct (zone, time) pairs, read at every beat, and
    # who is in each (``audience.by_series``), answered from the index alone.
    sa.Index("ix_subscribers_runs", "timezone", "send_time", "frequency", "active"),
)


editions = sa.Table(
    "editions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("date", sa.String(10), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("cutoff", sa.DateTime, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # Schema version 15: which series of the zone it is. ``send_time`` "HH:MM" for
    # the subscribers with that personal time, "" for those with none (the site's
    # time; "" rather than NULL because a unique key treats NULLs as all different,
    # and two senders starting the site's edition at once must meet on one row);
    # ``cadence`` "daily" | "weekly".
    sa.Column("send_time", sa.String(5), nullable=False, default="", server_default=""),
    sa.Column("cadence", sa.String(10), nullable=False, default="daily", server_default="daily"),
    sa.UniqueConstraint("date", "timezone", "send_time", "cadence", name="uq_editions_key"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("segment", sa.Text, nullable=False),  # sorted topic keys, ";"-joined
    sa.Column("state", sa.String(10), nullable=False),  # pending | sending | handed | done
    sa.Column("owner", sa.String(300)),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Index("ix_batches_claim", "edition_id", "state", "id"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    # No foreign key to editions (schema version 8), as none to subscribers: PostgreSQL
    # checks a key with a trigger fired once per row, and planning writes a million
    # rows in one statement (the key cost 3.5 of its 8 s, docs/performance.md). Only
    # planning writes ledger rows, under a lock on the edition's row, and editions
    # are never deleted.
    sa.Column("edition_id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer, primary_key=True),
    # NULL only for a row planning wrote ``skipped`` (an empty segment, someone in
    # another edition of the date), which nothing changes after: ``Ledger.counts``
    # counts those as the edition's rows less its batches'.
    sa.Column("batch_id", sa.Integer),
    # pending | sent | failed | in_doubt | skipped
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("retry", sa.Boolean, nullable=False, default=False),
    sa.Column("message_id", sa.String(300)),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # batch_id alone: a row's status changes when its batch is recorded, and an
    # UPDATE that touches no indexed column is cheap (on PostgreSQL a HOT update,
    # in the same page, when the page has room: hence the fillfactor below).
    sa.Index("ix_ledger_batch", "batch_id"),
)
# Room in each page for the new version of every row when its batch is recorded:
# the ledger UPDATE of a 1,000-recipient batch is then 3-4x cheaper (measured,
# docs/performance.md). Planning's INSERT costs the same.
LEDGER_FILLFACTOR = 40
sa.event.listen(
    ledger,
    "after_create",
    sa.DDL(f"ALTER TABLE ledger SET (fillfactor = {LEDGER_FILLFACTOR})").execute_if(
        dialect="postgresql"
    ),
)

# One row per `digest schedule` process: its heartbeat, for `digest status`. A new
# table, so `create_all` makes it in an older database: no migration.
schedulers = sa.Table(
    "schedulers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("beat_at", sa.DateTime, nullable=False, index=True),
    sa.Column("stopped_at", sa.DateTime),  # a clean stop; NULL while running or after a crash
    # JSON list of [timezone, date, UTC instant] for each zone's next edition.
    sa.Column("next_runs", sa.Text, nullable=False, default="[]"),
)

# Each provider event applied once: its id (SendGrid's sg_event_id) is the key,
# inserted in the same transaction as the event's effect. What it was, and for
# which edition and subscriber (the custom_args every SendGrid request carries),
# is what ``digest status`` counts per edition.
provider_events = sa.Table(
    "provider_events",
    metadata,
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("edition_id", sa.Integer),
    sa.Column("subscriber_id", sa.Integer),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Index("ix_provider_events_edition", "edition_id", "kind", "subscriber_id"),
)

# People who signed themselves up on ``/subscribe`` and have not confirmed yet
# (schema version 14). Not rows of ``subscribers``: no edition, count or export
# can take them in by accident, and a bot filling the form fills only this table,
# whose rows go when they expire. One row per address (``email_key``); signing up
# again changes its choices, never ``created_at``, so resubmitting does not keep a
# sign-up alive past ``[signup] confirm_hours``. ``mailed_at``: the confirmation
# mail last sent (NULL: never).
signups = sa.Table(
    "signups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("first_name", sa.Text, nullable=False, default=""),
    sa.Column("topics", sa.Text, nullable=False, default=""),  # ";"-joined, as subscribers
    sa.Column("timezone", sa.String(64)),  # NULL: the configured default
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("mailed_at", sa.DateTime),
    # Schema version 15: "daily" | "weekly", which confirming sets; NULL: the site's.
    sa.Column("frequency", sa.String(10)),
)

# Accepted sign-ups per client address per period ("h:2026-12-06T17", "d:2026-12-06"),
# counted in the store so that every `digest serve` process shares the limits.
signup_counters = sa.Table(
    "signup_counters",
    metadata,
    sa.Column("client", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(20), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)

# The last mail of each kind (confirm, subscribed, manage, welcome) sent to an
# address: at most one per ``[signup] address_cooldown_hours``, claimed in one
# statement so two processes never both send it.
address_mail = sa.Table(
    "address_mail",
    metadata,
    sa.Column("email_key", sa.String(320), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)

# What the front door did, per UTC day and kind (``SIGNUP_EVENTS``): `digest status`.
signup_events = sa.Table(
    "signup_events",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)
SIGNUP_EVENTS = (
    "signup",
    "confirmed",
    "honeypot",
    "too_fast",
    "too_old",
    "bad_form_token",
    "client_limit",
    "address_cooldown",
    "invalid",
    "altcha_failed",
    "mail_failed",
    "expired",
)
MAIL_KINDS = ("confirm", "subscribed", "manage", "welcome")

# Why an address is no longer mailed, as stored in subscribers.suppressed_reason.
SUPPRESSIONS = ("bounced", "dropped", "complaint")

# How often a subscriber is sent (subscribers.frequency, editions.cadence).
CADENCES = ("daily", "weekly")

STATUSES = ("sent", "failed", "in_doubt", "skipped", "pending")
# Rows a delivered batch's outcome may be written over: an answer that arrives
# after a recovering worker put the batch in doubt is still the truth.
OPEN = ("pending", "in_doubt")
# An equality, not a bare column, so the audience index (active, then id)
# answers "active subscribers of this group, by id" on its own.
ACTIVE = subscribers.c.active == sa.true()


def to_db(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)
