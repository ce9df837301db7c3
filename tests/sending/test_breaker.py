"""A run in which nothing gets through stops, and says why and how to resume.

Against a real SMTP stand-in that drops every connection after DATA (each message
then in doubt, one by one), on SQLite and PostgreSQL; the reasons a provider gives
are read back into one line per cause (property-tested).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import article, subscriber
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from standins.smtp_server import SMTPStandIn

from digest.cli.app import Failed
from digest.cli.send import run_send
from digest.config.settings import load_settings
from digest.errors import ConfigError
from digest.models import Outcome
from digest.sending.failures import Breaker, reason_of
from digest.sending.ledger import Ledger
from digest.store.editions import list_editions

DAY = date(2026, 11, 25)
AT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # news ingested before the 07:00 cut-off


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "breaker-test-secret")


class DropsEveryAnswer(SMTPStandIn):
    """A server that takes each whole message, then cuts the connection before its
    reply: the client cannot know whether it went, so each one is in doubt."""

    def _drop_now(self, where: str) -> bool:
        return where == "data"


def three_segments(store) -> None:
    """Nine readers in three segments (three batches): everything, Climate, Energy."""
    store.now = lambda: AT
    store.save_articles(
        [
            article("Glacier melt", ["Climate"], published=AT - timedelta(hours=2)),
            article("Solar surge", ["Energy"], published=AT - timedelta(hours=2)),
        ]
    )
    store.save_subscribers(
        [
            subscriber(f"{topic or 'all'}{i}@example.com", [topic] if topic else [], "UTC")
            for topic in ("", "Climate", "Energy")
            for i in range(3)
        ]
    )


def test_a_server_that_drops_every_answer_stops_the_run_and_leaves_the_rest_pending(
    store, settings, monkeypatch
):
    three_segments(store)
    settings.public_url, settings.postal_address = "https://news.example.org", "1 Main St"
    settings.provider = "smtp"
    settings.max_consecutive_failures = 2
    text = io.StringIO()
    console = Console(file=text, width=300, soft_wrap=True, markup=False, highlight=False)
    with DropsEveryAnswer() as server:
        monkeypatch.setenv("DIGEST_SMTP_URL", server.url())
        with pytest.raises(Failed) as failed:
            run_send(store, settings, DAY, None, False, None, console, console)

    (edition,) = list_editions(store.engine)
    counts = Ledger(store, "UTC").counts(edition)
    # One batch (three messages) went in doubt; the other two batches were never tried.
    assert (counts["in_doubt"], counts["pending"], counts["failed"]) == (3, 6, 0)
    message = str(failed.value)
    assert message.startswith(
        "send stopped: 3 messages in a row failed or went in doubt "
        "(max_consecutive_failures = 2; most of them: 127.0.0.1:"
    )
    assert (
        "6 recipient(s) not yet tried are left pending: once the cause is fixed, "
        "`digest send --date 2026-11-25 --timezone UTC` resumes" in message
    )
    assert "\n" not in message
    # One line for the three in doubt, naming them, not one line each.
    doubts = [line for line in text.getvalue().splitlines() if line.startswith("in doubt: ")]
    assert len(doubts) == 1 and doubts[0].startswith("in doubt: 2026-11-25 UTC: all0@")


def test_one_delivered_message_resets_the_count_and_a_refused_batch_counts_once():
    breaker = Breaker(3)
    doubt = Outcome(1, "in_doubt", error="reply lost")
    assert not breaker.record([doubt, doubt, Outcome(2, "sent"), doubt, doubt])
    assert breaker.record([doubt])
    whole = [Outcome(i, "failed", error="503 busy", retry=True) for i in range(1000)]
    fresh = Breaker(3)
    assert not fresh.record(whole, whole_batch=True) and fresh.in_a_row == 1


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "true", "1000001"])
def test_max_consecutive_failures_is_a_whole_number_from_1(tmp_path, monkeypatch, value):
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    path = tmp_path / "digest.toml"
    path.write_text(f"max_consecutive_failures = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"max_consecutive_failures: ") as caught:
        load_settings(str(path))
    assert str(path) in str(caught.value)


def test_max_consecutive_failures_defaults_to_20(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    assert load_settings().max_consecutive_failures == 20


# -- reasons, as the operator reads them --------------------------------------------------

FOLDER = st.text(st.characters(blacklist_characters="\n\r\x00"), min_size=1, max_size=40)
ADDRESS = st.from_regex(r"[A-Za-z0-9._+-]{1,20}@[a-z0-9.-]{1,20}", fullmatch=True)


@given(FOLDER, st.integers(1, 10**9), ADDRESS, ADDRESS)
def test_a_file_error_is_one_reason_whoever_the_file_was_for(folder, sid, first, second):
    errors = [f"{folder}/2026-11-25_UTC/{sid}-{a}.eml: Permission denied" for a in (first, second)]
    reasons = {reason_of(e) for e in errors}
    assert reasons == {f"Permission denied (writing to {folder}/2026-11-25_UTC)"}


@given(st.text(max_size=200))
def test_a_reason_that_is_not_a_files_is_kept_as_it_was(error):
    if ".eml: " not in error:
        assert reason_of(error) == error
