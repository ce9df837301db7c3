"""``GET /healthz``: what a load balancer asks before sending traffic here (and the
favicon every browser asks for)."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from digest.web.context import Web


def routes(web: Web) -> list[Route]:
    async def healthz(request: Request) -> PlainTextResponse:
        # 200 only when the store answers: a server that cannot reach its
        # database cannot unsubscribe anyone, so traffic should go elsewhere.
        if await run_in_threadpool(_store_answers, web):
            return PlainTextResponse("ok\n")
        return PlainTextResponse("the store does not answer\n", status_code=503)

    async def favicon(request: Request) -> Response:
        # Every browser asks for one; "no content" (kept a day) rather than a 404
        # for each page view in the log and the browser's console.
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]


def _store_answers(web: Web) -> bool:
    try:
        with web.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True
