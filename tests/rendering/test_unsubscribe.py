"""Unsubscribe tokens (versions 1, 2 and 3) and the rule that no email goes out through
smtp or sendgrid with links that would not work."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from conftest import article, run_digest, subscriber
from hypothesis import given
from hypothesis import strategies as st

from digest.config.settings import Settings
from digest.errors import ConfigError
from digest.models import Subscriber
from digest.rendering.links import (
    MAX_TOKEN,
    Links,
    Signer,
    make_token,
    make_v1_token,
    make_v2_token,
    read_token,
    token_version,
    version_key,
)
from digest.sending.preflight import link_problems, require_live_links

KEY = b"token-test-key"
PEOPLE = {
    i: Subscriber(email=e, id=i)
    for i, e in enumerate(["ann@example.com", "Bob.Smith@Example.org", "zoë@bücher.example"], 1)
}
BY_EMAIL = {s.email.lower(): s for s in PEOPLE.values()}


def read(token: str, key: bytes = KEY) -> Subscriber | None:
    return read_token(token, key, PEOPLE.get, lambda e: BY_EMAIL.get(e.lower()))


def test_each_version_names_its_subscriber():
    for sid, sub in PEOPLE.items():
        assert read(make_token(sid, sub.email, KEY)) is sub
        assert read(make_v2_token(sid, sub.email, KEY)) is sub
        assert read(make_v1_token(sub.email, KEY)) is sub
        assert token_version(make_token(sid, sub.email, KEY)) == 3
        assert token_version(make_v2_token(sid, sub.email, KEY)) == 2
        assert token_version(make_v1_token(sub.email, KEY)) == 1


def test_a_token_made_today_shows_no_part_of_the_address():
    for sid, sub in PEOPLE.items():
        token = make_token(sid, sub.email, KEY)
        local = sub.email.split("@")[0].lower()
        encoded = base64.urlsafe_b64encode(sub.email.lower().encode()).decode().rstrip("=")
        assert local not in token.lower() and encoded[:6] not in token
        assert token.startswith(f"3.{sid}.") and len(token.rsplit(".", 1)[1]) == 24


def test_links_are_made_with_the_current_version_under_public_url():
    links = Links("https://news.example.org/digest/", KEY)
    url = links.unsubscribe(1, "ann@example.com")
    assert url == "https://news.example.org/digest/unsubscribe/" + make_token(
        1, "ann@example.com", KEY
    )


def test_manage_topics_opens_the_preferences_page_of_the_same_token():
    links = Links("https://bücher.example/digest/", KEY)
    token = links.token(1, "ann@example.com")
    root = "https://xn--bcher-kva.example/digest"
    assert links.unsubscribe(1, "ann@example.com") == f"{root}/unsubscribe/{token}"
    assert links.pages.preferences(token) == f"{root}/preferences/{token}"


TOKENS = [
    *(make_token(s.id, s.email, KEY) for s in PEOPLE.values()),
    *(make_v2_token(s.id, s.email, KEY) for s in PEOPLE.values()),
    *(make_v1_token(s.email, KEY) for s in PEOPLE.values()),
]
TOKEN_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.="


@st.composite
def damaged(draw):
    """A real token, then cut, a character changed, removed or added, or pieces of two
    tokens put together."""
    token = draw(st.sampled_from(TOKENS))
    where = draw(st.integers(0, len(token)))
    kind = draw(st.sampled_from(["cut", "change", "drop", "add", "splice", "extend"]))
    char = draw(st.sampled_from(TOKEN_CHARS))
    if kind == "cut":
        bad = token[:where]
    elif kind == "change":
        bad = token[:where] + char + token[where + 1 :]
    elif kind == "drop":
        bad = token[:where] + token[where + 1 :]
    elif kind == "add":
        bad = token[:where] + char + token[where:]
    elif kind == "extend":
        bad = token + draw(st.text(TOKEN_CHARS, min_size=1, max_size=20))
    else:
        other = draw(st.sampled_from(TOKENS))
        bad = token[:where] + other[draw(st.integers(0, len(other))) :]
    return bad


@given(damaged())
def test_a_damaged_token_names_nobody_unless_it_is_whole(bad):
    found = read(bad)
    assert found is None or bad in TOKENS
    if bad in TOKENS:
        assert read(bad) is not None


@given(st.text(max_size=MAX_TOKEN + 50))
def test_any_text_is_refused_without_an_error(text):
    assert read(text) is None


def test_tokens_of_other_versions_and_absurd_ids_are_refused():
    mac = make_token(1, "ann@example.com", KEY).rsplit(".", 1)[1]
    for bad in (f"4.1.{mac}", f"2.1.{mac}", f"0.1.{mac}", f"3.01.{mac}", f"3.+1.{mac}"):
        assert read(bad) is None
    assert read(f"3.{'9' * 30}.{mac}") is None
    assert read("3.1." + mac + "=") is None
    assert read("A" * (MAX_TOKEN + 1)) is None


LOCAL = st.from_regex(r"[a-z0-9](\.?[a-z0-9_+-]){0,12}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z][a-z0-9]{0,8}\.(org|com|example)", fullmatch=True)


def _encoded(address: str) -> str:
    return base64.urlsafe_b64encode(address.lower().encode()).decode().rstrip("=")


@given(
    victim_id=st.integers(1, 10**9),
    local=LOCAL,
    domain=DOMAIN,
    others=st.lists(st.integers(1, 10**9), min_size=2, max_size=2, unique=True),
    key=st.binary(min_size=1, max_size=40),
)
def test_no_token_of_one_version_verifies_as_another_or_for_someone_else(
    victim_id, local, domain, others, key
):
    """Every MAC a token carries, moved into every other version's token for every
    stored person, names nobody: in particular a version 2 MAC is not the version 1
    MAC of the address ``2.<id>.<address>``, nor the other way round (whoever
    holds that address, or the person it names)."""
    email = f"{local}@{domain}"
    people = {victim_id: Subscriber(email=email, id=victim_id)}
    for sid, version in zip((i for i in others if i != victim_id), (2, 3), strict=False):
        people[sid] = Subscriber(email=f"{version}.{victim_id}.{email}", id=sid)
    by_email = {p.email: p for p in people.values()}

    def read(token):
        return read_token(token, key, people.get, by_email.get)

    made = {}
    for p in people.values():
        made[make_token(p.id, p.email, key)] = p
        made[make_v2_token(p.id, p.email, key)] = p
        made[make_v1_token(p.email, key)] = p
    for token in made:
        mac = token.rsplit(".", 1)[1]
        moved = set()
        for p in people.values():
            moved.add(f"{_encoded(p.email)}.{mac}")
            for v in (2, 3):
                moved |= {f"{v}.{p.id}.{mac}", f"{_encoded(f'{v}.{p.id}.{p.email}')}.{mac}"}
        for other in moved - {token}:
            assert read(other) is None, (token, other)
    for p in people.values():  # today's links always work; another purpose's never do
        assert read(make_token(p.id, p.email, key)) is p
        elsewhere = hmac.new(version_key(key, 3, b"another purpose"), digestmod=hashlib.sha256)
        elsewhere.update(f"3.{p.id}.{p.email}".encode())
        mac = base64.urlsafe_b64encode(elsewhere.digest()[:18]).decode()
        assert read(f"3.{p.id}.{mac}") is None


def test_old_links_keep_working_except_where_one_could_be_forged_from_another():
    key = b"the-secret"
    ann = Subscriber(email="ann@example.com", id=5)
    twin = Subscriber(email="2.5.ann@example.com", id=6)  # a mailbox that ignores dots
    people = {5: ann}
    by_email = {ann.email: ann}

    def read(token):
        return read_token(token, key, people.get, by_email.get)

    assert read(make_v2_token(5, ann.email, key)) is ann
    assert read(make_v1_token(ann.email, key)) is ann
    people[6], by_email[twin.email] = twin, twin
    # twin's version 1 link has the MAC of ann's version 2 link: neither is honoured,
    forged = "2.5." + make_v1_token(twin.email, key).rsplit(".", 1)[1]
    assert forged == make_v2_token(5, ann.email, key)
    assert read(forged) is None and read(make_v1_token(twin.email, key)) is None
    # and both have links that work in every email sent from now on.
    assert read(make_token(5, ann.email, key)) is ann
    assert read(make_token(6, twin.email, key)) is twin
    assert read(make_v1_token(ann.email, key)) is ann


# -- links that must work ------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "secret", "problems"),
    [
        ("https://news.example.org", "s3cret", []),
        ("https://news.example.org/digest", "s3cret", []),
        ("http://news.example.org", "s3cret", ["is not https"]),
        ("https://localhost:8443", "s3cret", ["loopback"]),
        ("https://127.0.0.2", "s3cret", ["loopback"]),
        ("https://[::1]:8000", "s3cret", ["loopback"]),
        ("https://0.0.0.0", "s3cret", ["loopback"]),
        ("https://digest.localhost", "s3cret", ["loopback"]),
        ("http://localhost:8000", None, ["DIGEST_SECRET", "is not https", "loopback"]),
    ],
)
def test_link_problems_name_each_reason(monkeypatch, public_url, secret, problems):
    if secret:
        monkeypatch.setenv("DIGEST_SECRET", secret)
    else:
        monkeypatch.delenv("DIGEST_SECRET", raising=False)
    found = link_problems(Settings(public_url=public_url))
    assert len(found) == len(problems)
    for reason, expected in zip(found, problems, strict=True):
        assert expected in reason
    for provider in ("smtp", "sendgrid"):
        if problems:
            with pytest.raises(ConfigError, match=f"refusing to send through {provider}"):
                require_live_links(Settings(public_url=public_url), provider)
        else:
            require_live_links(Settings(public_url=public_url), provider)
    require_live_links(Settings(public_url=public_url), "outbox")  # never refused


@pytest.fixture
def site(tmp_path, sqlite_store):
    """A database with today's news and one reader, for the CLI."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    sqlite_store.save_articles([article("Ferry news", ["Transport"], published=now)], now=now)
    sqlite_store.save_subscribers([subscriber("reader@example.com")])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        DIGEST_DATABASE_URL=sqlite_store.url,
        SENDGRID_API_KEY="SG.unused",
        SENDGRID_API_HOST="http://127.0.0.1:9",
        DIGEST_SMTP_URL="smtp://127.0.0.1:9",
    )
    return tmp_path, env


@pytest.mark.parametrize("provider", ["smtp", "sendgrid"])
@pytest.mark.parametrize(
    ("config", "secret", "says"),
    [
        ("", "s3cret", "public_url http://localhost:8000 is not https"),
        ('public_url = "https://news.example.org"\n', None, "DIGEST_SECRET is not set"),
        ('public_url = "https://127.0.0.1:8443"\n', "s3cret", "is this machine (loopback)"),
    ],
)
def test_send_through_a_real_provider_with_dead_links_exits_2_in_one_line(
    site, provider, config, secret, says
):
    folder, env = site
    (folder / "digest.toml").write_text(config, encoding="utf-8")
    if secret:
        env["DIGEST_SECRET"] = secret
    for args in (
        ("send", "--provider", provider),
        ("send", "--provider", provider, "--to", "me@example.com"),
    ):
        result = run_digest(*args, cwd=folder, env=env)

        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()[-1:]
        assert line.startswith(f"Error: refusing to send through {provider}: ")
        assert says in line and "Traceback" not in result.stderr
        assert "s3cret" not in result.stderr
    assert not (folder / "outbox").exists()


def test_the_outbox_and_a_dry_run_keep_working_with_development_links_with_a_warning(site):
    folder, env = site
    result = run_digest("send", cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: DIGEST_SECRET is not set" in result.stderr
    assert "warning: public_url http://localhost:8000 is not https" in result.stderr
    assert len(list((folder / "outbox").rglob("*.eml"))) == 1
    dry = run_digest("send", "--provider", "smtp", "--dry-run", cwd=folder, env=env)
    assert dry.returncode == 0, dry.stderr


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_the_prepared_signer_is_hmac_sha256_for_any_key_and_message(key, message):
    assert Signer(key).digest(message) == hmac.new(key, message, hashlib.sha256).digest()


def test_a_token_is_the_one_every_release_since_version_3_made_for_that_address():
    """Links in emails already sent must keep working: the token is still the HMAC
    of ``3.<id>.<address>`` under the version key, cut to 18 bytes, in base64url."""
    key = b"a secret of the site"
    mac = hmac.new(version_key(key), b"3.42.ann@example.com", hashlib.sha256).digest()[:18]
    expected = "3.42." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert make_token(42, " Ann@Example.com ", key) == expected
    assert Links("https://news.example.org", key).token(42, "ann@example.com") == expected
