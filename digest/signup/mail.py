"""The front door's four mails, in fixed words, and sending one.

Whoever fills in the form is a stranger until they confirm, so nothing they
typed goes into a mail but the address itself (checked as ``subscribers add``
checks it, so no line break or header can ride in it): never the name, the
first name or the topics. That takes the form away from spammers, who
otherwise sign up a victim's address with an advertisement as the "name".
The site's title and postal address are the operator's.

Sending never changes the page a person sees: a failure is logged (the
address masked) and counted as ``mail_failed``, and the claim on the
address's cooldown is given back, so the next try may mail.
"""

from __future__ import annotations

import logging
from datetime import datetime

from digest.config.settings import Settings
from digest.delivery import make_provider
from digest.delivery.base import Notice
from digest.rendering.links import PageLinks, ascii_url
from digest.store import signups
from digest.store.store import Store

log = logging.getLogger("digest.signup")

IGNORE = "If you did not ask for this, ignore this email: you will not be subscribed."
NOTHING_CHANGES = "If you did not ask for this, ignore this email: nothing changes."


def confirm_url(settings: Settings, token: str) -> str:
    return ascii_url(settings.public_url.rstrip("/")) + "/confirm/" + token


def _footer(settings: Settings) -> str:
    lines = ["", "-- ", settings.title]
    if settings.postal_address:
        lines.append(settings.postal_address)
    return "\n".join(lines) + "\n"


def _notice(settings: Settings, address: str, kind: str, subject: str, body: str) -> Notice:
    """One of the four, from the site's address, with the site's footer."""
    return Notice(
        to=address,
        subject=subject,
        text=body + _footer(settings),
        sender=settings.from_address,
        kind=kind,
    )


def confirmation(settings: Settings, address: str, token: str) -> Notice:
    """ "Confirm your subscription": the link alone on its own line."""
    title = settings.title
    hours = settings.signup.confirm_hours
    body = (
        f"Someone, hopefully you, asked to subscribe {address} to {title}.\n\n"
        "To confirm, open this link and press the button on the page:\n\n"
        f"{confirm_url(settings, token)}\n\n"
        f"The link works for {hours} hours.\n\n"
        f"{IGNORE}\n"
    )
    return _notice(settings, address, "confirm", f"Confirm your subscription to {title}", body)


def already_subscribed(settings: Settings, address: str, preferences_token: str) -> Notice:
    """Someone signed up an address that is subscribed: where to manage it instead."""
    title = settings.title
    link = PageLinks(settings.public_url).preferences(preferences_token)
    body = (
        f"Someone, hopefully you, asked to subscribe {address} to {title}.\n\n"
        "This address is already subscribed, so nothing has changed. To change "
        "your topics or unsubscribe, open:\n\n"
        f"{link}\n\n"
        f"{NOTHING_CHANGES}\n"
    )
    return _notice(settings, address, "subscribed", f"You are already subscribed to {title}", body)


def manage_link(settings: Settings, address: str, preferences_token: str) -> Notice:
    """The answer to "manage my subscription": the preferences page's link."""
    title = settings.title
    link = PageLinks(settings.public_url).preferences(preferences_token)
    body = (
        f"Someone, hopefully you, asked for a link to manage the subscription of "
        f"{address} to {title}.\n\n"
        "To change your topics or unsubscribe, open:\n\n"
        f"{link}\n\n"
        f"{NOTHING_CHANGES}\n"
    )
    return _notice(settings, address, "manage", f"Manage your subscription to {title}", body)


def welcome(settings: Settings, address: str, preferences_token: str) -> Notice:
    """After confirming (``[signup] welcome``): subscribed, and where to change it."""
    title = settings.title
    link = PageLinks(settings.public_url).preferences(preferences_token)
    body = (
        f"{address} is now subscribed to {title}: the next edition will come to you.\n\n"
        "To change your topics or unsubscribe at any time, open:\n\n"
        f"{link}\n"
    )
    return _notice(settings, address, "welcome", f"Welcome to {title}", body)


def masked(address: str) -> str:
    """``j***@example.org``: enough for an operator to tell two apart in a log,
    not enough to read whom the site mails."""
    local, at, domain = address.rpartition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def send(store: Store, settings: Settings, notice: Notice, claimed_at: datetime) -> bool:
    """Send ``notice`` through the configured provider; whether it went.

    Runs after the page has been answered (a background task), so nothing here
    may raise: a failure is logged and counted, and the cooldown claimed at
    ``claimed_at`` is given back.
    """
    try:
        provider = make_provider(settings.provider, settings)
        try:
            outcome = provider.send_notice(notice)
        finally:
            provider.close()
        ok, why = outcome.status == "sent", outcome.error or outcome.status
    except Exception as err:  # a provider not configured, a bug: never the page's concern
        ok, why = False, f"{type(err).__name__}: {err}"
    if ok:
        return True
    shown = masked(notice.to)
    log.warning(
        "sign-up %s mail to %s not sent: %s", notice.kind, shown, why.replace(notice.to, shown)
    )
    try:
        signups.release_mail(store.engine, notice.to, notice.kind, claimed_at)
        signups.count(store.engine, "mail_failed", claimed_at)
    except Exception:
        log.exception("sign-up mail failure could not be recorded")
    return False
