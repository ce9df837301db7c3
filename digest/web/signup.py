"""The front door: ``/subscribe`` (a form, then "Check your inbox"), ``/confirm/<token>``
(a page with one button: only its POST subscribes) and ``/manage`` (a link to
your settings, by email).

Every decision is the library's (``digest.signup.front``): each route parses
the request, makes one call and turns its ``Answer`` into a page. The mail an
answer carries is sent after the page (a ``BackgroundTask``), so how fast the
page comes back does not tell a stranger whether the address was known.

A post with no form token at all is someone's sign-up from elsewhere: the
operator's snippet on another site, or a robot that never loaded the form.
It is not passed on: it lands on this site's own form, filled in, with one
button and a token of ours, so every sign-up that mails anyone has passed
the form token's checks (the time it was served, signed by us). A token that
is there but too young, too old or not ours is the library's ``TRY_AGAIN``.

The form's one script (the browser's timezone pre-selected; ALTCHA's proof
of work when it is on) runs under a nonce made for that response alone; every
other page keeps the policy with no script at all (``middleware``). Every
route is 404 when ``[signup] enabled`` is false, as if it did not exist.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import threading
import time
import zoneinfo

import sqlalchemy as sa
from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest import clock, zones
from digest.signup import front
from digest.web.context import PRIVATE, Web
from digest.web.middleware import script_policy
from digest.web.pages import mask_address, read_posted, topic_choices

# The regions of the tz database where people live; the other names are older
# spellings (US/Eastern, GB) and offsets (Etc/GMT+5) nobody picks from a list.
REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)
# Unconfirmed sign-ups are forgotten by the first of this process (at most this
# often, after a sign-up's page) and ``digest schedule``'s hourly housekeeping.
FORGET_SECONDS = 600

log = logging.getLogger("digest.web")


def routes(web: Web) -> list[Route]:
    if not web.settings.signup.enabled:
        return []  # 404, as for any path that is not a route
    signup = Signup(web)
    return [
        Route("/subscribe", signup.subscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", signup.confirm, methods=["GET", "POST"]),
        Route("/manage", signup.manage, methods=["GET", "POST"]),
    ]


class Signup:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.forgot_at = time.monotonic()  # the first pass comes 10 minutes after the start
        self.forgetting = threading.Lock()
        zone_choices()  # read now, not while the first visitor waits

    async def subscribe(self, request: Request) -> Response:
        if request.method == "GET":
            return await run_in_threadpool(self._form, request, front.SignupForm(email=""))
        return await self._post(request, self._sign_up)

    async def confirm(self, request: Request) -> Response:
        if request.method == "GET":
            return await run_in_threadpool(self._show_confirm, request)
        return await self._post(request, self._confirm, needs_form=False)

    async def manage(self, request: Request) -> Response:
        if request.method == "GET":
            return self._manage_page(request)
        return await self._post(request, self._request_manage)

    async def _post(self, request: Request, action, needs_form: bool = True) -> Response:
        """``action`` with the posted form; the confirm button's POST needs none (its
        body is read and dropped: whatever posts to the link, the link confirms)."""
        form, refused = await read_posted(request, self._error)
        if refused is not None:
            return refused
        if form is None and needs_form:
            return self._error(request, 400, "That was not a form from this site.")
        return await run_in_threadpool(action, request, form)

    # -- on a worker thread: the store is synchronous --------------------------

    def _sign_up(self, request: Request, fields: dict[str, list[str]]) -> Response:
        form = signup_form(fields)
        if not form.form_token:
            # Posted from elsewhere (see the module's docstring): ours to confirm.
            return self._form(request, form, state="landed")
        web = self.web
        answer = front.sign_up(
            web.store, web.settings, web.key, form, client_of(request), clock.utcnow()
        )
        verdict = answer.verdict
        if verdict is front.Verdict.CHECK_INBOX:
            response = web.page(
                request,
                "check_inbox.html.j2",
                200,
                PRIVATE,
                address=form.email,
                manage=False,
                cooldown=web.settings.signup.address_cooldown_hours,
            )
            return with_mail(response, answer.mail, self._forget_due())
        if verdict is front.Verdict.TOO_MANY:
            return self._form(request, form, 429, state="too-many", retry_after=answer.retry_after)
        if verdict is front.Verdict.INVALID:
            return self._form(request, form, 400, problem=answer.problem, field=answer.field)
        return self._form(request, form, 400, state="try-again")

    def _form(
        self,
        request: Request,
        form: front.SignupForm,
        status: int = 200,
        state: str = "",
        problem: str = "",
        field: str = "",
        retry_after: int = 0,
    ) -> Response:
        """The sign-up form, filled in with ``form``, with a fresh form token."""
        settings, now = self.web.settings, clock.utcnow()
        nonce = secrets.token_urlsafe(16)
        headers = {**PRIVATE, "Content-Security-Policy": script_policy(nonce)}
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        return self.web.page(
            request,
            "subscribe.html.j2",
            status,
            headers,
            form=form,
            state=state,
            problem=problem,
            field=field,
            wait=waiting_time(retry_after),
            choices=topic_choices(settings.topics, settings.aliases, list(form.topics)),
            zones=zone_choices(settings.timezone),
            default_zone=settings.timezone,
            send_time=settings.send_time.strftime("%H:%M"),
            weekly_day=settings.weekly_day.capitalize(),
            form_token=front.form_token(self.web.key, now),
            altcha=front.altcha_challenge(settings, self.web.key, now),
            nonce=nonce,
        )

    def _show_confirm(self, request: Request) -> Response:
        web, token = self.web, request.path_params["token"]
        pending = front.pending_for(web.store, web.settings, web.key, token, clock.utcnow())
        if pending is None:
            return self._confirm_page(request, "bad", 400)
        return self._confirm_page(request, "ask", address=mask_address(pending.email))

    def _confirm(self, request: Request, _fields) -> Response:
        web, token = self.web, request.path_params["token"]
        done = front.confirm(web.store, web.settings, web.key, token, clock.utcnow())
        if done is None:
            return self._confirm_page(request, "bad", 400)
        address = mask_address(done.subscriber.email)
        if done.suppressed:
            return self._confirm_page(request, "cannot-mail", 409, address=address)
        page = self._confirm_page(
            request, "subscribed", address=address, preferences=done.preferences_token
        )
        return with_mail(page, done.mail)

    def _confirm_page(self, request: Request, state: str, status: int = 200, **extra) -> Response:
        settings = self.web.settings
        values = {
            "token": request.path_params["token"],
            "address": "",
            "preferences": "",
            "contact": settings.reply_address,
            "hours": settings.signup.confirm_hours,
            **extra,
        }
        return self.web.page(request, "confirm.html.j2", status, PRIVATE, state=state, **values)

    def _request_manage(self, request: Request, fields: dict[str, list[str]]) -> Response:
        web, address = self.web, first(fields, "email")
        answer = front.request_manage(
            web.store, web.settings, web.key, address, client_of(request), clock.utcnow()
        )
        if answer.verdict is front.Verdict.CHECK_INBOX:
            cooldown = web.settings.signup.address_cooldown_hours
            response = web.page(
                request,
                "check_inbox.html.j2",
                200,
                PRIVATE,
                address=address,
                manage=True,
                cooldown=cooldown,
            )
            return with_mail(response, answer.mail)
        if answer.verdict is front.Verdict.TOO_MANY:
            return self._manage_page(request, address, 429, "too-many", answer.retry_after)
        problem = answer.problem or "please try again"
        return self._manage_page(request, address, 400, problem=problem)

    def _manage_page(
        self,
        request: Request,
        address: str = "",
        status: int = 200,
        state: str = "",
        retry_after: int = 0,
        problem: str = "",
    ) -> Response:
        headers = {**PRIVATE, "Retry-After": str(retry_after)} if retry_after else PRIVATE
        return self.web.page(
            request,
            "manage.html.j2",
            status,
            headers,
            address=address,
            state=state,
            wait=waiting_time(retry_after),
            problem=problem,
        )

    def _error(self, request: Request, status: int, message: str) -> Response:
        return self.web.page(request, "error.html.j2", status, PRIVATE, message=message)

    def _forget_due(self):
        """``forget_expired`` to run after this page, when FORGET_SECONDS have passed
        since this process last did (None otherwise)."""
        with self.forgetting:
            if time.monotonic() - self.forgot_at < FORGET_SECONDS:
                return None
            self.forgot_at = time.monotonic()
        return self._forget

    def _forget(self) -> None:
        web = self.web
        try:
            gone = front.forget_expired(web.store, web.settings, clock.utcnow())
        except sa.exc.SQLAlchemyError as err:  # the database away for a moment: the next pass
            log.error("sign-ups: expired ones not removed: %s", web.store.describe(err))
            return
        if gone:
            log.info("sign-ups: %d never confirmed within the time, removed", gone)


def signup_form(fields: dict[str, list[str]]) -> front.SignupForm:
    """What a person sent, as the library takes it: untrusted, unchecked (the
    library checks it, as ``subscribers add`` would)."""
    return front.SignupForm(
        email=first(fields, "email"),
        name=first(fields, "name"),
        first_name=first(fields, "first_name"),
        topics=tuple(fields.get("topic", [])),
        timezone=first(fields, "timezone"),
        frequency=first(fields, "frequency"),
        honeypot=first(fields, "website"),
        form_token=first(fields, "form_token"),
        altcha=first(fields, "altcha"),
    )


def first(fields: dict[str, list[str]], name: str) -> str:
    """A field's first value (a form sent twice the same name means one value)."""
    return (fields.get(name) or [""])[0]


def client_of(request: Request) -> str:
    """Whom the per-client limits count: the peer, or the address a proxy on this
    machine named in ``X-Forwarded-For`` (uvicorn believes it from loopback only)."""
    return request.client.host if request.client else "-"


def with_mail(response: Response, *after) -> Response:
    """``response``, with the calls in ``after`` that are not None (the answer's mail,
    the housekeeping) run after it is sent, on a worker thread."""
    tasks = BackgroundTasks()
    for call in after:
        if call is not None:
            tasks.add_task(call)
    if tasks.tasks:
        response.background = tasks
    return response


def waiting_time(seconds: int) -> str:
    """``Retry-After`` in words: "a minute", "25 minutes", "3 hours"."""
    minutes = math.ceil(seconds / 60)
    if minutes <= 1:
        return "a minute"
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


@functools.cache
def zone_choices(default: str = "UTC") -> list[tuple[str, list[tuple[str, str]]]]:
    """The timezone select's groups: (region, [(zone, label)]): UTC first (and the
    configured default, when no region lists it), then each region's places,
    labelled as people say them ("New York")."""
    groups: dict[str, list[tuple[str, str]]] = {"": [("UTC", "UTC")]}
    for name in sorted(zoneinfo.available_timezones()):
        region, _, place = name.partition("/")
        if region in REGIONS and place and zones.usable_timezone(name):
            label = place.replace("_", " ").replace("/", " / ")
            groups.setdefault(region, []).append((name, label))
    listed = {zone for places in groups.values() for zone, _ in places}
    if default not in listed:
        groups[""].append((default, default.replace("_", " ")))
    return list(groups.items())
