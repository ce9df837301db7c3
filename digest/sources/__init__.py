"""Where articles come from: one module per input kind, one ``read`` for them all.

``read(target)`` takes a file, a folder (read recursively, in name order) or
an http(s) feed URL and returns a ``SourceResult``: good articles plus one
``InputError`` per file, line or entry that could not be used, so a single
bad input never stops the rest. ``ingest`` reads targets into a store,
remembering what each source said (``run``); ``ingest_configured`` is what
``digest ingest`` and ``digest schedule`` call.
"""

from __future__ import annotations

from digest.sources.base import SourceResult
from digest.sources.run import IngestReport, ingest, ingest_configured, read

__all__ = ["IngestReport", "SourceResult", "ingest", "ingest_configured", "read"]
