"""The unsubscribe, resubscribe and topics pages on the real server (uvicorn on
127.0.0.1), driven with httpx through the links a real send put in the outbox."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from conftest import DATA, NOW, article, subscriber
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from webserver import NO_PROXY, PUBLIC_URL, on_server, outbox_mails, running

from digest.delivery.outbox import OutboxProvider
from digest.rendering.links import make_token
from digest.sending.dispatch import Dispatcher
from digest.store.store import Store

SECRET = "web-pages-secret"
PEOPLE = {
    "ann@example.com": subscriber("ann@example.com", ["Climate"], name="Ann"),
    "bob@example.org": subscriber("bob@example.org", name="Bob"),
    "cy@example.net": subscriber(
        "cy@example.net", ["Energy", '"><script>alert(1)</script>'], name="Cy"
    ),
}
ONE_CLICK = "List-Unsubscribe=One-Click"


def send(store, settings, when=NOW):
    return Dispatcher(store, settings, OutboxProvider(settings.outbox_dir), now=lambda: when).send()


@pytest.fixture
def site(store, settings, monkeypatch):
    """Today's news sent through the outbox to PEOPLE, and the server running."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    settings.public_url = PUBLIC_URL
    settings.title = "Harbour <Town> Daily"
    settings.topics = ["Climate", "Energy", "Health", "Space"]
    store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
            article("Clinics extend hours", ["Health"], published=NOW - timedelta(hours=3)),
        ]
    )
    store.save_subscribers(PEOPLE.values())
    report = send(store, settings)
    assert report.total("sent") == 3
    with running(store, settings, SECRET.encode()) as base:
        yield Site(store, settings, base, outbox_mails(settings.outbox_dir))


class Site:
    def __init__(self, store, settings, base, mails):
        self.store, self.settings, self.base, self.mails = store, settings, base, mails
        self.http = httpx.Client(timeout=10)

    def link(self, address: str, route: str = "unsubscribe") -> str:
        url = on_server(self.mails[address].unsubscribe_link, self.base)
        return url.replace("/unsubscribe/", f"/{route}/")

    def active(self) -> set[str]:
        return {s.email for s in self.store.list_subscribers()}

    def topics(self, address: str) -> list[str]:
        return self.store.find_subscriber(address).topics


def test_the_page_asks_with_the_masked_address_and_shows_only_this_subscribers_data(site):
    page = site.http.get(site.link("ann@example.com"))

    assert page.status_code == 200
    assert "Unsubscribe a•••@e•••.com from Harbour &lt;Town&gt; Daily?" in page.text
    assert "ann@example.com" not in page.text
    for other in ("bob", "cy@", "Cy", "alert(1)"):
        assert other not in page.text
    boxes = dict(re.findall(r'name="topic" value="([^"]*)"( checked)?>', page.text))
    assert boxes == {"Climate": " checked", "Energy": "", "Health": "", "Space": ""}
    assert page.headers["cache-control"] == "no-store"
    assert site.active() == set(PEOPLE)  # looking changes nothing


@pytest.mark.parametrize(
    "body",
    [
        {"content": ONE_CLICK, "headers": {"content-type": "application/x-www-form-urlencoded"}},
        {"files": {"List-Unsubscribe": (None, "One-Click")}},  # RFC 8058 prefers multipart
        {"data": {}},  # the page's button
    ],
    ids=["one-click-urlencoded", "one-click-multipart", "button"],
)
def test_a_post_unsubscribes_at_once_and_again_changes_nothing(site, body):
    link = site.link("ann@example.com")

    first = site.http.post(link, **body)

    assert first.status_code == 200
    assert "You are unsubscribed" in first.text and "a•••@e•••.com" in first.text
    assert site.active() == set(PEOPLE) - {"ann@example.com"}
    when = site.store.find_subscriber("ann@example.com").unsubscribed_at
    assert when is not None

    again = site.http.post(link, **body)

    assert again.status_code == 200 and "You are unsubscribed" in again.text
    assert site.store.find_subscriber("ann@example.com").unsubscribed_at == when
    assert site.active() == set(PEOPLE) - {"ann@example.com"}


def test_the_next_edition_skips_who_unsubscribed(site):
    site.http.post(site.link("bob@example.org"), content=ONE_CLICK)
    tomorrow = NOW + timedelta(days=1)
    site.store.save_articles([article("Tide tables", ["Climate"])], now=tomorrow)

    report = send(site.store, site.settings, tomorrow)

    day = outbox_mails(site.settings.outbox_dir / "2026-11-25_UTC")
    assert set(day) == {"ann@example.com"}  # Cy's topics had no news: skipped
    assert report.total("sent") == 1


def test_resubscribe_from_the_confirmation_page(site):
    site.http.post(site.link("ann@example.com"), content=ONE_CLICK)
    page = site.http.get(site.link("ann@example.com"))
    assert "a•••@e•••.com is unsubscribed" in page.text and "Subscribe again" in page.text

    back = site.http.post(site.link("ann@example.com", "resubscribe"))

    assert back.status_code == 200 and "You are subscribed again" in back.text
    assert site.active() == set(PEOPLE)
    assert site.topics("ann@example.com") == ["Climate"]  # as they were


def test_saved_topics_are_what_the_next_edition_sends(site):
    saved = site.http.post(
        site.link("ann@example.com", "preferences"),
        data={"topic": ["Energy", "Health"], "other": "Space, Ocean life"},
    )

    assert saved.status_code == 200 and '<h1 id="done">Saved</h1>' in saved.text
    assert site.topics("ann@example.com") == ["Energy", "Health", "Space", "Ocean life"]
    assert site.topics("bob@example.org") == []  # nobody else's
    tomorrow = NOW + timedelta(days=1)
    site.store.save_articles(
        [
            article("Tide tables", ["Climate"]),
            article("Wind farm opens", ["Energy"]),
            article("Reef survey", ["Ocean life"]),
        ],
        now=tomorrow - timedelta(hours=1),
    )
    send(site.store, site.settings, tomorrow)
    mail = outbox_mails(site.settings.outbox_dir / "2026-11-25_UTC")["ann@example.com"]
    text = mail.message.get_body(("plain",)).get_content()
    assert "Wind farm opens" in text and "Reef survey" in text
    assert "Tide tables" not in text


def test_saving_no_topics_means_everything(site):
    saved = site.http.post(site.link("ann@example.com", "preferences"), data={"other": ""})

    assert "every topic" in saved.text
    assert site.topics("ann@example.com") == []


def test_topics_that_cannot_be_used_are_a_400_and_change_nothing(site):
    too_many = ", ".join(f"topic {i}" for i in range(60))

    page = site.http.post(site.link("ann@example.com", "preferences"), data={"other": too_many})

    assert page.status_code == 400
    assert "Not saved: 60 topics; at most 50 are allowed" in page.text
    assert site.topics("ann@example.com") == ["Climate"]


def test_topics_of_someone_unsubscribed_are_not_saved(site):
    site.http.post(site.link("ann@example.com"), content=ONE_CLICK)

    page = site.http.post(
        site.link("ann@example.com", "preferences"), data={"topic": "Energy", "other": ""}
    )

    assert page.status_code == 409 and "subscribe again first" in page.text
    assert site.topics("ann@example.com") == ["Climate"]
    assert "ann@example.com" not in site.active()


def test_everything_on_the_page_is_escaped(site):
    page = site.http.get(site.link("cy@example.net"))

    assert "<script" not in page.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" checked' in page.text


def test_a_form_larger_than_any_we_send_is_refused_and_changes_nothing(site):
    huge = "topic=" + "x" * 100_000

    page = site.http.post(
        site.link("ann@example.com", "preferences"),
        content=huge,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert page.status_code == 413
    assert site.topics("ann@example.com") == ["Climate"]
    unsubscribe = site.http.post(site.link("bob@example.org"), content=huge)
    assert unsubscribe.status_code == 413
    assert site.active() == set(PEOPLE)


def _mutations(token: str):
    """Ways a token gets damaged on its way: cut short, a character changed, dropped
    or added, another subscriber's id, its parts swapped, case changed."""
    alphabet = st.sampled_from("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")
    at = st.integers(0, len(token) - 1)
    return st.one_of(
        at.map(lambda i: token[:i]),
        st.tuples(at, alphabet).map(lambda p: token[: p[0]] + p[1] + token[p[0] + 1 :]),
        at.map(lambda i: token[:i] + token[i + 1 :]),
        st.tuples(at, alphabet).map(lambda p: token[: p[0]] + p[1] + token[p[0] :]),
        st.integers(0, 10**12).map(lambda n: f"2.{n}.{token.rsplit('.', 1)[1]}"),
        st.just(token.swapcase()),
        st.text(alphabet, max_size=80),
    ).filter(lambda t: t != token)


def test_tampered_and_truncated_tokens_are_a_400_and_change_nothing(site):
    token = site.mails["ann@example.com"].unsubscribe_link.rsplit("/", 1)[1]
    before = {s.email: (s.topics, s.unsubscribed_at) for s in site.store.list_subscribers(False)}

    @hsettings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        bad=_mutations(token), route=st.sampled_from(["unsubscribe", "preferences", "resubscribe"])
    )
    def attempt(bad, route):
        url = f"{site.base}/{route}/{bad}"
        if route != "resubscribe":
            shown = site.http.get(url)
            assert shown.status_code in (400, 404), (bad, shown.status_code)
            assert "a•••@e•••.com" not in shown.text
        posted = site.http.post(url, data={"topic": "Energy"})
        # 404: the route itself did not match (an empty token, a token that is "." or "..").
        assert posted.status_code in (400, 404), (bad, posted.status_code)
        if posted.status_code == 400:
            assert "This link is not valid" in posted.text

    attempt()
    after = {s.email: (s.topics, s.unsubscribed_at) for s in site.store.list_subscribers(False)}
    assert after == before


def test_a_version_1_link_in_an_email_sent_before_this_change_still_unsubscribes(
    tmp_path, settings, monkeypatch
):
    """``v1-before-serve.eml`` was written by digest before version 2 tokens existed
    (tests/data/web/README.md): its link must keep working in every mailbox."""
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    mail = outbox_mails(DATA / "web")["old.reader@example.com"]
    store = Store(f"sqlite:///{tmp_path / 'digest.db'}")
    store.save_subscribers([subscriber("old.reader@example.com"), subscriber("new@example.com")])
    with running(store, settings, b"v1-fixture-secret") as base:
        link = on_server(mail.unsubscribe_link, base)
        assert "Unsubscribe o•••@e•••.com" in httpx.get(link).text

        page = httpx.post(link, content=ONE_CLICK)

    assert page.status_code == 200 and "You are unsubscribed" in page.text
    assert [s.email for s in store.list_subscribers()] == ["new@example.com"]
    store.close()


def test_a_token_made_with_another_key_is_a_400(site):
    sub = site.store.find_subscriber("ann@example.com")
    forged = make_token(sub.id, sub.email, b"not the server's key")

    page = site.http.post(f"{site.base}/unsubscribe/{forged}", content=ONE_CLICK)

    assert page.status_code == 400
    assert site.active() == set(PEOPLE)


@pytest.mark.parametrize(
    "path",
    ["/unsubscribe/x", "/archive", "/healthz", "/static/web.css", "/nowhere", "/archive/1/UTC"],
)
def test_every_response_has_the_security_headers(site, path):
    response = site.http.get(site.base + path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # no script may run on any page
    assert "server" not in response.headers


def test_the_access_log_shows_requests_but_never_a_token(site, caplog):
    caplog.set_level(logging.INFO, logger="digest.web.access")
    token = site.mails["ann@example.com"].unsubscribe_link.rsplit("/", 1)[1]

    site.http.get(site.link("ann@example.com"))
    site.http.post(site.link("ann@example.com", "preferences"), data={"other": "Energy"})
    site.http.post(site.link("ann@example.com"), content=ONE_CLICK)
    site.http.get(f"{site.base}/unsubscribe/{token}/extra%1B[31m")

    def lines():
        return [r.getMessage() for r in caplog.records if r.name == "digest.web.access"]

    deadline = time.monotonic() + 5
    while len(lines()) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)  # the last line is written just after its response
    lines = lines()
    assert '127.0.0.1 "GET /unsubscribe/…" 200' in lines[0]
    assert '"POST /preferences/…" 200' in lines[1]
    assert '"POST /unsubscribe/…" 200' in lines[2]
    assert '"GET /unsubscribe/…" 404' in lines[3]
    everything = "\n".join(lines)
    assert token not in everything and token[-10:] not in everything
    assert "\x1b" not in everything


def test_healthz_says_whether_the_store_answers(site):
    assert site.http.get(site.base + "/healthz").text == "ok\n"
    working = site.store.engine
    site.store.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/gone")
    try:
        down = site.http.get(site.base + "/healthz")
        unsubscribe = site.http.post(site.link("ann@example.com"), content=ONE_CLICK)
    finally:
        site.store.engine.dispose()
        site.store.engine = working

    assert down.status_code == 503
    assert unsubscribe.status_code == 503 and "try again" in unsubscribe.text
    assert unsubscribe.headers["retry-after"] == "60"
    assert site.active() == set(PEOPLE)


def test_links_under_a_public_url_path_work_whether_the_proxy_strips_it_or_not(
    store, settings, monkeypatch
):
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    settings.public_url = PUBLIC_URL + "/digest"
    store.save_subscribers([subscriber("ann@example.com"), subscriber("bob@example.org")])
    ann, bob = (store.find_subscriber(a) for a in ("ann@example.com", "bob@example.org"))
    key = SECRET.encode()
    with running(store, settings, key) as base:
        kept = httpx.get(f"{base}/digest/unsubscribe/{make_token(ann.id, ann.email, key)}")
        assert kept.status_code == 200
        assert 'href="../static/web.css"' in kept.text  # relative: under /digest/ too
        assert httpx.get(f"{base}/digest/static/web.css").status_code == 200

        httpx.post(f"{base}/digest/unsubscribe/{make_token(ann.id, ann.email, key)}")
        httpx.post(f"{base}/unsubscribe/{make_token(bob.id, bob.email, key)}")

    assert list(store.list_subscribers()) == []


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("", "multipart/form-data; boundary=x"),  # not our form
        ("topic=Energy", "application/x-www-form-urlencoded"),  # no "other": not our page
        (
            "&".join(f"topic=t{i}" for i in range(300)) + "&other=",
            "application/x-www-form-urlencoded",
        ),
        ("topic=%FF%FE&other=", "application/x-www-form-urlencoded"),  # not UTF-8
    ],
    ids=["multipart", "no-other-field", "300-fields", "not-utf-8"],
)
def test_a_post_that_is_not_the_topics_form_never_resets_the_topics(site, body, kind):
    page = site.http.post(
        site.link("ann@example.com", "preferences"), content=body, headers={"content-type": kind}
    )

    assert page.status_code == 400 and "Not saved" in page.text
    assert site.topics("ann@example.com") == ["Climate"]


def test_a_body_that_trickles_in_is_cut_off_and_changes_nothing(site, monkeypatch):
    import socket

    import digest.web.pages

    monkeypatch.setattr(digest.web.pages, "READ_SECONDS", 0.5)
    path = site.link("ann@example.com").split(site.base, 1)[1]
    host, port = site.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\nList-Unsub".encode()
        )
        started = time.monotonic()
        answer = conn.recv(4096).decode()

    assert answer.startswith("HTTP/1.1 408") and time.monotonic() - started < 5
    assert site.active() == set(PEOPLE)
