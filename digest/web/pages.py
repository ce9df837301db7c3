"""The pages an email's links open: unsubscribe (one click, or two in a browser),
resubscribe, and what someone gets: topics, how often, when, and a pause.

Two pages share one template: ``/unsubscribe/<token>`` (the email's Unsubscribe
link) asks "Unsubscribe …?" first, with the topics below as the way to stay;
``/preferences/<token>`` ("Manage topics") is about what they get (topics,
daily or weekly, the time of day, then a pause with one-click presets), with
unsubscribing last and quiet. Someone who came to change topics should not meet a red
button first. When topics are typed in, the saved page says what each would
have caught this week (``digest.editions.reach``), so a word that catches
nothing is known at once, not from an empty inbox.

Every route takes the token from the link and finds the one subscriber it was
made for (``context.subscriber_for``); a token that is not one of ours,
altered or cut short is a 400 page and nothing changes. Only that subscriber's
data is shown, and their address only masked. Changes go through the same
library calls as the CLI: ``Store.unsubscribe`` (``subscribers remove``) and
``admin.add`` (``subscribers add --topics / --frequency / --send-time /
--paused-until / --resubscribe``); what a pause preset means as a date is
``subscribers.cadence``'s.

Someone whose address bounced or who reported an email as spam (suppressed:
nothing is mailed to them) gets a page that says why and whom to write to,
with no "Subscribe again" or topics form: both could only fail, since only the
operator lifts a suppression (``subscribers add --unsuppress``). The
provider's own words (an SMTP reply, which may quote the whole address) go to
the log, never on a page.

A GET never changes anything (link scanners in mail systems open every link);
every change is a POST. Any POST to the unsubscribe link unsubscribes: RFC 8058
mail clients send ``List-Unsubscribe=One-Click`` as a urlencoded or a
multipart body, and the page's button sends an empty form.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from digest import zones
from digest.editions.reach import Reach, topic_reach
from digest.errors import DigestError, InputError, StillSuppressed, StillUnsubscribed
from digest.grouping.sections import Vocabulary
from digest.models import Subscriber
from digest.subscribers import admin
from digest.subscribers.cadence import LONGEST_PAUSE, PRESETS, local_today, pause_end, send_times
from digest.validate import clean_line
from digest.web.context import PRIVATE, Web, subscriber_for

log = logging.getLogger("digest.web")

# A form here is a few checkboxes and a line of text; anything larger is not ours.
MAX_FORM = 64 * 1024
MAX_FIELDS = 200
# A body still not whole after this long is a client holding the connection open.
READ_SECONDS = 10.0


class TooLarge(Exception):
    pass


def routes(web: Web) -> list[Route]:
    pages = Pages(web)
    return [
        Route("/unsubscribe/{token}", pages.unsubscribe, methods=["GET", "POST"]),
        Route("/preferences/{token}", pages.preferences, methods=["GET", "POST"]),
        Route("/resubscribe/{token}", pages.resubscribe, methods=["POST"]),
        Route("/static/web.css", pages.stylesheet, methods=["GET"]),
    ]


class Pages:
    def __init__(self, web: Web) -> None:
        self.web = web

    async def unsubscribe(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._post(request, self._unsubscribe)
        return await run_in_threadpool(self._show, request, None)

    async def preferences(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._post(request, self._save)
        return await run_in_threadpool(self._show_preferences, request, None)

    async def resubscribe(self, request: Request) -> Response:
        return await self._post(request, self._resubscribe)

    async def stylesheet(self, request: Request) -> Response:
        css = self.web.pages.loader.get_source(self.web.pages, "web.css")[0]
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    async def _post(self, request: Request, action) -> Response:
        form, refused = await read_posted(request, self._error)
        if refused is not None:
            return refused
        return await run_in_threadpool(action, request, form)

    # -- on a worker thread: the store is synchronous --------------------------

    def _subscriber(self, request: Request) -> Subscriber | None:
        return subscriber_for(request.path_params["token"], self.web.key, self.web.store)

    def _show(self, request: Request, _form) -> Response:
        sub = self._subscriber(request)
        if sub is None:
            return self._bad_link(request)
        return self._page(request, sub, None)

    def _show_preferences(self, request: Request, _form) -> Response:
        sub = self._subscriber(request)
        if sub is None:
            return self._bad_link(request)
        return self._page(request, sub, None, preferences=True)

    def _unsubscribe(self, request: Request, _form) -> Response:
        sub = self._subscriber(request)
        if sub is None:
            return self._bad_link(request)
        change = self.web.store.unsubscribe(sub.email)
        if change.subscriber is None:  # gone between the two statements
            return self._bad_link(request)
        return self._page(request, change.subscriber, change.outcome)

    def _resubscribe(self, request: Request, _form) -> Response:
        sub = self._subscriber(request)
        if sub is None:
            return self._bad_link(request)
        try:
            change = admin.add(self.web.store, sub.email, resubscribe=True)
        except StillSuppressed:
            return self._cannot_mail(request, sub, "resubscribe")
        except DigestError as err:  # a stored address today's rules refuse: never shown
            log.warning("resubscribe refused for subscriber %d: %s", sub.id, err)
            return self._page(request, sub, None, 409, "this address cannot be subscribed here")
        return self._page(request, change.subscriber or sub, "resubscribed")

    def _save(self, request: Request, form: dict[str, list[str]] | None) -> Response:
        sub = self._subscriber(request)
        if sub is None:
            return self._bad_link(request)
        if form is not None and "pause" in form:
            return self._pause(request, sub, form)
        if form is None or "other" not in form:
            # Not our page's form (which always sends "other", if empty): saving
            # it would quietly reset their topics to everything.
            return self._page(request, sub, None, 400, "that was not the topics form")
        typed = _split(" ; ".join(form.get("other", [])))
        chosen = [*form.get("topic", []), *typed]
        # Only a choice that differs is passed on: saving topics leaves a stored
        # "no frequency of my own" (the site's) as it was.
        often = _one(form, "frequency")
        if often == (sub.frequency or "daily"):
            often = None
        at = _one(form, "send_time")
        if at == (f"{sub.send_time:%H:%M}" if sub.send_time else ""):
            at = None
        done = self._change(
            request, sub, "saving", topics=";".join(chosen), frequency=often, send_time=at
        )
        if isinstance(done, Response):
            return done
        # Counted once saved (the topics passed the CLI's checks, and are now in
        # the editions' vocabulary), by the store's clock, as editions count time.
        try:
            reach = topic_reach(self.web.store, self.web.settings, typed, self.web.store.now())
        except sa.exc.SQLAlchemyError as err:
            # Saved already: say so, without the counts, rather than "try again".
            log.error("counting typed topics failed: %s", self.web.store.describe(err))
            reach = None
        return self._page(request, done, "saved", reach=reach, preferences=True)

    def _pause(self, request: Request, sub: Subscriber, form: dict[str, list[str]]) -> Response:
        """A preset (a week, a month), a typed last day, or "resume": one ``paused_until``."""
        choice = _one(form, "pause")
        if choice == "resume":
            until = ""
        elif choice in (*PRESETS, "date"):
            today = local_today(sub, self.web.settings.timezone, self.web.store.now())
            try:
                until = pause_end(choice, today, _one(form, "until") or "").isoformat()
            except ValueError as err:
                return self._page(request, sub, None, 400, str(err), preferences=True)
        else:
            return self._page(request, sub, None, 400, "that was not the pause form", True)
        done = self._change(request, sub, "pausing", paused_until=until)
        if isinstance(done, Response):
            return done
        return self._page(request, done, "paused" if until else "resumed", preferences=True)

    def _change(
        self, request: Request, sub: Subscriber, what: str, **values
    ) -> Subscriber | Response:
        """``admin.add`` of ``values`` for this subscriber: the stored subscriber, or the
        page that says why nothing was saved."""
        mine = {"preferences": True}
        try:
            change = admin.add(self.web.store, sub.email, **values)
        except InputError as err:
            if err.where == "email":  # the stored address itself: never on the page
                log.warning("%s refused for subscriber %d: %s", what, sub.id, err)
                problem = "this address cannot be changed here"
                return self._page(request, sub, None, 409, problem, **mine)
            return self._page(request, sub, None, status=400, problem=err.reason, **mine)
        except StillSuppressed:
            return self._cannot_mail(request, sub, what, **mine)
        except StillUnsubscribed:
            if sub.suppressed_at:  # "subscribe again first" would only fail too
                return self._cannot_mail(request, sub, what, **mine)
            return self._page(request, sub, "not-saved", status=409, **mine)
        return change.subscriber or sub

    def _cannot_mail(self, request: Request, sub: Subscriber, what: str, **mine) -> Response:
        """409 for a change a suppressed address cannot have; the provider's words,
        which the page never shows, in the log, with the subscriber's id."""
        log.warning(
            "%s refused for subscriber %d: %s on %s UTC%s",
            what,
            sub.id,
            sub.suppressed or "suppressed",
            f"{sub.suppressed_at:%Y-%m-%d %H:%M}" if sub.suppressed_at else "?",
            f" ({clean_line(sub.suppressed_detail)})" if sub.suppressed_detail else "",
        )
        return self._page(request, sub, "cannot-mail", 409, **mine)

    def _page(
        self,
        request: Request,
        sub: Subscriber,
        notice: str | None,
        status: int = 200,
        problem: str = "",
        preferences: bool = False,
        reach: Reach | None = None,
    ) -> Response:
        settings = self.web.settings
        today = local_today(sub, settings.timezone, self.web.store.now())
        paused = sub.paused_until if sub.paused_until and sub.paused_until >= today else None
        return self.web.page(
            request,
            "subscription.html.j2",
            status,
            PRIVATE,
            token=request.path_params["token"],
            address=mask_address(sub.email),
            subscribed=sub.unsubscribed_at is None,
            since=sub.unsubscribed_at,
            suppressed=(sub.suppressed or "suppressed") if sub.suppressed_at else None,
            suppressed_since=sub.suppressed_at,
            contact=self.web.settings.reply_address,
            choices=topic_choices(self.web.settings.topics, self.web.settings.aliases, sub.topics),
            everything=not sub.topics,
            notice=notice,
            problem=problem,
            preferences=preferences,
            reach=list(reach.counts.items()) if reach else [],
            reach_ignored=reach.ignored if reach else frozenset(),
            reach_capped=bool(reach and reach.capped),
            frequency=sub.frequency or "daily",
            weekly_day=settings.weekly_day.capitalize(),
            zone=zones.delivery_timezone(sub.timezone, settings.timezone),
            site_time=f"{settings.send_time:%H:%M}",
            send_time=f"{sub.send_time:%H:%M}" if sub.send_time else "",
            times=[f"{t:%H:%M}" for t in send_times(sub.send_time)],
            paused_until=paused,
            today=today,
            latest=today + LONGEST_PAUSE,
        )

    def _bad_link(self, request: Request) -> Response:
        return self.web.page(request, "bad_link.html.j2", 400, PRIVATE)

    def _error(self, request: Request, status: int, message: str) -> Response:
        return self.web.page(request, "error.html.j2", status, PRIVATE, message=message)


async def read_posted(
    request: Request, error: Callable[[Request, int, str], Response]
) -> tuple[dict[str, list[str]] | None, Response | None]:
    """(the posted form, as ``read_form`` reads it, or None; the page ``error`` makes
    when it could not be read: too large, too slow, or the client gone)."""
    try:
        return await asyncio.wait_for(read_form(request), READ_SECONDS), None
    except TooLarge:
        return None, error(request, 413, "That form is larger than any this site sends.")
    except TimeoutError:
        return None, error(request, 408, "The form took too long to arrive.")
    except ClientDisconnect:
        return None, Response(status_code=400)


async def read_form(request: Request) -> dict[str, list[str]] | None:
    """A urlencoded form's fields; None for any other body (a one-click multipart
    body, bytes that are not UTF-8, too many fields); ``TooLarge`` past
    ``MAX_FORM`` bytes, whatever Content-Length said."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise TooLarge()
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    try:
        text = body.decode("utf-8")
        # strict: %FF is not a character; "replace" would save a topic of U+FFFD.
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None


def _one(form: dict[str, list[str]], name: str) -> str | None:
    """A field sent once, or None when the form has no such field."""
    values = form.get(name)
    return values[-1] if values else None


def _split(text: str) -> list[str]:
    """What someone typed as other topics: separated by ``;`` or ``,``."""
    return [t for t in text.replace(",", ";").split(";") if t.strip()]


def mask_address(email: str) -> str:
    """``a•••@e•••.com`` for ``ann@example.com``: enough for its owner to recognise,
    too little for anyone else who opens the link to learn it."""
    local, _, domain = email.rpartition("@")
    name, dot, tld = domain.rpartition(".")
    if not name:
        return f"{local[:1]}•••@{domain[:1]}•••"
    return f"{local[:1]}•••@{name[:1]}•••{dot}{tld}"


def topic_choices(
    topics: list[str], aliases: dict[str, list[str]], chosen: list[str]
) -> list[tuple[str, bool]]:
    """(topic, chosen) for the checkboxes: the configured topics and alias names,
    and the subscriber's own, each once (an alias counts as its canonical name)."""
    vocab = Vocabulary(aliases=aliases, topics=topics)
    keys = vocab.topic_keys(chosen)
    offered: dict[str, str] = {}
    for name in [*topics, *aliases, *chosen]:
        key = vocab.resolve(name)
        if key:
            offered.setdefault(key, vocab.display.get(key) or vocab.names.get(key) or name)
    return sorted(((name, key in keys) for key, name in offered.items()), key=_order)


def _order(choice: tuple[str, bool]) -> str:
    return choice[0].casefold()
