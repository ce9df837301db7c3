"""``/archive``: the sent editions, and each one's page as the email showed it.

The list and the pages hold nothing personal (``digest.editions.archive``), so they
are public and may be cached. An edition's page is the email's own HTML,
whose styles are inline: it gets a policy of its own that allows those and
nothing else that could run.
"""

from __future__ import annotations

import re
from datetime import date, time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from digest.editions import archive
from digest.store.schema import CADENCES
from digest.web.context import Web

# The email's inline styles and <style> block; images only over https (or inline).
EDITION_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
PUBLIC = {"Cache-Control": "public, max-age=300"}
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# An IANA name (the longest is 32 characters); anything else is no edition's.
ZONE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+){0,2}")
MAX_ZONE = 64
TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # a personal send time's edition
MAX_TOPICS = 10_000


def routes(web: Web) -> list[Route]:
    copies = archive.WebCopies(web.store, web.settings)
    leads = archive.Leads(web.store, web.settings)

    def listing(request: Request) -> Response:
        return web.page(
            request,
            "archive.html.j2",
            200,
            PUBLIC,
            days=leads.days(),
            default_zone=web.settings.timezone,
        )

    def edition_page(request: Request) -> Response:
        raw_day, zone = request.path_params["day"], request.path_params["zone"]
        segment = request.query_params.get("topics", "")
        at = request.query_params.get("time", "")
        cadence = request.query_params.get("cadence", "daily")
        if (
            not DAY.fullmatch(raw_day)
            or (at and not TIME.fullmatch(at))
            or cadence not in CADENCES
            or len(zone) > MAX_ZONE
            or not ZONE.fullmatch(zone)
            or len(segment) > MAX_TOPICS
            or not segment.isprintable()  # a NUL is no topic (and PostgreSQL refuses it)
        ):
            return _not_found(web, request)
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            return _not_found(web, request)
        send_time = time.fromisoformat(at) if at else None
        edition = archive.find_sent(web.store, web.settings, day, zone, send_time, cadence)
        if edition is None or (segment and not archive.has_segment(web.store, edition, segment)):
            return _not_found(web, request)
        html = copies.html(edition, segment)
        return HTMLResponse(html, headers={**PUBLIC, "Content-Security-Policy": EDITION_POLICY})

    async def listing_async(request: Request) -> Response:
        return await run_in_threadpool(listing, request)

    async def edition_async(request: Request) -> Response:
        return await run_in_threadpool(edition_page, request)

    return [
        Route("/archive", listing_async, methods=["GET"]),
        Route("/archive/{day}/{zone:path}", edition_async, methods=["GET"]),
    ]


def _not_found(web: Web, request: Request) -> Response:
    return web.page(request, "error.html.j2", 404, message="There is no edition at this address.")
