"""May a send start: the provider's class says whether it mails people, and that alone
decides whether a missing postal address or dead unsubscribe links refuse the send."""

from __future__ import annotations

import pytest

from digest.config.settings import Settings
from digest.delivery.outbox import OutboxProvider
from digest.delivery.smtp import SMTPProvider
from digest.errors import ConfigError
from digest.sending.preflight import may_start, open_provider

LIVE = {"public_url": "https://news.example.org", "postal_address": "1 Main St"}


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "Zq8v-Kp3w-Rt5y")


def test_a_provider_that_says_it_mails_people_gets_both_checks(monkeypatch, tmp_path):
    """No list of names to extend: the outbox, declared a mailer, is refused like smtp."""
    monkeypatch.setattr(OutboxProvider, "mails_people", True)
    settings = Settings(outbox_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^refusing to send through outbox: the unsubscribe"):
        open_provider(settings, "outbox")
    settings.public_url = LIVE["public_url"]
    with pytest.raises(ConfigError, match=r"postal_address: not set; .* through outbox$"):
        open_provider(settings, "outbox")
    settings.postal_address = LIVE["postal_address"]
    provider, warnings = open_provider(settings, "outbox")
    provider.close()
    assert warnings == []


def test_a_provider_that_mails_nobody_only_warns_and_the_warnings_name_the_mailers(
    monkeypatch,
):
    monkeypatch.setattr(SMTPProvider, "mails_people", False)
    assert may_start(Settings(), "smtp") == [
        "public_url http://localhost:8000 is not https; public_url http://localhost:8000 is "
        "this machine (loopback): the links in these emails work only on this machine "
        "(fine for trying digest out; sendgrid refuses it)",
        "postal_address is not set: the footer has no postal address "
        "(set it before sending through sendgrid)",
    ]


def test_a_preview_is_never_refused_and_warns_only_of_the_postal_address():
    assert may_start(Settings(), None) == [
        "postal_address is not set: the footer has no postal address "
        "(set it before sending through smtp or sendgrid)"
    ]
    assert may_start(Settings(**LIVE), None) == []


def test_a_dry_run_opens_no_provider_and_warns_of_what_a_real_send_would_refuse(monkeypatch):
    monkeypatch.delenv("DIGEST_SMTP_URL", raising=False)
    provider, warnings = open_provider(Settings(**LIVE), "smtp", dry_run=True)
    assert provider is None
    assert warnings == [
        "a real send through smtp would not start: "
        "the smtp provider needs DIGEST_SMTP_URL in the environment"
    ]
    monkeypatch.setenv("DIGEST_SMTP_URL", "smtp://127.0.0.1:9")  # never connected to
    provider, warnings = open_provider(Settings(**LIVE), "smtp", dry_run=True)
    assert (provider, warnings) == (None, [])
    _, warnings = open_provider(Settings(), "smtp", dry_run=True)  # dead links, no address
    assert [w.split(": ")[1] for w in warnings] == ["refusing to send through smtp"]
    with pytest.raises(ConfigError, match="unknown provider 'smpt'"):
        open_provider(Settings(), "smpt", dry_run=True)
