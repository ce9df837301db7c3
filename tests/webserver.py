"""The real web side for tests: ``digest serve``'s own uvicorn server on 127.0.0.1,
a free port, in a thread of the test process (so a test can look at the store
while it runs), and the links a real send put in the outbox's .eml files."""

from __future__ import annotations

import email
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.policy import default
from pathlib import Path

from digest.config.settings import Settings
from digest.store.store import Store
from digest.web.server import bind, make_server, url_of

PUBLIC_URL = "https://news.example.org"
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}


@contextmanager
def running(store: Store, settings: Settings, key: bytes) -> Iterator[str]:
    """The server's base URL while the block runs; stopped (gracefully) after it."""
    sock = bind("127.0.0.1", 0)
    server = make_server(store, settings, key)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@dataclass
class Mail:
    path: Path
    message: email.message.EmailMessage

    @property
    def to(self) -> str:
        return self.message["To"].addresses[0].addr_spec

    @property
    def unsubscribe_link(self) -> str:
        return self.message["List-Unsubscribe"].strip("<>")

    @property
    def view_link(self) -> str:
        text = self.message.get_body(("plain",)).get_content()
        return re.search(r"View in your browser:\s+(\S+)", text).group(1)


def outbox_mails(folder: Path) -> dict[str, Mail]:
    """Every .eml under ``folder``, by recipient."""
    found = {}
    for path in sorted(folder.rglob("*.eml")):
        mail = Mail(path, email.message_from_bytes(path.read_bytes(), policy=default))
        found[mail.to] = mail
    return found


def on_server(link: str, base: str) -> str:
    """A link from an email (under ``PUBLIC_URL``) pointed at the test server instead."""
    assert link.startswith(PUBLIC_URL + "/"), link
    return base + link[len(PUBLIC_URL) :]
