"""The default provider: one ``.eml`` file per recipient, exactly what SMTP would carry.

Files go to ``<outbox_dir>/<edition>/<subscriber id>-<address>.eml``, written
to a temporary name, flushed and renamed, so a crash never leaves half a
message. Because the name is fixed per edition and recipient, a batch that is
sent again after a crash finds its files and does not write them twice.
"""

from __future__ import annotations

import os
import re
from email import message_from_binary_file
from email.policy import default
from pathlib import Path

from digest.clock import utcnow
from digest.config.settings import Settings
from digest.delivery.base import BaseProvider, Notice, Outgoing, parse_sender
from digest.delivery.notices import notice_message
from digest.errors import ConfigError, StorageFull
from digest.liveness import pid_alive
from digest.models import Outcome, Recipient


class OutboxProvider(BaseProvider):
    name = "outbox"
    mails_people = False  # files on this machine: nobody receives them
    max_batch = 500
    resendable = True  # a copy already written is found by its fixed file name

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ready: set[Path] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboxProvider:
        return cls(settings.outbox_dir)

    def folder(self, batch: Outgoing) -> Path:
        if batch.test:
            return self.directory / "test"
        return self.directory / batch.edition.slug

    def path_for(self, batch: Outgoing, recipient: Recipient) -> Path:
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient.email)[:200]
        if batch.test:
            return self.folder(batch) / f"{utcnow():%Y%m%dT%H%M%S%f}-{safe}.eml"
        return self.folder(batch) / f"{recipient.subscriber_id}-{safe}.eml"

    def prepare(self, batch: Outgoing) -> Outgoing:
        """The edition's folder, made before the batch is handed over: a folder that
        cannot be made is the operator's to fix, not a delivery that might have begun.
        A full disk is not: ``deliver`` tries again and fails the batch, retryable."""
        error = self._make(self.folder(batch))
        if error is not None and not StorageFull.means(error):
            raise ConfigError(
                f"outbox_dir: cannot make the folder {self.folder(batch)}: "
                f"{error.strerror or error}"
            )
        return batch

    def deliver(self, batch: Outgoing) -> list[Outcome]:
        error = self._make(self.folder(batch))
        if error is not None:
            reason = self._reason(error, self.folder(batch))
            return [_failed(r, reason, StorageFull.means(error)) for r in batch.recipients]
        outcomes = []
        for recipient in batch.recipients:
            path = self.path_for(batch, recipient)
            try:
                if path.exists():  # written before a crash: already delivered
                    outcomes.append(Outcome(recipient.subscriber_id, "sent", _message_id(path)))
                    continue
                data, message_id = batch.wire_bytes(recipient)
                _write_atomically(path, data)
                outcomes.append(Outcome(recipient.subscriber_id, "sent", message_id))
            except OSError as err:
                outcomes.append(_failed(recipient, self._reason(err, path), StorageFull.means(err)))
        return outcomes

    def send_notice(self, notice: Notice) -> Outcome:
        """``<outbox_dir>/notices/<time>-<kind>-<address>.eml``: a new file each time
        (a notice is sent once, when asked; there is no batch to resend)."""
        folder = self.directory / "notices"
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", notice.to)[:200]
        path = folder / f"{utcnow():%Y%m%dT%H%M%S%f}-{notice.kind}-{safe}.eml"
        error = self._make(folder)
        if error is not None:
            return Outcome(0, "failed", error=self._reason(error, folder))
        data, message_id = notice_message(notice, parse_sender(notice.sender))
        try:
            _write_atomically(path, data)
        except OSError as err:
            return Outcome(0, "failed", error=self._reason(err, path))
        return Outcome(0, "sent", message_id)

    def _make(self, folder: Path) -> OSError | None:
        """Make ``folder`` once per run (clearing what dead writers left); the error, if any."""
        if folder in self._ready:
            return None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            return err
        _remove_stale_temporaries(folder)
        self._ready.add(folder)
        return None

    def _reason(self, error: OSError, where: Path) -> str:
        """A full disk, in the same words for every recipient (one line for the
        operator, however many it stopped); any other failure, naming the file."""
        if StorageFull.means(error):
            return str(StorageFull(self.directory, error))
        return f"{where}: {error.strerror or error}"


def _failed(recipient: Recipient, reason: str, retry: bool) -> Outcome:
    return Outcome(recipient.subscriber_id, "failed", error=reason, retry=retry)


def _message_id(path: Path) -> str | None:
    with path.open("rb") as handle:
        return message_from_binary_file(handle, policy=default)["Message-ID"]


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _remove_stale_temporaries(folder: Path) -> None:
    """Half-written files of a process killed mid-write (``.<name>.<pid>.tmp``)."""
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.suffixes[-2].lstrip(".") if len(tmp.suffixes) >= 2 else ""
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


PROVIDER = OutboxProvider
