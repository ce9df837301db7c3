"""The scheduler's hourly job removes sign-ups never confirmed in time, says so in its
log, and a database that fails it is logged, not fatal to the scheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from digest.config.settings import Settings
from digest.models import PendingSignup
from digest.service.housekeeping import forget_job
from digest.store import signups
from digest.store.store import Store

NOW = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


def test_expired_sign_ups_are_removed_and_logged(store, caplog):
    for hours, address in ((49, "old@example.org"), (1, "new@example.org")):
        began = NOW - timedelta(hours=hours)
        signups.save(store.engine, PendingSignup(id=0, email=address), began, began)
    log = logging.getLogger("digest.schedule.test")

    with caplog.at_level(logging.INFO, logger=log.name):
        assert forget_job(store, Settings(), log, lambda: NOW) == 1
        assert forget_job(store, Settings(), log, lambda: NOW) == 0

    assert [p.email for p in signups.listing(store.engine)] == ["new@example.org"]
    assert [r.getMessage() for r in caplog.records] == [
        "sign-ups: 1 never confirmed within 48 h, removed"
    ]


def test_a_failing_database_is_logged_and_the_job_returns(tmp_path, caplog):
    store = Store(f"sqlite:///{tmp_path / 'gone.db'}")
    store.close()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # no longer a database file
    log = logging.getLogger("digest.schedule.test")

    with caplog.at_level(logging.ERROR, logger=log.name):
        assert forget_job(store, Settings(), log, lambda: NOW) == 0

    assert caplog.records[0].getMessage().startswith("sign-ups: expired ones not removed:")
