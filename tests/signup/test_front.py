"""The front door's library on SQLite and PostgreSQL: every guard with its numbers,
what each address is mailed (read back from the outbox's .eml files), confirming,
expiry and what ``digest status`` counts.

Mail is what a person would notice, so each test sends what ``Answer.mail`` holds
(the web runs it as a background task) and reads ``<outbox>/notices``.
"""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email.policy import default

import pytest
import sqlalchemy as sa
from conftest import subscriber

from digest.config.settings import Settings
from digest.config.signup import SignupSettings
from digest.signup import front
from digest.signup.front import SignupForm, Verdict
from digest.store import signups
from digest.store.schema import SIGNUP_EVENTS

KEY = b"front-door-test-key-0123456789ab"
NOW = datetime(2026, 12, 6, 17, 20, tzinfo=UTC)
SERVED = NOW - timedelta(seconds=30)
CONFIRM_LINK = re.compile(r"^https://news\.example\.org/confirm/([A-Za-z0-9._-]+)\r?$", re.M)


@pytest.fixture
def site(tmp_path) -> Settings:
    settings = Settings(
        title="The Harbour Daily",
        outbox_dir=tmp_path / "outbox",
        public_url="https://news.example.org",
        postal_address="1 Quay Street, Harbourtown",
    )
    settings.signup = SignupSettings(enabled=True)
    return settings


def sent(site: Settings) -> list[email.message.EmailMessage]:
    """Every notice in the outbox, oldest first."""
    folder = site.outbox_dir / "notices"
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def form(address: str = "ann@example.org", served: datetime = SERVED, **fields) -> SignupForm:
    return SignupForm(email=address, form_token=front.form_token(KEY, served), **fields)


def sign_up(store, site, the_form: SignupForm, client: str = "203.0.113.7", now=NOW):
    """A POST of the form, then its mail sent as the web's background task sends it."""
    answer = front.sign_up(store, site, KEY, the_form, client, now)
    if answer.mail is not None:
        answer.mail()
    return answer


def confirm_token(message) -> str:
    return CONFIRM_LINK.search(text_of(message))[1]


def figures(store) -> dict[str, int]:
    return signups.figures(store.engine, "2000-01-01").get(f"{NOW:%Y-%m-%d}", {})


def test_a_person_signs_up_confirms_and_is_subscribed_with_their_choices(store, site):
    answer = sign_up(
        store,
        site,
        form(
            "Ann.Lee@Example.org",
            name="Ann Lee",
            topics=("Climate", "Energy"),
            timezone="Asia/Tokyo",
        ),
    )

    assert answer.verdict is Verdict.CHECK_INBOX
    assert store.find_subscriber("ann.lee@example.org") is None  # pending is not subscribed
    (message,) = sent(site)
    assert message["To"] == "Ann.Lee@Example.org"
    assert message["Subject"] == "Confirm your subscription to The Harbour Daily"
    assert "List-Unsubscribe" not in message
    body = text_of(message)
    assert "Ann.Lee@Example.org" in body and "The Harbour Daily" in body
    assert "If you did not ask for this, ignore this email: you will not be subscribed." in body
    token = confirm_token(message)
    assert "ann" not in token.lower()  # the link never shows the address

    shown = front.pending_for(store, site, KEY, token, NOW + timedelta(minutes=5))
    assert shown is not None and shown.email == "Ann.Lee@Example.org"
    assert store.find_subscriber("ann.lee@example.org") is None  # GET changes nothing

    done = front.confirm(store, site, KEY, token, NOW + timedelta(minutes=5))

    assert done is not None and not done.suppressed
    person = store.find_subscriber("ann.lee@example.org")
    assert (person.name, person.topics, person.timezone) == (
        "Ann Lee",
        ["Climate", "Energy"],
        "Asia/Tokyo",
    )
    assert done.preferences_token.startswith(f"3.{person.id}.")
    assert signups.listing(store.engine) == []
    assert front.confirm(store, site, KEY, token, NOW + timedelta(minutes=6)) is None  # once
    assert figures(store)["signup"] == 1 and figures(store)["confirmed"] == 1


def test_twenty_submissions_of_one_address_send_one_email(store, site):
    for n in range(20):
        answer = sign_up(store, site, form("bo@example.org"), client=f"198.51.100.{n}")
        assert answer.verdict is Verdict.CHECK_INBOX

    assert len(sent(site)) == 1
    assert figures(store)["address_cooldown"] == 19
    # A day later the cooldown is over: one more.
    later = NOW + timedelta(hours=24, minutes=1)
    sign_up(store, site, form("bo@example.org", served=later - timedelta(minutes=1)), now=later)
    assert len(sent(site)) == 2


def test_signing_up_again_changes_the_choices_but_not_when_the_link_expires(store, site):
    sign_up(store, site, form("cy@example.org", topics=("Climate",)))
    (message,) = sent(site)
    later = NOW + timedelta(hours=3)
    again = form("cy@example.org", served=later - timedelta(minutes=1), topics=("Energy",))
    assert sign_up(store, site, again, now=later).verdict is Verdict.CHECK_INBOX

    (pending,) = signups.listing(store.engine)
    assert pending.topics == ("Energy",) and pending.created_at == NOW
    done = front.confirm(store, site, KEY, confirm_token(message), later + timedelta(seconds=5))
    assert done.subscriber.topics == ["Energy"]


def test_the_sixth_sign_up_from_one_client_in_an_hour_is_too_many(store, site):
    for n in range(5):
        assert sign_up(store, site, form(f"p{n}@example.org")).verdict is Verdict.CHECK_INBOX

    answer = sign_up(store, site, form("p5@example.org"))

    assert answer.verdict is Verdict.TOO_MANY
    assert answer.retry_after == 40 * 60  # 17:20 -> the hour ends at 18:00
    assert answer.mail is None and len(sent(site)) == 5
    assert sign_up(store, site, form("q@example.org"), client="192.0.2.1").verdict is (
        Verdict.CHECK_INBOX
    )  # another client is not held
    next_hour = NOW + timedelta(minutes=41)
    assert sign_up(store, site, form("p6@example.org"), now=next_hour).verdict is (
        Verdict.CHECK_INBOX
    )
    assert figures(store)["client_limit"] == 1


def test_the_day_limit_says_to_come_back_tomorrow(store, site):
    site.signup.per_client_hour = 50
    for n in range(20):
        sign_up(store, site, form(f"d{n}@example.org"))
    answer = sign_up(store, site, form("d20@example.org"))
    assert answer.verdict is Verdict.TOO_MANY
    assert answer.retry_after == (6 * 60 + 40) * 60  # 17:20 UTC -> midnight


def test_the_honeypot_answers_as_a_sign_up_and_sends_nothing(store, site):
    answer = sign_up(store, site, form("eve@example.org", honeypot="http://spam.example"))

    assert answer == front.Answer(Verdict.CHECK_INBOX)
    assert sent(site) == [] and signups.listing(store.engine) == []
    assert figures(store)["honeypot"] == 1


@pytest.mark.parametrize(
    ("served", "kind"),
    [
        (NOW - timedelta(seconds=1), "too_fast"),  # posted 1 s after the form was served
        (NOW - timedelta(hours=25), "too_old"),
    ],
)
def test_a_form_posted_too_soon_or_too_late_sends_nothing(store, site, served, kind):
    answer = sign_up(store, site, form(served=served))

    assert answer.verdict is Verdict.TRY_AGAIN and answer.field == "form_token"
    assert sent(site) == [] and signups.listing(store.engine) == []
    assert figures(store)[kind] == 1


def test_a_form_token_not_ours_or_missing_sends_nothing(store, site):
    forged = front.form_token(b"someone else's key 0123456789abc", SERVED)
    for token in (forged, "f1.1796577000.AAAAAAAAAAAAAAAAAAAAAAAA", "nonsense"):
        the_form = SignupForm(email="ann@example.org", form_token=token)
        assert sign_up(store, site, the_form).verdict is Verdict.TRY_AGAIN
    missing = sign_up(store, site, SignupForm(email="ann@example.org"))
    assert missing.verdict is Verdict.TRY_AGAIN
    assert sent(site) == []
    assert figures(store)["bad_form_token"] == 3  # a form with no token is not a drop


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"address": "not an address"}, "email"),
        ({"address": "ann@example.org\r\nBcc: all@example.org"}, "email"),
        ({"address": "ann@example.org", "name": "Ann\nBcc: x@example.org"}, "name"),
        ({"address": "ann@example.org", "first_name": "x" * 101}, "first_name"),
        ({"address": "ann@example.org", "topics": ("Climate\r\n",)}, "topics"),
        ({"address": "ann@example.org", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_field_that_cannot_be_used_is_named_and_nothing_is_sent(store, site, fields, field):
    fields = dict(fields)
    address = fields.pop("address")
    answer = sign_up(store, site, form(address, **fields))

    assert answer.verdict is Verdict.INVALID and answer.field == field and answer.problem
    assert sent(site) == [] and signups.listing(store.engine) == []


def test_an_address_already_subscribed_gets_the_same_answer_and_one_manage_email(store, site):
    store.add_subscriber(subscriber("sub@example.org", name="Sub"))
    new = front.sign_up(store, site, KEY, form("new@example.org"), "192.0.2.9", NOW)
    known = front.sign_up(store, site, KEY, form("sub@example.org"), "192.0.2.10", NOW)

    assert (new.verdict, new.problem, new.field) == (known.verdict, known.problem, known.field)
    known.mail()
    for n in range(3):
        again = front.sign_up(store, site, KEY, form("sub@example.org"), f"192.0.2.{n}", NOW)
        assert again.verdict is Verdict.CHECK_INBOX and again.mail is None

    (message,) = sent(site)
    assert message["Subject"] == "You are already subscribed to The Harbour Daily"
    assert "https://news.example.org/preferences/3." in text_of(message)
    assert store.find_subscriber("sub@example.org").name == "Sub"  # nothing changed


def test_a_suppressed_address_is_not_mailed_and_a_confirm_says_so(store, site):
    sign_up(store, site, form("gone@example.org"))
    (message,) = sent(site)
    store.add_subscriber(subscriber("gone@example.org"))
    with store.engine.begin() as conn:  # it bounced since
        conn.execute(
            sa.text(
                "UPDATE subscribers SET active = false, suppressed_at = :t, "
                "suppressed_reason = 'bounced'"
            ),
            {"t": NOW.replace(tzinfo=None)},
        )

    done = front.confirm(store, site, KEY, confirm_token(message), NOW + timedelta(minutes=1))

    assert done is not None and done.suppressed and done.mail is None
    assert store.find_subscriber("gone@example.org").suppressed == "bounced"  # stays
    sign_up(store, site, form("gone@example.org"), now=NOW + timedelta(days=2))
    assert len(sent(site)) == 1  # a bounced address is not mailed again


def test_someone_who_unsubscribed_is_subscribed_again_by_confirming(store, site):
    store.add_subscriber(subscriber("back@example.org"))
    store.unsubscribe("back@example.org", now=NOW - timedelta(days=3))
    sign_up(store, site, form("back@example.org"))
    (message,) = sent(site)
    assert message["Subject"].startswith("Confirm")

    front.confirm(store, site, KEY, confirm_token(message), NOW + timedelta(minutes=1))

    assert store.find_subscriber("back@example.org").unsubscribed_at is None


def test_tampered_expired_and_reused_confirm_tokens_change_nothing(store, site):
    sign_up(store, site, form("tok@example.org"))
    token = confirm_token(sent(site)[0])
    prefix, _, mac = token.rpartition(".")
    flipped = prefix + "." + ("B" if mac[0] != "B" else "C") + mac[1:]
    id_, created = token.split(".")[1:3]
    other_id = token.replace(f"c1.{id_}.", f"c1.{int(id_) + 1}.", 1)
    shifted = token.replace(f".{created}.", f".{int(created) + 1}.", 1)
    soon = NOW + timedelta(minutes=1)
    for bad in (flipped, other_id, shifted, token[:-1], token + "A", "", "c1.1.2.3"):
        assert front.pending_for(store, site, KEY, bad, soon) is None
        assert front.confirm(store, site, KEY, bad, soon) is None
    late = NOW + timedelta(hours=48)
    assert front.confirm(store, site, KEY, token, late) is None
    assert store.find_subscriber("tok@example.org") is None
    assert front.confirm(store, site, b"another site's key 0123456789ab", token, soon) is None
    # A row deleted and its id given to another address never confirms with the old link.
    signups.drop(store.engine, "tok@example.org")
    sign_up(store, site, form("mal@example.org", served=NOW), now=NOW + timedelta(seconds=3))
    assert front.confirm(store, site, KEY, token, soon) is None
    assert store.find_subscriber("mal@example.org") is None


def test_expired_sign_ups_are_forgotten_and_counted(store, site):
    sign_up(store, site, form("old@example.org"))
    sign_up(
        store,
        site,
        form("new@example.org", served=NOW + timedelta(hours=40)),
        now=NOW + timedelta(hours=40, minutes=1),
    )

    assert front.forget_expired(store, site, NOW + timedelta(hours=47)) == 0
    assert front.forget_expired(store, site, NOW + timedelta(hours=48, seconds=1)) == 1

    assert [p.email for p in signups.listing(store.engine)] == ["new@example.org"]
    day = f"{NOW + timedelta(hours=48):%Y-%m-%d}"
    assert signups.figures(store.engine, day)[day]["expired"] == 1


def test_manage_mails_a_subscriber_their_link_and_nobody_else_anything(store, site):
    store.add_subscriber(subscriber("mia@example.org"))
    known = front.request_manage(store, site, KEY, "MIA@example.org", "192.0.2.4", NOW)
    unknown = front.request_manage(store, site, KEY, "nobody@example.org", "192.0.2.4", NOW)

    assert known.verdict is unknown.verdict is Verdict.CHECK_INBOX
    assert unknown.mail is None
    known.mail()
    again = front.request_manage(store, site, KEY, "mia@example.org", "192.0.2.5", NOW)
    assert again.mail is None  # one per cooldown
    (message,) = sent(site)
    assert message["To"] == "mia@example.org"
    assert message["Subject"] == "Manage your subscription to The Harbour Daily"
    assert "https://news.example.org/preferences/3." in text_of(message)
    bad = front.request_manage(store, site, KEY, "mia@example.org\nBcc: x@y.org", "1.2.3.4", NOW)
    assert bad.verdict is Verdict.INVALID and bad.field == "email"


def test_the_welcome_mail_follows_a_confirmation_when_asked_for(store, site):
    site.signup.welcome = True
    sign_up(store, site, form("wes@example.org", name="Wes"))
    done = front.confirm(store, site, KEY, confirm_token(sent(site)[0]), NOW + timedelta(minutes=1))
    done.mail()

    welcome = sent(site)[-1]
    assert welcome["Subject"] == "Welcome to The Harbour Daily"
    assert "Wes\n" not in text_of(welcome) and "wes@example.org" in text_of(welcome)


def test_a_mail_that_cannot_be_sent_is_counted_and_the_address_may_try_again(store, site):
    site.provider = "smtp"  # and no DIGEST_SMTP_URL: nothing can be sent
    answer = front.sign_up(store, site, KEY, form("fay@example.org"), "192.0.2.3", NOW)
    answer.mail()  # never raises: the page has been answered already

    assert figures(store)["mail_failed"] == 1
    (pending,) = signups.listing(store.engine)
    assert pending.mailed_at is None
    site.provider = "outbox"
    sign_up(store, site, form("fay@example.org"), client="192.0.2.30")
    assert len(sent(site)) == 1  # the failed one did not hold the cooldown


def test_the_altcha_proof_is_asked_for_when_on(store, site):
    import altcha

    site.signup.altcha = True
    site.signup.altcha_max_number = 1000
    challenge = front.altcha_challenge(site, KEY, NOW)
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], 1000
    )
    import base64
    import json

    payload = base64.b64encode(
        json.dumps(
            {
                **{k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")},
                "number": solution.number,
            }
        ).encode()
    ).decode()

    unsolved = sign_up(store, site, form("al@example.org"))
    assert unsolved.verdict is Verdict.TRY_AGAIN and unsolved.field == "altcha"
    assert sign_up(store, site, form("al@example.org", altcha="e30=")).verdict is Verdict.TRY_AGAIN
    assert sign_up(store, site, form("al@example.org", altcha=payload)).verdict is (
        Verdict.CHECK_INBOX
    )
    assert figures(store)["altcha_failed"] == 2
    site.signup.altcha = False
    assert front.altcha_challenge(site, KEY, NOW) is None


def test_every_kind_counted_is_one_status_knows(store, site):
    sign_up(store, site, form("k@example.org", honeypot="x"))
    sign_up(store, site, form("k@example.org", served=NOW))
    assert set(figures(store)) <= set(SIGNUP_EVENTS)
