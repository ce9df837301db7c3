"""A real SMTP server on 127.0.0.1 for tests and benchmarks, built on aiosmtpd.

Why a real server: the SMTP provider's connection reuse, AUTH, per-recipient
failures and reconnect-after-drop logic only show against a peer that speaks the
protocol. Faults are per recipient address, the way real relays produce them:
``tempfail`` (451, greylisting), ``reject`` (550, unknown user) and ``drop_after``
(the connection dies after DATA with no reply, so the client cannot know whether
the message went; here it did not). As a subprocess it is a benchmark sink:

    python tests/standins/smtp_server.py --port 0 [--count-only] [--auth USER:PASS]

prints ``READY <port>``, serves until SIGTERM and then prints the message count.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import email
import email.policy
import logging
import signal
import threading
from email.message import EmailMessage
from typing import Any, cast
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
TEMPFAIL = "451 4.3.0 Try again later"
REJECT = "550 5.1.1 No such user"


class _Controller(Controller):
    """aiosmtpd's Controller, able to bind port 0 (it probes ``self.port`` on start)."""

    def _trigger_server(self) -> None:
        if self.server is not None and self.port == 0:
            self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SMTPStandIn:
    """An SMTP server that records what it accepts and fails on request.

    ``messages`` holds ``(envelope_from, rcpt_tos, EmailMessage)`` per accepted message
    (each parsed on the first read, not as it arrives: most tests only count);
    with ``count_only`` nothing is parsed or kept and only ``message_count`` and
    ``recipient_count`` grow (benchmarks). All state is guarded by one lock, since
    the server runs in aiosmtpd's thread while the test reads from its own.
    """

    def __init__(
        self,
        auth: tuple[str, str] | None = None,
        *,
        port: int = 0,
        count_only: bool = False,
    ) -> None:
        self.auth = auth
        self.count_only = count_only
        self.host = HOST
        self.port = port
        self.message_count = 0
        self.recipient_count = 0
        self.tempfails_given = 0  # RCPTs answered 451: a test waits for a retry round
        self._lock = threading.Lock()
        # Each message as it came (bytes) until ``messages`` is read, then parsed: a
        # test that only counts deliveries (thousands of messages) parses none.
        self._messages: list[tuple[str, list[str], EmailMessage | bytes]] = []
        self._deliveries: collections.Counter[str] = collections.Counter()
        self._tempfail: collections.Counter[str] = collections.Counter()
        self._rejected: set[str] = set()
        self._drop_countdown: int | None = None
        self._drop_at = "data"
        self._drop_queued = False
        self._running = False
        # AUTH is offered without TLS (fine on 127.0.0.1) and required in handle_MAIL: aiosmtpd's
        # own auth_required would warn about the missing TLS on every connection.
        authenticator = self._authenticate if auth is not None else None
        self._controller = _Controller(
            self, hostname=HOST, port=port, authenticator=authenticator, auth_require_tls=False
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> SMTPStandIn:
        self._controller.start()
        self.port, self._running = self._controller.port, True
        return self

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> SMTPStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """``smtp://[user:pass@]127.0.0.1:PORT``; credentials default to ``auth``."""
        if user is None and password is None and self.auth:
            user, password = self.auth
        if user is None:
            return f"smtp://{self.host}:{self.port}"
        secret = f":{quote(password, safe='')}" if password is not None else ""
        return f"smtp://{quote(user, safe='')}{secret}@{self.host}:{self.port}"

    # -- what happened ---------------------------------------------------------
    @property
    def messages(self) -> list[tuple[str, list[str], EmailMessage]]:
        """Each accepted message, parsed as the provider's own tests will read it."""
        with self._lock:
            for i, (sender, rcpts, message) in enumerate(self._messages):
                if isinstance(message, bytes):
                    parsed = email.message_from_bytes(message, policy=email.policy.default)
                    self._messages[i] = (sender, rcpts, cast(EmailMessage, parsed))
            return cast(list[tuple[str, list[str], EmailMessage]], list(self._messages))

    def deliveries(self) -> collections.Counter[str]:
        """How many accepted messages went to each recipient address."""
        with self._lock:
            return collections.Counter(self._deliveries)

    # -- fault injection -------------------------------------------------------
    def tempfail(self, address: str, times: int = 1) -> None:
        """RCPT TO ``address`` gets ``451 4.3.0 Try again later`` the next ``times`` times."""
        with self._lock:
            self._tempfail[address.lower()] += times

    def reject(self, address: str) -> None:
        """RCPT TO ``address`` always gets ``550 5.1.1 No such user``."""
        with self._lock:
            self._rejected.add(address.lower())

    def drop_after(self, n: int, *, at: str = "data", queued: bool = False) -> None:
        """Accept ``n`` more messages, then cut the connection once, without a reply.

        ``at="rcpt"`` cuts it at the next RCPT TO (nothing of the message was sent:
        a client may safely send it again); ``at="data"`` after the next message has
        arrived whole, before the reply, which is the moment a client cannot know
        about. With ``queued=True`` the message is kept first, as a real server that
        crashed after queuing it would have done.
        """
        if at not in ("rcpt", "data"):
            raise ValueError("at is 'rcpt' or 'data'")
        with self._lock:
            self._drop_countdown, self._drop_at, self._drop_queued = n, at, queued

    def _drop_now(self, where: str) -> bool:
        """Whether the connection is to be cut at ``where`` (counts messages at DATA)."""
        with self._lock:
            if self._drop_countdown is None:
                return False
            if where == "data" and self._drop_countdown > 0:
                self._drop_countdown -= 1
                return False
            if self._drop_countdown == 0 and self._drop_at == where:
                self._drop_countdown = None
                return True
            return False

    # -- aiosmtpd hooks (run in the server thread) -----------------------------
    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """LOGIN and PLAIN both arrive as LoginPassword; handled=False lets aiosmtpd say 535."""
        if not isinstance(data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(errors="replace"), data.password.decode(errors="replace"))
        return AuthResult(success=given == self.auth, handled=False)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._drop_now("rcpt"):
            cast(asyncio.Transport, server.transport).abort()
            return "421 4.4.2 Connection dropped"  # written to nobody
        key = address.lower()
        with self._lock:
            if key in self._rejected:
                return REJECT
            if self._tempfail[key] > 0:
                self._tempfail[key] -= 1
                self.tempfails_given += 1
                return TEMPFAIL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        drop = self._drop_now("data")
        if drop and not self._drop_queued:
            cast(asyncio.Transport, server.transport).abort()  # no reply: the connection vanishes
            return "421 4.4.2 Connection dropped"  # written to nobody
        with self._lock:
            self.message_count += 1
            self.recipient_count += len(envelope.rcpt_tos)
            if not self.count_only:  # kept whole, parsed when ``messages`` is read
                raw = envelope.original_content or b""
                self._messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), raw))
                self._deliveries.update(envelope.rcpt_tos)
        if drop:  # queued, then gone before the reply
            cast(asyncio.Transport, server.transport).abort()
            return "421 4.4.2 Connection dropped"
        return "250 OK: queued"


def main(argv: list[str] | None = None) -> int:
    """Serve as a benchmark sink until SIGTERM/SIGINT, then print the message count."""
    parser = argparse.ArgumentParser(description="SMTP stand-in on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--count-only", action="store_true", help="count, do not parse or keep")
    parser.add_argument("--auth", help="USER:PASS to require (LOGIN/PLAIN, no TLS)")
    args = parser.parse_args(argv)
    user, _, password = (args.auth or "").partition(":")
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-login deprecation note
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # for sigwait, in every thread
    auth = (user, password) if args.auth else None
    with SMTPStandIn(auth, port=args.port, count_only=args.count_only) as standin:
        print(f"READY {standin.port}", flush=True)
        signal.sigwait(stop_signals)
    print(standin.message_count, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
