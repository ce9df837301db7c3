"""Whatever a stranger types into the form, the library answers with a verdict (never
an exception), and no mail carries anything typed but the address.

Hypothesis writes the forms: odd characters, line breaks, huge values, names that
are advertisements. One SQLite store for the whole run, each example at a moment
of its own (so the cooldown and the client limits never hide a mail).
"""

from __future__ import annotations

import email
import itertools
from datetime import UTC, datetime, timedelta
from email.policy import default

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.config.settings import Settings
from digest.config.signup import SignupSettings
from digest.signup import front
from digest.signup.front import SignupForm, Verdict
from digest.store.store import Store

KEY = b"property-test-key-0123456789abcd"
START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ANY_TEXT = st.text(max_size=300) | st.text(alphabet="\r\n\t\x00\u2028=?:<>@;, ", max_size=40)
HUGE = st.integers(3000, 200_000).map(lambda n: "x" * n)
ADDRESS = st.from_regex(r"[a-z]{1,10}@[a-z]{1,10}\.(org|com)", fullmatch=True)
# What a spammer puts in a name: a pitch with a link, long enough to be found in a mail.
PITCH = st.from_regex(r"Cheap [A-Za-z]{4,20} at spam[a-z]{3,8}\.example", fullmatch=True)
TOPIC = st.from_regex(r"Topic[A-Za-z]{6,12}", fullmatch=True)


@pytest.fixture(scope="module")
def door(tmp_path_factory):
    folder = tmp_path_factory.mktemp("door")
    site = Settings(
        outbox_dir=folder / "outbox",
        public_url="https://news.example.org",
        postal_address="1 Quay Street",
    )
    site.signup = SignupSettings(enabled=True, per_client_hour=100_000, per_client_day=1_000_000)
    store = Store(f"sqlite:///{folder / 'door.db'}")
    yield store, site, itertools.count()
    store.close()


def notice_files(site: Settings) -> list:
    folder = site.outbox_dir / "notices"
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


def notices(site: Settings, after: int = 0) -> list:
    """The notices written, parsed, but for the first ``after`` (those of earlier
    examples: the outbox is shared by the module, and parsing it all each time grew
    with every example)."""
    files = notice_files(site)[after:]
    return [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    address=ANY_TEXT | ADDRESS | HUGE,
    name=ANY_TEXT | HUGE,
    first_name=ANY_TEXT,
    topics=st.lists(ANY_TEXT, max_size=60).map(tuple),
    timezone=ANY_TEXT | st.sampled_from(["Europe/Paris", "Asia/Tokyo", "", "localtime"]),
    honeypot=st.sampled_from(["", "x"]) | ANY_TEXT,
    token=st.sampled_from(["good", "", "bad"]) | ANY_TEXT,
    altcha=ANY_TEXT,
)
def test_any_form_gets_a_verdict_never_an_exception(
    door, address, name, first_name, topics, timezone, honeypot, token, altcha
):
    store, site, moments = door
    now = START + timedelta(days=next(moments))
    if token == "good":
        token = front.form_token(KEY, now - timedelta(seconds=10))
    form = SignupForm(address, name, first_name, topics, timezone, honeypot, token, altcha)

    answer = front.sign_up(store, site, KEY, form, "192.0.2.1", now)
    if answer.mail is not None:
        answer.mail()

    assert answer.verdict in (Verdict.INVALID, Verdict.TRY_AGAIN, Verdict.CHECK_INBOX)
    if answer.verdict is Verdict.INVALID:
        assert answer.field in ("email", "name", "first_name", "topics", "timezone")
        assert answer.problem and "\n" not in answer.problem


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(address=ADDRESS, name=PITCH, first_name=PITCH, topics=st.lists(TOPIC, max_size=3))
def test_no_mail_carries_the_name_or_the_topics(door, address, name, first_name, topics):
    store, site, moments = door
    n = next(moments)
    now = START + timedelta(days=n)
    address = f"n{n}.{address}"  # new to the store: its confirmation is what is read
    site.signup.welcome = True
    before = len(notice_files(site))
    served = front.form_token(KEY, now - timedelta(seconds=10))
    form = SignupForm(address, name, first_name, tuple(topics), form_token=served)

    answer = front.sign_up(store, site, KEY, form, "192.0.2.2", now)
    answer.mail()
    mails = notices(site, before)
    (confirmation,) = mails
    link = next(
        line
        for line in confirmation.get_body(("plain",)).get_content().splitlines()
        if "/confirm/" in line
    )
    token = link.strip().rsplit("/", 1)[1]
    done = front.confirm(store, site, KEY, token, now + timedelta(minutes=1))
    if done.mail is not None:
        done.mail()
    again = front.sign_up(store, site, KEY, form, "192.0.2.3", now + timedelta(hours=25))
    if again.mail is not None:
        again.mail()

    for message in notices(site, before):
        whole = message.as_string()
        assert "List-Unsubscribe" not in whole
        assert message["To"] == address
        for typed in (name, first_name, *topics):
            assert typed not in whole
