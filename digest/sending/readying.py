"""Each edition of a send started and planned, the next while this one is sent.

A send of several editions (one a zone) planned each in turn: on PostgreSQL,
writing a million ledger rows was a tenth of a 24,000-segment send, during
which nothing was sent. Planning is the database's work, done on a
connection of its own, so there the next edition is planned on a second
thread while this one is sent. Not on SQLite: planning holds its one write
lock for seconds, which the send's own commits would wait out.

What is planned ahead and never sent (a stop, an abort) is pending in the
ledger, as an edition planned by a run that crashed: the next run sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest.models import Edition

if TYPE_CHECKING:
    from digest.editions.contents import EditionContent


@dataclass
class Readied:
    """An edition started, with its content, its counts before planning, how many
    recipients planning added, and its counts after."""

    edition: Edition
    content: EditionContent
    before: dict[str, int]
    planned: int
    after: dict[str, int]


class Readying:
    """``get(n)``: the ``n``-th of ``editions`` readied by ``ready``, asked for in order;
    with ``ahead``, the one after it is readied meanwhile on a thread of its own."""

    def __init__(
        self, editions: list[Edition], ready: Callable[[Edition], Readied], ahead: bool
    ) -> None:
        self._editions = editions
        self._ready = ready
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="plan-ahead")
            if ahead and len(editions) > 1
            else None
        )
        self._next: Future[Readied] | None = None

    def get(self, number: int) -> Readied:
        if self._next is not None:
            found, self._next = self._next.result(), None  # its error, if any, is raised here
        else:
            found = self._ready(self._editions[number])
        if self._pool is not None and number + 1 < len(self._editions):
            self._next = self._pool.submit(self._ready, self._editions[number + 1])
        return found

    def close(self) -> None:
        """Wait for a plan under way (seconds at most): the send's end leaves no
        thread writing behind it. Its error, if the edition was never sent, is the
        next run's to meet."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
