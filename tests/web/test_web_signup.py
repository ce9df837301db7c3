"""The front door on the real server (uvicorn on 127.0.0.1), driven with httpx as a
browser and as a robot would: the form, "Check your inbox", the confirmation
link (only its button subscribes), /manage, and every guard with its numbers,
on SQLite and PostgreSQL. Counts of mail are read after the server stopped
(gracefully: the mail sent after each page has gone by then)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import subscriber
from signup_site import (
    SECRET,
    TOPICS,
    form_token,
    notices,
    open_door,
    sign_up,
    wait_for_notices,
)
from webserver import NO_PROXY, PUBLIC_URL, on_server, running

from digest import clock
from digest.signup import front
from digest.store import signups
from digest.web import signup


@pytest.fixture
def door(store, settings, monkeypatch):
    """(store, settings, key) of a live site with the sign-up page on."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    open_door(settings)
    return store, settings, SECRET.encode()


def masked(page: str, *addresses: str) -> str:
    for address in addresses:
        page = page.replace(address, "ADDRESS")
    return page


def test_the_form_carries_its_own_script_nonce_and_a_field_only_robots_fill(door):
    store, settings, key = door
    settings.timezone = "Europe/Berlin"
    with running(store, settings, key) as base, httpx.Client() as http:
        first, second = http.get(f"{base}/subscribe"), http.get(f"{base}/subscribe")
        manage = http.get(f"{base}/manage")

    nonces = []
    for page in (first, second):
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        nonce = re.search(r"script-src 'nonce-([^']+)'", policy).group(1)
        assert f'<script nonce="{nonce}">' in page.text and page.text.count("<script") == 1
        assert "unsafe-inline" not in policy and "default-src 'none'" in policy
        nonces.append(nonce)
    assert nonces[0] != nonces[1]  # one per answer: a nonce seen once is no use later
    assert "script-src" not in manage.headers["content-security-policy"]
    assert "<script" not in manage.text

    page = first.text
    honeypot = re.search(r'<div class="held" aria-hidden="true">.*?</div>', page, re.S).group(0)
    assert 'name="website"' in honeypot
    assert 'tabindex="-1"' in honeypot and 'autocomplete="off"' in honeypot
    assert [
        re.search(r'value="([^"]+)"', box).group(1)
        for box in re.findall(r'<input type="checkbox" name="topic"[^>]*>', page)
    ] == TOPICS
    assert '<option value="Europe/Berlin" selected>Berlin</option>' in page
    assert page.count(" selected>") == 1
    assert "localtime" not in page and "Factory" not in page
    assert first.headers["cache-control"] == "no-store"


def test_every_signup_route_is_404_while_the_page_is_off(door):
    store, settings, key = door
    settings.signup.enabled = False
    with running(store, settings, key) as base, httpx.Client() as http:
        answers = [
            http.get(f"{base}/subscribe"),
            http.post(f"{base}/subscribe", data={"email": "ann@example.com"}),
            http.get(f"{base}/confirm/abc"),
            http.post(f"{base}/confirm/abc"),
            http.get(f"{base}/manage"),
            http.post(f"{base}/manage", data={"email": "ann@example.com"}),
        ]
    assert [a.status_code for a in answers] == [404] * 6
    assert not (settings.outbox_dir / "notices").exists()


def test_a_post_from_another_site_lands_on_this_sites_form_filled_in_and_sends_nothing(door):
    store, settings, key = door
    snippet = {"email": "ann@example.com", "name": "Ann <b>Lee</b>", "topic": ["Energy", "Space"]}
    with running(store, settings, key) as base, httpx.Client() as http:
        landed = http.post(f"{base}/subscribe", data=snippet)
        token = re.search(r'name="form_token" value="([^"]+)"', landed.text).group(1)
        posted = http.post(f"{base}/subscribe", data={**snippet, "form_token": token})

    assert landed.status_code == 200
    assert "One more step: press Subscribe" in landed.text
    assert 'value="ann@example.com"' in landed.text
    assert 'value="Ann &lt;b&gt;Lee&lt;/b&gt;"' in landed.text
    assert re.findall(r'name="topic" value="(\w+)" checked', landed.text) == ["Energy", "Space"]
    assert landed.text.count('type="submit"') == 1
    assert posted.status_code == 200 and "Check your inbox" in posted.text
    assert [n.to for n in notices(settings.outbox_dir)] == ["ann@example.com"]


def test_an_instant_post_sends_nothing_and_asks_to_press_subscribe_again(door):
    store, settings, key = door
    settings.signup.min_seconds = 3
    with running(store, settings, key) as base, httpx.Client() as http:
        answer = sign_up(http, base, "ann@example.com", name="Ann")

    assert answer.status_code == 400
    assert "Please press Subscribe again" in answer.text and "Nothing was sent" in answer.text
    assert 'value="ann@example.com"' in answer.text and 'value="Ann"' in answer.text
    assert not (settings.outbox_dir / "notices").exists()


def test_only_the_confirm_button_subscribes_with_the_topics_and_zone_chosen(door):
    store, settings, key = door
    with running(store, settings, key) as base, httpx.Client() as http:
        answer = sign_up(
            http, base, "Ann@Example.com", name="Ann Lee", topic=["Energy"], timezone="Asia/Tokyo"
        )
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        link = on_server(wait_for_notices(settings, 1)[0].confirm_link, base)
        shown = [http.get(link), http.get(link)]  # a mail scanner, then the person
        assert store.find_subscriber("ann@example.com") is None
        done = http.post(link)
        again = http.post(link)
        preferences = http.get(urljoin_page(link, done.text))

    for page in shown:
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "Subscribe A•••@E•••.com to Daily Digest?" in page.text
    assert done.status_code == 200 and "You are subscribed" in done.text
    ann = store.find_subscriber("ann@example.com")
    assert (ann.email, ann.name, ann.topics, ann.timezone) == (
        "Ann@Example.com",
        "Ann Lee",
        ["Energy"],
        "Asia/Tokyo",
    )
    assert again.status_code == 400 and "Sign up again" in again.text
    assert preferences.status_code == 200 and "Your topics" in preferences.text


def urljoin_page(link: str, page: str) -> str:
    """The preferences link on the confirmed page, made absolute from the page's URL."""
    relative = re.search(r'href="([^"]*preferences/[^"]+)"', page).group(1)
    parts = urlsplit(link)
    path = parts.path.rsplit("/", 2)[0] + "/" + relative.removeprefix("../")
    return f"{parts.scheme}://{parts.netloc}{path}"


def test_a_subscribed_and_a_new_address_see_the_same_page_byte_for_byte(door):
    store, settings, key = door
    store.save_subscribers([subscriber("bob@example.org", name="Bob")])
    with running(store, settings, key) as base, httpx.Client() as http:
        new = sign_up(http, base, "ann@example.com", client="198.51.100.1")
        known = sign_up(http, base, "bob@example.org", client="198.51.100.2")
        known_again = sign_up(http, base, "bob@example.org", client="198.51.100.3")
        held = sign_up(http, base, "cy@example.net", client="198.51.100.4", website="http://x")

    pages = [new, known, known_again, held]
    assert {p.status_code for p in pages} == {200}
    bodies = {masked(p.text, "ann@example.com", "bob@example.org", "cy@example.net") for p in pages}
    assert len(bodies) == 1
    assert {p.headers["content-type"] for p in pages} == {"text/html; charset=utf-8"}
    sent = notices(settings.outbox_dir)
    assert sorted(n.to for n in sent) == ["ann@example.com", "bob@example.org"]  # not cy
    bob = next(n for n in sent if n.to == "bob@example.org")
    assert "/confirm/" not in bob.text and "/preferences/" in bob.text
    assert store.find_subscriber("bob@example.org").name == "Bob"  # nothing changed
    assert store.find_subscriber("cy@example.net") is None


def test_twenty_submissions_of_one_address_from_twenty_clients_mail_it_once(door):
    store, settings, key = door
    with running(store, settings, key) as base, httpx.Client() as http:
        answers = [
            sign_up(http, base, "ann@example.com", client=f"203.0.113.{i}") for i in range(20)
        ]
    assert [a.status_code for a in answers] == [200] * 20
    assert [n.to for n in notices(settings.outbox_dir)] == ["ann@example.com"]


def test_a_clients_sixth_signup_in_an_hour_is_429_with_retry_after(door):
    store, settings, key = door
    client = "192.0.2.7"
    with running(store, settings, key) as base, httpx.Client() as http:
        answers = [sign_up(http, base, f"p{i}@example.com", client=client) for i in range(6)]
        other = sign_up(http, base, "q@example.com", client="192.0.2.8")

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    wait = int(answers[5].headers["retry-after"])
    assert 0 < wait <= 3600
    assert "Too many sign-ups" in answers[5].text and "Nothing was sent" in answers[5].text
    assert 'value="p5@example.com"' in answers[5].text
    assert other.status_code == 200
    assert len(notices(settings.outbox_dir)) == 6  # five from the one client, one from another


@pytest.mark.parametrize(
    "field, value",
    [
        ("email", "ann@example.com\r\nBcc: victim@example.org"),
        ("email", "ann@example.com,victim@example.org"),
        ("name", "Ann\r\nBcc: victim@example.org"),
        ("first_name", "Ann\nSubject: win"),
        ("email", "not an address"),
    ],
)
def test_a_line_break_or_a_bad_address_is_400_with_the_problem_and_sends_nothing(
    door, field, value
):
    store, settings, key = door
    fields = {"email": "ann@example.com", field: value}
    with running(store, settings, key) as base, httpx.Client() as http:
        email = fields.pop("email")
        answer = sign_up(http, base, email, **fields)

    assert answer.status_code == 400
    assert 'role="alert" id="problem">Not subscribed: ' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert not (settings.outbox_dir / "notices").exists()


def test_altered_and_expired_confirm_links_are_400_and_offer_to_sign_up_again(door):
    store, settings, key = door
    past = clock.utcnow() - timedelta(hours=settings.signup.confirm_hours + 1)
    old = front.sign_up(
        store,
        settings,
        key,
        front.SignupForm(email="old@example.com", form_token=front.form_token(key, past)),
        "192.0.2.1",
        past + timedelta(seconds=10),
    )
    old.mail()
    with running(store, settings, key) as base, httpx.Client() as http:
        sign_up(http, base, "ann@example.com")
        sent = wait_for_notices(settings, 2)
        links = {n.to: on_server(n.confirm_link, base) for n in sent}
        fresh = links["ann@example.com"]
        tried = [
            links["old@example.com"],
            fresh[:-1] + ("A" if fresh[-1] != "A" else "B"),
            fresh[:-6],
            fresh.rsplit("/", 1)[0] + "/%00%0d%0a",
        ]
        answers = [(http.get(u), http.post(u)) for u in tried]

    for shown, posted in answers:
        for page in (shown, posted):
            assert page.status_code == 400
            assert "This link is not valid" in page.text and "Sign up again" in page.text
    assert store.find_subscriber("ann@example.com") is None
    assert store.find_subscriber("old@example.com") is None


def test_the_access_log_shows_confirm_without_its_token(door, caplog):
    store, settings, key = door
    caplog.set_level(logging.INFO, logger="digest.web.access")
    with running(store, settings, key) as base, httpx.Client() as http:
        sign_up(http, base, "ann@example.com")
        link = on_server(wait_for_notices(settings, 1)[0].confirm_link, base)
        http.get(link)
        http.post(link)
    token = link.rsplit("/", 1)[1]
    lines = [r.getMessage() for r in caplog.records if r.name == "digest.web.access"]
    assert any('"GET /confirm/…" 200' in line for line in lines)
    assert any('"POST /confirm/…" 200' in line for line in lines)
    assert not any(token in line for line in lines)


def test_manage_answers_the_same_for_anyone_and_mails_only_a_subscriber(door):
    store, settings, key = door
    store.save_subscribers([subscriber("bob@example.org")])
    with running(store, settings, key) as base, httpx.Client() as http:
        form = http.get(f"{base}/manage")
        known = http.post(f"{base}/manage", data={"email": "bob@example.org"})
        unknown = http.post(f"{base}/manage", data={"email": "zed@example.org"})
        bad = http.post(f"{base}/manage", data={"email": "bob@example.org\r\nCc: x@y.z"})
        link = on_server(wait_for_notices(settings, 1)[0].preferences_link, base)
        preferences = http.get(link)

    assert form.status_code == 200 and 'name="email"' in form.text
    assert known.status_code == unknown.status_code == 200
    assert masked(known.text, "bob@example.org") == masked(unknown.text, "zed@example.org")
    assert bad.status_code == 400 and "Nothing sent: " in bad.text
    assert [n.to for n in notices(settings.outbox_dir)] == ["bob@example.org"]
    assert preferences.status_code == 200 and "b•••@e•••.org" in preferences.text


def test_a_form_that_is_not_a_form_is_a_400_page(door):
    store, settings, key = door
    with running(store, settings, key) as base, httpx.Client() as http:
        token = form_token(http, base)
        answers = [
            http.post(
                f"{base}/subscribe",
                content=b"email=%FF&form_token=" + token.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            http.post(f"{base}/subscribe", json={"email": "ann@example.com"}),
            http.post(f"{base}/subscribe", data={"email": "a@b.c", "x" * 70000: ""}),
        ]
    assert [a.status_code for a in answers] == [400, 400, 413]
    assert all("Nothing was changed" in a.text for a in answers)
    assert PUBLIC_URL not in answers[0].text


def test_serve_forgets_unconfirmed_signups_after_a_signups_page_at_most_every_ten_minutes(
    door, monkeypatch
):
    store, settings, key = door

    def pending() -> set[str]:
        return {p.email for p in signups.listing(store.engine)}

    past = clock.utcnow() - timedelta(hours=settings.signup.confirm_hours + 1)
    token = front.form_token(key, past)
    form = front.SignupForm(email="old@example.com", form_token=token)
    front.sign_up(store, settings, key, form, "192.0.2.1", past + timedelta(seconds=10))
    with running(store, settings, key) as base, httpx.Client() as http:
        sign_up(http, base, "ann@example.com", client="192.0.2.2")  # just after the start
    assert pending() == {"old@example.com", "ann@example.com"}

    monkeypatch.setattr(signup, "FORGET_SECONDS", 0)
    with running(store, settings, key) as base, httpx.Client() as http:
        sign_up(http, base, "bob@example.org", client="192.0.2.3")
    assert pending() == {"ann@example.com", "bob@example.org"}
