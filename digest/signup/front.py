"""The front door: people sign themselves up, confirm by a link, and ask for a
link to manage what they get. One call per page of ``digest serve``.

A sign-up is held against bots before anything is stored or mailed
(``guards``): its fields as ``subscribers add`` holds them, a signed form
token served at least ``min_seconds`` and at most ``max_form_age_hours``
before, a honeypot field no person fills, the optional ALTCHA proof, and its
client's limits per hour and day (counted in the store, shared by every
``digest serve``). Past those, every address gets the same answer, "check
your inbox", whether it is new, pending or already subscribed, so the page
never tells a stranger who is subscribed; and at most one mail of each kind
per address per ``address_cooldown_hours``, however often it is submitted.

The mail is not sent here: ``Answer.mail`` sends it, after the page has been
answered (a background task), so the answer takes as long whatever the
address; its failures are logged and counted, never shown.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.config.settings import Settings
from digest.errors import InputError, StillSuppressed
from digest.models import PendingSignup, Subscriber
from digest.rendering.links import Links
from digest.signup import guards, mail
from digest.signup.tokens import confirm_matches, confirm_parts, confirm_token
from digest.signup.tokens import form_token as _form_token
from digest.store import signups
from digest.store.store import Store
from digest.subscribers import admin
from digest.validate import email_key

__all__ = [
    "Answer",
    "Confirmed",
    "PendingSignup",
    "SignupForm",
    "Verdict",
    "altcha_challenge",
    "confirm",
    "forget_expired",
    "form_token",
    "pending_for",
    "request_manage",
    "sign_up",
]


@dataclass(frozen=True)
class SignupForm:
    """What a person sent, untrusted, as the web parsed it."""

    email: str
    name: str = ""
    first_name: str = ""
    topics: tuple[str, ...] = ()  # checked boxes; none = everything
    timezone: str = ""  # "" = the configured default
    honeypot: str = ""  # the hidden field; anything in it = a bot
    form_token: str = ""
    altcha: str = ""  # the ALTCHA payload when [signup] altcha = true
    frequency: str = ""  # "daily" or "weekly"; "" = the site's default, daily


class Verdict(enum.Enum):
    CHECK_INBOX = "check-inbox"  # also for the honeypot, known addresses, the cooldown
    TRY_AGAIN = "try-again"  # form token too fast, too old or not ours; ALTCHA failed
    TOO_MANY = "too-many"  # 429, Retry-After: Answer.retry_after
    INVALID = "invalid"  # 400: Answer.problem says what, Answer.field names it


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    problem: str = ""
    field: str = ""
    retry_after: int = 0
    # The mail to send after answering (a background task), or None.
    mail: Callable[[], None] | None = dataclasses.field(default=None, compare=False)


@dataclass(frozen=True)
class Confirmed:
    """A confirmed sign-up: the subscriber as stored, the token of their preferences
    page, and whether the address is suppressed (a bounce or complaint: subscribed
    is not mailed, and the page says it cannot mail that address, not why)."""

    subscriber: Subscriber
    preferences_token: str
    suppressed: bool = False
    mail: Callable[[], None] | None = dataclasses.field(default=None, compare=False)  # the welcome


def form_token(key: bytes, now: datetime) -> str:
    """A signed token carrying when the form was served: for the form's hidden field."""
    return _form_token(key, now)


def altcha_challenge(settings: Settings, key: bytes, now: datetime) -> dict | None:
    """The ALTCHA widget's challenge for the page; None when ``[signup] altcha`` is off."""
    if not settings.signup.altcha:
        return None
    return guards.challenge(key, settings.signup, now)


def sign_up(
    store: Store, settings: Settings, key: bytes, form: SignupForm, client: str, now: datetime
) -> Answer:
    """``POST /subscribe``: the guards in order, then the address's one mail.

    ``client`` is the address the web believes the request came from. What
    each step drops is counted for ``digest status``. A form without a token
    at all (a snippet on another site) is TRY_AGAIN without a count: the web
    shows it as digest's own page, filled in, with one button.
    """
    engine = store.engine
    try:
        fields = guards.check_fields(
            form.email,
            form.name,
            form.first_name,
            tuple(form.topics),
            form.timezone,
            form.frequency,
        )
    except guards.Refused as err:
        signups.count(engine, "invalid", now)
        return Answer(Verdict.INVALID, problem=err.problem, field=err.field)
    if not form.form_token:
        return Answer(Verdict.TRY_AGAIN, problem="the form has expired", field="form_token")
    dropped = guards.form_age(form.form_token, key, settings.signup, now)
    if dropped is not None:
        signups.count(engine, dropped, now)
        return Answer(Verdict.TRY_AGAIN, problem="please send the form again", field="form_token")
    if settings.signup.altcha and not guards.solved(form.altcha, key):
        signups.count(engine, "altcha_failed", now)
        return Answer(Verdict.TRY_AGAIN, problem="please send the form again", field="altcha")
    if form.honeypot:
        signups.count(engine, "honeypot", now)
        return Answer(Verdict.CHECK_INBOX)
    over = _over_limit(store, settings, client, now, counted=True)
    if over is not None:
        return over
    return Answer(Verdict.CHECK_INBOX, mail=_mail_for(store, settings, key, fields, now))


def _over_limit(
    store: Store, settings: Settings, client: str, now: datetime, counted: bool = False
) -> Answer | None:
    """Counts this request for ``client``; TOO_MANY when that takes it over a limit.
    ``counted``: the day's ``signup`` or ``client_limit`` figure is counted with it."""
    limits = settings.signup
    per = (limits.per_client_hour, limits.per_client_day)
    hour, day = signups.bump_client(store.engine, client, now, per if counted else None)
    if hour <= limits.per_client_hour and day <= limits.per_client_day:
        return None
    if not counted:
        signups.count(store.engine, "client_limit", now)
    wait = guards.retry_after("d" if day > limits.per_client_day else "h", now)
    return Answer(Verdict.TOO_MANY, problem="too many sign-ups from here", retry_after=wait)


def _cooldown_start(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(hours=settings.signup.address_cooldown_hours)


def _claim(store: Store, settings: Settings, address: str, kind: str, now: datetime) -> bool:
    return signups.claim_mail(store.engine, address, kind, now, _cooldown_start(settings, now))


def _mail_for(
    store: Store, settings: Settings, key: bytes, fields: guards.Fields, now: datetime
) -> Callable[[], None] | None:
    """What this address gets, if anything: "already subscribed" for a subscriber,
    nothing for a suppressed address (it bounced or complained: mailing it again
    would hurt the sender), else it is kept pending and sent the confirmation."""
    known = store.find_subscriber(fields.email)
    if known is not None and known.suppressed_at is not None:
        return None
    if known is not None and known.unsubscribed_at is None:
        if not _claim(store, settings, fields.email, "subscribed", now):
            return None
        token = Links(settings.public_url, key).token(known.id, known.email)
        notice = mail.already_subscribed(settings, known.email, token)
        return lambda: _send(store, settings, notice, now)
    expiry = now - timedelta(hours=settings.signup.confirm_hours)
    wanted = PendingSignup(
        id=0,
        email=fields.email,
        name=fields.name,
        first_name=fields.first_name,
        topics=fields.topics,
        timezone=fields.timezone,
        frequency=fields.frequency,
    )
    pending = signups.save(store.engine, wanted, now, expiry)
    if not _claim(store, settings, fields.email, "confirm", now):
        return None
    token = confirm_token(key, pending.id, pending.created_at, email_key(pending.email))
    notice = mail.confirmation(settings, pending.email, token)

    def send() -> None:
        if mail.send(store, settings, notice, now):
            signups.mark_mailed(store.engine, pending.id, now)

    return send


def _send(store: Store, settings: Settings, notice, claimed_at: datetime) -> None:
    mail.send(store, settings, notice, claimed_at)


def pending_for(
    store: Store, settings: Settings, key: bytes, token: str, now: datetime
) -> PendingSignup | None:
    """``GET /confirm/<token>``: the pending sign-up the token names, if it is ours,
    unaltered and not expired; changes nothing (mail scanners open links)."""
    parts = confirm_parts(token)
    if parts is None:
        return None
    signup_id, created = parts
    if created + timedelta(hours=settings.signup.confirm_hours) <= now:
        return None
    pending = signups.by_id(store.engine, signup_id)
    if pending is None or pending.created_at != created:
        return None
    if not confirm_matches(token, key, pending.created_at, email_key(pending.email)):
        return None
    return pending


def confirm(
    store: Store, settings: Settings, key: bytes, token: str, now: datetime
) -> Confirmed | None:
    """``POST /confirm/<token>``: subscribe the pending sign-up the token names, with
    its topics, zone and frequency, as ``subscribers add`` would (someone who had unsubscribed
    is resubscribed: this is their word), and forget the pending row. None for a
    token that is not ours, altered or expired: nothing changes then."""
    pending = pending_for(store, settings, key, token, now)
    if pending is None:
        return None
    try:
        change = admin.add(
            store,
            pending.email,
            name=pending.name,
            first_name=pending.first_name,
            topics=";".join(pending.topics),
            timezone=pending.timezone or "",
            frequency=pending.frequency or "",
            resubscribe=True,
        )
        subscriber, suppressed = change.subscriber, False
    except StillSuppressed:
        subscriber, suppressed = store.find_subscriber(pending.email), True
    except InputError:  # stored under older rules that refuse it now: sign up again
        signups.drop(store.engine, pending.email)
        return None
    signups.drop(store.engine, pending.email)
    if subscriber is None:
        return None
    signups.count(store.engine, "confirmed", now)
    token = Links(settings.public_url, key).token(subscriber.id, subscriber.email)
    welcome = None
    wanted = settings.signup.welcome and not suppressed
    if wanted and _claim(store, settings, subscriber.email, "welcome", now):
        notice = mail.welcome(settings, subscriber.email, token)
        welcome = lambda: _send(store, settings, notice, now)  # noqa: E731
    return Confirmed(subscriber, token, suppressed, welcome)


def request_manage(
    store: Store, settings: Settings, key: bytes, address: str, client: str, now: datetime
) -> Answer:
    """``POST /manage``: a subscriber gets their preferences link (once per cooldown);
    anyone else the same answer and nothing sent. Counted against the client's
    limits as a sign-up is, so the page cannot be used to probe or to mail-bomb."""
    try:
        fields = guards.check_fields(address, "", "", (), "")
    except guards.Refused as err:
        signups.count(store.engine, "invalid", now)
        return Answer(Verdict.INVALID, problem=err.problem, field="email")
    over = _over_limit(store, settings, client, now)
    if over is not None:
        return over
    known = store.find_subscriber(fields.email)
    if known is None or known.left_at is not None:
        return Answer(Verdict.CHECK_INBOX)
    if not _claim(store, settings, known.email, "manage", now):
        return Answer(Verdict.CHECK_INBOX)
    token = Links(settings.public_url, key).token(known.id, known.email)
    notice = mail.manage_link(settings, known.email, token)
    return Answer(Verdict.CHECK_INBOX, mail=lambda: _send(store, settings, notice, now))


def forget_expired(store: Store, settings: Settings, now: datetime) -> int:
    """Remove the sign-ups never confirmed within ``confirm_hours`` (counted
    ``expired``), and counters and cooldowns past use; how many sign-ups went."""
    limits = settings.signup
    gone = signups.forget_before(store.engine, now - timedelta(hours=limits.confirm_hours), now)
    signups.forget_mail_before(store.engine, _cooldown_start(settings, now))
    return gone
