"""Two ``digest serve`` processes on one PostgreSQL database, as behind a load
balancer: a client's sign-ups are counted once across both (its sixth in the
hour is 429 whichever process gets it), and twenty submissions of one address
spread over both mail it once."""

from __future__ import annotations

import os
import re

import httpx
import pytest
from conftest import POSTAL
from signup_site import notices
from test_web_server import start, stop

from digest.store.store import Store

SECRET = "signup-shared-secret"
CONFIG = f"""public_url = "https://news.example.org"
{POSTAL}
[signup]
min_seconds = 0
"""


@pytest.fixture
def two_servers(tmp_path, pg_schema_url):
    url = pg_schema_url()
    Store(url).close()  # created once, before two processes race to create it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=url, DIGEST_SECRET=SECRET, NO_PROXY="127.0.0.1")
    started = []

    def stop_all() -> None:
        """Stopped gracefully: the mail each sent after its pages has gone by then."""
        while started:
            stop(started.pop()[0])

    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            (folder / "digest.toml").write_text(
                f'outbox_dir = "{tmp_path / "outbox"}"\n' + CONFIG, encoding="utf-8"
            )
            started.append(start(folder, env, "--port", "0"))
        yield [base for _, base in started], tmp_path / "outbox", stop_all
    finally:
        stop_all()
        pg_schema_url.drop(url)


def sign_up(http: httpx.Client, base: str, address: str, client: str) -> httpx.Response:
    page = http.get(f"{base}/subscribe")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    return http.post(
        f"{base}/subscribe",
        data={"email": address, "form_token": token},
        headers={"X-Forwarded-For": client},
    )


def test_two_servers_share_a_clients_hourly_limit_and_an_addresss_one_mail(two_servers):
    (a, b), outbox, stop_all = two_servers
    with httpx.Client() as http:
        limited = [
            sign_up(http, (a, b)[i % 2], f"p{i}@example.com", "192.0.2.7").status_code
            for i in range(6)
        ]
        again = [
            sign_up(http, (a, b)[i % 2], "ann@example.com", f"203.0.113.{i}").status_code
            for i in range(20)
        ]
    stop_all()

    assert limited == [200] * 5 + [429]
    assert again == [200] * 20
    sent = sorted(n.to for n in notices(outbox))
    assert sent == ["ann@example.com"] + [f"p{i}@example.com" for i in range(5)]
