"""Providers: where mail goes. One module each, behind ``base.Provider``.

A provider's name (``config.PROVIDERS``, the one list of them) is its module's
name here, and the module's ``PROVIDER`` is its class: adding a provider is a
module and a name, nothing else to keep in step.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from digest.config.settings import PROVIDERS
from digest.errors import ConfigError

if TYPE_CHECKING:
    from digest.config.settings import Settings
    from digest.delivery.base import BaseProvider, Provider


def provider_class(name: str) -> type[BaseProvider]:
    """The class behind ``name``, not built: what it is (``mails_people``) is asked
    of it before its secrets are looked at."""
    if name not in PROVIDERS:
        raise ConfigError(f"unknown provider {name!r}: use {', '.join(PROVIDERS)}")
    return importlib.import_module(f"digest.delivery.{name}").PROVIDER


def make_provider(name: str, settings: Settings) -> Provider:
    return provider_class(name).from_settings(settings)
