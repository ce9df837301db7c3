"""``smtplib`` with a whole deadline per message, a stop it notices, and DATA's
moment of doubt told apart.

``smtp.timeout`` bounds one wait for the server (the socket's timeout), so a
server that trickles its replies a byte a second never trips it: one message
took a hundred seconds, and a batch held a SIGTERM for hours. Here each
message has a ``Budget``: every read and write is given only the time the
message has left (``smtp.message_deadline_seconds``), reads wait in short
slices so that a stop is seen within a quarter of a second, and a message is
cut short at its deadline or at a stop. What that means for the recipient is
the provider's to say, from ``Budget.why`` and whether the message went whole:

- cut before the final dot was sent: the server holds an unfinished message,
  which it discards; nothing was delivered (``why`` says whether a stop or the
  deadline did it);
- cut after it, while waiting for the reply: the server may have queued it, so
  it is in doubt. A stop then still waits ``STOP_GRACE`` seconds for the
  reply, which usually comes at once, rather than doubt a message for nothing.

smtplib reports every broken wait as ``SMTPServerDisconnected``; ``AnswerLost``
is raised instead for the one after the dot.
"""

from __future__ import annotations

import io
import smtplib
import sys
import threading
import time

POLL = 0.25  # seconds a read waits before it looks at the stop again
STOP_GRACE = 5.0  # seconds a stop still waits for the reply to a message sent whole
CHUNK = 64 * 1024  # bytes written at once: a stop is seen between two


class AnswerLost(Exception):
    """The whole message was sent after DATA, and the server's reply never came."""


class Budget:
    """One message's time: its deadline, the send's stop, and what cut it short."""

    def __init__(self, seconds: float, stopping: threading.Event) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.stopping = stopping
        self.sent_whole = False  # the final dot went out: the server may queue it now
        self.why: str | None = None  # "stop" or "deadline", once either cut the message
        self._stop_seen: float | None = None

    def left(self) -> float:
        """Seconds the next socket operation may take; ``TimeoutError`` when none are left."""
        now = time.monotonic()
        end = self.end
        if self.stopping.is_set():
            if not self.sent_whole:
                self.why = "stop"
                raise TimeoutError("the send is stopping")
            self._stop_seen = self._stop_seen or now
            end = min(end, self._stop_seen + STOP_GRACE)
        if now >= end:
            self.why = "deadline" if end == self.end else "stop"
            raise TimeoutError(f"no complete answer within {self.seconds:g} s")
        return end - now


class _Reader(io.RawIOBase):
    """The session's replies, read within its budget (``smtplib`` reads lines from it)."""

    def __init__(self, session: _Deadlined) -> None:
        self.session = session

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self.session._recv_into(buffer)


class _Deadlined:
    """The parts of ``smtplib.SMTP`` that touch the socket, held to a ``Budget``."""

    timeout: float
    sock: object
    file: object

    def __init__(self, *args, budget: Budget | None = None, **kwargs) -> None:
        # Set before smtplib connects (in its __init__): the greeting is read within it too.
        self.budget = budget  # replaced per message; None: smtp.timeout alone
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def _left(self) -> float:
        return min(self.timeout, self.budget.left()) if self.budget else self.timeout

    def _get_socket(self, host, port, timeout):
        return super()._get_socket(host, port, self._left())  # type: ignore[misc]

    def getreply(self):
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_Reader(self))
        return super().getreply()  # type: ignore[misc]

    def _recv_into(self, buffer) -> int:
        """Bytes of the reply as they come, within the budget and ``smtp.timeout`` of silence."""
        silent_until = time.monotonic() + self.timeout
        while True:
            wait = min(self._left(), silent_until - time.monotonic(), POLL)
            if wait <= 0:
                raise TimeoutError("timed out")
            self.sock.settimeout(wait)
            try:
                got = self.sock.recv_into(buffer)
            except TimeoutError:
                continue  # a slice passed in silence: look at the budget and the stop again
            self.sock.settimeout(self.timeout)  # for what smtplib does itself (a TLS handshake)
            return got

    def send(self, s) -> None:
        """``smtplib``'s send, in chunks each given only the time left."""
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        if isinstance(s, str):
            s = s.encode(self.command_encoding)
        sys.audit("smtplib.send", self, s)
        try:
            for start in range(0, len(s), CHUNK):
                self.sock.settimeout(self._left())
                self.sock.sendall(s[start : start + CHUNK])
        except OSError:
            self.close()
            raise smtplib.SMTPServerDisconnected("Server not connected") from None

    def data(self, msg):
        """``smtplib``'s DATA, raising ``AnswerLost`` when the reply to a message sent
        whole never comes (smtplib would say ``SMTPServerDisconnected`` either way)."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # smtplib's private helper, as its own data() does: part of Python, so no pin to set.
        payload = smtplib._quote_periods(msg)
        if payload[-2:] != smtplib.bCRLF:
            payload += smtplib.bCRLF
        self.send(payload + b"." + smtplib.bCRLF)
        if self.budget is not None:
            self.budget.sent_whole = True
        try:
            return self.getreply()
        except smtplib.SMTPServerDisconnected as err:  # also a timeout: getreply wraps it
            raise AnswerLost(str(err)) from None


class SMTP(_Deadlined, smtplib.SMTP):
    pass


class SMTP_SSL(_Deadlined, smtplib.SMTP_SSL):
    pass
