"""``GET /healthz``: what a load balancer asks before sending traffic here."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from digest.web.context import Web


def routes(web: Web) -> list[Route]:
    async def healthz(request: Request) -> PlainTextResponse:
        # 200 only when the store answers: a server that cannot reach its
        # database cannot unsubscribe anyone, so traffic should go elsewhere.
        if await run_in_threadpool(_store_answers, web):
            return PlainTextResponse("ok\n")
        return PlainTextResponse("the store does not answer\n", status_code=503)

    return [Route("/healthz", healthz, methods=["GET", "HEAD"])]


def _store_answers(web: Web) -> bool:
    try:
        with web.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True
