"""Opening the store when the database server may not be up yet.

After a reboot `digest schedule` and `digest serve` can start before
PostgreSQL accepts connections. Giving up at once with a configuration error
(exit 2) left the service down for good under systemd, which does not restart
what says its configuration is wrong. A server that did not answer is
transient: the services try again, with back-off, for a bounded time, one log
line per try, and if it is still away they exit 1, which a service manager
restarts. A server that answered no (a wrong password, an unknown database)
stays a configuration error at once: no wait makes it right.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from digest.errors import DatabaseUnreachable
from digest.store.store import Store

BACK_OFF = (1, 2, 4, 8, 15, 30)  # seconds between tries; then every 30 s


def open_when_up(
    url: str,
    wait_seconds: float,
    say: Callable[[str], None],
    stop: threading.Event | None = None,
) -> Store | None:
    """The store, once its server answers; None if ``stop`` was set while waiting.

    Raises ``DatabaseUnreachable`` (saying how long it waited) once
    ``wait_seconds`` have passed without an answer, and ``ConfigError`` at once
    for anything that is not a server away (see ``database.unreachable``).
    """
    stop = stop or threading.Event()
    deadline = time.monotonic() + wait_seconds
    attempt = 0
    while True:
        attempt += 1
        try:
            return Store(url)
        except DatabaseUnreachable as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnreachable(
                    f"{error} (gave up after {attempt} attempt(s) in {wait_seconds:g} s: "
                    "[database] startup_wait_seconds)"
                ) from None
            pause = min(BACK_OFF[min(attempt, len(BACK_OFF)) - 1], left)
            say(f"{error}; attempt {attempt}, next in {round(pause, 1):g} s")
            if stop.wait(pause):
                return None
