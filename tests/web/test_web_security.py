"""What a forged request cannot make the web side do: steer a redirect to another
host with its ``Host`` header, or pass one version's token off as another's; old
links that still work; and what a page never shows: a full address, or a mail
server's reply. On the real server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import logging
from urllib.parse import urljoin

import httpx
import pytest
from conftest import DATA, NOW, subscriber
from webserver import NO_PROXY, PUBLIC_URL, on_server, outbox_mails, running

from digest.models import ProviderEvent
from digest.rendering.links import make_token, make_v1_token

SECRET = "web-security-secret"
FORGED = "evil.example"


@pytest.fixture
def server(sqlite_store, settings, monkeypatch):
    """The server, with public_url under a path (``/digest``) as behind a proxy."""
    yield from _serve(sqlite_store, settings, monkeypatch)


@pytest.fixture
def both_stores_server(store, settings, monkeypatch):
    """The same, on SQLite and on PostgreSQL: for what changes the store."""
    yield from _serve(store, settings, monkeypatch)


def _serve(store, settings, monkeypatch):
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    settings.public_url = PUBLIC_URL + "/digest"
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


REPLY = "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown"


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("bounce", "came back: the receiving mail server refused them"),
        ("spamreport", "was reported as spam"),
    ],
)
def test_a_suppressed_persons_pages_mask_the_address_hide_the_reply_and_offer_no_dead_button(
    both_stores_server, kind, why, caplog
):
    store, base, token = both_stores_server
    reason = {"bounce": "bounced", "spamreport": "complaint"}[kind]
    event = ProviderEvent("e1", kind, "ann@example.com", NOW, detail=REPLY, suppress=reason)
    store.apply_events([event])
    link = f"{base}/unsubscribe/{token}"
    caplog.set_level(logging.WARNING, logger="digest.web")

    looked = httpx.get(link)
    left = httpx.post(link, content="List-Unsubscribe=One-Click")
    again = httpx.post(f"{base}/resubscribe/{token}")  # as a page shown before the bounce
    topics = httpx.post(f"{base}/preferences/{token}", data={"topic": "Energy", "other": ""})

    assert looked.status_code == 200 and left.status_code == 200
    assert "You are unsubscribed" in left.text
    assert again.status_code == 409 and topics.status_code == 409
    for page in (looked, again, topics):
        assert "No emails go to a•••@e•••.com" in page.text and why in page.text
        assert 'href="mailto:digest@example.com"' in page.text
    for page in (looked, left, again, topics):
        assert "ann@example.com" not in page.text and "550" not in page.text
        assert "Subscribe again" not in page.text and 'id="resubscribe"' not in page.text
        assert 'name="topic"' not in page.text  # a topics form could only fail too
    assert 'role="alert"' in again.text and 'role="alert"' in topics.text
    assert 'id="unsubscribe"' in looked.text  # leaving still works, and did
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and all(REPLY in line for line in refused)
    ann = store.find_subscriber("ann@example.com")
    assert ann.suppressed == reason and ann.unsubscribed_at is not None
    assert ann.topics == ["Climate"]
