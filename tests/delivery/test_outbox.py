"""The .eml files the outbox provider writes: what SMTP would have carried."""

from __future__ import annotations

import base64
import email
import errno
import os
import re
import subprocess
import sys
from datetime import timedelta
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.policy import default
from email.utils import parsedate_to_datetime

import pytest
from conftest import NOW, article, subscriber

import digest.delivery.outbox as outbox_module
from digest.delivery.base import Outgoing, list_id
from digest.delivery.outbox import OutboxProvider
from digest.models import Edition, Recipient
from digest.rendering.links import (
    make_token,
    make_v1_token,
    make_v2_token,
    read_token,
    signing_key,
)
from digest.rendering.renderer import Rendered, Renderer
from digest.sending.dispatch import Dispatcher
from digest.sending.ledger import Ledger
from digest.web.context import subscriber_for

SECRET = "outbox-test-secret"
FOLDER = "2026-11-24_UTC"
HEADER_LINE = re.compile(rb"^([A-Za-z0-9-]+):", re.M)


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


@pytest.fixture
def newsroom(sqlite_store):
    sqlite_store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
        ]
    )
    sqlite_store.save_subscribers(
        [
            subscriber(
                "zoe.lambert@example.com", ["Climate"], name="Zoë Lambert", first_name="Zoë"
            ),
            subscriber("sam@example.org", name="Sam O'Connor"),
            subscriber("eve@example.net", name="Eve\r\nBcc: victim@example.com\nX-Evil: 1"),
        ]
    )
    return sqlite_store


def send(store, settings):
    return Dispatcher(store, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW).send()


def read_files(settings) -> dict[str, tuple[bytes, email.message.EmailMessage]]:
    found = {}
    for path in sorted((settings.outbox_dir / FOLDER).glob("*.eml")):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=default)
        found[message["To"].addresses[0].addr_spec] = (raw, message)
    return found


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


@pytest.fixture
def mails(newsroom, settings):
    send(newsroom, settings)
    found = read_files(settings)
    assert set(found) == {"zoe.lambert@example.com", "sam@example.org", "eve@example.net"}
    return found


def test_each_file_is_multipart_alternative_text_first(mails):
    for raw, message in mails.values():
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        assert all(p.get_content_charset() == "utf-8" for p in parts)
        assert parts[1].get_content().lstrip().startswith("<!DOCTYPE html>")
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF, as on the wire


def test_each_file_has_the_headers_a_mail_client_expects(mails):
    ids = set()
    for address, (raw, message) in mails.items():
        assert message["From"] == "Daily Digest <digest@example.com>"
        (to,) = message["To"].addresses
        assert to.addr_spec == address
        # The lead headline, and how many more (none for Zoë, who reads only Climate).
        assert message["Subject"] == "Glacier melt sets record" + (
            "" if address.startswith("zoe") else " + 1 more"
        )
        assert message["List-Id"] == "Daily Digest <daily-digest.example.com>"
        assert parsedate_to_datetime(message["Date"]).tzinfo is not None
        assert re.fullmatch(r"<[^<>@\s]+@example\.com>", message["Message-ID"])
        ids.add(message["Message-ID"])
        assert message["MIME-Version"] == "1.0"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in header_block(raw)
    assert len(ids) == len(mails)
    zoe = mails["zoe.lambert@example.com"][1]
    assert zoe["To"].addresses[0].display_name == "Zoë Lambert"  # the name whole, as given
    assert "Hello Zoë," in zoe.get_body(("plain",)).get_content().splitlines()  # the first name
    sam = mails["sam@example.org"][1]  # no first name: greeted by the whole name
    assert "Hello Sam O'Connor," in sam.get_body(("plain",)).get_content().splitlines()


def test_list_unsubscribe_is_a_raw_one_click_link_with_the_recipients_token(mails, newsroom):
    for address, (raw, message) in mails.items():
        header = header_block(raw)
        match = re.search(
            rb"\r\nList-Unsubscribe: <(http://localhost:8000/unsubscribe/(3\.[0-9]+\.[A-Za-z0-9_-]+))>\r\n",
            header,
        )
        assert match, header
        url, token = match.group(1).decode(), match.group(2).decode()
        assert b"=?" not in header.split(b"List-Unsubscribe:", 1)[1].split(b"\r\n", 1)[0]
        assert subscriber_for(token, SECRET.encode(), newsroom).email == address
        assert subscriber_for(token, b"some other key", newsroom) is None
        # The link names the subscriber without showing the address, plain or encoded.
        local = address.split("@")[0]
        assert (
            local not in url and base64.urlsafe_b64encode(address.encode())[:8].decode() not in url
        )
        assert message["List-Unsubscribe"] == f"<{url}>"
        # The same personal link is in both bodies.
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert f"Unsubscribe:\n{url}\n" in text
        assert f'href="{url}"' in message.get_body(("html",)).get_content()


def test_tokens_cannot_be_forged_or_altered():
    key = signing_key()
    alice = subscriber("Alice@Example.com")
    alice.id = 7
    mallory = subscriber("mallory@example.com")
    mallory.id = 8
    people = {7: alice, 8: mallory}
    by_email = {p.email.lower(): p for p in people.values()}

    def read(token, with_key=key):
        return read_token(token, with_key, people.get, lambda e: by_email.get(e.lower()))

    for token in (
        make_token(7, "Alice@Example.com", key),
        make_v2_token(7, "Alice@Example.com", key),
        make_v1_token("Alice@Example.com", key),
    ):
        assert read(token) is alice
        assert read(token, b"another key") is None
        head, mac = token.rsplit(".", 1)
        assert read(f"{head}.{mac[:-2]}AA") is None
        assert read(token[:-1]) is None
    # Another's id (or address) under Alice's mac, or Alice's id bound to another address.
    assert read("3.8." + make_token(7, "alice@example.com", key).split(".")[2]) is None
    other = make_v1_token("mallory@example.com", key).split(".")[0]
    assert read(f"{other}.{make_v1_token('alice@example.com', key).split('.')[1]}") is None
    people[7] = subscriber("someone.else@example.com")  # id 7 now someone else (a rebuilt store)
    people[7].id = 7
    assert read(make_token(7, "Alice@Example.com", key)) is None
    assert read("garbage") is None and read("9.7.AAAA") is None


def test_a_long_non_ascii_public_url_stays_one_raw_header_line(newsroom, settings):
    settings.public_url = "https://bücher.example/" + "newsletter-" * 12 + "abmelden"
    send(newsroom, settings)
    for address, (raw, message) in read_files(settings).items():
        line = next(
            x for x in header_block(raw).split(b"\r\n") if x.startswith(b"List-Unsubscribe:")
        )
        assert line.isascii() and b"=?" not in line and len(line) > 150
        url = message["List-Unsubscribe"].strip("<>")
        assert url.startswith("https://xn--bcher-kva.example/newsletter-newsletter-")
        assert subscriber_for(url.rsplit("/", 1)[1], SECRET.encode(), newsroom).email == address


def test_a_name_with_cr_lf_cannot_inject_a_header(mails):
    raw, message = mails["eve@example.net"]
    names = [m.group(1).lower() for m in HEADER_LINE.finditer(header_block(raw))]
    assert b"bcc" not in names and b"x-evil" not in names
    assert message["Bcc"] is None and message["X-Evil"] is None
    (to,) = message["To"].addresses
    assert to.addr_spec == "eve@example.net"
    assert "\n" not in to.display_name and "\r" not in to.display_name
    # Each header starts its own line: no name ever introduces a new one.
    assert sorted(set(names)) == sorted(
        {
            b"from",
            b"to",
            b"subject",
            b"date",
            b"message-id",
            b"list-unsubscribe",
            b"list-unsubscribe-post",
            b"list-id",
            b"x-digest-edition",
            b"mime-version",
            b"content-type",
        }
    )
    greeting = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # Greeted by the name whole, on one line; what followed the line break stays
    # out of every header.
    # (An address is no name: it is left out.)
    assert "Hello Eve Bcc: X-Evil: 1," in greeting.splitlines()


def test_files_are_complete_and_no_temporary_files_are_left(mails, settings):
    leftovers = [p for p in settings.outbox_dir.rglob("*") if p.is_file()]
    assert all(p.suffix == ".eml" and not p.name.startswith(".") for p in leftovers)
    assert len(leftovers) == 3
    for raw, message in mails.values():
        boundary = message.get_boundary().encode()
        assert raw.rstrip().endswith(b"--" + boundary + b"--")


@pytest.fixture
def disk_full_once(monkeypatch):
    """The disk fills up while the first message is flushed; later writes succeed."""
    real_fsync = outbox_module.os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(outbox_module.os, "fsync", fsync)


def test_a_failed_write_leaves_no_message_and_is_sent_by_the_next_run(
    newsroom, settings, disk_full_once
):
    (first,) = send(newsroom, settings).editions
    assert (first.sent, first.failed) == (2, 1)
    ((address, reason),) = first.failures
    assert "No space left on device" in reason
    assert address not in read_files(settings)

    (second,) = send(newsroom, settings).editions

    assert (second.sent, second.failed) == (1, 0)
    assert len(read_files(settings)) == 3
    counts = Ledger(newsroom, "UTC").counts(first.edition)
    assert counts == {"sent": 3, "failed": 0, "in_doubt": 0, "skipped": 0, "pending": 0}


def test_a_failed_write_leaves_no_temporary_file(newsroom, settings, disk_full_once):
    send(newsroom, settings)
    stray = [p.name for p in settings.outbox_dir.rglob("*") if p.name.endswith(".tmp")]
    assert stray == []


def test_a_killed_writers_half_written_file_is_cleared_on_the_next_send(newsroom, settings):
    """A process killed mid-write leaves ``.<name>.<pid>.tmp``; the next send removes it."""
    folder = settings.outbox_dir / FOLDER
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".1-zoe.lambert@example.com.eml.{dead.pid}.tmp"
    stale.write_bytes(b"From: half a mess")
    mine = folder / f".9-other@example.com.eml.{os.getpid()}.tmp"  # a live writer's: kept
    mine.write_bytes(b"in progress")

    send(newsroom, settings)

    assert not stale.exists()
    assert mine.exists()
    assert len(list(folder.glob("*.eml"))) == 3


@pytest.mark.parametrize("eight_bit", [True, False], ids=["template", "built-whole"])
def test_a_long_non_ascii_name_is_split_into_short_encoded_words(newsroom, settings, eight_bit):
    from digest.delivery.base import Outgoing
    from digest.editions.contents import EditionContent
    from digest.models import Recipient

    name = "Łukasz Żółć-Świętochowski " * 4  # 100+ characters, most of them non-ASCII
    dispatcher = Dispatcher(
        newsroom, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW
    )
    (edition,) = dispatcher.editions_for(None)
    content = EditionContent(newsroom, settings, edition, dispatcher.renderer)
    segment, _ = content.segment_of("")
    recipient = Recipient(1, "lukasz@example.com", name, "x")
    batch = Outgoing(
        edition=edition,
        segment=segment,
        content=content.rendered(segment),
        recipients=[recipient],
        renderer=dispatcher.renderer,
        sender=dispatcher.sender,
    )

    raw, _ = batch.wire_bytes(recipient, eight_bit=eight_bit)

    words = re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", header_block(raw))
    assert len(words) > 1 and max(len(w) for w in words) <= 75  # RFC 2047, section 2
    assert all(len(line) <= 78 for line in header_block(raw).split(b"\r\n") if b"=?" in line)
    # Decoded the way RFC 2047 says (white space between encoded words is dropped):
    # email.header does; the newer email.headerregistry parser keeps it, wrongly.
    to = re.search(rb"\r\nTo: (.*?)\r\n(?! )", b"\r\n" + header_block(raw), re.S).group(1)
    phrase, address = to.decode("ascii").replace("\r\n ", " ").rsplit(" ", 1)
    assert address == "<lukasz@example.com>"
    assert str(make_header(decode_header(phrase))) == " ".join(name.split())[:100].strip()


def test_an_encoded_word_in_a_keyword_cannot_become_a_header(sqlite_store, settings):
    """A keyword and a headline (both reach the subject) that are RFC 2047 words hiding
    CR LF + Bcc:."""
    evil = "=?utf-8?q?News=0D=0ABcc:_attacker@evil.example=0D=0AReply-To:_x@evil.example?="
    sqlite_store.save_articles([article(evil.replace("News", "Lead"), [evil], published=NOW)])
    sqlite_store.save_subscribers([subscriber("ann@example.com", name=evil)])
    settings.subject = "{lead} · {keywords}"

    send(sqlite_store, settings)

    (raw, message) = read_files(settings)["ann@example.com"]
    names = {m.group(1).lower() for m in HEADER_LINE.finditer(header_block(raw))}
    assert b"bcc" not in names and b"reply-to" not in names
    assert message["Bcc"] is None and message["Reply-To"] is None
    assert message["Subject"].count("attacker@evil.example") == 2  # still there, as text
    assert "\n" not in message["Subject"] and "\n" not in str(message["To"])


def test_an_outbox_folder_that_cannot_be_made_stops_before_anything_is_handed_over(
    newsroom, settings, tmp_path
):
    from digest.errors import ConfigError

    (tmp_path / "afile").write_text("not a folder")
    settings.outbox_dir = tmp_path / "afile" / "sub"
    with pytest.raises(ConfigError, match="outbox_dir: cannot make the folder"):
        send(newsroom, settings)

    settings.outbox_dir = tmp_path / "outbox"  # the operator fixes the setting
    (result,) = send(newsroom, settings).editions

    assert (result.sent, result.in_doubt, result.failed) == (3, 0, 0)


def test_no_line_of_a_message_passes_998_octets(sqlite_store, settings):
    """RFC 5322's limit, which SMTP servers enforce ("500 Line too long"): a 2,000-
    character link, a long public_url and a long name are encoded, not sent raw."""
    long_link = "https://news.example.org/" + "a" * 1_950
    sqlite_store.save_articles(
        [
            article("A story with a very long link", ["Climate"], published=NOW, url=long_link),
            article("An ordinary story", ["Energy"], published=NOW - timedelta(minutes=1)),
        ]
        + [article(f"Topic {i} news", [f"Topic {i}"], published=NOW) for i in range(14)]
    )
    sqlite_store.save_subscribers(
        [
            subscriber("long@example.com", name="Bartholomew " * 16),
            subscriber("energy@example.com", ["Energy"], name="Ann"),
        ]
    )
    settings.public_url = "https://digest.example.com/" + "n" * 270  # near its limit

    send(sqlite_store, settings)

    found = read_files(settings)
    assert set(found) == {"long@example.com", "energy@example.com"}
    for raw, message in found.values():
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        html = message.get_body(("html",)).get_content()
        assert settings.public_url in html
    assert long_link in found["long@example.com"][1].get_body(("html",)).get_content()
    # A copy whose lines fit still goes as it always did: 8-bit, built by substitution.
    energy = found["energy@example.com"][1]
    assert energy.get_body(("html",))["Content-Transfer-Encoding"] == "8bit"


def test_a_copy_whose_own_values_would_make_a_line_too_long_is_built_whole(settings):
    """A line that fits with placeholders may not fit once a recipient's link is in."""
    renderer = Renderer(settings)
    url_placeholder = renderer.personal.placeholders["unsubscribe_url"]
    segment = Rendered(
        subject="Subject",
        html=f'<p>{"x" * 900}<a href="{url_placeholder}">Unsubscribe</a></p>\n',
        text=f"{renderer.personal.text_placeholders['unsubscribe_url']}\n",
    )
    edition = Edition(NOW.date(), "UTC", NOW - timedelta(hours=36), NOW, id=1)
    short = Recipient(1, "a@example.com", "A", "T")
    long = Recipient(2, "b@example.com", "B", "T" * 200)
    batch = Outgoing(
        edition, "", segment, [short, long], renderer, Address("D", "d", "example.com")
    )

    for recipient in (short, long):
        raw, _ = batch.wire_bytes(recipient)
        message = email.message_from_bytes(raw, policy=default)
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        url = renderer.personal.pages.unsubscribe(recipient.token)
        assert url in message.get_body(("html",)).get_content()
    assert b"Content-Transfer-Encoding: 8bit" in batch.wire_bytes(short)[0]
    assert b"Content-Transfer-Encoding: 8bit" not in batch.wire_bytes(long)[0]


@pytest.mark.parametrize(
    ("title", "sender", "expected"),
    [
        ("Daily Digest", "digest@example.com", "Daily Digest <daily-digest.example.com>"),
        ("Le Quotidien d’Exemple", "a@example.fr", "<le-quotidien-d-exemple.example.fr>"),
        ('News "<Bcc: x@evil.example>"', "a@example.com", "<news-bcc-x-evil-example.example.com>"),
        ("日报", "a@例え.jp", "<digest.xn--r8jz45g.jp>"),
        ("Ünïcödé Wëekly", "a@example.com", "<unicode-weekly.example.com>"),
    ],
)
def test_list_id_is_one_plain_rfc_2919_name(settings, title, sender, expected):
    settings.title = title
    batch = Outgoing(
        Edition(NOW.date(), "UTC", NOW, NOW, id=1),
        "",
        Rendered("s", "h", "t"),
        [],
        Renderer(settings),
        Address("D", addr_spec=sender),
    )
    assert list_id(batch) == expected
