"""What ``digest sources`` shows: each configured source with what the store remembers of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest.config.settings import Settings
from digest.config.sources import as_source, canonical_target
from digest.errors import ConfigError
from digest.models import Source, SourceState
from digest.sources.run import state_key

if TYPE_CHECKING:
    from digest.store.store import Store


def source_states(store: Store, settings: Settings) -> list[tuple[Source, SourceState]]:
    """Every configured source, in the configured order, with its state (empty if never read)."""
    sources = [as_source(s) for s in settings.sources]
    keys = [state_key(s) for s in sources]
    found = store.source_states(keys)
    return [(s, found.get(k) or SourceState(k)) for s, k in zip(sources, keys, strict=True)]


def reset_source(store: Store, settings: Settings, which: str) -> Source:
    """Forget what is remembered of one configured source (by name, URL or path), so
    the next ingest fetches it afresh: a feed that answered 410 is enabled again, a
    Retry-After is dropped, a permanent redirect forgotten. ConfigError if none is it."""
    for source, state in source_states(store, settings):
        names = {source.name.casefold(), canonical_target(source.target), state.key}
        if which.casefold() in names or canonical_target(which) in names:
            store.save_source_states([SourceState(state.key)])
            return source
    raise ConfigError(f"--reset: no configured source is {which!r} (see `digest sources`)")
