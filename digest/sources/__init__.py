"""Where articles come from: one module per input kind, one ``read`` for them all.

``read(target)`` takes a file, a folder (read recursively, in name order) or
an http(s) feed URL and returns a ``SourceResult``: good articles plus one
``InputError`` per file, line or entry that could not be used, so a single
bad input never stops the rest. ``ingest`` reads targets into a store,
remembering what each source said (``run``); ``ingest_configured`` is what
``digest ingest`` and ``digest schedule`` call.

A source is known four ways, each for its own job, and they are not one:

- ``config.sources.canonical_target``: its URL as a canonical link (or its
  path), only to compare, so a source configured twice, or named on the
  command line, is recognised;
- ``run.state_key``: its URL with the password hidden (or its absolute path),
  what its remembered ``SourceState`` is stored and shown under (the table's
  ``id`` is that key's hash);
- ``identity.scope_of``: its address as the store scopes its entries'
  identities to (``Article.scope``): its URL under one scheme, or the feed
  file's path, so two feeds that number their entries alike stay apart;
- its name (``Source.name``, else the feed's title), which an article carries
  as ``source``: shown, and what an article file's identity is scoped to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["IngestReport", "SourceResult", "ingest", "ingest_configured", "read"]

if TYPE_CHECKING:
    from digest.sources.base import SourceResult
    from digest.sources.run import IngestReport, ingest, ingest_configured, read


def __getattr__(name: str):
    """The readers, imported when first asked for: ``digest.sources.names``, which
    the render-ahead child needs, must not bring in every feed parser with it."""
    if name == "SourceResult":
        from digest.sources.base import SourceResult

        return SourceResult
    if name in __all__:
        from digest.sources import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
