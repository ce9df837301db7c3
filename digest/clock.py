"""The one clock the pipeline reads, so tests and the scheduler can reason about "now"."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
