"""Stopping cleanly on SIGINT, SIGTERM or SIGHUP: finish what is with the provider, then exit.

The first signal sets an event that the dispatcher checks before it hands
over the next batch; the batch already with the provider is waited for and
its outcome recorded, so nothing sent is forgotten and nothing is sent twice.
A second signal exits at once: the batch in flight stays ``handed`` and the
next run records its recipients as in doubt (see ``recovery.recover``).

SIGHUP is what a process started from an SSH session gets when the session
closes: its default action kills the process mid-batch, silently, leaving that
batch in doubt, so it is a request to stop like the other two.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class GracefulStop:
    """Install the two-step handlers for the duration of a ``with`` block.

    Messages go straight to file descriptor 2: a signal handler may run while
    the main thread is half-way through printing, and ``os.write`` cannot be
    caught in the middle of itself the way a buffered stream can. ``render``
    turns a message into the line written (``digest schedule --log-format json``
    writes it as a JSON object, like the rest of its log).
    """

    def __init__(self, first: str, second: str, render: Callable[[str], str] | None = None) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._messages = (first, second)
        self._render = render or (lambda text: text)
        self._previous: dict[int, object] = {}

    @property
    def name(self) -> str:
        return NAMES.get(self.signum, str(self.signum)) if self.signum else ""

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report a process a signal ended."""
        return 128 + (self.signum or 0)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            self._say(signum, self._messages[1])
            os._exit(128 + signum)
        self.signum = signum
        self.event.set()
        self._say(signum, self._messages[0])

    def _say(self, signum: int, message: str) -> None:
        line = self._render(f"{NAMES.get(signum, signum)}: {message}") + "\n"
        try:
            os.write(2, line.encode())
        except OSError:
            _leave_the_terminal()


def _leave_the_terminal() -> None:
    """The terminal hung up (a closed SSH session: every write fails with EIO): what
    would still be written to it (the report, the last line) goes to /dev/null, so
    the stop ends with its own exit code rather than a failed print."""
    # isatty() is False on a terminal that hung up: stdout goes too if it is the
    # same device as stderr (a file or a pipe it was redirected to is kept).
    with contextlib.suppress(OSError):
        terminal = os.fstat(2).st_rdev
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                found = os.fstat(fd)
                if fd == 2 or (stat.S_ISCHR(found.st_mode) and found.st_rdev == terminal):
                    os.dup2(devnull, fd)
        os.close(devnull)
