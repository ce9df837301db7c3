"""What a forged request cannot make the web side do: steer a redirect to another
host with its ``Host`` header. On the real server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx
import pytest
from conftest import subscriber
from webserver import NO_PROXY, PUBLIC_URL, running

from digest.rendering.links import make_token

SECRET = "web-security-secret"
FORGED = "evil.example"


@pytest.fixture
def server(sqlite_store, settings, monkeypatch):
    """The server, with public_url under a path (``/digest``) as behind a proxy."""
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    settings.public_url = PUBLIC_URL + "/digest"
    store = sqlite_store
    store.save_subscribers([subscriber("ann@example.com", ["Climate"])])
    ann = store.find_subscriber("ann@example.com")
    with running(store, settings, SECRET.encode()) as base:
        yield store, base, make_token(ann.id, ann.email, SECRET.encode())


def test_a_trailing_slash_redirects_relative_never_to_the_host_the_request_names(server):
    store, base, token = server
    for prefix in ("", "/digest"):
        asked = f"{base}{prefix}/unsubscribe/{token}/"

        answer = httpx.get(asked, headers={"Host": FORGED})

        assert answer.status_code == 307
        target = answer.headers["location"]
        assert FORGED not in target and not target.startswith(("/", "http"))
        assert urljoin(asked, target) == asked[:-1]  # the same page, without the slash
        page = httpx.get(urljoin(asked, target), headers={"Host": FORGED})
        assert page.status_code == 200 and "Unsubscribe a•••@e•••.com" in page.text
    assert [s.email for s in store.list_subscribers()] == ["ann@example.com"]


@pytest.mark.parametrize(
    "path",
    [
        "/archive/",
        "/healthz/?x=1",
        "/static/web.css/",
        "/preferences/{token}/",
        "/unsubscribe/{token}//",
        "/unsubscribe/{token}/./",
        "//evil.example/",
        "/unsubscribe/..%2F..%2Fevil.example/",
        "/nowhere/",
        "/digest/archive/",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_no_answer_names_a_forged_host(server, path, method):
    _store, base, token = server
    asked = base + path.format(token=token)

    answer = httpx.request(method, asked, headers={"Host": FORGED, "X-Forwarded-Host": FORGED})

    target = answer.headers.get("location")
    assert FORGED not in (target or "")
    if target is not None:
        assert answer.status_code == 307 and target.startswith("../")
        assert urljoin(asked, target).startswith(base + "/")
