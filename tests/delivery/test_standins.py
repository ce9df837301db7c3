"""The stand-in servers themselves behave like SendGrid and an SMTP relay.

Why: every provider test and benchmark trusts these servers; if one accepted what
SendGrid rejects, or failed to fail when told, those tests would prove nothing.
"""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from standins.sendgrid_server import SendGridStandIn
from standins.smtp_server import SMTPStandIn

KEY = "SG.test-key"
STANDINS = ROOT / "tests" / "standins"
# Never a proxy: these requests must stay on 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url: str, body: Any, key: str = KEY) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}/v3/mail/send", data=data, headers=headers)
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def mail(*emails: str, **extra: Any) -> dict[str, Any]:
    """A minimal valid Mail Send body: one personalization per address."""
    return {
        "personalizations": [{"to": [{"email": e}]} for e in emails],
        "from": {"email": "digest@example.org"},
        "subject": "Your digest",
        "content": [{"type": "text/plain", "value": "Hello"}],
        **extra,
    }


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with SendGridStandIn(KEY) as standin:
        yield standin


def test_sendgrid_accepts_a_valid_body(sendgrid: SendGridStandIn) -> None:
    status, headers, body = post(sendgrid.url, mail("ann@example.org", "bob@example.org"))
    assert (status, body) == (202, b"")
    assert headers["X-Message-Id"] == sendgrid.accepted[0]["message_id"]
    assert sendgrid.deliveries() == {"ann@example.org": 1, "bob@example.org": 1}


def test_sendgrid_renders_per_recipient(sendgrid: SendGridStandIn) -> None:
    body = mail("ann@example.org", "bob@example.org")
    body["content"].append({"type": "text/html", "value": "<p>Hi -name-</p>"})
    for p, name in zip(body["personalizations"], ["Ann", "Bob"], strict=True):
        p["substitutions"] = {"-name-": name}
        p["headers"] = {"List-Unsubscribe": f"<https://example.org/u/{name}>"}
    assert post(sendgrid.url, body)[0] == 202
    subject, text, html, headers = sendgrid.rendered_for("bob@example.org")
    assert (subject, text, html) == ("Your digest", "Hello", "<p>Hi Bob</p>")
    assert headers == {"List-Unsubscribe": "<https://example.org/u/Bob>"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda b: b.update(
                personalizations=[{"to": [{"email": f"r{i}@example.org"}]} for i in range(1001)]
            ),
            "personalizations",
        ),
        (lambda b: b.update(headers={"Reply-To": "x@example.org"}), "headers.Reply-To"),
        (
            lambda b: b["personalizations"][0].update(headers={"dkim-signature": "x"}),
            "personalizations.0.headers.dkim-signature",
        ),
        (
            lambda b: b["personalizations"][0].update(headers={"X-Count": 3}),
            "personalizations.0.headers.X-Count",
        ),
        (lambda b: b["personalizations"][0].pop("to"), "personalizations.0.to"),
        (
            lambda b: b["personalizations"].append({"to": [{"email": "ANN@example.org"}]}),
            "personalizations.1.to",
        ),
        (
            lambda b: b.update(
                content=[
                    {"type": "text/html", "value": "<p>x</p>"},
                    {"type": "text/plain", "value": "x"},
                ]
            ),
            "content",
        ),
        (
            lambda b: b["personalizations"][0].update(substitutions={"-x-": "y" * 10_001}),
            "personalizations.0.substitutions",
        ),
        (
            lambda b: b["personalizations"][0].update(custom_args={"x": "y" * 10_001}),
            "personalizations.0.custom_args",
        ),
        (
            lambda b: b["personalizations"][0].update(custom_args={"subscriber_id": 7}),
            "personalizations.0.custom_args",
        ),
        (lambda b: b.update(categories=[f"c{i}" for i in range(11)]), "categories"),
        (lambda b: b.pop("from"), "from"),
        (
            lambda b: b["personalizations"][0]["to"][0].update(email="nobody"),
            "personalizations.0.to.0.email",
        ),
    ],
)
def test_sendgrid_rejects_what_sendgrid_rejects(
    sendgrid: SendGridStandIn, change: Any, field: str
) -> None:
    body = mail("ann@example.org")
    change(body)
    status, _, raw = post(sendgrid.url, body)
    assert status == 400
    errors = json.loads(raw)["errors"]
    assert field in [e["field"] for e in errors], errors
    assert all(set(e) == {"message", "field", "help"} for e in errors)
    assert sendgrid.accepted == []


def test_sendgrid_rejects_bad_json_and_wrong_keys(sendgrid: SendGridStandIn) -> None:
    assert post(sendgrid.url, b"{not json")[0] == 400
    status, _, raw = post(sendgrid.url, mail("ann@example.org"), key="SG.wrong")
    assert status == 401
    assert json.loads(raw) == {
        "errors": [
            {
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None,
                "help": None,
            }
        ]
    }
    assert sendgrid.statuses == [400, 401]


def test_sendgrid_injected_faults_come_first(sendgrid: SendGridStandIn) -> None:
    reset = str(int(time.time()) + 1)
    sendgrid.fail_next(429, headers={"X-RateLimit-Reset": reset})
    sendgrid.fail_next(500)
    sendgrid.fail_next(400, body={"errors": [{"message": "odd", "field": None, "help": None}]})
    status, headers, _ = post(sendgrid.url, {"not": "even valid"})
    assert (status, headers["X-RateLimit-Reset"], headers["X-RateLimit-Remaining"]) == (
        429,
        reset,
        "0",
    )
    assert post(sendgrid.url, mail("ann@example.org"))[0] == 500
    assert (
        json.loads(post(sendgrid.url, mail("ann@example.org"))[2])["errors"][0]["message"] == "odd"
    )
    assert post(sendgrid.url, mail("ann@example.org"))[0] == 202
    assert (sendgrid.requests, sendgrid.statuses) == (4, [429, 500, 400, 202])


def test_sendgrid_delayed_fault_times_a_client_out(sendgrid: SendGridStandIn) -> None:
    sendgrid.fail_next(500, delay=1.0)
    request = urllib.request.Request(f"{sendgrid.url}/v3/mail/send", data=b"{}")
    with pytest.raises(TimeoutError):
        OPENER.open(request, timeout=0.2)


def test_sendgrid_subprocess_records_deliveries(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.tsv"
    command = [
        sys.executable,
        str(STANDINS / "sendgrid_server.py"),
        "--port",
        "0",
        "--api-key",
        KEY,
        "--record",
        str(record),
        "--no-schema",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            ready, url = server.stdout.readline().split()
            assert ready == "READY" and url.startswith("http://127.0.0.1:")
            status, headers, _ = post(url, mail("ann@example.org", "bob@example.org"))
            assert status == 202
        finally:
            server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    lines = record.read_text().splitlines()
    assert lines == [
        f"{headers['X-Message-Id']}\t{e}" for e in ("ann@example.org", "bob@example.org")
    ]


def message(to: str = "ann@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "digest@example.org", to, "Your digest"
    msg.set_content("Hello")
    return msg


def test_smtp_records_messages() -> None:
    with SMTPStandIn() as server, smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.send_message(message())
        client.send_message(message("bob@example.org"))
        (sender, rcpts, parsed), _ = server.messages
        assert (sender, rcpts, parsed["Subject"]) == (
            "digest@example.org",
            ["ann@example.org"],
            "Your digest",
        )
        assert parsed.get_content().strip() == "Hello"
        assert server.deliveries() == {"ann@example.org": 1, "bob@example.org": 1}
        assert server.url() == f"smtp://127.0.0.1:{server.port}"


def test_smtp_enforces_auth() -> None:
    with SMTPStandIn(auth=("digest", "s3cr3t:/")) as server:
        assert server.url() == f"smtp://digest:s3cr3t%3A%2F@127.0.0.1:{server.port}"
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.send_message(message())
            assert refused.value.smtp_code == 530
            with pytest.raises(smtplib.SMTPAuthenticationError) as denied:
                client.login("digest", "wrong")
            assert denied.value.smtp_code == 535
        for mechanism in ("LOGIN", "PLAIN"):
            with smtplib.SMTP(server.host, server.port, timeout=10) as client:
                client.ehlo()
                client.user, client.password = "digest", "s3cr3t:/"
                authobject = getattr(client, f"auth_{mechanism.lower()}")
                assert client.auth(mechanism, authobject, initial_response_ok=False)[0] == 235
                client.send_message(message())
        assert server.deliveries() == {"ann@example.org": 2}


def test_smtp_tempfail_then_accept_and_reject() -> None:
    with SMTPStandIn() as server, smtplib.SMTP(server.host, server.port, timeout=10) as client:
        server.tempfail("ann@example.org")
        server.reject("bob@example.org")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(message())
        assert refused.value.recipients["ann@example.org"][0] == 451
        client.send_message(message())
        with pytest.raises(smtplib.SMTPRecipientsRefused) as rejected:
            client.send_message(message("bob@example.org"))
        assert rejected.value.recipients["bob@example.org"][0] == 550
        assert server.deliveries() == {"ann@example.org": 1}


def test_smtp_drop_after_cuts_the_connection_once() -> None:
    with SMTPStandIn() as server:
        server.drop_after(1)
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            client.send_message(message())
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.send_message(message("bob@example.org"))
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            client.send_message(message("bob@example.org"))
        assert server.deliveries() == {"ann@example.org": 1, "bob@example.org": 1}


@pytest.mark.parametrize(("at", "queued", "kept"), [("rcpt", False, 0), ("data", True, 1)])
def test_smtp_drop_after_can_cut_before_the_message_or_after_queuing_it(at, queued, kept) -> None:
    with SMTPStandIn() as server:
        server.drop_after(0, at=at, queued=queued)
        with (
            smtplib.SMTP(server.host, server.port, timeout=10) as client,
            pytest.raises(smtplib.SMTPServerDisconnected),
        ):
            client.send_message(message())
        assert server.deliveries() == ({"ann@example.org": kept} if kept else {})


def test_smtp_subprocess_counts_until_sigterm() -> None:
    command = [sys.executable, str(STANDINS / "smtp_server.py"), "--port", "0", "--count-only"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            ready, port = server.stdout.readline().split()
            assert ready == "READY"
            with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as client:
                for _ in range(3):
                    client.send_message(message())
        finally:
            server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=10)
    assert (server.returncode, out.strip()) == (0, "3")
