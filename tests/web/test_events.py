"""SendGrid's signed Event Webhook, read as SendGrid writes it (``digest.web.events``).

The signature is checked against SendGrid's own published example (a key, a
signature, a timestamp and a body from the documentation of its Python
library's ``EventWebhook`` helper), so digest verifies exactly what SendGrid
signs; the other tests sign with a key pair made here, the way SendGrid does.
And digest's check is held to the helper's answers (installed with ``.[test]``):
digest keeps its own for memory's sake (see ``digest.web.events``), so should
SendGrid change what it signs, these tests are where it shows.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from sendgrid.helpers.eventwebhook import EventWebhook

from digest.errors import ConfigError
from digest.web import events

# SendGrid's example: the verification key as its console shows it, and one signed request.
SENDGRID_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe"
    "62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15"
    "TluLtEZtM="
)
SENDGRID_TIMESTAMP = "1600112502"
SENDGRID_BODY = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-"
                "5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()
RECEIVED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class Signer:
    """An account's key pair, signing as SendGrid does: ECDSA P-256, SHA-256, over
    the timestamp's text followed by the raw body; DER, then base64."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_text = base64.b64encode(der).decode()  # what SendGrid's console shows
        self.public = events.load_public_key(self.public_text)

    def sign(self, body: bytes, timestamp: int | str) -> dict[str, str]:
        stamp = str(timestamp)
        signature = self.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            events.TIMESTAMP_HEADER: stamp,
        }


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


def check(signer: Signer, body: bytes, headers: dict, now: float, key=None) -> None:
    events.verify(
        key or signer.public,
        body,
        headers.get(events.SIGNATURE_HEADER),
        headers.get(events.TIMESTAMP_HEADER),
        now,
    )


# -- the signature -------------------------------------------------------------------


def test_sendgrids_own_example_verifies():
    key = events.load_public_key(SENDGRID_KEY)
    now = int(SENDGRID_TIMESTAMP) + 30
    events.verify(key, SENDGRID_BODY, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, now)


@pytest.mark.parametrize(
    ("body", "timestamp"),
    [
        (SENDGRID_BODY.rstrip(), SENDGRID_TIMESTAMP),  # its line end dropped by a proxy
        (SENDGRID_BODY.replace(b"hello@", b"hellp@"), SENDGRID_TIMESTAMP),
        (SENDGRID_BODY, str(int(SENDGRID_TIMESTAMP) + 1)),  # another time, same signature
    ],
)
def test_sendgrids_example_changed_in_one_byte_is_refused(body, timestamp):
    key = events.load_public_key(SENDGRID_KEY)
    with pytest.raises(events.Refused, match="does not match"):
        events.verify(key, body, SENDGRID_SIGNATURE, timestamp, int(SENDGRID_TIMESTAMP))


def test_a_request_signed_with_another_key_is_refused(signer):
    other = Signer()
    headers = other.sign(b"[]", 1_800_000_000)
    with pytest.raises(events.Refused, match="does not match"):
        check(signer, b"[]", headers, 1_800_000_000)


@pytest.mark.parametrize(
    ("age", "message"),
    [(601, "older than the 600 s allowed"), (86_400, "older"), (-301, "in the future")],
)
def test_a_timestamp_outside_the_window_is_refused_however_well_signed(signer, age, message):
    now = 1_800_000_000
    headers = signer.sign(b"[]", now - age)
    with pytest.raises(events.Refused, match=message):
        check(signer, b"[]", headers, now)


@pytest.mark.parametrize("age", [0, 599, -299])
def test_a_timestamp_inside_the_window_is_accepted(signer, age):
    now = 1_800_000_000
    check(signer, b"[]", signer.sign(b"[]", now - age), now)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({events.SIGNATURE_HEADER: None}, "unsigned"),
        ({events.TIMESTAMP_HEADER: None}, "unsigned"),
        ({events.SIGNATURE_HEADER: ""}, "unsigned"),
        ({events.TIMESTAMP_HEADER: "1.8e9"}, "not a Unix time"),
        ({events.TIMESTAMP_HEADER: "-1800000000"}, "not a Unix time"),
        ({events.TIMESTAMP_HEADER: "١٨٠٠٠٠٠٠٠٠"}, "not a Unix time"),  # Arabic-Indic digits
        ({events.TIMESTAMP_HEADER: "9" * 400}, "not a Unix time"),
        ({events.SIGNATURE_HEADER: "not base64!"}, "not base64"),
        ({events.SIGNATURE_HEADER: base64.b64encode(b"\x30\x02\x01").decode()}, "does not"),
    ],
)
def test_missing_or_malformed_headers_are_refused(signer, change, message):
    now = 1_800_000_000
    headers = {**signer.sign(b"[]", now), **change}
    with pytest.raises(events.Refused, match=message):
        check(signer, b"[]", {k: v for k, v in headers.items() if v is not None}, now)


# -- the same answers as SendGrid's own helper --------------------------------------


def both_accept(key: str, body: bytes, signature: str, timestamp: str) -> tuple[bool, bool]:
    """Whether digest's check and SendGrid's ``EventWebhook`` accept one request
    (for the helper, an exception is a refusal: it raises on a signature not base64)."""
    try:
        events.verify(events.load_public_key(key), body, signature, timestamp, int(timestamp))
        ours = True
    except events.Refused:
        ours = False
    helper = EventWebhook(key)
    try:
        theirs = helper.verify_signature(body.decode("utf-8"), signature, timestamp) is True
    except ValueError:  # binascii.Error included
        theirs = False
    return ours, theirs


ASCII_BODY = json.dumps([{"email": "ann@example.com", "event": "bounce", "reason": "550 5.1.1"}])
BODIES = {
    "empty": "[]",
    "ascii": ASCII_BODY,
    "non-ascii": json.dumps(
        [{"email": "zoë@exämple.de", "event": "dropped", "reason": "Postfach voll 📭"}],
        ensure_ascii=False,
    ),
    "long-crlf": "\r\n".join([ASCII_BODY] * 200) + "\r\n",
}


@pytest.mark.parametrize("text", BODIES.values(), ids=BODIES.keys())
def test_digest_and_sendgrids_helper_accept_the_same_signatures(signer, text):
    raw = text.encode()
    headers = signer.sign(raw, 1_800_000_000)
    signature, stamp = headers[events.SIGNATURE_HEADER], headers[events.TIMESTAMP_HEADER]
    assert both_accept(signer.public_text, raw, signature, stamp) == (True, True)


def test_digest_and_sendgrids_helper_accept_sendgrids_own_example():
    answers = both_accept(SENDGRID_KEY, SENDGRID_BODY, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP)
    assert answers == (True, True)


SPOILED = {
    "body-longer": lambda r: r | {"body": r["body"] + b" "},
    "body-changed": lambda r: r | {"body": r["body"].replace(b"[", b"[ ", 1)},
    "timestamp": lambda r: r | {"timestamp": str(int(r["timestamp"]) - 1)},
    "other-key": lambda r: r | {"key": Signer().public_text},
    "signature": lambda r: r | {"signature": r["signature"][:-8] + "AAAAAAA="},
    "not-der": lambda r: r | {"signature": base64.b64encode(b"\x30\x02\x01").decode()},
    "not-base64": lambda r: r | {"signature": "not base64!"},
    "empty": lambda r: r | {"signature": ""},
}


@pytest.mark.parametrize("spoil", SPOILED.values(), ids=SPOILED.keys())
def test_digest_and_sendgrids_helper_refuse_the_same_requests(signer, spoil):
    raw = BODIES["non-ascii"].encode()
    headers = signer.sign(raw, 1_800_000_000)
    request = {
        "key": signer.public_text,
        "body": raw,
        "signature": headers[events.SIGNATURE_HEADER],
        "timestamp": headers[events.TIMESTAMP_HEADER],
    }
    assert both_accept(**spoil(request)) == (False, False)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.data())
def test_any_text_signed_or_changed_gets_the_same_answer_from_both(signer, text, data):
    """Any body: both accept it as signed; with one character changed, both refuse it."""
    raw = text.encode()
    headers = signer.sign(raw, 1_800_000_000)
    signature, stamp = headers[events.SIGNATURE_HEADER], headers[events.TIMESTAMP_HEADER]
    assert both_accept(signer.public_text, raw, signature, stamp) == (True, True)
    if text:
        at = data.draw(st.integers(0, len(text) - 1))
        other = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[at]))
        changed = (text[:at] + other + text[at + 1 :]).encode()
        assert both_accept(signer.public_text, changed, signature, stamp) == (False, False)


# -- the key -------------------------------------------------------------------------


def test_the_key_reads_as_shown_as_pem_and_across_lines(signer):
    text = signer.public_text
    pem = f"-----BEGIN PUBLIC KEY-----\n{text[:64]}\n{text[64:]}\n-----END PUBLIC KEY-----\n"
    for form in (text, f"  {text}\n", pem, " ".join([text[:30], text[30:]])):
        assert events.load_public_key(form).public_numbers() == signer.public.public_numbers()


def _der(key) -> str:
    return base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SG.this-is-an-api-key-not-the-verification-key", "not an ECDSA P-256 public key"),
        ("bm90IGEga2V5", "not an ECDSA P-256 public key"),
        (_der(ec.generate_private_key(ec.SECP384R1())), "another kind"),
        (_der(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "another kind"),
    ],
)
def test_a_key_that_is_not_one_is_a_config_error_naming_the_variable(text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        events.load_public_key(text)
    assert str(caught.value).startswith("SENDGRID_WEBHOOK_PUBLIC_KEY: ")
    assert text not in str(caught.value)


def test_the_insecure_switch_takes_only_1_or_0(monkeypatch):
    monkeypatch.delenv(events.INSECURE_VARIABLE, raising=False)
    assert events.insecure_allowed() is False
    monkeypatch.setenv(events.INSECURE_VARIABLE, "1")
    assert events.insecure_allowed() is True
    monkeypatch.setenv(events.INSECURE_VARIABLE, "yes please")
    with pytest.raises(ConfigError, match="DIGEST_WEBHOOK_INSECURE: expected 1 or 0"):
        events.insecure_allowed()


# -- the body ------------------------------------------------------------------------


def body(*items) -> bytes:
    return json.dumps(list(items)).encode()


def event(kind: str, email: str = "ann@example.com", **extra) -> dict:
    return {
        "email": email,
        "event": kind,
        "timestamp": int(RECEIVED.timestamp()) - 60,
        "sg_event_id": f"{kind}-{email}-{len(extra)}",
        **extra,
    }


def test_each_kind_does_what_it_says():
    found, ignored = events.parse(
        body(
            event("bounce", reason="550 5.1.1 The email account does not exist", status="5.1.1"),
            event("dropped", reason="Bounced Address"),
            event("spamreport"),
            event("unsubscribe"),
            event("group_unsubscribe", asm_group_id=1),
            event("delivered", edition_id="12", subscriber_id="34"),
            event("open"),
            event("click", url="https://news.example.org/"),
            event("processed"),
            event("deferred"),
            event("group_resubscribe"),
        ),
        RECEIVED,
    )
    assert ignored == 3
    assert [(e.kind, e.suppress, e.unsubscribe) for e in found] == [
        ("bounce", "bounced", False),
        ("dropped", "dropped", False),
        ("spamreport", "complaint", False),
        ("unsubscribe", None, True),
        ("group_unsubscribe", None, True),
        ("delivered", None, False),
        ("open", None, False),
        ("click", None, False),
    ]
    assert found[0].detail == "550 5.1.1 The email account does not exist"
    assert (found[5].edition_id, found[5].subscriber_id) == (12, 34)
    assert found[0].occurred_at == datetime.fromtimestamp(RECEIVED.timestamp() - 60, UTC)


@pytest.mark.parametrize(
    ("extra", "suppress"),
    [
        ({"type": "bounce"}, "bounced"),
        ({"type": "blocked", "bounce_classification": "Invalid Address"}, "bounced"),
        ({"type": "blocked", "bounce_classification": "Reputation"}, "ignored"),
        ({"type": "blocked"}, "ignored"),
    ],
)
def test_a_block_suppresses_only_an_address_classified_invalid(extra, suppress):
    found, ignored = events.parse(body(event("bounce", **extra)), RECEIVED)
    assert (found[0].suppress if found else "ignored") == suppress
    assert ignored == (not found)


@pytest.mark.parametrize(
    ("reason", "suppress"),
    [
        ("Bounced Address", "dropped"),
        ("Unsubscribed Address", "dropped"),
        ("Spam Reporting Address", "dropped"),
        ("Invalid", "dropped"),
        ("Spam Content (if Spam Checker app is enabled)", None),
        ("Invalid SMTPAPI header", None),
        ("Recipient List over Package Quota", None),
    ],
)
def test_a_drop_for_the_messages_sake_counts_but_does_not_suppress(reason, suppress):
    (found,), _ = events.parse(body(event("dropped", reason=reason)), RECEIVED)
    assert (found.kind, found.suppress) == ("dropped", suppress)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7), ("0", None), ("-3", None), ("12x", None), (12, None), ("99999999999", None)],
)
def test_custom_args_name_an_edition_only_when_they_are_a_real_id(value, expected):
    (found,), _ = events.parse(body(event("open", edition_id=value)), RECEIVED)
    assert found.edition_id == expected


def test_a_test_copys_events_count_for_no_edition_but_still_suppress():
    """``digest send --to`` sends with subscriber_id "0" and the edition's id."""
    test_copy = {"edition_id": "7", "subscriber_id": "0"}
    (opened, bounced), _ = events.parse(
        body(event("open", **test_copy), event("bounce", **test_copy)), RECEIVED
    )
    assert (opened.edition_id, opened.subscriber_id) == (None, None)
    assert (bounced.edition_id, bounced.suppress) == (None, "bounced")


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (None, RECEIVED),
        ("1700000000", RECEIVED),
        (True, RECEIVED),
        (10**30, RECEIVED),
        (-5, RECEIVED),
        (RECEIVED.timestamp() + 3600, RECEIVED),  # never later than received
        (1700000000.5, datetime.fromtimestamp(1700000000.5, UTC)),
    ],
)
def test_an_unusable_event_time_is_the_time_received(stamp, expected):
    (found,), _ = events.parse(body({**event("bounce"), "timestamp": stamp}), RECEIVED)
    assert found.occurred_at == expected


def test_an_event_without_an_id_is_known_by_its_content():
    plain = {k: v for k, v in event("bounce").items() if k != "sg_event_id"}
    (first,), _ = events.parse(body(plain), RECEIVED)
    (again,), _ = events.parse(body(dict(reversed(plain.items()))), RECEIVED)
    (other,), _ = events.parse(body({**plain, "email": "bo@example.org"}), RECEIVED)
    assert first.event_id == again.event_id != other.event_id
    assert first.event_id.startswith("sha256:")
    (long,), _ = events.parse(body(event("open", sg_event_id="x" * 500)), RECEIVED)
    assert len(long.event_id) <= 100


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b'{"event": "bounce"}', "expected a JSON array of events, got an object"),
        (b'"[]"', "got a string"),
        (b"[1, 2]", "event 1: expected an object, got a number"),
        (b'[{"email": "a@example.com"}]', "event 1: no event name"),
        (b'[{"event": ["bounce"]}]', "event 1: no event name"),
        (b'[{"event": "bounce"}]', "event 1 (bounce): email: not an address: 'null'"),
        (b'[{"event": "open", "email": 5}]', "email: not an address: 'a number'"),
        (b'[{"event": "open", "email": "nobody"}]', "email: not an address: 'nobody'"),
        (b'[{"event": "open", "email": "a@b", "sg_event_id": 5}]', "sg_event_id: expected text"),
        (b"\xff\xfe[\x00]\x00", "not UTF-8 text (byte 0)"),
        (b'[{"event": "open", "timestamp": NaN}]', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", "not JSON"),
    ],
)
def test_a_body_that_is_not_sendgrids_events_is_refused_whole(raw, message):
    with pytest.raises(events.BadBody, match=message.replace("(", r"\(").replace(")", r"\)")):
        events.parse(raw, RECEIVED)


def test_a_refused_body_names_the_event_and_applies_nothing_before_it():
    good = event("bounce")
    with pytest.raises(events.BadBody, match="event 3: expected an object"):
        events.parse(body(good, good, "oops"), RECEIVED)


def test_the_events_unknown_to_digest_may_have_any_shape():
    found, ignored = events.parse(
        body({"event": "processed"}, {"event": "machine_opened", "email": None}), RECEIVED
    )
    assert (found, ignored) == ([], 2)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_events_or_one_refusal(raw):
    try:
        found, _ = events.parse(raw, RECEIVED)
    except events.BadBody as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert all(e.occurred_at <= RECEIVED for e in found)


@settings(max_examples=300, deadline=None)
@given(st.lists(JSONISH | st.dictionaries(st.sampled_from(list(event("bounce"))), JSONISH)))
def test_any_json_is_events_or_one_refusal(items):
    raw = json.dumps(items).encode()
    try:
        found, ignored = events.parse(raw, RECEIVED)
    except events.BadBody as err:
        assert str(err).startswith("event ") and "\n" not in str(err)
    else:
        assert len(found) + ignored == len(items)
        for e in found:
            assert "@" in e.email and len(e.email) <= 320
            assert 0 < len(e.event_id) <= 100
            assert e.occurred_at <= RECEIVED
