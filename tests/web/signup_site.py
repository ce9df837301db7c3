"""What the sign-up tests share: a site whose front door is open, the form as a
browser gets it (its token), and the notices the outbox wrote, read as a
person reads them."""

from __future__ import annotations

import email
import re
import time
from dataclasses import dataclass
from email.policy import default
from pathlib import Path

import httpx
from webserver import PUBLIC_URL

SECRET = "web-signup-secret"
TOPICS = ["Climate", "Energy", "Health", "Space"]


def open_door(settings, min_seconds: int = 0) -> None:
    """``settings`` as a live site with the sign-up page on; a form may be posted
    ``min_seconds`` after it was served (0: at once, so a test need not wait)."""
    settings.public_url = PUBLIC_URL
    settings.postal_address = "1 Main Street, Springfield"
    settings.topics = list(TOPICS)
    settings.signup.enabled = True
    settings.signup.min_seconds = min_seconds


def form_token(http: httpx.Client, base: str) -> str:
    """The form token of a freshly served ``/subscribe``, as a browser gets it."""
    page = http.get(f"{base}/subscribe")
    assert page.status_code == 200, page.status_code
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)


def sign_up(http: httpx.Client, base: str, address: str, client: str = "", **fields):
    """One sign-up through the form: served, then posted (from ``client``, as a proxy
    on this machine names it in X-Forwarded-For, when given)."""
    headers = {"X-Forwarded-For": client} if client else {}
    body = {"email": address, "form_token": form_token(http, base), "website": "", **fields}
    return http.post(f"{base}/subscribe", data=body, headers=headers)


@dataclass
class Notice:
    path: Path
    message: email.message.EmailMessage

    @property
    def to(self) -> str:
        return self.message["To"]

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def confirm_link(self) -> str:
        return re.search(r"^(https://\S+/confirm/\S+)\r?$", self.text, re.M).group(1)

    @property
    def preferences_link(self) -> str:
        return re.search(r"^(https://\S+/preferences/\S+)\r?$", self.text, re.M).group(1)


def notices(outbox: Path) -> list[Notice]:
    """Every single message the outbox wrote (confirmations, manage links …), oldest first."""
    return [
        Notice(path, email.message_from_bytes(path.read_bytes(), policy=default))
        for path in sorted((outbox / "notices").glob("*.eml"))
    ]


def wait_for_notices(settings, count: int, seconds: float = 10.0) -> list[Notice]:
    """The outbox's notices once there are ``count``: each is written after its page."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = notices(settings.outbox_dir)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{count} notices expected within {seconds}s")
