"""Sending editions through the real outbox provider, on SQLite and PostgreSQL.

Every test reads what a recipient would read: the ``.eml`` files in the outbox,
and what an operator would read: the ledger.
"""

from __future__ import annotations

import email
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from conftest import NOW, article, subscriber

from digest.config.settings import Settings
from digest.delivery.base import Outgoing
from digest.delivery.outbox import OutboxProvider
from digest.editions.contents import EditionContent, preview
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.sending.planning import plan
from digest.sending.recovery import recover
from digest.store.editions import list_editions, start_edition
from digest.store.store import Store

TODAY = NOW.date()  # 2026-11-24, and NOW is 12:00 UTC
TODAY_SLUG = "2026-11-24_UTC"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "dispatch-test-secret")


def make_dispatcher(store, settings, now=NOW, provider=None) -> Dispatcher:
    provider = provider or OutboxProvider(settings.outbox_dir)
    return Dispatcher(store, settings, provider, now=lambda: now)


def read_outbox(folder: Path) -> dict[str, email.message.EmailMessage]:
    """Every .eml in ``folder``, by the recipient's address; fails on two for one address."""
    found: dict[str, email.message.EmailMessage] = {}
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        address = message["To"].addresses[0].addr_spec
        assert address not in found, f"two messages for {address}"
        found[address] = message
    return found


def all_eml(outbox: Path) -> list[Path]:
    return sorted(outbox.rglob("*.eml")) if outbox.exists() else []


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def snapshot(outbox: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in all_eml(outbox)}


def ingest_as_published(store, articles) -> None:
    """Ingest each article at its own publish time, as a feed read every minute would."""
    for item in articles:
        store.save_articles([item], now=item.published)


def dead_pid() -> int:
    """The pid of a process that has just exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def newsroom(store):
    """Three articles on three keywords in today's window, four UTC subscribers."""
    store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
            article("Chipmaker builds fab", ["Technology"], published=NOW - timedelta(hours=3)),
        ]
    )
    store.save_subscribers(
        [
            subscriber("alice@example.com", ["Climate"], name="Alice"),
            subscriber("bob@example.org", name="Bob"),
            subscriber("carol@example.net", ["Energy", "climate"], name="Carol"),
            subscriber("sam@example.com", ["Space"], name="Sam"),  # nothing on Space today
        ]
    )
    return store


# -- one send ------------------------------------------------------------------


def test_send_writes_one_eml_per_recipient_under_the_edition_folder(newsroom, settings):
    report = make_dispatcher(newsroom, settings).send()

    (edition_report,) = report.editions
    assert edition_report.edition.label == "2026-11-24 UTC"
    assert (edition_report.sent, edition_report.failed, edition_report.skipped) == (3, 0, 1)
    folder = settings.outbox_dir / TODAY_SLUG
    assert all_eml(settings.outbox_dir) == sorted(folder.glob("*.eml"))
    mails = read_outbox(folder)
    assert set(mails) == {"alice@example.com", "bob@example.org", "carol@example.net"}

    alice, bob, carol = (text_of(mails[a]) for a in sorted(mails))
    assert "Glacier melt sets record" in alice
    assert "Solar beats forecasts" not in alice and "Chipmaker builds fab" not in alice
    assert all(t in bob for t in ("Glacier melt", "Solar beats", "Chipmaker builds"))
    assert "Glacier melt" in carol and "Solar beats" in carol and "Chipmaker" not in carol
    assert "Hello Alice," in alice and "Hello Bob," in bob


def test_a_second_send_mails_nobody(newsroom, settings):
    make_dispatcher(newsroom, settings).send()
    before = snapshot(settings.outbox_dir)

    report = make_dispatcher(newsroom, settings, now=NOW + timedelta(minutes=5)).send()

    (again,) = report.editions
    assert (again.sent, again.already_sent, again.failed) == (0, 3, 0)
    assert snapshot(settings.outbox_dir) == before


def test_a_subscriber_with_nothing_in_their_topics_is_skipped_as_empty(newsroom, settings):
    dispatcher = make_dispatcher(newsroom, settings)
    (edition_report,) = dispatcher.send().editions

    assert "sam@example.com" not in read_outbox(settings.outbox_dir / TODAY_SLUG)
    (row,) = dispatcher.ledger.entries(edition_report.edition, "skipped")
    assert (row.email, row.error) == ("sam@example.com", "empty")


def test_the_ledger_agrees_with_the_files(newsroom, settings):
    dispatcher = make_dispatcher(newsroom, settings)
    (edition_report,) = dispatcher.send().editions
    edition = edition_report.edition
    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)

    ledger = Ledger(newsroom, settings.timezone)
    assert ledger.counts(edition) == {
        "sent": 3,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 1,
        "pending": 0,
    }
    sent = ledger.entries(edition, "sent")
    assert {row.email for row in sent} == set(mails)
    for row in sent:
        assert row.message_id == mails[row.email]["Message-ID"]
    assert len(ledger.entries(edition)) == 4


def test_the_footer_names_the_topics_as_the_subscriber_spelt_them(newsroom, settings):
    newsroom.save_subscribers([subscriber("quinn@example.com", ["climate", "Quantum Computing"])])

    make_dispatcher(newsroom, settings).send()

    body = text_of(read_outbox(settings.outbox_dir / TODAY_SLUG)["quinn@example.com"])
    assert "Glacier melt sets record" in body
    # "Climate" as the articles spell it; "Quantum Computing", which no article has yet,
    # as the subscriber spelt it.
    assert "You chose Climate and Quantum Computing." in " ".join(body.split())


# -- the window ----------------------------------------------------------------


def test_a_past_edition_is_cut_off_at_its_send_time_in_its_timezone(store, settings):
    day = date(2026, 11, 22)
    cutoff = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 07:00 in New York (EST)
    ingest_as_published(
        store,
        [
            article("Just before the cut-off", published=cutoff - timedelta(minutes=1)),
            article("Just after the cut-off", published=cutoff + timedelta(minutes=1)),
            article("Inside the 36 hours", published=cutoff - timedelta(hours=35, minutes=59)),
            article("Older than 36 hours", published=cutoff - timedelta(hours=36, minutes=1)),
        ],
    )
    store.save_subscribers([subscriber("ny@example.com", timezone="America/New_York")])

    (edition_report,) = make_dispatcher(store, settings).send(day).editions

    edition = edition_report.edition
    assert edition.label == "2026-11-22 America/New_York"
    assert edition.cutoff == cutoff
    assert edition.window_start == cutoff - timedelta(hours=settings.window_hours)
    mails = read_outbox(settings.outbox_dir / "2026-11-22_America-New_York")
    body = text_of(mails["ny@example.com"])
    assert "Just before the cut-off" in body and "Inside the 36 hours" in body
    assert "Just after the cut-off" not in body and "Older than 36 hours" not in body


def test_todays_edition_is_cut_off_at_the_moment_of_sending(store, settings):
    ingest_as_published(
        store,
        [
            # After the 07:00 send time but before now: a one-off send takes it.
            article("Late morning news", published=NOW - timedelta(hours=2)),
            article("Ingested a minute later", published=NOW + timedelta(minutes=1)),
        ],
    )
    store.save_subscribers([subscriber("utc@example.com")])

    (edition_report,) = make_dispatcher(store, settings).send().editions

    assert edition_report.edition.cutoff == NOW
    body = text_of(read_outbox(settings.outbox_dir / TODAY_SLUG)["utc@example.com"])
    assert "Late morning news" in body
    assert "Ingested a minute later" not in body


def test_tomorrows_edition_cannot_be_sent_today_and_is_left_untouched(newsroom, settings):
    from digest.errors import ConfigError

    tomorrow = TODAY + timedelta(days=1)
    with pytest.raises(ConfigError, match="has not begun yet in UTC"):
        make_dispatcher(newsroom, settings).send(tomorrow)

    assert list_editions(newsroom.engine) == []  # nothing recorded, no cut-off fixed
    assert not settings.outbox_dir.exists()
    # Looking ahead is fine, and records nothing either.
    rows = make_dispatcher(newsroom, settings).dry_run(tomorrow)
    assert sum(r.recipients for r in rows) == 4
    ahead = preview(newsroom, settings, tomorrow, None, now=NOW)
    assert ahead.edition.cutoff == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # its send time
    assert list_editions(newsroom.engine) == []

    # On the day, the edition is sent as usual.
    on_the_day = NOW + timedelta(days=1)
    (result,) = make_dispatcher(newsroom, settings, now=on_the_day).send(tomorrow).editions
    assert result.edition.cutoff == on_the_day
    assert result.sent > 0


def test_a_date_already_begun_in_one_zone_but_not_another_names_the_early_zone(store, settings):
    from digest.errors import ConfigError

    store.save_subscribers(
        [subscriber("nz@example.com", timezone="Pacific/Auckland"), subscriber("utc@example.com")]
    )
    late_evening = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Auckland
    dispatcher = make_dispatcher(store, settings, now=late_evening)

    with pytest.raises(ConfigError, match=r"not begun yet in UTC\b"):
        dispatcher.send(date(2026, 11, 25))

    (result,) = dispatcher.send(date(2026, 11, 25), timezones=["Pacific/Auckland"]).editions
    assert result.edition.label == "2026-11-25 Pacific/Auckland"


def test_an_edition_starts_at_the_previous_cut_off_of_its_own_timezone(store, settings):
    ny_cutoff_22 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    ingest_as_published(
        store,
        [
            article("Saturday morning story", published=datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
            article(
                "Saturday afternoon story", published=datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
            ),
        ],
    )
    store.save_subscribers(
        [
            subscriber("ny@example.com", timezone="America/New_York"),
            subscriber("tokyo@example.com", timezone="Asia/Tokyo"),
        ]
    )
    make_dispatcher(store, settings).send(date(2026, 11, 22))
    first = read_outbox(settings.outbox_dir / "2026-11-22_America-New_York")
    assert "Saturday morning story" in text_of(first["ny@example.com"])
    # Tokyo's 22 November edition was cut off at 07:00 JST, before both stories.
    assert read_outbox(settings.outbox_dir / "2026-11-22_Asia-Tokyo") == {}

    report = make_dispatcher(store, settings).send(date(2026, 11, 23))

    by_zone = {e.edition.timezone: e.edition for e in report.editions}
    assert by_zone["America/New_York"].window_start == ny_cutoff_22
    ny = text_of(read_outbox(settings.outbox_dir / "2026-11-23_America-New_York")["ny@example.com"])
    assert "Saturday afternoon story" in ny
    assert "Saturday morning story" not in ny  # already in the previous New York edition
    # New York's cut-off is not Tokyo's: Tokyo's 23 November edition still has both.
    tokyo = text_of(read_outbox(settings.outbox_dir / "2026-11-23_Asia-Tokyo")["tokyo@example.com"])
    assert "Saturday morning story" in tokyo and "Saturday afternoon story" in tokyo


def test_a_late_arrival_goes_into_the_next_edition_and_an_edit_into_none(store, settings):
    yesterday_cutoff = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    store.save_subscribers([subscriber("utc@example.com")])
    ingest_as_published(
        store, [article("Sent yesterday", published=yesterday_cutoff - timedelta(hours=1))]
    )
    make_dispatcher(store, settings).send(date(2026, 11, 23))  # cut off at 07:00 yesterday
    # Published before yesterday's cut-off, but it reached us only afterwards ...
    late = article("Late arrival", published=yesterday_cutoff - timedelta(hours=3))
    store.save_articles([late], now=yesterday_cutoff + timedelta(hours=5))
    # ... and yesterday's story was corrected (a new body, a new "updated" date).
    edited = article(
        "Sent yesterday", published=yesterday_cutoff + timedelta(hours=4), body="Corrected."
    )
    assert store.save_articles([edited], now=NOW - timedelta(hours=1)).updated == 1

    (today,) = make_dispatcher(store, settings).send().editions

    body = text_of(read_outbox(settings.outbox_dir / TODAY_SLUG)["utc@example.com"])
    assert today.edition.window_start == yesterday_cutoff
    assert "Late arrival" in body  # in the first edition cut off after it arrived
    assert "Sent yesterday" not in body  # an edit never sends a story again


def test_the_same_link_from_two_sources_or_guids_is_in_an_email_once(store, settings):
    store.save_subscribers([subscriber("utc@example.com")])
    link = "https://news.example.org/glacier"
    store.save_articles(
        [
            article("Glacier melt", ["Climate"], guid="wire:1", url=link, source="Wire"),
            article(
                "Glacier melt (updated)",
                ["Climate"],
                guid="paper:77",
                url=link + "?utm_source=rss&utm_medium=feed#top",
                source="Paper",
            ),
        ],
        now=NOW - timedelta(hours=1),
    )

    make_dispatcher(store, settings).send()

    body = text_of(read_outbox(settings.outbox_dir / TODAY_SLUG)["utc@example.com"])
    assert body.count("* Glacier melt") == 1  # one entry, not two
    assert "1 story" in body


def test_a_sent_edition_previews_later_with_the_same_articles(store, settings):
    ingest_as_published(
        store,
        [
            article("Early story", ["Climate"], published=NOW - timedelta(hours=6)),
            # After the 07:00 send time: only in because today's send cut off at NOW.
            article("Mid-morning story", ["Climate"], published=NOW - timedelta(hours=2)),
        ],
    )
    store.save_subscribers([subscriber("utc@example.com", name="Uma")])
    (edition_report,) = make_dispatcher(store, settings).send().editions
    sent = text_of(read_outbox(settings.outbox_dir / TODAY_SLUG)["utc@example.com"])
    assert "Early story" in sent and "Mid-morning story" in sent

    ingest_as_published(
        store, [article("Afternoon story", ["Climate"], published=NOW + timedelta(hours=1))]
    )
    later = NOW + timedelta(days=1)
    result = preview(store, settings, TODAY, "utc@example.com", now=later)

    assert result.edition.cutoff == edition_report.edition.cutoff == NOW
    assert result.articles == 2
    assert "Early story" in result.rendered.html and "Mid-morning story" in result.rendered.html
    assert "Afternoon story" not in result.rendered.html
    assert result.rendered.text.split("Hello Uma,")[1] == sent.split("Hello Uma,")[1]


# -- re-running ----------------------------------------------------------------


def test_subscribers_who_joined_after_a_send_get_the_same_edition_next_time(newsroom, settings):
    make_dispatcher(newsroom, settings).send()
    before = snapshot(settings.outbox_dir)
    ingest_as_published(
        newsroom,
        [article("Breaking after the send", ["Climate"], published=NOW + timedelta(minutes=30))],
    )
    newsroom.save_subscribers([subscriber("dora@example.com", ["Climate"], name="Dora")])

    (again,) = (
        make_dispatcher(newsroom, settings, now=NOW + timedelta(hours=1)).send(TODAY).editions
    )

    assert (again.sent, again.already_sent) == (1, 3)
    after = snapshot(settings.outbox_dir)
    assert {p: b for p, b in after.items() if p in before} == before  # nobody mailed twice
    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)
    assert set(mails) == {
        "alice@example.com",
        "bob@example.org",
        "carol@example.net",
        "dora@example.com",
    }
    dora = text_of(mails["dora@example.com"])
    assert "Glacier melt sets record" in dora
    assert "Breaking after the send" not in dora  # the edition's window is fixed
    counts = Ledger(newsroom, settings.timezone).counts(again.edition)
    assert counts == {"sent": 4, "failed": 0, "in_doubt": 0, "skipped": 1, "pending": 0}


def _planned(store, settings, provider):
    """Start and plan today's edition the way a send does; return (dispatcher, edition, content)."""
    dispatcher = make_dispatcher(store, settings, provider=provider)
    (proposed,) = dispatcher.editions_for(None)
    edition = start_edition(dispatcher.store.engine, proposed)
    content = EditionContent(store, settings, edition, dispatcher.renderer)
    plan(dispatcher.ledger, edition, content.segment_of, provider.max_batch)
    return dispatcher, edition, content


@pytest.fixture
def five_readers(store):
    store.save_articles([article("Only story", ["Climate"], published=NOW - timedelta(hours=1))])
    store.save_subscribers([subscriber(f"reader{i}@example.com", name=f"R{i}") for i in range(5)])
    return store


def test_planning_says_whom_it_took_in_and_again_only_newcomers(five_readers, settings):
    dispatcher = make_dispatcher(five_readers, settings)
    (proposed,) = dispatcher.editions_for(None)
    edition = start_edition(dispatcher.store.engine, proposed)
    content = EditionContent(five_readers, settings, edition, dispatcher.renderer)

    def again() -> int:
        return plan(dispatcher.ledger, edition, content.segment_of, 2)

    assert again() == 5
    assert again() == 0
    five_readers.save_subscribers([subscriber("late@example.com")])
    assert again() == 1
    assert dispatcher.ledger.counts(edition)["pending"] == 6


def test_a_batch_claimed_by_a_process_that_died_is_sent_exactly_once(five_readers, settings):
    provider = OutboxProvider(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, content = _planned(five_readers, settings, provider)
    owner = f"{socket.gethostname()}:{dead_pid()}"
    batch, recipients = dispatcher.ledger.claim(edition, owner, 3600, dispatcher.links.token)
    # The dead process had written its first recipient's file before it died.
    assert len(recipients) == 2
    written = provider.send(
        Outgoing(
            edition=edition,
            segment=batch.segment,
            content=content.rendered(batch.segment),
            recipients=recipients[:1],
            renderer=dispatcher.renderer,
            sender=dispatcher.sender,
        )
    )
    first_file = snapshot(settings.outbox_dir)
    assert len(first_file) == 1

    (result,) = make_dispatcher(five_readers, settings, provider=provider).send().editions

    files = all_eml(settings.outbox_dir)
    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)
    assert len(files) == 5
    assert set(mails) == {f"reader{i}@example.com" for i in range(5)}
    path, data = next(iter(first_file.items()))
    assert path.read_bytes() == data  # not rewritten
    ledger = Ledger(five_readers, settings.timezone)
    assert ledger.counts(edition) == {
        "sent": 5,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 0,
        "pending": 0,
    }
    entry = next(r for r in ledger.entries(edition) if r.email == recipients[0].email)
    assert entry.message_id == written[0].message_id == mails[recipients[0].email]["Message-ID"]
    assert result.failed == 0


def test_someone_removed_during_a_send_is_skipped_unless_their_batch_is_with_the_provider(
    five_readers, settings
):
    """``subscribers remove`` while an edition goes out: a batch already taken carries them
    (its recipients were read when it was claimed); every batch claimed later skips them.
    Their ledger rows stay either way."""
    provider = OutboxProvider(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, content = _planned(five_readers, settings, provider)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    batch, taken = dispatcher.ledger.claim(edition, owner, 3600, dispatcher.links.token)
    in_flight = taken[0].email
    later = "reader4@example.com"
    assert later not in {r.email for r in taken}

    assert five_readers.unsubscribe(in_flight).outcome == "unsubscribed"
    assert five_readers.unsubscribe(later).outcome == "unsubscribed"
    assert dispatcher.ledger.hand_over(batch, owner)
    outgoing = Outgoing(
        edition=edition,
        segment=batch.segment,
        content=content.rendered(batch.segment),
        recipients=taken,
        renderer=dispatcher.renderer,
        sender=dispatcher.sender,
    )
    dispatcher.ledger.finish(batch, provider.send(outgoing))
    make_dispatcher(five_readers, settings, provider=provider).send()

    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)
    assert set(mails) == {f"reader{i}@example.com" for i in range(5)} - {later}
    ledger = Ledger(five_readers, settings.timezone)
    assert ledger.counts(edition) == {
        "sent": 4,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 1,
        "pending": 0,
    }
    (skipped,) = ledger.entries(edition, "skipped")
    assert (skipped.email, skipped.error) == (later, "unsubscribed")
    # Unsubscribing again, or later, leaves their history as it was.
    assert five_readers.unsubscribe(in_flight).outcome == "already"
    assert {r.email for r in ledger.entries(edition, "sent")} >= {in_flight}


@pytest.mark.parametrize(
    "owner",
    [
        "sender-2.example.internal:4242",  # another machine: its processes cannot be seen
        f"{socket.gethostname()}:{os.getppid()}",  # alive on this machine
    ],
    ids=["other-host", "live-here"],
)
def test_a_batch_held_by_a_live_owner_with_a_lease_is_not_stolen(five_readers, settings, owner):
    provider = OutboxProvider(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, _ = _planned(five_readers, settings, provider)
    _, taken = dispatcher.ledger.claim(edition, owner, 3600, dispatcher.links.token)
    held = {r.email for r in taken}

    make_dispatcher(five_readers, settings, provider=provider).send()

    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)
    assert set(mails) == {f"reader{i}@example.com" for i in range(5)} - held
    ledger = Ledger(five_readers, settings.timezone)
    assert ledger.counts(edition) == {
        "sent": 3,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 0,
        "pending": 2,
    }
    assert {r.email for r in ledger.entries(edition, "pending")} == held


def test_a_batch_whose_lease_ran_out_is_taken_over(five_readers, settings):
    provider = OutboxProvider(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, _ = _planned(five_readers, settings, provider)
    assert dispatcher.ledger.claim(
        edition, "sender-2.example.internal:4242", -60, dispatcher.links.token
    )

    make_dispatcher(five_readers, settings, provider=provider).send()

    assert len(read_outbox(settings.outbox_dir / TODAY_SLUG)) == 5
    counts = Ledger(five_readers, settings.timezone).counts(edition)
    assert counts == {"sent": 5, "failed": 0, "in_doubt": 0, "skipped": 0, "pending": 0}


def test_a_lease_runs_out_by_the_senders_clock_and_the_batch_is_taken_over(five_readers, settings):
    """No waiting: the ledger judges leases by the clock the dispatcher is given."""
    provider = OutboxProvider(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, _ = _planned(five_readers, settings, provider)  # its clock: NOW
    lease = settings.lease_seconds
    # A worker on another host (so only its lease tells) claims a batch, and stops.
    _, held = dispatcher.ledger.claim(
        edition, "sender-2.example.internal:4242", lease, dispatcher.links.token
    )
    held = {r.email for r in held}

    just_before = NOW + timedelta(seconds=lease - 1)
    make_dispatcher(five_readers, settings, now=just_before, provider=provider).send()
    sent = set(read_outbox(settings.outbox_dir / TODAY_SLUG))
    assert sent == {f"reader{i}@example.com" for i in range(5)} - held

    just_after = NOW + timedelta(seconds=lease + 1)
    make_dispatcher(five_readers, settings, now=just_after, provider=provider).send()
    assert set(read_outbox(settings.outbox_dir / TODAY_SLUG)) == sent | held
    ledger = Ledger(five_readers, settings.timezone)
    assert ledger.counts(edition)["sent"] == 5
    assert {r.updated_at.replace(tzinfo=UTC) for r in ledger.entries(edition)} == {
        just_before,
        just_after,
    }  # each row stamped by the clock of the sender that wrote it


class NotResendable(OutboxProvider):
    """The outbox, made to behave like SendGrid or SMTP: it cannot tell what it delivered."""

    resendable = False

    def deliver(self, batch):
        # Write afresh every time, as a provider that cannot check would mail again.
        for recipient in batch.recipients:
            self.path_for(batch, recipient).unlink(missing_ok=True)
        return super().deliver(batch)


@pytest.mark.parametrize(
    ("state", "provider_cls", "expected"),
    [
        ("sending", NotResendable, "sent"),  # claimed, never handed over: sent again
        ("handed", NotResendable, "in_doubt"),  # may have been accepted: not resent
        ("handed", OutboxProvider, "sent"),  # the outbox finds what it wrote
    ],
)
def test_a_dead_senders_batch_is_resent_only_if_it_never_reached_the_provider(
    five_readers, settings, state, provider_cls, expected
):
    provider = provider_cls(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, _ = _planned(five_readers, settings, provider)
    owner = f"{socket.gethostname()}:{dead_pid()}"
    batch, taken = dispatcher.ledger.claim(edition, owner, 3600, dispatcher.links.token)
    held = {r.email for r in taken}
    if state == "handed":
        assert dispatcher.ledger.hand_over(batch, owner)

    (result,) = make_dispatcher(five_readers, settings, provider=provider).send().editions

    ledger = Ledger(five_readers, settings.timezone)
    assert {r.email for r in ledger.entries(edition, expected)} >= held
    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)
    everyone = {f"reader{i}@example.com" for i in range(5)}
    if expected == "in_doubt":
        assert set(mails) == everyone - held
        assert result.in_doubt == 2 and {a for a, _ in result.doubts} == held
        assert all("stopped before recording the answer" in why for _, why in result.doubts)
        # Only the operator's word sends them again.
        (again,) = (
            make_dispatcher(five_readers, settings, provider=provider)
            .send(resend_in_doubt=True)
            .editions
        )
        assert again.sent == 2 and again.in_doubt == 0
    else:
        assert set(mails) == everyone and result.in_doubt == 0


def test_an_expired_lease_on_a_handed_batch_puts_it_in_doubt(five_readers, settings):
    provider = NotResendable(settings.outbox_dir)
    provider.max_batch = 2
    dispatcher, edition, _ = _planned(five_readers, settings, provider)
    owner = "sender-2.example.internal:4242"  # another host: only its lease tells
    batch, _ = dispatcher.ledger.claim(edition, owner, -60, dispatcher.links.token)
    assert dispatcher.ledger.hand_over(batch, owner)

    (result,) = make_dispatcher(five_readers, settings, provider=provider).send().editions

    assert (result.sent, result.in_doubt) == (3, 2)


def test_an_answer_that_comes_after_all_replaces_in_doubt(five_readers, settings):
    from digest.models import Outcome

    provider = NotResendable(settings.outbox_dir)
    provider.max_batch = 5
    dispatcher, edition, _ = _planned(five_readers, settings, provider)
    owner = "sender-2.example.internal:4242"
    batch, held = dispatcher.ledger.claim(edition, owner, -60, dispatcher.links.token)
    assert dispatcher.ledger.hand_over(batch, owner)
    assert recover(dispatcher.ledger, edition) == (0, 5)  # its lease ran out: in doubt

    # The slow sender's answer arrives: the truth is written over "in doubt".
    dispatcher.ledger.finish(batch, [Outcome(r.subscriber_id, "sent", "<id@x>") for r in held])

    counts = Ledger(five_readers, settings.timezone).counts(edition)
    assert (counts["sent"], counts["in_doubt"]) == (5, 0)


def test_a_batch_another_sender_took_over_is_not_handed_over_twice(five_readers, settings):
    provider = OutboxProvider(settings.outbox_dir)
    dispatcher, edition, _ = _planned(five_readers, settings, provider)
    batch, _ = dispatcher.ledger.claim(edition, "me:1", -60, dispatcher.links.token)
    recover(dispatcher.ledger, edition)  # the lease ran out: back to pending
    assert dispatcher.ledger.claim(edition, "other:2", 600, dispatcher.links.token)

    assert not dispatcher.ledger.hand_over(batch, "me:1")


def test_the_outbox_does_not_rewrite_a_message_that_exists(five_readers, settings):
    provider = OutboxProvider(settings.outbox_dir)
    dispatcher, edition, content = _planned(five_readers, settings, provider)
    batch, taken = dispatcher.ledger.claim(edition, dispatcher.owner, 600, dispatcher.links.token)
    outgoing = Outgoing(
        edition=edition,
        segment=batch.segment,
        content=content.rendered(batch.segment),
        recipients=[
            r._replace(token=dispatcher.links.token(r.subscriber_id, r.email)) for r in taken
        ],
        renderer=dispatcher.renderer,
        sender=dispatcher.sender,
    )
    first = provider.send(outgoing)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in all_eml(settings.outbox_dir)}

    second = provider.send(outgoing)

    assert [o.status for o in second] == ["sent"] * 5
    assert [o.message_id for o in second] == [o.message_id for o in first]
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in all_eml(settings.outbox_dir)}
    assert after == before


# -- looking without sending ---------------------------------------------------


def test_dry_run_counts_recipients_per_segment_and_records_nothing(newsroom, settings):
    newsroom.save_subscribers(
        [subscriber("al@example.com", ["CLIMATE"]), subscriber("bo@example.com")]
    )
    dispatcher = make_dispatcher(newsroom, settings)

    rows = dispatcher.dry_run()

    by_topics = {tuple(r.topics): r for r in rows}
    assert {k: r.recipients for k, r in by_topics.items()} == {
        ("Climate",): 2,  # alice and al: "Climate" and "CLIMATE" are one segment
        (): 2,
        ("Climate", "Energy"): 1,
        ("Space",): 1,
    }
    assert (by_topics[()].sections, by_topics[()].articles) == (3, 3)
    assert (by_topics[("Space",)].sections, by_topics[("Space",)].articles) == (0, 0)
    assert all(r.edition.label == "2026-11-24 UTC" for r in rows)
    assert list_editions(dispatcher.store.engine) == []
    assert all_eml(settings.outbox_dir) == []


def test_send_test_writes_one_marked_copy_and_records_nothing(newsroom, settings):
    dispatcher = make_dispatcher(newsroom, settings)

    outcome = dispatcher.send_test("alice@example.com")

    assert outcome.status == "sent"
    (path,) = all_eml(settings.outbox_dir)
    assert path.parent == settings.outbox_dir / "test"
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert message["Subject"].startswith("[TEST] ")
    assert message["To"].addresses[0].addr_spec == "alice@example.com"
    body = text_of(message)
    assert "Glacier melt sets record" in body and "Solar beats forecasts" not in body  # her topics
    assert list_editions(dispatcher.store.engine) == []
    # A real send afterwards still mails everyone.
    (edition_report,) = dispatcher.send().editions
    assert edition_report.sent == 3


# -- several senders at once (PostgreSQL) ----------------------------------------


class RecordingProvider:
    """The real outbox provider, noting every recipient it is handed."""

    def __init__(self, inner: OutboxProvider, handed: list[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch = inner.max_batch
        self.resendable = inner.resendable
        self.retry_rounds = inner.retry_rounds
        self.handed = handed

    def prepare(self, batch):
        return self.inner.prepare(batch)

    def deliver(self, batch):
        self.handed.extend(r.email for r in batch.recipients)
        return self.inner.deliver(batch)

    def send(self, batch):
        return self.deliver(self.prepare(batch))

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def two_senders(pg_schema_url, tmp_path):
    """Two senders, each with its own Store, send one edition at once in 5-recipient batches."""
    url = pg_schema_url()
    settings = Settings(outbox_dir=tmp_path / "outbox")
    setup = Store(url)
    topics = [[], ["Climate"], ["Energy"], ["Climate", "Energy"]]
    setup.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
        ],
        now=NOW,
    )
    setup.save_subscribers(
        [subscriber(f"user{i:03}@example.com", topics[i % 4]) for i in range(200)]
    )
    names = ("worker-a", "worker-b")
    handed: dict[str, list[str]] = {n: [] for n in names}
    reports, errors = {}, []
    barrier = threading.Barrier(len(names))

    def worker(name: str) -> None:
        store = Store(url)
        try:
            inner = OutboxProvider(settings.outbox_dir)
            inner.max_batch = 5
            provider = RecordingProvider(inner, handed[name])
            dispatcher = make_dispatcher(store, settings, provider=provider)
            dispatcher.owner = name
            barrier.wait()
            reports[name] = dispatcher.send()
        except BaseException as err:
            errors.append(err)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    yield settings, setup, handed, reports, errors
    setup.close()


@pytest.mark.postgres
def test_two_senders_share_an_edition_without_mailing_anyone_twice(two_senders):
    settings, store, handed, _, errors = two_senders

    assert errors == []
    everyone = [address for worker in handed.values() for address in worker]
    assert {a: n for a, n in Counter(everyone).items() if n > 1} == {}
    assert len(everyone) == 200
    mails = read_outbox(settings.outbox_dir / TODAY_SLUG)
    assert len(mails) == len(all_eml(settings.outbox_dir)) == 200
    ledger = Ledger(store, settings.timezone)
    (edition,) = list_editions(store.engine)
    assert ledger.counts(edition) == {
        "sent": 200,
        "failed": 0,
        "in_doubt": 0,
        "skipped": 0,
        "pending": 0,
    }
    assert {r.email for r in ledger.entries(edition, "sent")} == set(mails)


@pytest.mark.postgres
def test_two_senders_each_report_only_their_own_sends(two_senders):
    _, _, handed, reports, errors = two_senders

    assert errors == []
    assert set(reports) == set(handed)
    for name, report in reports.items():
        assert report.total("sent") == len(handed[name])
    assert sum(r.total("sent") for r in reports.values()) == 200


def test_someone_who_moved_timezone_gets_one_digest_that_day_not_two(store, settings):
    ingest_as_published(store, [article("Story of the day", published=NOW - timedelta(hours=1))])
    store.save_subscribers(
        [subscriber("ann@example.com", timezone="Europe/London"), subscriber("bob@example.com")]
    )
    make_dispatcher(store, settings).send()  # ann: the London edition of the 24th
    store.save_subscribers([subscriber("ann@example.com")])  # ann moves to UTC

    report = make_dispatcher(store, settings, now=NOW + timedelta(minutes=5)).send()

    everything = all_eml(settings.outbox_dir)
    assert sum(1 for p in everything if "ann@example.com" in p.name) == 1
    utc = next(e for e in report.editions if e.edition.timezone == "UTC")
    ledger = Ledger(store, settings.timezone)
    (row,) = [r for r in ledger.entries(utc.edition) if r.email == "ann@example.com"]
    assert (row.status, row.error) == ("skipped", "already in the 2026-11-24 Europe/London edition")
