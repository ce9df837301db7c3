"""May this send start? One answer for ``digest send``, ``digest schedule`` and
``digest preview``, so a rule changed here is changed for all three.

A provider that puts mail in real inboxes (``mails_people`` on its class) must
not start a send without what the law and the mailbox providers want of every
email: the sender's postal address in the footer (CAN-SPAM in the US, the EU's
ePrivacy rules and their national laws), and unsubscribe links that work
(mailbox providers punish a sender whose one-click unsubscribe fails). The
outbox and a preview, which nobody receives, keep working with development
values and get warnings instead; so does a dry run, which sends nothing and
so opens no provider: what a real send would refuse becomes its warnings.

A refusal is one ``ConfigError`` line: exit 2 from the CLI, and a scheduler
that does not start. Warnings are returned, not printed: the CLI prints them,
the scheduler logs them in its own format. The rule asks the provider's class,
not a list of names, so a provider added with ``mails_people = True`` gets
every check without anything else to keep in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from digest import hosts
from digest.config.settings import PROVIDERS, Settings, secret
from digest.delivery import make_provider, provider_class
from digest.errors import ConfigError

if TYPE_CHECKING:
    from digest.delivery.base import Provider


def open_provider(
    settings: Settings, name: str, *, dry_run: bool = False
) -> tuple[Provider | None, list[str]]:
    """The provider, built (its own settings and secrets checked first), and the
    warnings to show; ``ConfigError`` if a send through it may not start.

    A dry run sends nothing, so it opens no provider and needs none of its
    secrets (a newcomer tries one before having a SendGrid key): ``None``, and
    what would stop a real send comes back as warnings instead."""
    if dry_run:
        return None, dry_run_warnings(settings, name)
    provider = make_provider(name, settings)
    try:
        return provider, may_start(settings, name)
    except BaseException:
        provider.close()
        raise


def dry_run_warnings(settings: Settings, name: str) -> list[str]:
    """What a real send through ``name`` would refuse (its secrets, its settings,
    the links and the postal address), each as a warning; an unknown provider
    is still refused, being a typo in the command or the config."""
    provider_class(name)
    warnings = []
    try:
        make_provider(name, settings).close()  # builds only: nothing is contacted
    except ConfigError as error:
        warnings.append(f"a real send through {name} would not start: {error}")
    try:
        warnings += may_start(settings, name)
    except ConfigError as error:
        warnings.append(f"a real send through {name} would not start: {error}")
    return warnings


def may_start(settings: Settings, provider: str | None) -> list[str]:
    """``ConfigError`` (one line) if a send through ``provider`` may not start, else
    the warnings to show; ``None`` for a preview, which only the operator sees."""
    if provider is None:
        return check_postal_address(settings, None)
    require_live_links(settings, provider)
    warnings = []
    development = [p for p in link_problems(settings) if p.startswith("public_url")]
    if development:  # only a provider that mails nobody gets this far with them
        mailers = mailing_providers()
        warnings.append(
            f"{'; '.join(development)}: the links in these emails work only on this "
            f"machine (fine for trying digest out; {_listed(mailers, 'and')} "
            f"{'refuses' if len(mailers) == 1 else 'refuse'} it)"
        )
    return warnings + check_postal_address(settings, provider)


def mails_people(provider: str) -> bool:
    return provider_class(provider).mails_people


def mailing_providers() -> list[str]:
    """The providers the checks apply to, for messages that name them."""
    return [name for name in PROVIDERS if mails_people(name)]


def require_live_links(settings: Settings, provider: str) -> None:
    """``ConfigError`` (one line) when ``provider`` mails real people and the
    unsubscribe links would not work: mailbox providers punish a sender whose
    one-click unsubscribe fails, and the law requires that people can leave."""
    problems = link_problems(settings)
    if problems and mails_people(provider):
        raise ConfigError(
            f"refusing to send through {provider}: the unsubscribe links would not work: "
            + "; ".join(problems)
            + " (set DIGEST_SECRET, and public_url to the https address where "
            "`digest serve` answers)"
        )


def link_problems(settings: Settings) -> list[str]:
    """Why the links in an email made with ``settings`` would not work for a
    subscriber (empty if they would): no ``DIGEST_SECRET`` (links signed with
    the development key anyone can read in the source), or a ``public_url``
    that is not https or points at the machine reading the email."""
    problems = []
    if secret("DIGEST_SECRET") is None:
        problems.append("DIGEST_SECRET is not set")
    parts = urlsplit(settings.public_url)
    if parts.scheme != "https":
        problems.append(f"public_url {settings.public_url} is not https")
    if hosts.is_loopback(parts.hostname or ""):
        problems.append(f"public_url {settings.public_url} is this machine (loopback)")
    return problems


def check_postal_address(settings: Settings, provider: str | None) -> list[str]:
    """``ConfigError`` when ``provider`` mails real people and ``postal_address``
    is not set; for the outbox or a preview (``None``), the warning instead."""
    if settings.postal_address.strip():
        return []
    if provider is not None and mails_people(provider):
        where = settings.config_path or "digest.toml"
        raise ConfigError(
            f"{where}: postal_address: not set; the law on bulk email wants the sender's "
            f"postal address in every email: set it before sending through {provider}"
        )
    return [
        "postal_address is not set: the footer has no postal address "
        f"(set it before sending through {_listed(mailing_providers(), 'or')})"
    ]


def _listed(names: list[str], conjunction: str) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"
