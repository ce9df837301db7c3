"""The SMTP provider against a real aiosmtpd server on 127.0.0.1, through the real
Dispatcher and through the ``digest`` command.

The stand-in (tests/standins/smtp_server.py) records what it accepts and fails on
request, per address, the way relays do: 451 (greylisting), 550 (no such user), a
connection cut after DATA. Tests read what recipients got (the parsed messages)
and what the operator sees (ledger, report, exit code, stderr).
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import LIVE_LINKS, NOW, article, status_blocks, subscriber
from conftest import run_digest as digest
from standins.smtp_server import SMTPStandIn

from digest.delivery import make_provider
from digest.delivery.smtp import SMTPProvider, parse_url
from digest.editions.contents import EditionContent
from digest.errors import ConfigError
from digest.rendering.links import Links, view_url
from digest.rendering.personal import greeting_for
from digest.rendering.renderer import Renderer
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.store.store import Store

SECRET = "smtp-test-secret"
USER = "digest@example.com"  # an address as the login: needs URL-encoding
PASSWORD = "p@ss:w/rd %+#?&"  # characters that URL-encoding must carry
TOPIC_SETS = [["Climate"], ["Energy"], []]


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.delenv("DIGEST_SMTP_URL", raising=False)


@pytest.fixture
def server() -> Iterator[SMTPStandIn]:
    with SMTPStandIn() as standin:
        yield standin


@pytest.fixture
def auth_server() -> Iterator[SMTPStandIn]:
    with SMTPStandIn(auth=(USER, PASSWORD)) as standin:
        yield standin


def save_news(store, when: datetime = NOW) -> None:
    store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=when - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=when - timedelta(hours=2)),
        ]
    )


def readers(store, count: int, when: datetime = NOW) -> dict[str, object]:
    """Today's news and ``count`` subscribers across three segments, by address."""
    save_news(store, when)
    people = [
        subscriber(f"reader{i:02}@example.com", TOPIC_SETS[i % 3], name=f"Reader {i}")
        for i in range(count)
    ]
    store.save_subscribers(people)
    return {p.email: p for p in people}


def smtp_send(store, settings, url: str, retry_sleeps: list[float] | None = None):
    provider = SMTPProvider(parse_url(url), settings)
    sleep = retry_sleeps.append if retry_sleeps is not None else (lambda _s: None)
    dispatcher = Dispatcher(store, settings, provider, now=lambda: NOW, sleep=sleep)
    try:
        report = dispatcher.send()
    finally:
        provider.close()
    (result,) = report.editions
    return report, result


def ledger_rows(store, settings, edition) -> dict[str, object]:
    return {row.email: row for row in Ledger(store, settings.timezone).entries(edition)}


def once_each(addresses) -> Counter:
    return Counter(dict.fromkeys(addresses, 1))


# -- DIGEST_SMTP_URL ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 587, None, None, False)),
        ("smtps://mail.example.com", ("mail.example.com", 465, None, None, True)),
        ("smtp://u:p@mail.example.com:2525", ("mail.example.com", 2525, "u", "p", False)),
        ("smtps://u:p@mail.example.com:4650", ("mail.example.com", 4650, "u", "p", True)),
        (
            "smtp://digest%40example.com:p%40ss%3Aw%2Frd%20%25%2B%23%3F%26@127.0.0.1:25",
            ("127.0.0.1", 25, USER, PASSWORD, False),
        ),
    ],
)
def test_parse_url(url, expected):
    server = parse_url(url)
    assert (server.host, server.port, server.user, server.password, server.implicit_tls) == (
        expected
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://digest:hunter2secret@mail.example.com",
        "smtp://digest:hunter2secret@",
        "smtp://digest:hunter2secret@mail.example.com:notaport",
        "smtp://digest:hunter2secret@mail.example.com:99999",
        "digest:hunter2secret@mail.example.com",
        "",
    ],
)
def test_a_bad_url_is_a_config_error_without_the_password(url):
    with pytest.raises(ConfigError) as raised:
        parse_url(url)
    assert "hunter2secret" not in str(raised.value)
    assert "DIGEST_SMTP_URL" in str(raised.value)


def test_an_unclosed_ipv6_bracket_is_a_config_error_without_the_password():
    with pytest.raises(ConfigError) as raised:
        parse_url("smtp://digest:hunter2secret@[::1:25")
    assert "hunter2secret" not in str(raised.value)


def test_no_smtp_url_is_a_config_error(settings):
    with pytest.raises(ConfigError, match="DIGEST_SMTP_URL"):
        make_provider("smtp", settings)


# -- delivery -------------------------------------------------------------------------


def test_every_recipient_gets_one_well_formed_message(sqlite_store, settings, server):
    people = readers(sqlite_store, 9)
    links = Links(settings.public_url, SECRET.encode())
    settings.subject = "Your digest for {date}: {keywords}"
    settings.greeting = "Hello {name},"

    report, result = smtp_send(sqlite_store, settings, server.url())

    assert report.aborted is None
    assert (result.sent, result.failed) == (9, 0)
    assert server.deliveries() == once_each(people)
    rows = ledger_rows(sqlite_store, settings, result.edition)
    for envelope_from, rcpts, message in server.messages:
        (address,) = rcpts
        person = people[address]
        assert envelope_from == "digest@example.com"
        assert message["To"].addresses[0].addr_spec == address
        assert message["To"].addresses[0].display_name == person.name
        subject = message["Subject"]
        assert subject.startswith("Your digest for 24 November 2026: ")
        topics = person.topics or ["Climate", "Energy"]
        assert subject.endswith(", ".join(topics))
        link = links.unsubscribe(sqlite_store.find_subscriber(address).id, address)
        assert message["List-Unsubscribe"] == f"<{link}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(("plain",)).get_content()
        assert f"Hello {person.name}," in text
        assert link in text
        assert rows[address].status == "sent"
        assert rows[address].message_id == message["Message-ID"]


TRICKY_NAMES = [
    "Smith & Sons",
    "<b>Eve</b> <script>x()</script>",
    'Ann "Nan" Lee',
    "Sam O'Connor",
    "Okafor, Chidi",
    "Zoë Lambert",
    "李小龍",
    "Mallory\r\nBcc: victim@example.net",
    "",
]


def test_names_read_correctly_and_each_copy_equals_a_direct_render(sqlite_store, settings, server):
    save_news(sqlite_store)
    people = [
        subscriber(f"named{i}@example.com", TOPIC_SETS[i % 3], name=name)
        for i, name in enumerate(TRICKY_NAMES)
    ]
    sqlite_store.save_subscribers(people)

    _, result = smtp_send(sqlite_store, settings, server.url())

    assert server.deliveries() == once_each(p.email for p in people)
    renderer = Renderer(settings)
    content = EditionContent(sqlite_store, settings, result.edition, renderer)
    links = Links(settings.public_url, SECRET.encode())
    got = {rcpts[0]: message for _, rcpts, message in server.messages}
    for person in people:
        message = got[person.email]
        segment, _ = content.segment_of(";".join(person.topics))
        token = links.token(sqlite_store.find_subscriber(person.email).id, person.email)
        direct = renderer.render(
            result.edition,
            content.sections(segment),
            content.topic_names(segment),
            greeting_for(person.name),
            links.pages.unsubscribe(token),
            view_url(settings.public_url, result.edition, segment),
            links.pages.preferences(token),
        )
        (to,) = message["To"].addresses
        assert (to.addr_spec, to.display_name) == (person.email, " ".join(person.name.split()))
        assert "Bcc" not in message  # a name cannot add a header (nor a recipient: above)
        assert message["Subject"] == direct.subject
        html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert (text, html) == (direct.text, direct.html), person.name


def test_a_subscriber_with_a_very_long_name_still_gets_their_digest(sqlite_store, settings, server):
    save_news(sqlite_store)
    people = [
        subscriber("long-ascii@example.com", name="Bartholomew & Co " * 100),
        subscriber("long-utf8@example.com", name="Zoë " * 300),
        subscriber("short@example.com", name="Sam"),
    ]
    sqlite_store.save_subscribers(people)

    _, result = smtp_send(sqlite_store, settings, server.url())

    assert result.failures == []
    assert server.deliveries() == once_each(p.email for p in people)


def test_login_with_the_right_credentials(sqlite_store, settings, auth_server):
    people = readers(sqlite_store, 4)

    report, result = smtp_send(sqlite_store, settings, auth_server.url())

    assert report.aborted is None
    assert auth_server.deliveries() == once_each(people)
    assert result.sent == 4


def test_a_non_ascii_password_logs_in_or_stops_cleanly(sqlite_store, settings):
    people = readers(sqlite_store, 3)
    with SMTPStandIn(auth=(USER, "pässwörd")) as standin:
        report, _ = smtp_send(sqlite_store, settings, standin.url())

        if report.aborted is None:
            assert standin.deliveries() == once_each(people)
        else:
            assert f"127.0.0.1:{standin.port}" in report.aborted
            assert "pässwörd" not in report.aborted


def test_a_refused_login_stops_the_send_without_showing_the_password(store, settings, auth_server):
    readers(store, 6)
    url = auth_server.url(USER, "not-the-password-Qz7")

    report, result = smtp_send(store, settings, url)

    assert report.aborted is not None
    assert f"127.0.0.1:{auth_server.port}" in report.aborted
    assert USER in report.aborted
    assert "not-the-password-Qz7" not in str(report)
    assert auth_server.messages == []
    counts = Ledger(store, settings.timezone).counts(result.edition)
    assert counts == {"sent": 0, "failed": 0, "in_doubt": 0, "skipped": 0, "pending": 6}
    rows = ledger_rows(store, settings, result.edition)
    assert all("not-the-password-Qz7" not in (r.error or "") for r in rows.values())


def test_a_temporary_refusal_is_retried_later_in_the_same_run(store, settings, server):
    people = readers(store, 6)
    server.tempfail("reader04@example.com", times=1)
    retry_sleeps: list[float] = []

    report, result = smtp_send(store, settings, server.url(), retry_sleeps)

    assert server.deliveries() == once_each(people)
    assert len(retry_sleeps) == 1  # one more round, not one per recipient
    rows = ledger_rows(store, settings, result.edition)
    assert {r.status for r in rows.values()} == {"sent"}
    assert (result.sent, result.failed) == (6, 0)
    assert report.aborted is None


def test_a_550_fails_that_recipient_only_with_the_servers_words(store, settings, server):
    people = readers(store, 6)
    server.reject("reader02@example.com")

    _, result = smtp_send(store, settings, server.url())

    assert server.deliveries() == once_each(set(people) - {"reader02@example.com"})
    rows = ledger_rows(store, settings, result.edition)
    rejected = rows.pop("reader02@example.com")
    assert rejected.status == "failed"
    assert "550" in rejected.error and "No such user" in rejected.error
    assert {r.status for r in rows.values()} == {"sent"}
    assert (result.sent, result.failed) == (5, 1)
    assert result.failures == [("reader02@example.com", rejected.error)]


def test_a_connection_dropped_before_the_message_is_reopened_and_the_message_sent(
    sqlite_store, settings, server
):
    people = readers(sqlite_store, 8)
    settings.smtp.connections = 1
    server.drop_after(3, at="rcpt")  # the 4th message's connection is cut before DATA

    report, result = smtp_send(sqlite_store, settings, server.url())

    assert report.aborted is None
    assert server.deliveries() == once_each(people)
    assert (result.sent, result.failed, result.in_doubt) == (8, 0, 0)


def test_a_reply_lost_after_the_message_was_sent_leaves_it_in_doubt_not_resent(
    store, settings, server
):
    people = readers(store, 8)
    settings.smtp.connections = 1
    server.drop_after(3, at="data", queued=True)  # the 4th is queued, then the line goes dead

    _, result = smtp_send(store, settings, server.url())

    assert server.deliveries() == once_each(people)  # nobody twice
    rows = ledger_rows(store, settings, result.edition)
    doubted = [a for a, r in rows.items() if r.status == "in_doubt"]
    assert len(doubted) == 1
    assert "may have been delivered" in rows[doubted[0]].error
    assert (result.sent, result.failed, result.in_doubt) == (7, 0, 1)

    _, again = smtp_send(store, settings, server.url())  # the same command again

    assert server.deliveries() == once_each(people)
    assert (again.sent, again.in_doubt) == (0, 1)


def test_parallel_connections_deliver_everyone_once(store, settings, server):
    people = readers(store, 30)
    settings.smtp.connections = 3

    _, result = smtp_send(store, settings, server.url())

    assert server.deliveries() == once_each(people)
    assert len(server.messages) == 30
    assert (result.sent, result.failed) == (30, 0)


def test_the_rate_limit_bounds_throughput(sqlite_store, settings, server):
    people = readers(sqlite_store, 10)
    settings.smtp.rate = 20  # messages per second, over all connections
    settings.smtp.connections = 3

    started = time.monotonic()
    _, result = smtp_send(sqlite_store, settings, server.url())
    elapsed = time.monotonic() - started

    assert server.deliveries() == once_each(people)
    assert elapsed >= 0.4  # nine intervals of 50 ms after the first message
    assert result.sent == 10


def test_require_starttls_stops_the_send_when_the_server_offers_none(
    sqlite_store, settings, server
):
    readers(sqlite_store, 3)
    settings.smtp.require_starttls = True

    report, result = smtp_send(sqlite_store, settings, server.url())

    assert report.aborted is not None
    assert "STARTTLS" in report.aborted
    assert f"127.0.0.1:{server.port}" in report.aborted
    assert server.messages == []
    assert Ledger(sqlite_store, settings.timezone).counts(result.edition)["pending"] == 3


def test_an_unreachable_server_stops_the_send(sqlite_store, settings):
    readers(sqlite_store, 3)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused

        report, result = smtp_send(sqlite_store, settings, f"smtp://127.0.0.1:{port}")

    assert report.aborted is not None
    assert f"127.0.0.1:{port}" in report.aborted
    assert Ledger(sqlite_store, settings.timezone).counts(result.edition)["pending"] == 3


# -- the CLI ----------------------------------------------------------------------------


def cli_env(database_url: str, smtp_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        DIGEST_DATABASE_URL=database_url,
        DIGEST_SECRET=SECRET,
        DIGEST_SMTP_URL=smtp_url,
        COLUMNS="200",
    )
    return env


@pytest.fixture
def cli_db(tmp_path) -> tuple[str, dict[str, object]]:
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    store = Store(url)
    try:
        people = readers(store, 6, when=datetime.now(UTC))
    finally:
        store.close()
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")
    return url, people


def test_cli_send_over_smtp_with_login(cli_db, tmp_path, auth_server):
    url, people = cli_db

    result = digest("send", "--provider", "smtp", cwd=tmp_path, env=cli_env(url, auth_server.url()))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert auth_server.deliveries() == once_each(people)


def test_cli_refused_login_exits_1_naming_server_and_user_not_password(
    cli_db, tmp_path, auth_server
):
    url, _ = cli_db
    smtp_url = auth_server.url(USER, "not-the-password-Qz7")

    result = digest("send", "--provider", "smtp", cwd=tmp_path, env=cli_env(url, smtp_url))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{auth_server.port}" in lines[0] and USER in lines[0]
    assert "not-the-password-Qz7" not in result.stdout + result.stderr
    assert auth_server.messages == []
    status = digest("status", cwd=tmp_path, env=cli_env(url, smtp_url))
    assert status.returncode == 0
    (row,) = status_blocks(status.stdout)["edition"]
    assert [row[k] for k in ("sent", "failed", "skipped", "pending")] == ["0", "0", "0", "6"]


def test_cli_a_rejected_recipient_is_named_and_exits_1(cli_db, tmp_path, server):
    url, people = cli_db
    server.reject("reader01@example.com")

    result = digest("send", "--provider", "smtp", cwd=tmp_path, env=cli_env(url, server.url()))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (failed,) = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert "reader01@example.com" in failed and "550" in failed
    assert server.deliveries() == once_each(set(people) - {"reader01@example.com"})


def test_a_refusal_that_stays_temporary_ends_failed_with_the_servers_words(
    sqlite_store, settings, server
):
    people = readers(sqlite_store, 6)
    settings.smtp.max_retries = 2
    server.tempfail("reader03@example.com", times=100)
    retry_sleeps: list[float] = []

    _, result = smtp_send(sqlite_store, settings, server.url(), retry_sleeps)

    assert len(retry_sleeps) == 2  # max_retries more rounds, then the run ends
    assert server.deliveries() == once_each(set(people) - {"reader03@example.com"})
    rows = ledger_rows(sqlite_store, settings, result.edition)
    assert rows["reader03@example.com"].status == "failed"
    assert "451" in rows["reader03@example.com"].error
    assert (result.sent, result.failed) == (5, 1)


def test_cli_names_a_recipient_still_tempfailed_after_the_last_round(cli_db, tmp_path, server):
    url, _ = cli_db
    (tmp_path / "digest.toml").write_text(
        LIVE_LINKS + "[smtp]\nmax_retries = 1\n", encoding="utf-8"
    )
    server.tempfail("reader03@example.com", times=100)

    result = digest("send", "--provider", "smtp", cwd=tmp_path, env=cli_env(url, server.url()))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    named = [line for line in result.stderr.splitlines() if "reader03@example.com" in line]
    assert len(named) == 1 and "451" in named[0], result.stderr


def test_cli_a_malformed_smtp_url_exits_2_with_one_line(cli_db, tmp_path):
    url, _ = cli_db
    smtp_url = "smtp://digest:hunter2secret@[::1:25"

    result = digest("send", "--provider", "smtp", cwd=tmp_path, env=cli_env(url, smtp_url))

    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DIGEST_SMTP_URL" in result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr


def test_an_address_at_an_internationalised_domain_goes_out_in_its_idna_form(
    sqlite_store, settings, server
):
    """``ana@bücher.de`` is stored as given; the envelope and the To: header carry the
    domain as IDNA (``xn--bcher-kva.de``), which every server and client reads."""
    save_news(sqlite_store)
    sqlite_store.save_subscribers(
        [subscriber("ana@bücher.de", name="Ana"), subscriber("bo@example.org", name="Bo")]
    )

    _, result = smtp_send(sqlite_store, settings, server.url())

    assert (result.sent, result.failed) == (2, 0)
    assert server.deliveries() == once_each(["ana@xn--bcher-kva.de", "bo@example.org"])
    (message,) = [m for _, rcpts, m in server.messages if rcpts == ["ana@xn--bcher-kva.de"]]
    assert message["To"].addresses[0].addr_spec == "ana@xn--bcher-kva.de"
    assert message["To"].addresses[0].display_name == "Ana"
    assert ledger_rows(sqlite_store, settings, result.edition)["ana@bücher.de"].status == "sent"
