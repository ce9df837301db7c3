"""Segments rendered ahead, in a second process, while the send takes them.

A send is one process, and its threads share one interpreter lock: at 24,000
segments, rendering each segment's email (``EditionContent.rendered``) was
about a quarter of its CPU, done on the same core as the ledger, the provider's
requests and the recording of outcomes. But a segment's render is a pure
function of the edition's content, built before the first batch: a second
process can render the segments in the order the send will take them, and the
send only takes finished renders (``RenderAhead.rendered``).

The child is a new interpreter, never a fork (the scheduler runs sends on
threads, and a fork copies none of them but all their locks), started with
``subprocess`` rather than ``multiprocessing`` (whose resource tracker was a
third process, 13 MB, for nothing), and never opens the database:
the edition's content comes pickled over its pipe (``EditionContent.detached``),
with the parent renderer's placeholders, so a render made there is byte for
byte the one made here and the parent's sender fills it. It renders at most
``depth`` segments more than the parent has taken (each render taken or dropped
gives it back one credit), so memory stays flat however many segments there are.
One child serves a whole send, edition after edition (``begin``, ``end``): its
start, 0.3-1 s, is paid once. Its side is ``ahead_child.py``, which imports
only what rendering needs (60 MB against 87 with digest's every module).

Nothing here is needed for a correct send: whatever the child did not render
(not yet started, skipped, failed, died, stuck), the parent renders itself, and
a render that failed there is rendered here again, to raise its real error. A
size-guard warning given in the child is given again in the parent when its
render is taken, so the CLI says what it said before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from digest.editions.contents import EditionContent, split_segment
from digest.rendering.renderer import Rendered

# Internal on purpose: neither a setting nor the environment turns it on or off.
# A send renders the same bytes either way; this only says where.
ENABLED = True
# An edition's segments. The child takes 0.3-1 s to start (imports, mostly), while
# the send renders the first hundred or two itself: below, little is left to take.
MIN_SEGMENTS = 1000
DEPTH = 16  # renders the child may be ahead by: 16 of 60-100 KB, whatever the send's size
# Renders kept once taken: a segment's batches are claimed one after another, so
# only the last few are asked for again (each render is 100-200 KB in memory).
TAKEN_KEPT = 4
WAIT_SECONDS = 15.0  # far longer than any one render: a child this slow is stuck
JOIN_SECONDS = 2.0
_FAILED = object()  # the child's render of a segment raised: render it here, for the error


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class RenderAhead:
    """Renders of an edition's segments, made ahead in a second process.

    ``begin(content, segments)``; then ``rendered(segment)`` as ``content.rendered``
    would; then ``end()``, and ``begin`` again for the next edition: one child
    serves a whole send, so only the first edition waits for it to start.
    ``close()`` when the send is over (or use it as a context manager);
    ``start(content, segments)`` is a new one begun on one edition. One thread
    uses it. ``taken`` and ``rendered_here`` count the renders that came from the
    child and those made in this process, over every edition; ``stopped`` says
    why the child no longer renders this edition ("" while it does; "done: …"
    once it sent every segment).
    """

    def __init__(self, depth: int = DEPTH) -> None:
        self.depth = depth
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._arrived: Any = None
        self._sending: threading.Thread | None = None
        self._gone = ""  # why no edition can be rendered there any more: the child is no more
        self._closed = False
        self.taken = 0
        self.rendered_here = 0
        self._edition(None, ())

    def _edition(self, content: EditionContent | None, segments: Iterable[str]) -> None:
        """This edition's state, none of the last one's."""
        self.content: Any = content
        self._order = list(dict.fromkeys(segments))
        self._index = {segment: n for n, segment in enumerate(self._order)}
        self._sent_names: dict[frozenset[str], list[str]] = {}
        self._begun = content is not None
        self._ready = False  # the child has its payload: the pipe is free to speak on
        self._received = -1  # the child's position: the last index it sent
        self._furthest = -1  # the furthest index asked for
        self._floor = 0  # renders of indices below, the parent has passed: dropped as they come
        self._served: set[int] = set()
        self._waiting: dict[int, Any] = {}  # index -> (subject, html, text, warnings) or _FAILED
        self._owed = 0  # credits to send back
        self._taken: dict[str, Rendered] = {}
        self.stopped = self._gone

    @staticmethod
    def worth_it(segments: int, *, force: bool = False) -> bool:
        """Whether an edition of ``segments`` still to send should be rendered ahead:
        enough of them to pay for the child's start, and a second core for it to
        run on (tests: ``force``)."""
        return force or (ENABLED and segments >= MIN_SEGMENTS and _cores() >= 2)

    @classmethod
    def start(
        cls, content: EditionContent, segments: Iterable[str], depth: int = DEPTH
    ) -> RenderAhead:
        """A new one, rendering ``segments`` of ``content`` (``begin``)."""
        ahead = cls(depth)
        ahead.begin(content, segments)
        return ahead

    def begin(self, content: EditionContent, segments: Iterable[str]) -> None:
        """Render ``segments`` (in the order the send will most likely take them)
        in the child, started now if this is its first edition. ``content`` must
        have planned them (``segment_of``): the topics as subscribers spelt them
        go with it. If the child cannot render, every render is made here
        (``stopped`` says why)."""
        if self._begun:
            self.end()
        self._edition(content, segments)
        if self.stopped:
            return
        detached = content.detached()
        self._sent_names = detached._topic_names
        # Pickled here, not on the thread that writes it: the parent goes on
        # rendering with these objects meanwhile.
        payload = pickle.dumps(
            ("edition", detached, self._order, self.depth), pickle.HIGHEST_PROTOCOL
        )
        if self._process is None:
            try:
                self._launch()
            except Exception as err:  # a send never fails for want of a helper
                self._stop(f"could not start: {type(err).__name__}: {err}", gone=True)
                return
        # Written by a thread: the child reads it only once Python has started there,
        # and the parent need not wait for that.
        self._sending = threading.Thread(
            target=self._send_payload, args=(payload,), name="render-ahead-payload", daemon=True
        )
        self._sending.start()

    def _launch(self) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            # A session of its own: a Ctrl-C in the terminal reaches the foreground
            # process group, and stopping the send is the parent's to decide.
            self._process = subprocess.Popen(
                [sys.executable, "-m", "digest.editions.ahead_child", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                # Quiet: whatever goes wrong there, the send renders for itself, and
                # a render that failed there raises its real error here.
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
            self._conn = Connection(ours.detach())
        self._arrived = select.poll()  # cheaper than ``Connection.poll``, asked per segment
        self._arrived.register(self._conn.fileno(), select.POLLIN)

    def _send_payload(self, payload: bytes) -> None:
        assert self._conn is not None
        with contextlib.suppress(OSError):  # the child is gone: a wait for it will say so
            self._conn.send_bytes(payload)

    @contextlib.contextmanager
    def rendering(self, content: EditionContent, segments: Iterable[str]) -> Iterator[RenderAhead]:
        """``begin``, then ``end`` however the block ends."""
        self.begin(content, segments)
        try:
            yield self
        finally:
            self.end()

    def end(self) -> None:
        """This edition is over: the child drops it, and whatever it still sends of it
        is read and dropped here, so that the next edition starts clean."""
        if not self._begun:
            return
        self._begun = False
        if self._gone or self._conn is None:
            return
        if self._sending is not None:
            self._sending.join(WAIT_SECONDS)  # the only other writer on the pipe
            if self._sending.is_alive():
                self._stop("it did not take its edition", gone=True)
                return
        self._send(("end", None))
        deadline = time.monotonic() + WAIT_SECONDS
        while not self._gone:
            if not wait([self._conn], max(deadline - time.monotonic(), 0)):
                self._stop(f"it did not end its edition in {WAIT_SECONDS:g} s", gone=True)
            elif self._receive() == "ended":
                return

    def started(self, timeout: float = 0) -> bool:
        """Whether the child has its payload and renders, waiting up to ``timeout``
        seconds for it to. Until it does, renders are made here, not waited for."""
        deadline = time.monotonic() + timeout
        while not self._ready and not self.stopped and self._process is not None:
            left = max(deadline - time.monotonic(), 0)
            if wait([self._conn], left):
                self._receive()  # a message, or the pipe closed: the child is gone
            else:
                break
        return self._ready and not self.stopped

    @property
    def pid(self) -> int | None:
        """The child's process id (None if none was started)."""
        return None if self._process is None else self._process.pid

    def rendered(self, segment: str) -> Rendered:
        """``segment``'s render, byte for byte ``content.rendered(segment)``: the
        child's if it has arrived or is the next to (then waited for), else made here."""
        kept = self._taken.get(segment)
        if kept is not None:
            return kept
        index = self._index.get(segment)
        if index is None or self._closed or not self._same_names(segment):
            return self._here(segment)
        self._take_arrived()
        self._furthest = max(self._furthest, index)
        found = self._waiting.pop(index, None)
        if found is None and self._ready and not self.stopped and index > self._received:
            found = self._wait_for(index)
        self._served.add(index)  # a render of it still to come is dropped as it comes
        if found is None:
            return self._here(segment)
        self._give_back(1)
        if found is _FAILED:
            return self._here(segment)  # raises what the child's render raised, here
        subject, html, text, said = found
        for message, category in said:
            warnings.warn(message, category, stacklevel=2)
        self.taken += 1
        made = self._taken[segment] = Rendered(subject, html, text)
        if len(self._taken) > TAKEN_KEPT:
            del self._taken[next(iter(self._taken))]
        return made

    def _here(self, segment: str) -> Rendered:
        self.rendered_here += 1
        return self.content.rendered(segment)

    def _same_names(self, segment: str) -> bool:
        """Whether the child has the topics' names the parent has now: a segment
        planned after the start (``segment_of``) was not sent to it."""
        keys = split_segment(segment)[0]
        return self.content._topic_names.get(keys) is self._sent_names.get(keys)

    def _take_arrived(self) -> None:
        """Read whatever the child has sent, without waiting."""
        while not self.stopped and self._conn is not None and self._arrived.poll(0):
            self._receive()

    def _receive(self) -> str:
        """Read one message from the child and act on it (only its kind, once the
        edition has ended: what it still sends of that edition is dropped)."""
        assert self._conn is not None
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            self._stop("it is gone (its pipe closed)", gone=True)
            return "gone"
        kind = message[0]
        if not self._begun or kind == "ended":
            return kind
        if kind == "ready":
            self._ready = True
            if self._furthest >= 0:  # rendered here while it started: skip those
                self._send(("from", self._furthest + 1))
            return kind
        if kind == "done":
            self._stop("done: it sent every segment")
            return kind
        index = message[1]
        self._received = index
        if index in self._served or index < self._floor:
            self._give_back(1)  # rendered here already, or passed
        else:
            self._waiting[index] = _FAILED if kind == "failed" else message[2:]
        return kind

    def _wait_for(self, index: int) -> Any:
        """The child's render of ``index``, not yet sent: wait for it, or None."""
        assert self._conn is not None and self._process is not None
        # Whatever it sent before ``index`` the parent has passed: dropped, those
        # still on their way too, so the child has the credit to go on (it renders
        # in order, and may have spent every credit on them).
        self._floor = index
        for passed in [n for n in self._waiting if n < index]:
            del self._waiting[passed]
            self._give_back(1)
        if index > self._received + 1:
            self._send(("from", index))
        self._flush()
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.stopped and self._received < index:
            left = deadline - time.monotonic()
            if wait([self._conn], max(left, 0)):
                self._receive()  # a message, or the pipe closed: the child is gone
                self._flush()
            else:
                self._stop(f"no render in {WAIT_SECONDS:g} s", gone=True)
        return self._waiting.pop(index, None)

    def _give_back(self, credits: int) -> None:
        self._owed += credits
        if self._owed >= max(1, self.depth // 4):
            self._flush()

    def _flush(self) -> None:
        if self._owed:
            self._send(("credit", self._owed))
            self._owed = 0

    def _send(self, message: tuple) -> None:
        if self._gone or self._conn is None:
            return
        try:
            self._conn.send(message)
        except OSError:
            self._stop("it is gone (its pipe closed)", gone=True)

    def _stop(self, why: str, gone: bool = False) -> None:
        """No more renders from the child for this edition (``gone``: for any edition,
        and a child still there is killed): everything not yet arrived is made here."""
        if not self.stopped:
            self.stopped = why
        if gone and not self._gone:
            self._gone = self.stopped = why
            if self._process is not None and not self._closed:
                self._process.kill()

    def close(self) -> None:
        """Stop the child and wait for it to go (terminated if it does not, killed
        if that does not do). Renders asked for afterwards are made here. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._gone = self.stopped = self.stopped or "closed"
        self._waiting.clear()
        process, conn, sending = self._process, self._conn, self._sending
        if process is not None and conn is not None:
            if sending is not None and not sending.is_alive():
                with contextlib.suppress(OSError):
                    conn.send(("stop", None))
                conn.close()  # and a child blocked writing to a full pipe gets EPIPE
            else:
                process.terminate()  # still reading its payload: nothing to say to it yet
            _wait(process)
            if sending is not None:
                sending.join()  # the child is gone: the payload's write is over
        if conn is not None:
            conn.close()

    def __enter__(self) -> RenderAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait(process: subprocess.Popen) -> None:
    """Wait for ``process`` to exit: terminated if it does not, killed if that does not do."""
    for end in (None, process.terminate, process.kill):
        if end is not None:
            end()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(JOIN_SECONDS if end is not process.kill else None)
            return
