"""``[signup]``: the public sign-up page and what holds it against bots.

Off until the site can mail strangers lawfully and link back to itself: the
default of ``enabled`` is whether ``postal_address`` and a ``public_url``
other than this machine are both set. Saying ``enabled = true`` without them
is a configuration error naming what is missing, not a page that mails
people links to localhost.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from digest import hosts
from digest.config.values import Range


@dataclass
class SignupSettings:
    # None: decided at start-up (``resolve``): on when postal_address and a public
    # public_url are both set.
    enabled: bool | None = None
    confirm_hours: int = 48  # a confirmation link works this long; then the sign-up is removed
    min_seconds: int = 3  # a form posted sooner after it was served sends nothing
    max_form_age_hours: int = 24  # nor one posted later than this
    address_cooldown_hours: int = 24  # at most one mail of each kind per address in this time
    per_client_hour: int = 5  # accepted sign-ups per client address per hour
    per_client_day: int = 20  # and per day
    welcome: bool = False  # a welcome mail once confirmed
    altcha: bool = False  # the ALTCHA proof-of-work on the form
    altcha_max_number: int = 100_000  # its difficulty: the largest number a browser may try


RANGES = {
    "signup.confirm_hours": Range(1, 24 * 30),
    "signup.min_seconds": Range(0, 600),
    "signup.max_form_age_hours": Range(1, 24 * 7),
    "signup.address_cooldown_hours": Range(1, 24 * 30),
    "signup.per_client_hour": Range(1, 100_000),
    "signup.per_client_day": Range(1, 1_000_000),
    "signup.altcha_max_number": Range(1000, 10_000_000),
}


def public(url: str) -> bool:
    """Whether ``public_url`` names a host other than this machine."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return bool(host) and not hosts.is_loopback(host)


def resolve(signup: SignupSettings, postal_address: str, public_url: str) -> None:
    """Decide ``enabled`` when the file left it out; ValueError (naming what is
    missing) when it asks for the page without what the page needs."""
    ready = bool(postal_address.strip()) and public(public_url)
    if signup.enabled is None:
        signup.enabled = ready
    elif signup.enabled and not ready:
        missing = [
            what
            for what, ok in (
                ("postal_address", bool(postal_address.strip())),
                ("a public_url other than localhost", public(public_url)),
            )
            if not ok
        ]
        raise ValueError(
            "the sign-up page mails people who asked from anywhere: it needs "
            + " and ".join(missing)
        )
