"""An SMTP server on 127.0.0.1 that trickles its replies, a byte at a time.

aiosmtpd writes each reply whole, so it cannot show what a slow or hostile
relay does: answer every command, but at one or two bytes a second, so that
no single wait ever reaches the client's socket timeout while a message takes
minutes. This one speaks just enough SMTP (EHLO with 8BITMIME, MAIL, RCPT,
DATA, RSET, NOOP, QUIT) and writes the replies of the commands named in
``slow`` one byte every ``byte_every`` seconds; the others come at once.

``taken`` lists the recipient of every message received whole (its final dot
read): what a real server would have queued, whatever became of its reply.
``started`` counts the messages begun (their MAIL FROM).
"""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"
STAGES = ("greeting", "ehlo", "mail", "rcpt", "data", "dot")


class TrickleSMTP:
    def __init__(
        self,
        slow: tuple[str, ...] = ("mail", "rcpt", "data", "dot"),
        byte_every: float = 0.1,
    ) -> None:
        unknown = set(slow) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}: use {STAGES}")
        self.slow, self.byte_every = set(slow), byte_every
        self.taken: list[str] = []
        self.started = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._closing = threading.Event()
        self.port = 0

    def __enter__(self) -> TrickleSMTP:
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for client in self._clients:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()

    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()  # type: ignore[union-attr]
            except OSError:
                return
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _reply(self, client: socket.socket, stage: str, text: str) -> None:
        data = text.encode() + b"\r\n"
        if stage not in self.slow:
            client.sendall(data)
            return
        for i in range(len(data)):
            if self._closing.wait(self.byte_every):
                return
            client.sendall(data[i : i + 1])

    def _serve(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        recipient = ""
        try:
            self._reply(client, "greeting", "220 trickle.example ESMTP")
            while True:
                line = reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self._reply(client, "ehlo", "250-trickle.example\r\n250 8BITMIME")
                elif verb == b"MAIL":
                    with self._lock:
                        self.started += 1
                    self._reply(client, "mail", "250 OK")
                elif verb == b"RCPT":
                    recipient = line.decode().split(":", 1)[1].split()[0].strip("<>")
                    self._reply(client, "rcpt", "250 OK")
                elif verb == b"DATA":
                    self._reply(client, "data", "354 go ahead")
                    part = b"-"
                    while part not in (b".\r\n", b""):
                        part = reader.readline()
                    if not part:  # cut off before the final dot: nothing to queue
                        return
                    with self._lock:
                        self.taken.append(recipient)
                    self._reply(client, "dot", "250 OK queued")
                elif verb == b"QUIT":
                    self._reply(client, "quit", "221 bye")
                    return
                else:  # RSET, NOOP
                    self._reply(client, "other", "250 OK")
        except OSError:
            return
        finally:
            reader.close()
            client.close()
