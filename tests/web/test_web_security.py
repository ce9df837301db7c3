"""What a forged request cannot make the web side do: steer a redirect to another
host with its ``Host`` header, or pass one version's token off as another's; and
old links that still work. On the real server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx
import pytest
from conftest import DATA, subscriber
from webserver import NO_PROXY, PUBLIC_URL, on_server, outbox_mails, running

from digest.rendering.links import make_token, make_v1_token

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


def test_a_version_2_link_mailed_before_version_3_still_unsubscribes_but_not_as_version_1(
    sqlite_store, settings, monkeypatch
):
    """``v2-before-v3.eml`` was written by digest before version 3 tokens existed
    (tests/data/web/README.md): its link keeps working; its MAC moved into a
    version 1 link for the address ``2.1.v2.reader@example.com`` names nobody."""
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    key = b"v2-fixture-secret"
    mail = outbox_mails(DATA / "web")["v2.reader@example.com"]
    token = mail.unsubscribe_link.rsplit("/", 1)[1]
    assert token.startswith("2.1.")
    twin = "2.1.v2.reader@example.com"  # where a mailbox ignores dots: "21v2reader"
    moved = make_v1_token(twin, key).split(".")[0] + "." + token.rsplit(".", 1)[1]
    sqlite_store.save_subscribers([subscriber(mail.to)])
    with running(sqlite_store, settings, key) as base:
        link = on_server(mail.unsubscribe_link, base)
        page = httpx.post(link, content="List-Unsubscribe=One-Click")
        assert page.status_code == 200 and "You are unsubscribed" in page.text
        sqlite_store.save_subscribers([subscriber(twin)])

        forged = httpx.post(link.replace(token, moved), content="List-Unsubscribe=One-Click")

    assert forged.status_code == 400 and "This link is not valid" in forged.text
    assert [s.email for s in sqlite_store.list_subscribers()] == [twin]
