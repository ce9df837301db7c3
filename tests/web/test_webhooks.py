"""``POST /webhooks/sendgrid`` on the real server: uvicorn on 127.0.0.1, driven with httpx.

Requests are signed the way SendGrid signs them, with a key pair made here
(``test_events.Signer``). The route is mounted in a small Starlette app of its
own, as ``digest serve`` mounts it. The last tests send through the real
``digest send`` to the SendGrid stand-in and answer with the events SendGrid
would post for what it accepted.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from conftest import DATA, POSTAL, article, run_digest, status_blocks, subscriber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standins.sendgrid_server import SendGridStandIn
from starlette.applications import Starlette
from test_events import Signer

from digest.errors import ConfigError
from digest.store.schema import provider_events
from digest.store.store import Store
from digest.web import events, webhooks

LOOPBACK = "127.0.0.1,localhost"
API_KEY = "SG.webhook-test-key.Qm3xV8"
SUBSCRIBED = datetime.now(UTC) - timedelta(days=1)  # when the test's readers subscribed


class Served:
    """A Starlette app under uvicorn on 127.0.0.1 (a free port), in a thread."""

    def __init__(self, app) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def app_for(store: Store, key=None, insecure: bool = False) -> Starlette:
    return Starlette(routes=[webhooks.sendgrid_route(store, key=key, insecure=insecure)])


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def people(store):
    store.save_subscribers([subscriber(f"reader{i}@example.com") for i in range(5)], now=SUBSCRIBED)
    return store


@pytest.fixture
def server(people, signer):
    with Served(app_for(people, key=signer.public)) as served:
        yield served


def sg_event(kind: str, email: str, number: int = 0, **extra) -> dict:
    return {
        "email": email,
        "event": kind,
        "timestamp": int(time.time()) - 30,
        "sg_event_id": f"{kind}-{email}-{number}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def post(served, body: bytes, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        served.url + webhooks.PATH,
        content=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=60,
    )


def signed(served, signer, items, at: int | None = None) -> httpx.Response:
    body = json.dumps(items).encode() + b"\r\n"
    return post(served, body, signer.sign(body, int(time.time()) if at is None else at))


def state(store: Store) -> tuple:
    """Everything an event can change: every subscriber as stored, and the events kept."""
    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(provider_events)).scalar()
    return [s for s in store.list_subscribers(active_only=False)], kept


# -- signed, and applied once -----------------------------------------------------------


def test_a_signed_batch_suppresses_and_unsubscribes_and_answers_what_it_did(server, signer, people):
    answer = signed(
        server,
        signer,
        [
            sg_event("bounce", "reader1@example.com", reason="550 5.1.1 no such user"),
            sg_event("spamreport", "reader2@example.com"),
            sg_event("unsubscribe", "reader3@example.com"),
            sg_event("delivered", "reader0@example.com"),
            sg_event("processed", "reader0@example.com"),
        ],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "received": 5,
        "applied": 4,
        "duplicates": 0,
        "ignored": 1,
        "suppressed": 2,
        "unsubscribed": 1,
    }
    assert people.find_subscriber("reader1@example.com").suppressed_detail == (
        "550 5.1.1 no such user"
    )
    assert people.find_subscriber("reader2@example.com").suppressed == "complaint"
    assert people.find_subscriber("reader3@example.com").unsubscribed_at is not None
    assert {s.email for s in people.list_subscribers()} == {
        "reader0@example.com",
        "reader4@example.com",
    }


def test_a_replayed_request_is_accepted_and_changes_nothing(server, signer, people):
    body = json.dumps([sg_event("bounce", "reader1@example.com")]).encode()
    headers = signer.sign(body, int(time.time()))
    assert post(server, body, headers).json()["applied"] == 1
    before = state(people)

    for _ in range(3):  # SendGrid's retry, or someone who captured it
        again = post(server, body, headers)
        assert again.status_code == 200
        assert (again.json()["applied"], again.json()["duplicates"]) == (0, 1)
    assert state(people) == before


def test_a_late_unsubscribe_event_leaves_a_newer_resubscribe_alone(server, signer, people):
    """Left yesterday by the link, back a minute ago by the page: SendGrid's copy of
    yesterday's unsubscribe, posted late, is recorded and changes nothing."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    people.unsubscribe("reader3@example.com", now=yesterday)
    people.add_subscriber(subscriber("reader3@example.com"), resubscribe=True)
    late = sg_event("unsubscribe", "reader3@example.com", timestamp=int(yesterday.timestamp()))
    answer = signed(server, signer, [late])
    assert answer.status_code == 200, answer.text
    assert (answer.json()["applied"], answer.json()["unsubscribed"]) == (1, 0)
    assert people.find_subscriber("reader3@example.com").unsubscribed_at is None


# -- refused ---------------------------------------------------------------------------


def refused(served, store, response_of, status: int, words: str) -> None:
    before = state(store)
    answer = response_of()
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert state(store) == before


BOUNCE = [{"email": "reader1@example.com", "event": "bounce", "sg_event_id": "b-1"}]


def test_a_request_signed_with_another_key_is_refused(server, signer, people):
    refused(server, people, lambda: signed(server, Signer(), BOUNCE), 403, "does not match")


def test_an_old_request_is_refused_however_well_signed(server, signer, people):
    stale = int(time.time()) - 11 * 60
    refused(server, people, lambda: signed(server, signer, BOUNCE, at=stale), 403, "older")
    ahead = int(time.time()) + 3600
    refused(server, people, lambda: signed(server, signer, BOUNCE, at=ahead), 403, "future")


def test_an_unsigned_request_is_refused(server, people):
    body = json.dumps(BOUNCE).encode()
    refused(server, people, lambda: post(server, body), 403, "unsigned")


def test_a_body_changed_after_signing_is_refused(server, signer, people):
    body = json.dumps(BOUNCE).encode()
    headers = signer.sign(body, int(time.time()))
    changed = body.replace(b"reader1", b"reader2")
    refused(server, people, lambda: post(server, changed, headers), 403, "does not match")


def test_only_post_is_served(server):
    assert httpx.get(server.url + webhooks.PATH).status_code == 405


def test_without_a_key_events_are_refused_with_503_and_a_log_line(people, signer, caplog):
    with caplog.at_level(logging.WARNING, logger="digest.webhooks"), Served(app_for(people)) as s:
        refused(s, people, lambda: signed(s, signer, BOUNCE), 503, "SENDGRID_WEBHOOK_PUBLIC_KEY")
    assert any(
        "503 not configured: set SENDGRID_WEBHOOK_PUBLIC_KEY" in r.getMessage()
        for r in caplog.records
    )


def test_the_insecure_switch_takes_unsigned_events(people, caplog):
    with caplog.at_level(logging.WARNING, logger="digest.webhooks"):
        app = app_for(people, insecure=True)
    assert any("unsigned events are accepted" in r.getMessage() for r in caplog.records)
    with Served(app) as served:
        answer = post(served, json.dumps(BOUNCE).encode())
    assert (answer.status_code, answer.json()["suppressed"]) == (200, 1)


def test_the_route_module_reads_the_key_from_the_environment(people, signer, monkeypatch):
    """How ``digest serve`` mounts it: ``webhooks.routes(web)``, the key from the environment."""
    monkeypatch.setenv(events.KEY_VARIABLE, signer.public_text)
    monkeypatch.delenv(events.INSECURE_VARIABLE, raising=False)
    app = Starlette(routes=webhooks.routes(SimpleNamespace(store=people)))
    with Served(app) as served:
        assert signed(served, signer, BOUNCE).status_code == 200
        assert signed(served, Signer(), BOUNCE).status_code == 403


def test_a_key_that_is_not_one_stops_the_server_at_start_up(people, monkeypatch):
    monkeypatch.setenv(events.KEY_VARIABLE, "SG.an-api-key-pasted-by-mistake")
    with pytest.raises(ConfigError, match="SENDGRID_WEBHOOK_PUBLIC_KEY: not an ECDSA"):
        webhooks.routes(SimpleNamespace(store=people))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "not JSON"),
        (b"<xml/>", "not JSON"),
        (b'{"event": "bounce"}', "expected a JSON array"),
        (b'[{"event": "bounce", "email": "reader1@example.com"}, 7]', "event 2"),
        (b"\xc3\x28", "not UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
def test_a_signed_body_that_is_not_events_is_refused_whole(server, signer, people, body, words):
    headers = signer.sign(body, int(time.time()))
    refused(server, people, lambda: post(server, body, headers), 400, words)


def test_a_body_larger_than_any_sendgrid_posts_is_refused(server, signer, people, monkeypatch):
    monkeypatch.setattr(events, "MAX_BODY", 4096)
    big = json.dumps([sg_event("open", "reader0@example.com", n) for n in range(100)]).encode()
    headers = signer.sign(big, int(time.time()))
    refused(server, people, lambda: post(server, big, headers), 413, "larger than 4096 bytes")

    def chunked():  # no Content-Length: counted as it arrives
        return httpx.post(
            server.url + webhooks.PATH,
            content=iter([big[i : i + 1000] for i in range(0, len(big), 1000)]),
            headers=headers,
        )

    refused(server, people, chunked, 413, "larger than")


def test_a_trickled_body_is_cut_off_at_the_deadline(server, signer, people, monkeypatch):
    monkeypatch.setattr(webhooks, "BODY_DEADLINE", 1.0)
    body = json.dumps(BOUNCE).encode()
    headers = signer.sign(body, int(time.time()))
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        head = f"POST {webhooks.PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(head.encode() + body[:5])
        started = time.monotonic()
        reply = conn.recv(4096).decode()
        waited = time.monotonic() - started
    assert reply.startswith("HTTP/1.1 408"), reply
    assert 0.8 < waited < 5
    assert people.find_subscriber("reader1@example.com").left_at is None


def test_a_database_failure_is_a_500_so_sendgrid_retries(server, signer, people):
    with people.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE provider_events"))
    answer = signed(server, signer, BOUNCE)
    assert answer.status_code == 500
    assert answer.json()["error"].startswith("database error: ")
    assert people.find_subscriber("reader1@example.com").left_at is None  # rolled back


# -- hostile bodies, at random --------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, signer):
    """One server for many random bodies (a server per example would take minutes)."""
    folder = tmp_path_factory.mktemp("hostile")
    store = Store(f"sqlite:///{folder / 'digest.db'}")
    store.save_subscribers([subscriber(f"reader{i}@example.com") for i in range(5)], now=SUBSCRIBED)
    with Served(app_for(store, key=signer.public)) as served:
        yield served, store
    store.close()


NEAR_EVENTS = st.lists(
    st.dictionaries(
        st.sampled_from(["email", "event", "sg_event_id", "timestamp", "reason", "edition_id"]),
        st.none()
        | st.integers()
        | st.text(max_size=30)
        | st.sampled_from(["bounce", "spamreport", "reader1@example.com", "reader2@example.com"])
        | st.lists(st.text(max_size=5), max_size=2),
    ).filter(lambda d: not isinstance(d.get("email"), str) or "@" not in d["email"])
    | st.integers()
    | st.text(max_size=10),
    min_size=1,
    max_size=5,
).map(lambda items: json.dumps(items).encode())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=400) | NEAR_EVENTS)
def test_hostile_signed_bodies_are_400_and_change_nothing(hostile, signer, body):
    served, store = hostile
    before = state(store)
    answer = post(served, body, signer.sign(body, int(time.time())))
    if answer.status_code == 200:  # "[]", or only kinds digest ignores
        assert answer.json()["applied"] == 0
    else:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]
    assert state(store) == before


# -- at scale ----------------------------------------------------------------------------


def test_ten_thousand_events_in_one_post(db_url, signer, record_property):
    store = Store(db_url)
    try:
        store.save_subscribers(
            [subscriber(f"many{i}@example.com") for i in range(10_000)], now=SUBSCRIBED
        )
        kinds = ["delivered", "open", "click", "bounce", "unsubscribe"]
        items = [
            sg_event(kinds[i % 5], f"many{i}@example.com", i, edition_id="1", subscriber_id="3")
            for i in range(10_000)
        ]
        body = json.dumps(items).encode()
        with Served(app_for(store, key=signer.public)) as served:
            started = time.perf_counter()
            answer = post(served, body, signer.sign(body, int(time.time())))
            took = time.perf_counter() - started
            started = time.perf_counter()
            again = post(served, body, signer.sign(body, int(time.time())))
            replay = time.perf_counter() - started
        record_property("seconds", (len(body), round(took, 2), round(replay, 2)))
        assert answer.status_code == 200, answer.text
        assert answer.json()["applied"] == 10_000
        assert (answer.json()["suppressed"], answer.json()["unsubscribed"]) == (2000, 2000)
        assert again.json()["duplicates"] == 10_000
        assert took < 15, f"10,000 events took {took:.1f} s"
    finally:
        store.close()


# -- then a real send ----------------------------------------------------------------------


def test_a_real_send_skips_the_suppressed_and_status_counts_what_sendgrid_reported(
    tmp_path, signer
):
    database = f"sqlite:///{tmp_path / 'digest.db'}"
    store = Store(database)
    now = datetime.now(UTC)
    store.save_articles(
        [article("News of the day", ["Climate"], published=now - timedelta(hours=1))]
    )
    store.save_subscribers([subscriber(f"reader{i}@example.com") for i in range(6)], now=SUBSCRIBED)
    (tmp_path / "digest.toml").write_text('public_url = "https://digest.example.com"\n' + POSTAL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env |= {
        "DIGEST_DATABASE_URL": database,
        "DIGEST_SECRET": "webhook-test-secret",
        "SENDGRID_API_KEY": API_KEY,
        "NO_PROXY": LOOPBACK,
        "no_proxy": LOOPBACK,
        "COLUMNS": "200",
    }
    try:
        with Served(app_for(store, key=signer.public)) as web, SendGridStandIn(API_KEY) as sg:
            env["SENDGRID_API_HOST"] = sg.url
            applied = signed(
                web,
                signer,
                [
                    sg_event("bounce", "reader1@example.com", reason="550 5.1.1 unknown user"),
                    sg_event("dropped", "READER2@example.com", reason="Bounced Address"),
                    sg_event("spamreport", "reader3@example.com"),
                    sg_event("group_unsubscribe", "reader4@example.com"),
                ],
            )
            assert applied.json()["suppressed"] == 3
            sent = run_digest("send", "--provider", "sendgrid", cwd=tmp_path, env=env)
            assert sent.returncode == 0, sent.stderr
            assert sg.deliveries() == Counter({"reader0@example.com": 1, "reader5@example.com": 1})

            # What SendGrid posts about the mail it accepted: the custom_args digest gave it.
            later = []
            for entry in sg.accepted:
                for p in entry["body"]["personalizations"]:
                    address, args = p["to"][0]["email"], p["custom_args"]
                    later.append(sg_event("delivered", address, **args))
                    if address == "reader5@example.com":
                        later.append(sg_event("open", address, **args))
                        later.append(sg_event("spamreport", address, **args))
            assert signed(web, signer, later).status_code == 200
            again = run_digest("send", "--provider", "sendgrid", cwd=tmp_path, env=env)
            assert sg.deliveries() == Counter({"reader0@example.com": 1, "reader5@example.com": 1})
            assert again.returncode == 0, again.stderr
    finally:
        store.close()

    status = run_digest("status", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    (row,) = status_blocks(status.stdout)["edition"]
    events = ("delivered", "bounced", "dropped", "complaints", "unsubscribed", "opened", "clicked")
    assert [row[k] for k in events] == ["2", "0", "0", "1", "0", "1", "0"]

    listed = run_digest("subscribers", "list", "--all", cwd=tmp_path, env=env).stdout
    status_of = {line.split("\t")[0]: line.split("\t")[-1] for line in listed.splitlines()[1:-1]}
    assert status_of["reader0@example.com"] == "subscribed"
    assert status_of["reader1@example.com"].startswith("bounced ")
    assert status_of["reader1@example.com"].endswith(" UTC: 550 5.1.1 unknown user")
    assert status_of["reader2@example.com"].endswith(" UTC: Bounced Address")
    assert status_of["reader3@example.com"].startswith("complaint ")
    assert status_of["reader4@example.com"].startswith("unsubscribed ")
    assert status_of["reader5@example.com"].startswith("complaint ")
    assert listed.splitlines()[-1] == (
        "6 subscriber(s), 1 of them unsubscribed, 4 suppressed (bounced, dropped or complaint)"
    )


def test_the_served_route_answers_sendgrids_test_post_shape(server, signer):
    """SendGrid's console "Test Your Integration" posts events with no sg_event_id and
    addresses nobody subscribed: accepted, and nobody changes."""
    sample = DATA / "sendgrid" / "webhook_test_events.json"
    body = sample.read_bytes()
    answer = post(server, body, signer.sign(body, int(time.time())))
    assert answer.status_code == 200, answer.text
    assert answer.json()["suppressed"] == 0
