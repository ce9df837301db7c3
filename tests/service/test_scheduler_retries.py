"""The scheduler tries again those a later try may cure, and takes back its own batches.

A controlled clock drives the jobs (as in ``test_scheduler.py``), on SQLite and
PostgreSQL; the providers are real: an SMTP stand-in that refuses for now and
later accepts, and the outbox on a disk that is full and then is not.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import subscriber
from standins.sendgrid_server import SendGridStandIn
from standins.smtp_server import SMTPStandIn
from test_scheduler import Clock, editions, fill, make_service

from digest.sending.ledger import Ledger
from digest.service.runs import missed
from digest.service.scheduler import Service
from digest.store.store import Store

DUE = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # UTC's edition of the 25th


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "Zq8v-Kp3w-Rt5y")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def smtp(settings, monkeypatch):
    with SMTPStandIn() as server:
        monkeypatch.setenv("DIGEST_SMTP_URL", server.url())
        settings.provider = "smtp"
        settings.smtp.max_retries = 0  # the run's own rounds are not what is tested here
        yield server


def retry_job(service: Service):
    job = service.scheduler.get_job("retry:UTC")
    return job.trigger.run_date if job is not None else None


def said(lines: list[str], words: str) -> list[str]:
    """The log lines holding ``words``, without their time."""
    return [line.split(" ", 1)[1] for line in lines if words in line]


def statuses(store, settings) -> dict[str, str]:
    (edition,) = editions(store, settings)
    return {row.email: row.status for row in Ledger(store, "UTC").entries(edition)}


# -- Delivery 3: failed recipients are tried again -----------------------------------------


def test_a_recipient_refused_for_now_is_retried_on_the_back_off_and_a_refused_one_is_not(
    store, settings, clock, lines, smtp
):
    fill(store, clock, zones=["UTC"], per_zone=3)
    smtp.tempfail("r0-utc@example.com", times=2)  # 451 twice: greylisted, then fine
    smtp.reject("r1-utc@example.com")  # 550: no such user
    clock.at = DUE
    service = make_service(store, settings, clock, lines)
    service.send_edition("UTC")

    assert statuses(store, settings) == {
        "r0-utc@example.com": "failed",
        "r1-utc@example.com": "failed",
        "r2-utc@example.com": "sent",
    }
    assert said(lines, "retrying") == [
        "warning retrying 1 failed recipient(s) of 2026-11-25 UTC at 07:01 local "
        "(07:01 UTC), in 1 min (attempt 2)"
    ]
    assert retry_job(service) == DUE + timedelta(minutes=1)
    # Were the permanent refusal tried again, it would now go through: it must not be.
    with smtp._lock:
        smtp._rejected.clear()

    clock.at = retry_job(service)
    service.send_edition("UTC")  # still refused for now: the back-off grows
    assert said(lines, "retrying")[-1].endswith("at 07:03 local (07:03 UTC), in 2 min (attempt 3)")
    clock.at = retry_job(service)
    service.send_edition("UTC")

    assert statuses(store, settings)["r0-utc@example.com"] == "sent"
    assert statuses(store, settings)["r1-utc@example.com"] == "failed"
    assert smtp.deliveries() == {"r0-utc@example.com": 1, "r2-utc@example.com": 1}
    assert "sent 1, skipped 0, failed 1, in doubt 0, already sent 1" in said(lines, ": sent ")[-1]
    assert len(said(lines, "retrying")) == 2  # none after the last


def test_a_restart_tries_again_those_a_stopped_scheduler_left_failed(
    store, settings, clock, lines, smtp
):
    fill(store, clock, zones=["UTC"], per_zone=2)
    smtp.tempfail("r0-utc@example.com")
    clock.at = DUE
    make_service(store, settings, clock, lines).send_edition("UTC")
    assert statuses(store, settings)["r0-utc@example.com"] == "failed"

    # The scheduler stopped before its retry; it starts again half an hour later.
    clock.at = DUE + timedelta(minutes=30)
    to_send, skipped = missed(store, settings, clock.at)
    assert [run.label for run in to_send] == ["2026-11-25 UTC"] and skipped == []
    make_service(store, settings, clock, lines).send_edition("UTC")

    assert set(statuses(store, settings).values()) == {"sent"}
    assert smtp.deliveries() == {"r0-utc@example.com": 1, "r1-utc@example.com": 1}
    assert missed(store, settings, clock.at) == ([], [])  # done: nothing left to catch up


@pytest.mark.parametrize(("status", "retried"), [(503, True), (429, True), (400, False)])
def test_a_batch_sendgrid_refused_after_its_retries_is_retried_unless_the_request_was_wrong(
    store, settings, clock, lines, monkeypatch, status, retried
):
    with SendGridStandIn("SG.retry-key") as standin:
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.retry-key")
        monkeypatch.setenv("SENDGRID_API_HOST", standin.url)
        settings.provider = "sendgrid"
        settings.sendgrid.max_retries = 0  # SendGrid's own retries are spent at once
        fill(store, clock, zones=["UTC"], per_zone=3)
        standin.fail_next(status, headers={"X-RateLimit-Reset": "0"} if status == 429 else None)
        clock.at = DUE
        service = make_service(store, settings, clock, lines)
        service.send_edition("UTC")
        assert set(statuses(store, settings).values()) == {"failed"}
        if not retried:
            assert not said(lines, "retrying") and retry_job(service) is None
            return
        assert said(lines, "retrying 3 failed recipient(s) of 2026-11-25 UTC")
        clock.at = retry_job(service)
        service.send_edition("UTC")
        assert set(statuses(store, settings).values()) == {"sent"}
        assert set(standin.deliveries().values()) == {1}


class AnswersLost(SMTPStandIn):
    """Takes each whole message, then cuts the connection before its reply, until
    ``mend``: each message in doubt, one by one."""

    broken = True

    def _drop_now(self, where: str) -> bool:
        return self.broken and where == "data"


def test_the_breaker_stops_the_edition_in_one_line_and_the_retry_sends_the_rest(
    store, settings, clock, lines, monkeypatch
):
    fill(store, clock, zones=["UTC"], per_zone=3)  # one batch: everything
    store.save_subscribers(
        [
            subscriber(f"{t}{i}@example.com", [t], "UTC")
            for t in ("Climate", "Energy")
            for i in range(3)
        ]
    )
    settings.provider, settings.max_consecutive_failures = "smtp", 2
    with AnswersLost() as smtp:
        monkeypatch.setenv("DIGEST_SMTP_URL", smtp.url())
        clock.at = DUE
        service = make_service(store, settings, clock, lines)
        service.send_edition("UTC")
        (stopped,) = said(lines, ": failed: ")
        assert stopped.startswith(
            "error edition 2026-11-25 UTC: failed: 3 messages in a row failed or went in doubt "
            "(max_consecutive_failures = 2; most of them: 127.0.0.1:"
        )
        assert stopped.endswith(
            "6 recipient(s) not yet tried are left pending: once the cause is fixed, "
            "`digest send --date 2026-11-25 --timezone UTC` resumes (digest schedule tries "
            "again by itself); trying again in 1 min"
        )
        assert Ledger(store, "UTC").counts(editions(store, settings)[0])["pending"] == 6

        smtp.broken = False  # the server is mended before the retry
        clock.at = retry_job(service)
        service.send_edition("UTC")
    found = sorted(statuses(store, settings).values())
    assert found == ["in_doubt"] * 3 + ["sent"] * 6  # the three in doubt are not resent
    # The stand-in dropped those three unqueued; in doubt, they wait for the operator.
    assert set(smtp.deliveries().values()) == {1} and len(smtp.deliveries()) == 6


def test_retries_end_with_the_catch_up_window_and_say_how_to_send_them(
    store, settings, clock, lines, smtp
):
    fill(store, clock, zones=["UTC"], per_zone=2)
    smtp.tempfail("r0-utc@example.com")
    clock.at = DUE + timedelta(hours=6, seconds=-30)  # 30 s left of catch_up_hours = 6
    service = make_service(store, settings, clock, lines)
    service.send_edition("UTC")

    assert retry_job(service) is None
    assert said(lines, "not tried again") == [
        "error edition 2026-11-25 UTC: 1 failed recipient(s) not tried again: the next try "
        "would be more than catch_up_hours = 6 after the send time "
        "(`digest send --date 2026-11-25 --timezone UTC` retries them)"
    ]
    clock.at += timedelta(hours=1)
    assert missed(store, settings, clock.at)[0] == []  # nor on a restart


def test_a_full_disk_is_one_line_with_the_count_and_is_retried_once_there_is_room(
    store, settings, clock, lines
):
    """The outbox's disk is full for the first try (each file's temporary name is
    /dev/full, which refuses every write with ENOSPC, as a full disk does; the outbox
    removes it after the failure, so the second try finds room)."""
    fill(store, clock, zones=["UTC"], per_zone=5)
    folder = Path(settings.outbox_dir) / "2026-11-25_UTC"
    folder.mkdir(parents=True)
    for i in range(5):
        address = f"r{i}-utc@example.com"
        sid = store.find_subscriber(address).id
        (folder / f".{sid}-{address}.eml.{os.getpid()}.tmp").symlink_to("/dev/full")
    clock.at = DUE
    service = make_service(store, settings, clock, lines)
    service.send_edition("UTC")

    errors = [line.split(" error ", 1)[1] for line in lines if " error " in line]
    assert errors[0] == (
        "failed: 2026-11-25 UTC: 5 recipients (r0-utc@example.com, r1-utc@example.com, "
        f"r2-utc@example.com, …): outbox full: cannot write to {folder.parent}: "
        "No space left on device; free space, then send again"
    )
    assert len([e for e in errors if e.startswith("failed: ")]) == 1
    assert said(lines, "retrying 5 failed recipient(s) of 2026-11-25 UTC")

    clock.at = retry_job(service)
    service.send_edition("UTC")
    assert set(statuses(store, settings).values()) == {"sent"}
    assert len(list(folder.glob("*.eml"))) == 5


# -- Delivery 7: this scheduler's own batches, after a database outage ----------------------


class Outage:
    """The database going away just after a batch was handed to the provider, and
    coming back when told: every statement in between fails as a lost connection does.
    At the driver's edge (SQLAlchemy's cursor events), on SQLite and PostgreSQL alike."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.down = threading.Event()
        self.failed = 0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.down.is_set():
            self.failed += 1
            raise sa.exc.OperationalError(statement, parameters, ConnectionError("gone"))

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        values = parameters.values() if isinstance(parameters, dict) else parameters
        if statement.startswith("UPDATE batches") and "handed" in list(values or ()):
            self.down.set()

    def end(self) -> None:
        self.down.clear()
        sa.event.remove(self.engine, "before_cursor_execute", self._before)
        sa.event.remove(self.engine, "after_cursor_execute", self._after)


def test_after_a_database_outage_mid_send_the_scheduler_takes_its_own_batches_back_at_once(
    store, settings, clock, lines
):
    fill(store, clock, zones=["UTC"], per_zone=2)
    store.save_subscribers([subscriber(f"e{i}@example.com", ["Energy"], "UTC") for i in range(2)])
    settings.lease_seconds = 86400  # a day's lease: waiting it out would lose the edition
    clock.at = DUE
    service = make_service(store, settings, clock, lines)
    outage = Outage(store.engine)
    service.send_edition("UTC")  # the first batch is handed over, then the database goes
    (failed,) = said(lines, "failed: ")
    assert outage.failed and "failed: database error" in failed and "again in 1 min" in failed

    outage.end()  # the database is back when the retry comes
    clock.at += timedelta(minutes=1)
    service.send_edition("UTC")

    assert not any("held by another sender" in line for line in lines), lines
    assert set(statuses(store, settings).values()) == {"sent"}
    outbox = Path(settings.outbox_dir) / "2026-11-25_UTC"
    assert len(list(outbox.glob("*.eml"))) == 4  # the outbox found what it had written


class Outlet:
    """A TCP forwarder on loopback to the test PostgreSQL that can be cut (every
    connection dropped, new ones refused) and restored: a real outage, for the store
    alone (other tests' connections to the same server are untouched)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for end in (a, b):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for end in self._open:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        self._open = []

    def close(self) -> None:
        self.cut()
        self.listener.close()


class CutsTheDatabase(SMTPStandIn):
    """An SMTP server during whose first DATA the database goes away."""

    def __init__(self, cut) -> None:
        super().__init__()
        self.cut = cut

    async def handle_DATA(self, server, session, envelope):
        if self.cut is not None:
            self.cut, cut = None, self.cut
            cut()
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_real_postgresql_outage_mid_batch_costs_no_lease_and_mails_nobody_twice(
    db_url, settings, clock, lines, monkeypatch
):
    address = sa.make_url(db_url)
    outlet = Outlet((address.host or "127.0.0.1", address.port or 5432))
    store = Store(address.set(host="127.0.0.1", port=outlet.port).render_as_string(False))
    try:
        fill(store, clock, zones=["UTC"], per_zone=2)
        store.save_subscribers(
            [subscriber(f"e{i}@example.com", ["Energy"], "UTC") for i in range(2)]
        )
        settings.lease_seconds = 86400
        settings.provider = "smtp"
        with CutsTheDatabase(outlet.cut) as smtp:
            monkeypatch.setenv("DIGEST_SMTP_URL", smtp.url())
            clock.at = DUE
            service = make_service(store, settings, clock, lines)
            service.send_edition("UTC")
            (failed,) = said(lines, "failed: ")
            assert "server closed the connection unexpectedly" in failed, failed

            outlet.up = True  # the database is back for the retry a minute later
            clock.at += timedelta(minutes=1)
            service.send_edition("UTC")
        assert not said(lines, "held by another sender"), lines
        found = statuses(store, settings)
        # The batch with the server when the database went: delivered, its answer never
        # recorded, so in doubt (not resent); the other batch sent at once.
        assert found == {
            "r0-utc@example.com": "in_doubt",
            "r1-utc@example.com": "in_doubt",
            "e0@example.com": "sent",
            "e1@example.com": "sent",
        }
        assert set(smtp.deliveries().values()) == {1}
        (doubt,) = said(lines, "in doubt: ")
        assert doubt.endswith("(this process), whose send stopped before recording the answer")
    finally:
        store.close()
        outlet.close()
