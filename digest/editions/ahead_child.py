"""The render-ahead child: renders an edition's segments in order, each sent as
soon as the parent has given it a credit (``editions/ahead.py`` is the parent's side).

Run as ``python -m digest.editions.ahead_child FD`` on one end of a socket pair,
for a whole send: each edition's content comes as it begins, and goes when the
parent ends it, so only the first edition waits for the child to start.
Its own imports are a few standard modules: unpickling the edition's content
brings in what rendering needs and no more, so the child holds the renderer's
memory, not the send's (no database driver, no feed parsers, no CLI).

It exits, quietly, when told to stop or when the pipe closes, which is also
what the parent's death looks like from here; and without the interpreter's
teardown of every module and object (0.2-0.4 s the parent's ``close`` would
wait for), there being nothing of its own to clean up. It runs in a session of
its own, so a Ctrl-C in a terminal, which reaches the foreground process group,
is the parent's alone to act on; SIGINT is ignored here as well, should it
come some other way.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import warnings
from multiprocessing.connection import Connection, wait
from typing import Any


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    with contextlib.suppress(EOFError, OSError):  # the parent closed the pipe or died
        _serve(conn)
    os._exit(0)


def _serve(conn: Connection) -> None:
    """Each edition the parent gives, in turn, until it says stop."""
    while True:
        message = pickle.loads(conn.recv_bytes())
        if message[0] == "stop":
            return
        if message[0] != "edition":
            continue  # a credit sent before the last edition ended reached it after
        _, content, order, credit = message
        conn.send(("ready",))
        if not _render_in_order(conn, content, order, credit):
            return
        del content, message  # before the next edition's arrives, not while


def _render_in_order(conn: Connection, content: Any, order: list[str], credit: int) -> bool:
    """Render ``order``'s segments until every one is sent or the parent ends the
    edition (True: then ready for the next) or says stop (False)."""
    position = 0
    while True:
        # What the parent said since: read at once with a credit left and a segment
        # to render, waited for without.
        idle = credit <= 0 or position >= len(order)
        while wait([conn], None if idle else 0):
            kind, value = conn.recv()
            if kind == "stop":
                return False
            if kind == "end":
                conn.send(("ended", None))
                return True
            if kind == "credit":
                credit += value
            elif kind == "from":
                position = max(position, value)
            idle = credit <= 0 or position >= len(order)
        conn.send_bytes(render(content, position, order[position]))
        credit -= 1
        position += 1
        if position == len(order):
            conn.send(("done", None))


def render(content: Any, index: int, segment: str) -> bytes:
    """The message for one segment: its render and the warnings it gave, or "failed"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # each one is the parent's to filter, as its own
        try:
            made = content.rendered(segment)
            content.forget(segment)  # sent once, never asked for again here
            said = [(str(w.message), w.category) for w in caught]
            return pickle.dumps(
                ("rendered", index, made.subject, made.html, made.text, said),
                pickle.HIGHEST_PROTOCOL,
            )
        except Exception:  # the parent renders it again, and raises the real error
            return pickle.dumps(("failed", index), pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    main(int(sys.argv[1]))
