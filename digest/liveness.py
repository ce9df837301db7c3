"""Who holds a batch, and whether that process still runs.

A batch's owner is recorded as ``host:pid``. On the same host a dead owner is
seen at once (``dead_here``), so an operator's re-run after a crash need not
wait for the lease to run out; an owner on another host is judged by its lease.
Within this process, ``IN_HAND`` says which batches a live thread still works on.
"""

from __future__ import annotations

import os
import socket
import threading


def worker_name() -> str:
    """This process, as recorded on the batches it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_here(owner: str | None, host: str) -> bool:
    owner_host, _, pid = (owner or "").rpartition(":")
    if owner_host != host or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not pid_alive(int(pid))


class InHand:
    """The batches this process's threads are working on now, by database and batch id.

    A batch's owner is the process (``host:pid``), so after a database outage
    mid-send the claims this process left behind would look like a live
    sender's and be waited out for the whole lease. A batch claimed here that
    no live thread of ours is working on can only be one we gave up on, and
    ``sending.ledger`` takes it back at once; one still in hand here is
    respected like any other live owner's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int], threading.Thread] = {}

    def take(self, database: str, batch_id: int) -> None:
        with self._lock:
            self._held[(database, batch_id)] = threading.current_thread()

    def let_go(self, database: str) -> None:
        """Every batch of ``database`` the calling thread holds: it stopped working on them."""
        me = threading.current_thread()
        with self._lock:
            for key in [k for k, t in self._held.items() if k[0] == database and t is me]:
                del self._held[key]

    def held(self, database: str, batch_id: int) -> bool:
        with self._lock:
            thread = self._held.get((database, batch_id))
        return thread is not None and thread.is_alive()


IN_HAND = InHand()  # this process's, shared by every sender in it
