"""What every route module shares: the store, the settings, the signing key."""

from __future__ import annotations

from dataclasses import dataclass, field

from digest.config import Settings
from digest.store import Store
from digest.unsubscribe import signing_key


@dataclass
class Web:
    store: Store
    settings: Settings
    key: bytes | None = field(default=None)

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = signing_key()
