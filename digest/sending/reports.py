"""What a send tells its caller: the counts per edition, the run's end, a dry
run's rows, and the progress it reports as it goes. Kept apart from the
dispatcher so the CLI, the scheduler and the failure wording read one shape
without importing the sending loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from digest.models import Edition, LeftOut


class Progress(Protocol):
    def start(self, label: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@dataclass
class EditionReport:
    edition: Edition
    sent: int = 0  # by this run
    failed: int = 0
    skipped: int = 0
    in_doubt: int = 0
    already_sent: int = 0  # by earlier runs
    planned: int = 0  # recipients newly taken into the edition by this run
    pending: int = 0  # left unsent (a stop, the breaker, or a batch another sender holds)
    retryable: int = 0  # of those failed, how many a later try may cure (4xx, a full disk)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    doubts: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)


@dataclass
class SendReport:
    editions: list[EditionReport] = field(default_factory=list)
    seconds: float = 0.0
    aborted: str | None = None  # why the run stopped early
    stopped: bool = False  # asked to stop (a signal) before the work was done
    not_started: int = 0  # recipients of editions a stop kept from starting
    nobody_in: list[str] = field(default_factory=list)  # zones asked for with no subscriber

    def total(self, attr: str) -> int:
        return sum(getattr(e, attr) for e in self.editions)


@dataclass
class DryRunRow:
    edition: Edition
    segment: str
    topics: list[str]
    recipients: int
    sections: int
    articles: int
    left_out: LeftOut | None = None  # what the edition's window left out for age
