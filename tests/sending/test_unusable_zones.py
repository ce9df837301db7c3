"""A subscriber stored in a zone this machine cannot use (a tzdata update removed it,
or ``localtime`` was imported before it was refused) is sent in the default zone,
with one warning naming them, and everyone else is sent as usual. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import email
from datetime import timedelta
from email.policy import default

import pytest
from conftest import NOW, article, subscriber

from digest.delivery.outbox import OutboxProvider
from digest.editions.contents import preview
from digest.models import Run
from digest.sending.dispatch import Dispatcher
from digest.service.runs import delivery_zones, listing, missed
from digest.store.schema import subscribers


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "zones-test-secret")


def stored_in(store, address: str, zone: str) -> None:
    """Write ``zone`` straight into the store, as a tzdata update would leave it."""
    with store.engine.begin() as conn:
        conn.execute(
            subscribers.update().where(subscribers.c.email == address).values(timezone=zone)
        )


@pytest.fixture
def newsroom(store, settings):
    settings.timezone = "Europe/London"
    store.save_articles(
        [article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1))]
    )
    store.save_subscribers(
        [
            subscriber("ann@example.com", name="Ann"),
            subscriber("bob@example.org", name="Bob", timezone="Europe/London"),
            subscriber("kim@example.jp", name="Kim", timezone="Asia/Tokyo"),
            subscriber("mars@example.org", name="Mars", timezone="Europe/Paris"),
        ]
    )
    return store


def addressees(settings) -> dict[str, str]:
    """Every .eml in the outbox: recipient -> the edition folder it was written under."""
    found = {}
    for path in sorted(settings.outbox_dir.rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        address = message["To"].addresses[0].addr_spec
        assert address not in found, f"two messages for {address}"
        found[address] = path.parent.name
    return found


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "Factory"])
def test_a_stored_zone_that_cannot_be_used_is_sent_in_the_default_zone_and_everyone_else_too(
    newsroom, settings, zone
):
    stored_in(newsroom, "mars@example.org", zone)
    dispatcher = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    )

    report = dispatcher.send()

    assert sorted(e.edition.timezone for e in report.editions) == ["Asia/Tokyo", "Europe/London"]
    assert report.total("sent") == 4 and report.total("failed") == 0
    assert addressees(settings) == {
        "ann@example.com": "2026-11-24_Europe-London",
        "bob@example.org": "2026-11-24_Europe-London",
        "mars@example.org": "2026-11-24_Europe-London",
        "kim@example.jp": "2026-11-24_Asia-Tokyo",
    }
    (warning,) = dispatcher.warnings
    assert warning.startswith("mars@example.org: ") and repr(zone) in warning
    assert "sent in Europe/London" in warning
    assert "digest subscribers add mars@example.org --timezone" in warning


def test_a_dry_run_counts_them_in_the_default_zone_with_the_same_warning(newsroom, settings):
    stored_in(newsroom, "mars@example.org", "Mars/Olympus")
    dispatcher = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    )

    rows = dispatcher.dry_run()

    assert {r.edition.timezone: r.recipients for r in rows} == {
        "Asia/Tokyo": 1,
        "Europe/London": 3,
    }
    (warning,) = dispatcher.warnings
    assert "mars@example.org" in warning and "unknown timezone 'Mars/Olympus'" in warning


def test_many_in_one_unusable_zone_are_one_line_naming_a_few(newsroom, settings):
    newsroom.save_subscribers(
        [subscriber(f"reader{n}@example.org", timezone="Europe/Paris") for n in range(50)]
    )
    with newsroom.engine.begin() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.timezone == "Europe/Paris")
            .values(timezone="Mars/Olympus")
        )
    dispatcher = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    )

    report = dispatcher.send()

    assert report.total("sent") == 54
    (warning,) = dispatcher.warnings
    assert warning.startswith("51 subscribers (mars@example.org, reader0@example.org, ")


def test_a_send_of_another_zone_alone_says_nothing_of_them(newsroom, settings):
    stored_in(newsroom, "mars@example.org", "Mars/Olympus")
    dispatcher = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    )

    report = dispatcher.send(timezones=["Asia/Tokyo"])

    assert report.total("sent") == 1 and dispatcher.warnings == []


def test_the_schedule_runs_them_in_the_default_zone(newsroom, settings):
    stored_in(newsroom, "mars@example.org", "localtime")

    assert delivery_zones(newsroom, settings) == ["Asia/Tokyo", "Europe/London"]
    audience = {r.run.timezone: r.daily for r in listing(newsroom, settings, NOW)}
    assert audience == {"Asia/Tokyo": 1, "Europe/London": 3}
    send_now, _ = missed(newsroom, settings, NOW)
    assert {run.timezone for run in send_now} <= {"Asia/Tokyo", "Europe/London"}


def test_a_preview_of_them_is_the_default_zones_edition_with_the_warning(newsroom, settings):
    stored_in(newsroom, "mars@example.org", "Mars/Olympus")

    result = preview(newsroom, settings, None, "mars@example.org", now=NOW)

    assert result.edition.timezone == "Europe/London"
    assert "Glacier melt sets record" in result.rendered.html
    assert "unknown timezone 'Mars/Olympus'" in result.warning


def test_a_zone_usable_again_is_its_own_edition_again(newsroom, settings):
    stored_in(newsroom, "mars@example.org", "Mars/Olympus")
    assert "Europe/Paris" not in newsroom.subscriber_timezones(settings.timezone)
    stored_in(newsroom, "mars@example.org", "Europe/Paris")

    report = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    ).send()

    assert addressees(settings)["mars@example.org"] == "2026-11-24_Europe-Paris"
    assert report.total("sent") == 4


def test_the_store_names_the_unusable_zones_only(newsroom):
    stored_in(newsroom, "mars@example.org", "Mars/Olympus")

    assert newsroom.unusable_timezones() == [("Mars/Olympus", 1, ["mars@example.org"])]


def test_a_database_full_of_junk_zones_is_sent_whole_and_said_in_a_few_lines(newsroom, settings):
    newsroom.save_subscribers(
        [subscriber(f"junk{n:02}@example.org", timezone="Europe/Paris") for n in range(30)]
    )
    with newsroom.engine.begin() as conn:
        for n in range(30):
            conn.execute(
                subscribers.update()
                .where(subscribers.c.email == f"junk{n:02}@example.org")
                .values(timezone=f"Junk/Zone{n:02}")
            )
    dispatcher = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    )

    report = dispatcher.send()

    assert report.total("sent") == 34
    assert len(dispatcher.warnings) == 21
    assert dispatcher.warnings[0].startswith("junk00@example.org: unknown timezone 'Junk/Zone00'")
    assert dispatcher.warnings[-1].startswith(
        "and 10 more timezones that cannot be used here, 10 subscribers in all: sent in "
        "Europe/London"
    )


def test_a_run_recorded_in_a_zone_that_is_gone_shows_its_time_in_utc():
    """A heartbeat written where the zone existed, read by `digest status` where a tzdata
    update removed it: the time is shown in UTC instead of a traceback."""
    run = Run("Mars/Olympus", NOW.date(), NOW)

    assert run.local == NOW and run.local.tzname() == "UTC"
