"""Providers: where mail goes. One module each, behind ``base.Provider``."""

from __future__ import annotations

from digest.config import Settings
from digest.delivery.base import Outgoing, Provider
from digest.errors import ConfigError

__all__ = ["Outgoing", "Provider", "make_provider"]


def make_provider(name: str, settings: Settings) -> Provider:
    if name == "outbox":
        from digest.delivery.outbox import OutboxProvider

        return OutboxProvider(settings.outbox_dir)
    if name == "smtp":
        from digest.delivery.smtp import SMTPProvider

        return SMTPProvider.from_settings(settings)
    if name == "sendgrid":
        from digest.delivery.sendgrid import SendGridProvider

        return SendGridProvider.from_settings(settings)
    raise ConfigError(f"unknown provider {name!r}: use outbox, smtp or sendgrid")
