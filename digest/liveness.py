"""Who holds a batch, and whether that process still runs.

A batch's owner is recorded as ``host:pid``. On the same host a dead owner is
seen at once (``dead_here``), so an operator's re-run after a crash need not
wait for the lease to run out; an owner on another host is judged by its lease.
"""

from __future__ import annotations

import os
import socket


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
