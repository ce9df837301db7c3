"""Only SendGrid's own acceptance is "sent": a 200 page from a captive portal, a wrong
host or a proxy never is (issue 22, delivery 4); a 413 halves the batch (delivery 9).

Each test points the real provider at a real loopback server answering the way
such things do (tests/standins/captive_portal.py), through the real Dispatcher
and ledger, and reads what the operator would: the ledger, the one line, the CLI.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import test_sendgrid
from conftest import run_digest as digest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from standins.captive_portal import CaptivePortal
from standins.sendgrid_server import SendGridStandIn
from test_sendgrid import (
    KEY,
    RecordingProvider,
    cli_env,
    ledger_rows,
    provider_for,
    segments_of,
    send,
)

from digest.delivery.sendgrid_answers import (
    Answer,
    LooksAccepted,
    NotSendGrid,
    describe,
    judge,
)
from digest.sending.ledger import Ledger
from digest.store.editions import list_editions
from digest.store.store import Store
from digest.validate import has_control

# test_sendgrid's fixtures: loopback only and no proxy (autouse), the stand-in, a CLI's database.
_env = test_sendgrid._env
standin = test_sendgrid.standin
cli_newsroom = test_sendgrid.cli_newsroom


def test_a_captive_portals_200_page_is_not_sent_and_stops_the_send(store, settings):
    addresses = segments_of(store, settings, 3, 2)  # three batches

    with CaptivePortal() as portal:
        provider = RecordingProvider(KEY, settings, portal.url, sleep=lambda _s: None)
        report, result = send(store, settings, provider)

    assert portal.requests == 1  # stopped at the first such answer
    rows = ledger_rows(store, settings, result.edition)
    assert {r.status for r in rows.values()} == {"pending"}  # nobody "sent", nobody lost
    assert result.sent == 0 and report.aborted is not None
    line = report.aborted
    assert "\n" not in line
    for part in ("200", "text/html", '"Grand Hotel Wi-Fi – please log in"', portal.url):
        assert part in line, line
    assert "nothing was sent" in line and "SENDGRID_API_HOST" in line
    assert set(rows) == set(addresses)


def test_after_the_portal_is_gone_the_same_send_delivers_each_once(store, settings, standin):
    addresses = segments_of(store, settings, 2, 3)
    with CaptivePortal() as portal:
        send(store, settings, RecordingProvider(KEY, settings, portal.url))

    _, again = send(store, settings, provider_for(standin, settings))

    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert again.sent == len(addresses)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "headers", "shown"),
    [
        (200, b"OK", "text/plain", {}, '200 text/plain "OK"'),
        (202, b"<html><body>queued</body></html>", "text/html", {}, '"<html><body>queued'),
        (200, b"[1, 2]", "application/json", {}, '"[1, 2]"'),  # JSON, not an object
        (200, b"\xff\xfe\x00garbage\x1b[31m", "application/octet-stream", {}, "garbage"),
        (302, b"", "", {"Location": "https://login.example.net/"}, "to https://login.example"),
        (404, b"<title>Not Found</title>", "text/html", {}, '404 text/html "Not Found"'),
        (403, b"<title>Blocked by policy</title>", "text/html", {}, '"Blocked by policy"'),
    ],
)
def test_any_answer_that_is_not_sendgrids_is_named_and_sends_nothing(
    sqlite_store, settings, status, body, content_type, headers, shown
):
    segments_of(sqlite_store, settings, 1, 2)

    with CaptivePortal(status, body, content_type, headers) as portal:
        report, result = send(sqlite_store, settings, RecordingProvider(KEY, settings, portal.url))

    assert report.aborted is not None and shown in report.aborted, report.aborted
    assert "not SendGrid's" in report.aborted
    assert "\x1b" not in report.aborted and "\x00" not in report.aborted
    assert "API key" not in report.aborted  # a proxy's 403 page is not SendGrid's refusal
    counts = Ledger(sqlite_store, settings.timezone).counts(result.edition)
    assert (counts["sent"], counts["pending"]) == (0, 2)


def test_a_200_in_sendgrids_shape_without_sandbox_mode_is_in_doubt_and_stops(store, settings):
    addresses = segments_of(store, settings, 2, 2)

    with CaptivePortal(200, b"", "") as answerer:
        report, result = send(store, settings, RecordingProvider(KEY, settings, answerer.url))

    assert answerer.requests == 1
    rows = ledger_rows(store, settings, result.edition)
    doubted = {a for a, r in rows.items() if r.status == "in_doubt"}
    assert len(doubted) == 2 and doubted < set(addresses)  # that batch only
    assert {r.status for a, r in rows.items() if a not in doubted} == {"pending"}
    assert "may have accepted" in report.aborted and "where SendGrid answers 202" in report.aborted


def test_sandbox_modes_200_is_sendgrids_acceptance(sqlite_store, settings, standin):
    addresses = segments_of(sqlite_store, settings, 1, 3)
    settings.sendgrid.sandbox_mode = True

    report, result = send(sqlite_store, settings, provider_for(standin, settings))

    assert standin.statuses == [200]  # as SendGrid answers a request in sandbox mode
    assert report.aborted is None and result.sent == len(addresses)


def test_cli_a_captive_portal_exits_1_with_one_line_and_leaves_everyone_pending(
    cli_newsroom, tmp_path, standin
):
    url, addresses = cli_newsroom
    with CaptivePortal() as portal:
        env = cli_env(url, standin, KEY) | {"SENDGRID_API_HOST": portal.url}
        result = digest("send", "--provider", "sendgrid", cwd=tmp_path, env=env)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Grand Hotel Wi-Fi" in lines[0] and "200 text/html" in lines[0]
    assert portal.requests == 1
    store = Store(url)
    try:
        (edition,) = list_editions(store.engine)
        counts = Ledger(store, "UTC").counts(edition)
    finally:
        store.close()
    assert (counts["sent"], counts["pending"]) == (0, len(addresses))
    # Then the real SendGrid: everyone once.
    again = digest("send", "--provider", "sendgrid", cwd=tmp_path, env=cli_env(url, standin, KEY))
    assert again.returncode == 0, again.stderr
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))


# -- the judgement itself, on any bytes -------------------------------------------------


SECRET = "s3cret-Pw9"


@hsettings(max_examples=300, deadline=None)
@given(
    status=st.integers(100, 599),
    body=st.binary(max_size=300),
    content_type=st.text(max_size=60),
    sandbox=st.booleans(),
)
def test_only_202_or_sandbox_200_in_sendgrids_shape_is_ever_accepted(
    status, body, content_type, sandbox
):
    answer = Answer(status, content_type, body)
    try:
        accepted = judge(answer, sandbox, f"http://user:{SECRET}@127.0.0.1:9/")
    except (NotSendGrid, LooksAccepted) as err:
        text = str(err)
        # The password is never shown (the generated answer may hold anything else).
        assert "\n" not in text and (SECRET not in text or SECRET in content_type)
        return
    if accepted:
        assert status == 202 or (status == 200 and sandbox)
        stripped = body.strip()
        assert not stripped or isinstance(json.loads(stripped), dict)
    else:  # SendGrid's own refusal: left to the provider's 4xx wording
        assert not 200 <= status < 400


@hsettings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=2000), content_type=st.text(max_size=200))
def test_the_description_is_one_short_printable_line(body, content_type):
    text = describe(Answer(200, content_type, body))
    assert not has_control(text) and len(text) < 300  # one line, no escapes or controls


# -- 413: too large, halved (issue 22, delivery 9) -------------------------------------


def one_segment(store, settings, count: int) -> list[str]:
    return segments_of(store, settings, 1, count)


def test_a_413_halves_the_batch_and_sends_each_half_once(store, settings, standin):
    addresses = one_segment(store, settings, 8)
    standin.fail_next(413)  # a proxy's or SendGrid's size limit, for the whole request only

    report, result = send(store, settings, provider_for(standin, settings))

    assert standin.statuses == [413, 202, 202]
    sizes = sorted(len(e["body"]["personalizations"]) for e in standin.accepted)
    assert sizes == [4, 4]
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    rows = ledger_rows(store, settings, result.edition)
    assert {r.status for r in rows.values()} == {"sent"}
    assert report.aborted is None and (result.sent, result.failed) == (8, 0)


def test_halves_refused_again_are_halved_again(sqlite_store, settings, standin):
    addresses = one_segment(sqlite_store, settings, 8)
    standin.fail_next(413, count=2)  # all 8, then the first 4

    _, result = send(sqlite_store, settings, provider_for(standin, settings))

    # The second 4 make a request as large as the refused first 4 (addresses and names
    # of one length): it is not sent whole, but halved at once.
    assert standin.statuses == [413, 413, 202, 202, 202, 202]
    assert [len(e["body"]["personalizations"]) for e in standin.accepted] == [2, 2, 2, 2]
    assert standin.deliveries() == Counter(dict.fromkeys(addresses, 1))
    assert result.sent == 8


def test_one_recipient_still_too_large_fails_everyone_once_naming_the_size(sqlite_store, settings):
    one_segment(sqlite_store, settings, 8)
    with SendGridStandIn(KEY, max_bytes=500) as small:  # smaller than any request
        report, result = send(sqlite_store, settings, provider_for(small, settings))

        assert small.requests <= 4  # halved down to one, not 15 requests
        assert small.accepted == []
    assert report.aborted is None and result.failed == 8
    (reason,) = {why for _, why in result.failures}  # one reason: one line for the operator
    assert "too large (413) even for one recipient" in reason
    assert re.search(r"a request of [\d,]+ bytes", reason)
    rows = ledger_rows(sqlite_store, settings, result.edition)
    assert not any(r.retry for r in rows.values())  # sending it again cannot help
