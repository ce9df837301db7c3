"""The scheduler's hourly housekeeping: sign-ups never confirmed are forgotten.

A pending sign-up holds an address someone typed, perhaps not their own: kept
no longer than its link works (``[signup] confirm_hours``), then removed and
counted ``expired`` for ``digest status``. Counters and cooldowns no limit
reads any more go with them. ``digest serve`` does the same at most every 10
minutes; whichever comes first does it, and the other finds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from digest.config.settings import Settings
from digest.service.joblog import event
from digest.signup.front import forget_expired
from digest.store.database import expected
from digest.store.store import Store

EVERY_MINUTES = 60


def forget_job(
    store: Store, settings: Settings, log: logging.Logger, now: Callable[[], datetime]
) -> int:
    """Forget the expired sign-ups; a failure is logged, never raised (the next hour
    tries again). How many were removed."""
    try:
        gone = forget_expired(store, settings, now())
    except Exception as error:  # the database away for a moment: the next run will do
        found = expected(error, store.engine.url)  # its one line: no SQL, no parameters
        reason = found.line if found is not None else f"{type(error).__name__}: {error}"
        log.error(f"sign-ups: expired ones not removed: {reason}", extra=event("error"))
        return 0
    if gone:
        log.info(
            f"sign-ups: {gone} never confirmed within {settings.signup.confirm_hours} h, removed",
            extra=event("signups", expired=gone),
        )
    return gone
