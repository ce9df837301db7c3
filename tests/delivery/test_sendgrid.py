"""The SendGrid provider against a real local stand-in for ``POST /v3/mail/send``.

The stand-in (tests/standins/sendgrid_server.py) enforces SendGrid's documented
limits and its published JSON Schema, answers like SendGrid (202 with an
X-Message-Id, 400 with ``{"errors": [...]}``, 401, 429 with X-RateLimit-Reset)
and renders each recipient's copy from the request the way SendGrid applies
substitutions. Every test reads what a recipient would get (the stand-in's
accepted messages) and what an operator would read (the ledger, the report,
the CLI's output).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from conftest import DATA, LIVE_LINKS, NOW, article, status_blocks, subscriber
from conftest import run_digest as digest
from standins.sendgrid_server import SendGridStandIn

from digest.config.settings import Settings, load_settings
from digest.delivery import make_provider
from digest.delivery.base import Outgoing
from digest.delivery.sendgrid import SendGridProvider, build_payload
from digest.delivery.sendgrid_wire import HOSTS
from digest.editions.contents import EditionContent
from digest.errors import ConfigError
from digest.rendering.links import Links, view_url
from digest.rendering.personal import greeting_for
from digest.rendering.renderer import Renderer
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.store.store import Store
from digest.web.context import subscriber_for

KEY = "SG.standin-key.Zx81qQ7rVt"
WRONG_KEY = "SG.revoked-key.Hk29LmNb04"
SECRET = "sendgrid-test-secret"
SCHEMA = DATA / "sendgrid" / "mail_send.schema.json"
LOOPBACK = "127.0.0.1,localhost"
NAMES = [
    "Smith & Sons",
    "<b>Eve</b> <script>x()</script>",
    'Ann "Nan" Lee',
    "Sam O'Connor",
    "Zoë Lambert",
    "李小龍",
    "",
]
TOPIC_SETS = [["Climate"], ["Energy"], [], ["Climate", "Energy"], ["Technology"]]


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    # The sendgrid client honours *_proxy variables: traffic must stay on 127.0.0.1.
    monkeypatch.setenv("NO_PROXY", LOOPBACK)
    monkeypatch.setenv("no_proxy", LOOPBACK)
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name in ("SENDGRID_API_KEY", "SENDGRID_API_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def standin() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(KEY) as server:
        yield server


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


class RecordingProvider(SendGridProvider):
    """The real provider, noting each batch it prepares; ``after_first`` runs once,
    right after the first batch was delivered (to inject a fault mid-send)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[Outgoing] = []
        self.after_first: Callable[[], None] | None = None

    def prepare(self, batch: Outgoing):
        self.batches.append(batch)
        return super().prepare(batch)

    def deliver(self, prepared):
        try:
            return super().deliver(prepared)
        finally:
            hook, self.after_first = self.after_first, None
            if hook is not None:
                hook()


def provider_for(standin, settings, key=KEY, waits=None) -> RecordingProvider:
    sleep = waits.append if waits is not None else (lambda _s: None)
    return RecordingProvider(key, settings, standin.url, sleep=sleep)


def dispatcher_for(store, settings, provider) -> Dispatcher:
    return Dispatcher(store, settings, provider, now=lambda: NOW, sleep=lambda _s: None)


def send(store, settings, provider):
    report = dispatcher_for(store, settings, provider).send()
    (edition_report,) = report.editions
    return report, edition_report


def save_news(store, when: datetime = NOW) -> None:
    store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=when - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=when - timedelta(hours=2)),
            article("Chipmaker builds fab", ["Technology"], published=when - timedelta(hours=3)),
        ]
    )


@pytest.fixture
def newsroom(sqlite_store):
    """Five segments; names that need escaping in HTML and not in text."""
    save_news(sqlite_store)
    people = [
        subscriber(
            f"reader{i:02}@example.com",
            TOPIC_SETS[i % len(TOPIC_SETS)],
            name=NAMES[i % len(NAMES)],
        )
        for i in range(21)
    ]
    sqlite_store.save_subscribers(people)
    return sqlite_store, {p.email: p for p in people}


def segments_of(store, settings, ids: int, per_segment: int, when: datetime = NOW) -> list[str]:
    """Today's news and ``per_segment`` subscribers in each of ``ids`` segments."""
    save_news(store, when)
    people = [
        subscriber(f"s{n}-{i:03}@example.com", TOPIC_SETS[n], name=f"Reader {n}.{i}")
        for i in range(per_segment)
        for n in range(ids)
    ]
    store.save_subscribers(people)
    return [p.email for p in people]


def ledger_rows(store, settings, edition) -> dict[str, object]:
    return {row.email: row for row in Ledger(store, settings.timezone).entries(edition)}


def accepted_message_ids(standin) -> dict[str, list[str]]:
    """Recipient → message ids of every request the stand-in accepted for them."""
    found: dict[str, list[str]] = {}
    for entry in standin.accepted:
        for p in entry["body"]["personalizations"]:
            for to in p["to"]:
                found.setdefault(to["email"], []).append(entry["message_id"])
    return found


def assert_no_key(key: str, *texts: object) -> None:
    for text in texts:
        assert key not in str(text)


# -- the request body -------------------------------------------------------------


def test_every_request_body_validates_against_sendgrids_schema(
    newsroom, settings, standin, validator
):
    store, people = newsroom
    provider = provider_for(standin, settings)

    _, result = send(store, settings, provider)

    assert len(provider.batches) == 5  # one request per segment
    for batch in provider.batches:
        body = json.loads(build_payload(batch, settings))
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert errors == []
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    # The stand-in validated the same bodies on the wire: all were accepted.
    assert standin.statuses == [202] * 5
    assert result.sent == len(people) and result.failed == 0
    for entry in standin.accepted:
        assert list(validator.iter_errors(entry["body"])) == []
        assert [c["type"] for c in entry["body"]["content"]] == ["text/plain", "text/html"]


def test_each_recipient_has_a_personalization_of_their_own(newsroom, settings, standin):
    store, people = newsroom
    links = Links(settings.public_url, SECRET.encode())

    _, result = send(store, settings, provider_for(standin, settings))

    seen = Counter()
    for entry in standin.accepted:
        body = entry["body"]
        assert "headers" not in body or "List-Unsubscribe" not in body["headers"]
        for p in body["personalizations"]:
            (to,) = p["to"]
            address = to["email"]
            seen[address] += 1
            url = links.unsubscribe(store.find_subscriber(address).id, address)
            assert subscriber_for(url.rsplit("/", 1)[1], SECRET.encode(), store).email == address
            assert p["headers"] == {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            assert p["substitutions"], address
            assert url in p["substitutions"].values()
            assert to.get("name", "") == " ".join(people[address].name.split())
            assert p["custom_args"]["edition_id"] == str(result.edition.id)
    assert seen == Counter(dict.fromkeys(people, 1))


def test_each_recipient_reads_exactly_what_a_direct_render_gives_them(newsroom, settings, standin):
    store, people = newsroom
    _, result = send(store, settings, provider_for(standin, settings))

    edition = result.edition
    renderer = Renderer(settings)
    content = EditionContent(store, settings, edition, renderer)
    links = Links(settings.public_url, SECRET.encode())
    for address, person in people.items():
        segment, _ = content.segment_of(";".join(person.topics))
        token = links.token(store.find_subscriber(address).id, address)
        link = links.pages.unsubscribe(token)
        direct = renderer.render(
            edition,
            content.sections(segment),
            content.topic_names(segment),
            greeting_for(person.name),
            link,
            view_url(settings.public_url, edition, segment),
            links.pages.preferences(token),
        )

        subject, text, html, headers = standin.rendered_for(address)

        assert (subject, text, html) == (direct.subject, direct.text, direct.html), address
        assert greeting_for(person.name) in text
        assert link in text
        assert headers["List-Unsubscribe"] == f"<{link}>"
        assert "%%" not in text and "%%" not in html  # no placeholder left unfilled


def test_names_that_need_escaping_read_correctly(newsroom, settings, standin):
    store, people = newsroom
    settings.greeting = "Hello {name},"  # the whole name, as given
    send(store, settings, provider_for(standin, settings))

    expected = {
        "Smith & Sons": ("Hello Smith &amp; Sons,", "Hello Smith & Sons,"),
        "<b>Eve</b> <script>x()</script>": (
            "Hello &lt;b&gt;Eve&lt;/b&gt; &lt;script&gt;x()&lt;/script&gt;,",
            "Hello <b>Eve</b> <script>x()</script>,",
        ),
        'Ann "Nan" Lee': ('Hello Ann "Nan" Lee,', 'Hello Ann "Nan" Lee,'),
        "Sam O'Connor": ("Hello Sam O'Connor,", "Hello Sam O'Connor,"),
        "Zoë Lambert": ("Hello Zoë Lambert,", "Hello Zoë Lambert,"),
        "李小龍": ("Hello 李小龍,", "Hello 李小龍,"),
        "": ("Hello,", "Hello,"),
    }
    for address, person in people.items():
        _, text, html, _ = standin.rendered_for(address)
        in_html, in_text = expected[person.name]
        assert in_html in html, address
        assert in_text in text, address
        assert "<script>x()" not in html


def test_an_absurdly_long_name_does_not_sink_the_batch(sqlite_store, settings, standin):
    # SendGrid refuses a whole request when one personalization's substitutions pass
    # 10,000 bytes: one odd signup must not cost a thousand people their digest.
    save_news(sqlite_store)
    people = [subscriber("long@example.com", ["Climate"], name="Bartholomew & Co " * 400)]
    people += [subscriber(f"plain{i}@example.com", ["Climate"], name="Pat") for i in range(3)]
    sqlite_store.save_subscribers(people)

    _, result = send(sqlite_store, settings, provider_for(standin, settings))

    assert standin.statuses == [202]
    assert standin.deliveries() == Counter(dict.fromkeys((p.email for p in people), 1))
    assert (result.sent, result.failed) == (4, 0)
    _, text, _, _ = standin.rendered_for("long@example.com")
    (line,) = [line for line in text.splitlines() if line.startswith("Hello Bartholomew & Co")]
    assert line.endswith("…,") and len(line) <= len("Hello ,") + 50  # one line, cut at a word


def test_categories_asm_group_and_sandbox_mode(newsroom, settings, standin):
    store, _ = newsroom
    settings.sendgrid.asm_group_id = 4242
    settings.sendgrid.sandbox_mode = True

    send(store, settings, provider_for(standin, settings))

    for entry in standin.accepted:
        body = entry["body"]
        assert "digest" in body["categories"] and "2026-11-24" in body["categories"]
        # RFC 2919's List-Id, once for the whole request, as the other providers write it.
        assert body["headers"] == {"List-Id": "Daily Digest <daily-digest.example.com>"}
        assert body["asm"] == {"group_id": 4242}
        assert body["mail_settings"]["sandbox_mode"] == {"enable": True}


def test_no_asm_group_and_no_sandbox_unless_set(newsroom, settings, standin):
    store, _ = newsroom

    send(store, settings, provider_for(standin, settings))

    for entry in standin.accepted:
        assert "asm" not in entry["body"]
        assert "sandbox_mode" not in entry["body"].get("mail_settings", {})


def test_a_large_segment_goes_in_requests_of_at_most_1000(sqlite_store, settings, standin):
    save_news(sqlite_store)
    sqlite_store.save_subscribers(
        [subscriber(f"many{i:04}@example.com", ["Climate"]) for i in range(2500)]
    )

    _, result = send(sqlite_store, settings, provider_for(standin, settings))

    assert standin.statuses == [202, 202, 202]
    sizes = [len(e["body"]["personalizations"]) for e in standin.accepted]
    assert sorted(sizes) == [500, 1000, 1000]
    assert standin.deliveries() == Counter({f"many{i:04}@example.com": 1 for i in range(2500)})
    assert (result.sent, result.failed) == (2500, 0)


# -- responses, through the real Dispatcher -------------------------------------------


def test_202_records_everyone_sent_with_the_message_id(store, settings, standin):
    addresses = segments_of(store, settings, 3, 4)

    _, result = send(store, settings, provider_for(standin, settings))

    rows = ledger_rows(store, settings, result.edition)
    ids = accepted_message_ids(standin)
    assert set(rows) == set(addresses) == set(ids)
    for address, row in rows.items():
        assert row.status == "sent"
        assert [row.message_id] == ids[address]
    assert (result.sent, result.failed) == (12, 0)


def test_429_waits_for_the_rate_limit_reset_then_sends(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 2, 3)
    reset = int(time.time()) + 3
    standin.fail_next(429, headers={"X-RateLimit-Reset": str(reset)})
    waits: list[float] = []

    _, result = send(sqlite_store, settings, provider_for(standin, settings, waits=waits))

    assert standin.statuses == [429, 202, 202]
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert result.sent == len(addresses) and result.failed == 0
    (wait,) = waits
    # Until the reset (2–3 s after the request), not the first back-off (at most 0.5 s).
    assert 1.0 <= wait <= 3.5
    assert wait <= settings.sendgrid.max_wait


def test_a_far_rate_limit_reset_waits_at_most_max_wait(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 1, 3)
    settings.sendgrid.max_wait = 1.0
    standin.fail_next(429, count=2, headers={"X-RateLimit-Reset": str(int(time.time()) + 600)})
    waits: list[float] = []

    _, result = send(sqlite_store, settings, provider_for(standin, settings, waits=waits))

    assert len(waits) == 2
    assert all(0 < w <= settings.sendgrid.max_wait for w in waits)
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert result.sent == 3


def test_500_twice_then_success_is_sent(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 1, 5)
    settings.sendgrid.max_wait = 0.4
    standin.fail_next(500, count=2)
    waits: list[float] = []

    _, result = send(sqlite_store, settings, provider_for(standin, settings, waits=waits))

    assert standin.statuses == [500, 500, 202]
    assert len(waits) == 2 and all(0 < w <= 0.4 for w in waits)
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    rows = ledger_rows(sqlite_store, settings, result.edition)
    assert {r.status for r in rows.values()} == {"sent"}


def test_5xx_beyond_max_retries_fails_the_batch_with_the_status(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 1, 4)
    settings.sendgrid.max_retries = 2
    standin.fail_next(503, count=3)
    waits: list[float] = []

    report, result = send(sqlite_store, settings, provider_for(standin, settings, waits=waits))

    assert standin.statuses == [503, 503, 503]  # max_retries + 1 attempts, then no more
    assert len(waits) == 2
    assert standin.accepted == []
    assert report.aborted is None
    assert (result.sent, result.failed) == (0, 4)
    assert report.total("failed") == 4
    rows = ledger_rows(sqlite_store, settings, result.edition)
    assert set(rows) == set(addresses)
    for row in rows.values():
        assert row.status == "failed" and "503" in row.error
    assert {address for address, _ in result.failures} == set(addresses)
    assert all("503" in reason for _, reason in result.failures)


def test_400_fails_the_batch_at_once_with_sendgrids_own_words(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 2, 3)
    standin.fail_next(
        400,
        body={
            "errors": [
                {
                    "message": "The from email does not contain a valid address.",
                    "field": "from.email",
                    "help": "http://sendgrid.com/docs/API_Reference/errors.html#message.from",
                }
            ]
        },
    )
    waits: list[float] = []
    provider = provider_for(standin, settings, waits=waits)

    _, result = send(sqlite_store, settings, provider)

    assert standin.statuses == [400, 202]  # the refused batch was not tried again
    assert waits == []
    refused = {r.email for r in provider.batches[0].recipients}
    rows = ledger_rows(sqlite_store, settings, result.edition)
    for address in addresses:
        row = rows[address]
        if address in refused:
            assert row.status == "failed"
            assert "from.email" in row.error
            assert "The from email does not contain a valid address." in row.error
        else:
            assert row.status == "sent"
    assert (result.sent, result.failed) == (3, 3)


def test_a_wrong_key_stops_the_send_and_never_shows_the_key(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 3, 2)

    report, result = send(sqlite_store, settings, provider_for(standin, settings, key=WRONG_KEY))

    assert standin.statuses == [401]  # not retried, no further batch tried
    assert report.aborted is not None
    assert "SendGrid rejected the API key" in report.aborted
    rows = ledger_rows(sqlite_store, settings, result.edition)
    assert {r.status for r in rows.values()} == {"pending"}
    assert_no_key(WRONG_KEY, report, *(r.error for r in rows.values()))

    _, again = send(sqlite_store, settings, provider_for(standin, settings))

    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert again.sent == len(addresses)


def test_403_stops_the_send_like_a_wrong_key(sqlite_store, settings, standin):
    segments_of(sqlite_store, settings, 2, 2)
    standin.fail_next(403)

    report, result = send(sqlite_store, settings, provider_for(standin, settings))

    assert "SendGrid rejected the API key" in report.aborted
    assert standin.statuses == [403]
    assert Ledger(sqlite_store, settings.timezone).counts(result.edition)["pending"] == 4


def test_a_key_revoked_mid_send_leaves_later_batches_pending(store, settings, standin):
    addresses = segments_of(store, settings, 4, 3)
    provider = provider_for(standin, settings, key=KEY)
    provider.after_first = lambda: standin.fail_next(401)

    report, result = send(store, settings, provider)

    assert "SendGrid rejected the API key" in report.aborted
    assert_no_key(KEY, report.aborted)
    first = {r.email for r in provider.batches[0].recipients}
    rows = ledger_rows(store, settings, result.edition)
    assert {a for a, r in rows.items() if r.status == "sent"} == first
    assert {a for a, r in rows.items() if r.status == "pending"} == set(addresses) - first
    assert result.sent == 3

    before = standin.deliveries()
    _, again = send(store, settings, provider_for(standin, settings))

    assert standin.deliveries() - before == Counter(dict.fromkeys(set(addresses) - first, 1))
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert (again.sent, again.already_sent) == (9, 3)
    counts = Ledger(store, settings.timezone).counts(again.edition)
    assert counts == {"sent": 12, "failed": 0, "in_doubt": 0, "skipped": 0, "pending": 0}


def test_a_request_whose_answer_never_comes_is_in_doubt_and_never_resent_unasked(
    store, settings, standin
):
    addresses = segments_of(store, settings, 1, 3)
    settings.sendgrid.timeout = 0.3
    # SendGrid accepts the request but answers after the client stopped waiting.
    standin.answer_delay = 8.0
    waits: list[float] = []
    started = time.monotonic()

    _, result = send(store, settings, provider_for(standin, settings, waits=waits))

    # Did not wait for the late answer (the margin is for a loaded machine's own work).
    assert time.monotonic() - started < 6.0
    assert standin.requests == 1 and waits == []  # and did not retry it
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    rows = ledger_rows(store, settings, result.edition)
    assert {rows[a].status for a in addresses} == {"in_doubt"}
    assert "did not answer within 0.3 s" in rows[addresses[0]].error
    assert (result.sent, result.failed, result.in_doubt) == (0, 0, 3)
    assert {a for a, _ in result.doubts} == set(addresses)

    standin.answer_delay = 0.0
    _, again = send(store, settings, provider_for(standin, settings))  # the same command again

    assert standin.requests == 1  # nobody mailed a second time
    assert again.in_doubt == 3 and again.sent == 0

    dispatcher = dispatcher_for(store, settings, provider_for(standin, settings))
    (resent,) = dispatcher.send(resend_in_doubt=True).editions  # the operator's word

    assert resent.sent == 3 and resent.in_doubt == 0
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 2))


def test_a_refused_connection_is_retried_and_then_fails_for_the_next_run(sqlite_store, settings):
    addresses = segments_of(sqlite_store, settings, 1, 2)
    settings.sendgrid.max_retries = 2
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    waits: list[float] = []
    provider = RecordingProvider(KEY, settings, url, sleep=waits.append)

    _, result = send(sqlite_store, settings, provider)

    assert len(waits) == 2  # three attempts: nothing reached SendGrid, so retrying is safe
    rows = ledger_rows(sqlite_store, settings, result.edition)
    assert {rows[a].status for a in addresses} == {"failed"}
    assert "cannot reach SendGrid" in rows[addresses[0]].error
    with SendGridStandIn(KEY) as later:
        _, again = send(sqlite_store, settings, RecordingProvider(KEY, settings, later.url))
        assert again.sent == 2
        assert later.deliveries() == Counter(dict.fromkeys(addresses, 1))


def test_429_and_5xx_answers_are_retried_without_doubling(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 1, 2)
    standin.fail_next(503)
    standin.fail_next(429, headers={"X-RateLimit-Reset": "0"})

    _, result = send(sqlite_store, settings, provider_for(standin, settings))

    assert standin.statuses == [503, 429, 202]
    assert result.sent == 2
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))


def test_a_second_run_retries_only_the_failed_and_the_never_sent(store, settings, standin):
    addresses = segments_of(store, settings, 4, 3)
    settings.sendgrid.max_retries = 1
    provider = provider_for(standin, settings)

    def then_fail() -> None:
        standin.fail_next(502, count=2)  # the second batch fails for good
        standin.fail_next(401)  # and the key is refused on the third

    provider.after_first = then_fail

    report, result = send(store, settings, provider)

    assert "SendGrid rejected the API key" in report.aborted
    first, second = ({r.email for r in b.recipients} for b in provider.batches[:2])
    rows = ledger_rows(store, settings, result.edition)
    assert {a for a, r in rows.items() if r.status == "sent"} == first
    assert {a for a, r in rows.items() if r.status == "failed"} == second
    assert all("502" in rows[a].error for a in second)
    assert {a for a, r in rows.items() if r.status == "pending"} == set(addresses) - first - second

    before = standin.deliveries()
    _, again = send(store, settings, provider_for(standin, settings))

    assert standin.deliveries() - before == Counter(dict.fromkeys(set(addresses) - first, 1))
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert (again.sent, again.failed) == (9, 0)
    counts = Ledger(store, settings.timezone).counts(again.edition)
    assert counts == {"sent": 12, "failed": 0, "in_doubt": 0, "skipped": 0, "pending": 0}


# -- configuration --------------------------------------------------------------------


def test_no_api_key_is_a_config_error(monkeypatch, settings):
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        SendGridProvider.from_settings(settings)
    monkeypatch.setenv("SENDGRID_API_KEY", "")
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        make_provider("sendgrid", settings)


def test_the_api_host_comes_from_the_environment(monkeypatch, settings):
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("SENDGRID_API_HOST", "http://127.0.0.1:9/")

    provider = SendGridProvider.from_settings(settings)

    assert provider.host == "http://127.0.0.1:9"
    assert provider.wire.address == ("127.0.0.1", 9)


@pytest.mark.parametrize("residency", ["eu", "global"])
def test_data_residency_selects_the_regional_host(monkeypatch, tmp_path, residency):
    config = tmp_path / "digest.toml"
    config.write_text(f'[sendgrid]\ndata_residency = "{residency}"\n', encoding="utf-8")
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    settings = load_settings(str(config))

    provider = make_provider("sendgrid", settings)

    expected = "https://api.eu.sendgrid.com" if residency == "eu" else "https://api.sendgrid.com"
    assert provider.host == expected == HOSTS[residency]


# -- the CLI ----------------------------------------------------------------------------


def cli_env(database_url: str, standin: SendGridStandIn, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        DIGEST_DATABASE_URL=database_url,
        DIGEST_SECRET=SECRET,
        SENDGRID_API_KEY=key,
        SENDGRID_API_HOST=standin.url,
        NO_PROXY=LOOPBACK,
        no_proxy=LOOPBACK,
        COLUMNS="200",
    )
    return env


@pytest.fixture
def cli_newsroom(tmp_path) -> tuple[str, list[str]]:
    """A database with today's news (real time: the CLI sends today's edition)."""
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    store = Store(url)
    try:
        addresses = segments_of(store, Settings(), 3, 4, when=datetime.now(UTC))
    finally:
        store.close()
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    return url, addresses


def test_cli_send_through_sendgrid_exits_0(cli_newsroom, tmp_path, standin):
    url, addresses = cli_newsroom

    result = digest("send", "--provider", "sendgrid", cwd=tmp_path, env=cli_env(url, standin, KEY))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert "12 sent" in result.stdout


def test_cli_wrong_key_exits_1_with_one_line_and_no_key(cli_newsroom, tmp_path, standin):
    url, _ = cli_newsroom

    result = digest(
        "send", "--provider", "sendgrid", cwd=tmp_path, env=cli_env(url, standin, WRONG_KEY)
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SendGrid rejected the API key" in lines[0]
    assert WRONG_KEY not in result.stdout + result.stderr
    assert standin.accepted == []


def test_cli_counts_failed_recipients_and_exits_1(cli_newsroom, tmp_path, standin):
    url, _ = cli_newsroom
    (tmp_path / "digest.toml").write_text(
        LIVE_LINKS + "[sendgrid]\nmax_retries = 1\nmax_wait = 0.1\n", encoding="utf-8"
    )
    standin.fail_next(500, count=2)  # the first batch: two attempts, both 500

    result = digest("send", "--provider", "sendgrid", cwd=tmp_path, env=cli_env(url, standin, KEY))

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "4 failed" in result.stdout and "8 sent" in result.stdout
    failed_lines = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed_lines) == 1  # one line per reason, not one per recipient
    assert "500" in failed_lines[0]
    assert sum(standin.deliveries().values()) == 8


def test_cli_a_slow_sendgrid_puts_the_batch_in_doubt_once_never_twice(
    cli_newsroom, tmp_path, standin
):
    """The case that once mailed each recipient four times: a 1.5 s server, timeout = 1."""
    url, addresses = cli_newsroom
    (tmp_path / "digest.toml").write_text(
        LIVE_LINKS + "[sendgrid]\ntimeout = 1\n", encoding="utf-8"
    )
    standin.answer_delay = 1.5
    env = cli_env(url, standin, KEY)

    first = digest("send", "--provider", "sendgrid", cwd=tmp_path, env=env)
    again = digest("send", "--provider", "sendgrid", cwd=tmp_path, env=env)
    status = digest("status", cwd=tmp_path, env=env)

    for result in (first, again):
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "12 recipient(s) in doubt" in result.stderr
        assert "--resend-in-doubt" in result.stderr
    assert first.stderr.count("in doubt: ") == 1  # one line per reason
    assert "did not answer within 1 s" in first.stderr
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))  # each mailed once
    assert sum(int(r["in_doubt"]) for r in status_blocks(status.stdout)["edition"]) == 12
    assert "12 recipient(s) in doubt" in status.stderr

    standin.answer_delay = 0.0
    resent = digest("send", "--provider", "sendgrid", "--resend-in-doubt", cwd=tmp_path, env=env)

    assert resent.returncode == 0, resent.stderr
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 2))  # the operator's choice


def test_an_address_at_an_internationalised_domain_is_sent_in_its_idna_form(
    store, settings, standin
):
    save_news(store)
    store.save_subscribers([subscriber("ana@bücher.de", name="Ana")])

    _, result = send(store, settings, provider_for(standin, settings))

    assert result.sent == 1
    (entry,) = standin.accepted
    (personalization,) = entry["body"]["personalizations"]
    assert personalization["to"] == [{"email": "ana@xn--bcher-kva.de", "name": "Ana"}]
    # SendGrid's events name that form: it finds the subscriber stored as given.
    assert store.find_subscriber("ana@xn--bcher-kva.de").email == "ana@bücher.de"
