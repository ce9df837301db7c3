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
from digest.delivery.base import BaseProvider, Outgoing
from digest.errors import ConfigError, FatalDeliveryError
from digest.models import Outcome, Recipient
from digest.validate import check_host, mail_address

DROPPED = (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout, TimeoutError)


class AnswerLost(Exception):
    """The whole message was sent after DATA, and the server's reply never came."""


class _DataInDoubt:
    """``smtplib``'s DATA, with the one moment that matters told apart.

    A failure before the terminating ``.`` has been sent means the server holds
    an unfinished message, which it discards; a failure while waiting for its
    reply afterwards means it may have queued the message. smtplib reports
    both as ``SMTPServerDisconnected``; this raises ``AnswerLost`` for the second.
    """

    def data(self, msg):
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # smtplib's private helper, as its own data() does: part of Python, so no pin to set.
        payload = smtplib._quote_periods(msg)
        if payload[-2:] != smtplib.bCRLF:
            payload += smtplib.bCRLF
        self.send(payload + b"." + smtplib.bCRLF)
        try:
            return self.getreply()
        except smtplib.SMTPServerDisconnected as err:  # also a timeout: getreply wraps it
            raise AnswerLost(str(err)) from None


class _SMTP(_DataInDoubt, smtplib.SMTP):
    pass


class _SMTP_SSL(_DataInDoubt, smtplib.SMTP_SSL):
    pass


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

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class Connection:
    """One SMTP session, opened on first use and again after a drop."""

    def __init__(self, server: Server, settings: Settings) -> None:
        self.server = server
        self.options = settings.smtp
        self.smtp: smtplib.SMTP | None = None

    def get(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = self._open()
        return self.smtp

    def _open(self) -> smtplib.SMTP:
        server, timeout = self.server, self.options.timeout
        context = ssl.create_default_context()
        try:
            if server.implicit_tls:
                smtp = _SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
            else:
                smtp = _SMTP(server.host, server.port, timeout=timeout)
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
            raise FatalDeliveryError(
                f"cannot connect to SMTP server {server.where}: {err}"
            ) from None
        return smtp

    def reset(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
        self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
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
        if self.stopped is not None:
            return Outcome(recipient.subscriber_id, "unsent")
        wire: tuple[bytes, str] | None = None
        for attempt in (1, 2):
            self.limit.wait()
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
            except FatalDeliveryError as err:
                self.stopped = err
                return Outcome(recipient.subscriber_id, "unsent")
            except AnswerLost as err:
                connection.reset()
                return Outcome(
                    recipient.subscriber_id,
                    "in_doubt",
                    wire[1] if wire else None,
                    error=f"{self.server.where} took the message but its reply was lost "
                    f"({err or 'connection closed'}); it may have been delivered",
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
                if attempt == 2:
                    return Outcome(
                        recipient.subscriber_id,
                        "failed",
                        retry=True,
                        error=f"connection to {self.server.where} lost: {err}",
                    )
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        while not self.connections.empty():
            self.connections.get().close()


def _refused(recipient: Recipient, code: int, reply: bytes | str) -> Outcome:
    return Outcome(
        recipient.subscriber_id, "failed", error=f"{code} {_text(reply)}", retry=400 <= code < 500
    )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


PROVIDER = SMTPProvider
