"""One family of runtime errors, and configuration errors kept apart from it.

Like django-anymail, ``ConfigError`` is deliberately *not* a ``DigestError``:
code that tolerates runtime failures (a bad feed, one refused recipient) must
never swallow a misconfiguration by accident. The CLI turns ``ConfigError``
into exit 2 and ``DigestError`` into a one-line message.
"""

from __future__ import annotations

import errno
from pathlib import Path

from digest.validate import hide_passwords


class ConfigError(Exception):
    """Bad configuration or usage: the operator must fix something before retrying."""


class DigestError(Exception):
    """Root of the expected runtime failures."""


class DatabaseUnreachable(DigestError):
    """The database server did not answer (refused, timed out, still starting up).

    Not a ``ConfigError``: the same settings work once the server is back, so
    ``digest schedule`` and ``digest serve`` wait for it at start, and a service
    manager restarts a process that gave up (exit 1, not 2).
    """


class InputError(DigestError):
    """One input (file, line, feed, row) could not be used; the rest carry on.

    A feed URL's password never reaches the message, however the URL got into
    it (the name of the input, an error quoting a malformed URL).
    """

    def __init__(self, where: str, reason: str) -> None:
        where, reason = hide_passwords(where), hide_passwords(reason)
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class StillUnsubscribed(DigestError):
    """Adding someone who unsubscribed: refused unless the caller says to resubscribe them.

    An unsubscribe is the person's own word; nothing signs them up again by
    accident (an old list imported, an operator's slip).
    """

    def __init__(self, email: str, when) -> None:
        super().__init__(f"{email} unsubscribed on {when:%Y-%m-%d %H:%M} UTC")
        self.email = email
        self.when = when


class StillSuppressed(DigestError):
    """Adding someone whose address bounced, was dropped or complained: refused unless
    the caller says to lift the suppression.

    The provider will not deliver to the address either (it keeps a suppression
    list of its own), and mailing someone who complained harms every other
    recipient's delivery.
    """

    def __init__(self, email: str, when, reason: str, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(f"{email}: {reason} on {when:%Y-%m-%d %H:%M} UTC{why}")
        self.email = email
        self.when = when
        self.reason = reason


class DeliveryError(DigestError):
    """A provider refused or failed a message or a batch.

    ``retry`` says whether sending the same thing again later may succeed
    (a 4xx SMTP reply, a 429 or 5xx from an API) or not (a 5xx SMTP reply,
    an API 400).
    """

    def __init__(self, message: str, *, retry: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.status = status


class DeliveryInDoubt(DeliveryError):
    """The request reached the provider but its answer never came back.

    The provider may have accepted it (a read timeout, a connection lost after
    the SMTP ``DATA`` was sent): its recipients are recorded ``in_doubt`` and
    are not sent again unless the operator asks for it.
    """


class FatalDeliveryError(DeliveryError):
    """Nothing more can be sent in this run (rejected credentials, provider unreachable).

    ``outcomes`` holds what the provider did deliver of the batch before it
    had to stop, so those recipients are recorded and never sent again.
    """

    outcomes: list = []  # noqa: RUF012  (replaced per instance when set)


class StorageFull(DeliveryError):
    """The disk (or the quota) that the outbox writes to is full: a copy was not written.

    Retryable: nothing was delivered, and the same write works once space is
    freed. Every recipient it stops gets the same reason, ``str`` of this one
    (naming ``outbox_dir``, never the file), so that the sending side says it
    once, with a count (``failures.named_lines`` groups by reason).
    """

    ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
    PREFIX = "outbox full: "

    def __init__(self, directory: Path, error: OSError) -> None:
        reason = error.strerror or type(error).__name__
        super().__init__(
            f"{self.PREFIX}cannot write to {directory}: {reason}; free space, then send again",
            retry=True,
        )

    @classmethod
    def means(cls, error: OSError) -> bool:
        """Whether ``error`` is a full disk or quota (rather than a folder that is wrong)."""
        return error.errno in cls.ERRNOS
