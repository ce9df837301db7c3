"""SMTP: reused connections, several in parallel, an optional rate limit.

``DIGEST_SMTP_URL`` is ``smtp://user:pass@host:port`` (STARTTLS when the
server offers it; ``smtp.require_starttls`` makes it mandatory) or
``smtps://…`` (TLS from the first byte). AUTH is used when credentials are
given. Per recipient: a 4xx reply is a temporary refusal (tried again later in
the run), a 5xx reply fails that recipient with the server's words, and a
connection dropped before the message was sent whole is re-opened and the
message tried once more. A connection lost *after* the message and its final
dot were sent, before the server's reply, leaves the message in doubt: the
server may have queued it, so it is recorded ``in_doubt`` and not resent.

Each message is held to ``smtp.message_deadline_seconds`` as a whole, and a
stop cuts the messages on the wire short (``smtp_session``): recipients not
yet tried, and one whose message was cut before its final dot, come back
``unsent`` and stay pending; only a message sent whole can be in doubt.
"""

from __future__ import annotations

import contextlib
import queue
import smtplib
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from digest.config.settings import Settings, secret
from digest.delivery.base import BaseProvider, Notice, Outgoing, parse_sender
from digest.delivery.notices import notice_message
from digest.delivery.smtp_session import SMTP, SMTP_SSL, AnswerLost, Budget
from digest.errors import ConfigError, FatalDeliveryError
from digest.hosts import check_host
from digest.models import Outcome, Recipient
from digest.validate import mail_address

DROPPED = (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout, TimeoutError)


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str | None
    password: str | None
    implicit_tls: bool

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_url(url: str) -> Server:
    """Read DIGEST_SMTP_URL; errors never repeat the password."""
    usage = "DIGEST_SMTP_URL: expected smtp://user:pass@host:port or smtps://…"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        raise ConfigError(usage) from None
    if parts.scheme not in ("smtp", "smtps") or not host:
        raise ConfigError(usage)
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise ConfigError("DIGEST_SMTP_URL: the port is not a number") from None
    try:
        check_host(host)
    except ValueError as err:
        raise ConfigError(f"DIGEST_SMTP_URL: {err}") from None
    return Server(
        host=host,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=parts.scheme == "smtps",
    )


class RateLimit:
    """At most ``rate`` messages a second across all connections (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stopping: threading.Event) -> bool:
        """Wait for the next slot; True if the send was asked to stop meanwhile."""
        if not self.interval:
            return stopping.is_set()
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        return stopping.wait(slot - now) if slot > now else stopping.is_set()


class Stopping(Exception):
    """The send was asked to stop while a connection was being opened."""


class Connection:
    """One SMTP session, opened on first use and again after a drop. Each message
    it carries is held to its own ``Budget`` (``begin``), opening included."""

    def __init__(self, server: Server, settings: Settings) -> None:
        self.server = server
        self.options = settings.smtp
        self.smtp: smtplib.SMTP | None = None
        self.budget: Budget | None = None

    def begin(self, budget: Budget) -> None:
        self.budget = budget
        if self.smtp is not None:
            self.smtp.budget = budget

    def get(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = self._open()
        return self.smtp

    def _open(self) -> smtplib.SMTP:
        server, timeout = self.server, self.options.timeout
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if server.implicit_tls:
                smtp = SMTP_SSL(
                    server.host, server.port, timeout=timeout, context=context, budget=self.budget
                )
            else:
                smtp = SMTP(server.host, server.port, timeout=timeout, budget=self.budget)
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif self.options.require_starttls:
                    smtp.close()
                    raise FatalDeliveryError(
                        f"SMTP server {server.where} does not offer STARTTLS, "
                        "and smtp.require_starttls is set"
                    )
            if server.user:
                smtp.login(server.user, server.password or "")
        except smtplib.SMTPAuthenticationError as err:
            raise FatalDeliveryError(
                f"SMTP server {server.where} refused the login for {server.user!r}: "
                f"{err.smtp_code} {_text(err.smtp_error)}"
            ) from None
        except UnicodeEncodeError:
            raise FatalDeliveryError(
                f"SMTP login to {server.where} for {server.user!r}: the user name or password "
                "has non-ASCII characters, which SMTP AUTH here cannot send"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise FatalDeliveryError(
                f"SMTP server {server.where} does not offer AUTH (credentials were given)"
            ) from None
        except (OSError, smtplib.SMTPException) as err:
            if smtp is not None:
                smtp.close()
            if self.budget is not None and self.budget.why == "stop":
                raise Stopping from None
            raise FatalDeliveryError(
                f"cannot connect to SMTP server {server.where}: {err}"
            ) from None
        return smtp

    def reset(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
        self.smtp = None

    def close(self, stopping: threading.Event) -> None:
        """Say QUIT, unless the send is stopping: then only hang up, at once."""
        if self.smtp is not None and not stopping.is_set():
            self.smtp.budget = Budget(self.options.timeout, stopping)
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.quit()
        self.reset()


class SMTPProvider(BaseProvider):
    name = "smtp"
    mails_people = True
    max_batch = 100  # what one crash could resend: keep it small

    def __init__(self, server: Server, settings: Settings) -> None:
        self.server = server
        self.workers = max(1, settings.smtp.connections)
        self.connections: queue.Queue[Connection] = queue.Queue()
        for _ in range(self.workers):
            self.connections.put(Connection(server, settings))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="smtp")
        self.limit = RateLimit(settings.smtp.rate)
        self.deadline = settings.smtp.message_deadline_seconds
        self.retry_rounds = settings.smtp.max_retries  # greylisting: 4xx now, fine later
        self.stopped: FatalDeliveryError | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SMTPProvider:
        url = secret("DIGEST_SMTP_URL")
        if url is None:
            raise ConfigError("the smtp provider needs DIGEST_SMTP_URL in the environment")
        return cls(parse_url(url), settings)

    def deliver(self, batch: Outgoing) -> list[Outcome]:
        """Deliver a batch over the pooled connections, one message per recipient.

        If the server becomes unusable (login refused, unreachable) part-way,
        what was delivered is still reported, in ``FatalDeliveryError.outcomes``.
        On a stop (``stopping``), the messages on the wire are cut short (see
        ``smtp_session``) and the recipients not yet tried come back ``unsent``:
        still pending, for the next run.
        """
        chunks = [batch.recipients[i :: self.workers] for i in range(self.workers)]
        futures = [self.pool.submit(self._deliver_chunk, batch, c) for c in chunks if c]
        outcomes = [o for f in futures for o in f.result()]
        if self.stopped is not None:
            error = FatalDeliveryError(str(self.stopped))
            error.outcomes = [o for o in outcomes if o.status != "unsent"]
            raise error
        return outcomes

    def _deliver_chunk(self, batch: Outgoing, recipients: list[Recipient]) -> list[Outcome]:
        connection = self.connections.get()
        try:
            return [self._deliver(connection, batch, r) for r in recipients]
        finally:
            self.connections.put(connection)

    def _deliver(self, connection: Connection, batch: Outgoing, recipient: Recipient) -> Outcome:
        unsent = Outcome(recipient.subscriber_id, "unsent")
        if self.stopped is not None or self.stopping.is_set():
            return unsent
        budget = Budget(self.deadline, self.stopping)
        connection.begin(budget)
        wire: tuple[bytes, str] | None = None
        for attempt in (1, 2):
            if self.limit.wait(self.stopping):
                return unsent
            try:
                smtp = connection.get()
                eight_bit = smtp.has_extn("8bitmime")
                if wire is None:
                    wire = batch.wire_bytes(recipient, eight_bit=eight_bit)
                options = ["BODY=8BITMIME"] if eight_bit else []
                smtp.sendmail(
                    batch.sender.addr_spec, [mail_address(recipient.email)], wire[0], options
                )
                return Outcome(recipient.subscriber_id, "sent", wire[1])
            except Stopping:
                return unsent
            except FatalDeliveryError as err:
                self.stopped = err
                return unsent
            except AnswerLost as err:
                connection.reset()
                return Outcome(
                    recipient.subscriber_id,
                    "in_doubt",
                    wire[1] if wire else None,
                    error=f"{self.server.where} took the message but {self._lost(budget, err)}; "
                    "it may have been delivered",
                )
            except smtplib.SMTPRecipientsRefused as err:
                code, reply = next(iter(err.recipients.values()))
                return _refused(recipient, code, reply)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
                return _refused(recipient, err.smtp_code, err.smtp_error)
            except smtplib.SMTPResponseException as err:
                if err.smtp_code != 421 or attempt == 2:  # 421: server closing, reconnect
                    return _refused(recipient, err.smtp_code, err.smtp_error)
                connection.reset()
            except DROPPED as err:
                connection.reset()
                if budget.why == "stop":  # the server discards a message it did not get whole
                    return unsent
                if budget.why == "deadline" or attempt == 2:
                    return Outcome(
                        recipient.subscriber_id,
                        "failed",
                        retry=True,
                        error=f"{self.server.where}: {self._dropped(budget, err)}",
                    )
        raise AssertionError("unreachable")

    def send_notice(self, notice: Notice) -> Outcome:
        """One message on one of the pooled connections, held to the same deadline
        as an edition's; a refusal or a drop is ``failed`` (nobody is recorded for a
        notice, so nothing is in doubt for a later run to settle)."""
        sender = parse_sender(notice.sender)
        data, message_id = notice_message(notice, sender)
        connection = self.connections.get()
        try:
            budget = Budget(self.deadline, self.stopping)
            connection.begin(budget)
            smtp = connection.get()
            smtp.sendmail(sender.addr_spec, [mail_address(notice.to)], data)
            return Outcome(0, "sent", message_id)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as err:
            connection.reset()
            return Outcome(0, "failed", error=f"{self.server.where} refused it: {err}")
        except (Stopping, FatalDeliveryError, AnswerLost, OSError, smtplib.SMTPException) as err:
            connection.reset()
            return Outcome(0, "failed", error=f"{self.server.where}: {err or type(err).__name__}")
        finally:
            self.connections.put(connection)

    def _lost(self, budget: Budget, err: AnswerLost) -> str:
        """Why the reply to a message sent whole never came."""
        if budget.why == "deadline":
            return f"did not reply within smtp.message_deadline_seconds ({self.deadline:g} s)"
        if budget.why == "stop":
            return "had not replied when the send was stopped"
        return f"its reply was lost ({err or 'connection closed'})"

    def _dropped(self, budget: Budget, err: Exception) -> str:
        """Why a message that was not sent whole failed (the server discards it)."""
        if budget.why == "deadline":
            return (
                f"the message was not through within smtp.message_deadline_seconds "
                f"({self.deadline:g} s); not sent"
            )
        return f"connection lost: {err}"

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        while not self.connections.empty():
            self.connections.get().close(self.stopping)


def _refused(recipient: Recipient, code: int, reply: bytes | str) -> Outcome:
    return Outcome(
        recipient.subscriber_id, "failed", error=f"{code} {_text(reply)}", retry=400 <= code < 500
    )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


PROVIDER = SMTPProvider
