"""One transactional notice through each provider, against the real stand-ins: the
outbox's .eml, one SMTP message on aiosmtpd, one SendGrid request that SendGrid's
JSON Schema accepts. What each recipient would get is read back and checked:
to the address alone, no List-Unsubscribe, the text as written.
"""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from email.policy import default

import jsonschema
import pytest
from conftest import DATA
from standins.sendgrid_server import SendGridStandIn
from standins.smtp_server import SMTPStandIn

from digest.config.settings import Settings
from digest.delivery import make_provider
from digest.delivery.base import Notice

KEY = "SG.notice-test-key.Qm7Rt2Lx"
LOOPBACK = "127.0.0.1,localhost"
TEXT = (
    "Someone, hopefully you, asked to subscribe zoë@bücher.de to The Harbour Daily.\n\n"
    "https://news.example.org/confirm/c1.7.1796577600000000.AAAAAAAAAAAAAAAAAAAAAAAA\n\n"
    "If you did not ask for this, ignore this email: you will not be subscribed.\n"
)


def notice(to: str = "zoe@example.org", kind: str = "confirm") -> Notice:
    return Notice(
        to=to,
        subject="Confirm your subscription to The Harbour Daily",
        text=TEXT,
        sender="The Harbour Daily <news@harbour.example>",
        kind=kind,
    )


@pytest.fixture
def site(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("NO_PROXY", LOOPBACK)
    monkeypatch.setenv("no_proxy", LOOPBACK)
    return Settings(outbox_dir=tmp_path / "outbox")


@pytest.fixture
def relay() -> Iterator[SMTPStandIn]:
    with SMTPStandIn() as standin:
        yield standin


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(KEY) as standin:
        yield standin


def check(message) -> None:
    """What every notice is, whichever way it came."""
    assert message["To"] == "zoe@example.org"  # the address alone: no name
    assert str(message["From"]) == "The Harbour Daily <news@harbour.example>"
    assert message["Subject"] == "Confirm your subscription to The Harbour Daily"
    assert "List-Unsubscribe" not in message and "List-Unsubscribe-Post" not in message
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT


def test_the_outbox_writes_one_eml_under_notices(site):
    provider = make_provider("outbox", site)

    outcome = provider.send_notice(notice())

    assert outcome.status == "sent" and outcome.message_id
    (path,) = (site.outbox_dir / "notices").glob("*.eml")
    assert path.name.endswith("-confirm-zoe@example.org.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    check(message)
    assert message["Message-ID"] == outcome.message_id


def test_an_outbox_that_cannot_be_written_fails_the_notice(site, tmp_path):
    site.outbox_dir = tmp_path / "a-file"
    site.outbox_dir.write_text("not a folder")

    outcome = make_provider("outbox", site).send_notice(notice())

    assert outcome.status == "failed" and "a-file" in outcome.error


def test_smtp_sends_one_message(site, relay, monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_URL", relay.url())
    provider = make_provider("smtp", site)
    try:
        outcome = provider.send_notice(notice())
    finally:
        provider.close()

    assert outcome.status == "sent"
    ((sender, recipients, message),) = relay.messages
    assert (sender, recipients) == ("news@harbour.example", ["zoe@example.org"])
    check(message)


def test_a_refused_address_fails_the_notice_with_the_servers_words(site, relay, monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_URL", relay.url())
    relay.reject("zoe@example.org")
    provider = make_provider("smtp", site)
    try:
        outcome = provider.send_notice(notice())
    finally:
        provider.close()

    assert outcome.status == "failed" and "550" in outcome.error
    assert relay.messages == []


def test_an_unreachable_smtp_server_fails_the_notice(site, monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_URL", "smtp://127.0.0.1:9")
    provider = make_provider("smtp", site)
    try:
        outcome = provider.send_notice(notice())
    finally:
        provider.close()
    assert outcome.status == "failed"


def test_sendgrid_gets_one_request_with_no_substitutions(site, sendgrid, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("SENDGRID_API_HOST", sendgrid.url)
    provider = make_provider("sendgrid", site)
    try:
        outcome = provider.send_notice(notice())
    finally:
        provider.close()

    assert outcome.status == "sent" and outcome.message_id
    (accepted,) = sendgrid.accepted
    body = accepted["body"]
    schema = json.loads((DATA / "sendgrid" / "mail_send.schema.json").read_text("utf-8"))
    jsonschema.validate(body, schema)
    (personalization,) = body["personalizations"]
    assert personalization == {"to": [{"email": "zoe@example.org"}]}
    assert "signup-confirm" in body["categories"]
    subject, text, html, headers = sendgrid.rendered_for("zoe@example.org")
    assert (subject, text, html) == (notice().subject, TEXT, None)
    assert "List-Unsubscribe" not in headers
    assert body["tracking_settings"]["click_tracking"]["enable"] is False  # the link as signed


def test_a_sendgrid_refusal_fails_the_notice_with_sendgrids_words(site, sendgrid, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("SENDGRID_API_HOST", sendgrid.url)
    sendgrid.fail_next(400)
    sendgrid.fail_next(401)
    provider = make_provider("sendgrid", site)
    try:
        refused = provider.send_notice(notice())
        revoked = provider.send_notice(notice())
    finally:
        provider.close()

    assert refused.status == revoked.status == "failed"
    assert "400" in refused.error and "401" in revoked.error
    assert sendgrid.accepted == []


def test_a_notice_of_no_known_kind_is_refused():
    with pytest.raises(ValueError, match="confirm, subscribed, manage, welcome"):
        notice(kind="newsletter")
