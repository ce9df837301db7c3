"""The ASGI application: every route module's routes, behind the same middleware.

Each module of ``digest.web`` that serves requests has ``routes(web) -> list``
(``web`` is the shared ``Web`` context: store, settings, signing key, page
templates); adding a module is adding it to ``ROUTE_MODULES``. The middleware
around all of them (``middleware``) writes the access log with tokens
redacted, serves the routes under public_url's path too, and sets the
security headers, so no module has to remember any of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from digest.config.settings import Settings
from digest.store.store import Store
from digest.web import archive, health, pages, webhooks
from digest.web.context import PRIVATE, Web, log
from digest.web.middleware import AccessLog, SecurityHeaders, StripPrefix

# In the order their routes are matched.
ROUTE_MODULES = (health, pages, archive, webhooks)


def create_app(store: Store, settings: Settings, key: bytes | None = None):
    """The app for ``store`` and ``settings``; ``key`` signs and checks the links
    (default: ``DIGEST_SECRET``, else the development key, with a warning)."""
    web = Web(store, settings, key)
    routes = [route for module in ROUTE_MODULES for route in module.routes(web)]

    async def database_down(request: Request, error: Exception) -> Response:
        # Nothing was changed (the transaction rolled back); the person can retry.
        log.error("database error on %s: %s", request.method, store.describe(error))
        return web.page(
            request,
            "error.html.j2",
            503,
            {**PRIVATE, "Retry-After": "60"},
            message="The service is not available just now. Please try again in a minute.",
        )

    app = Starlette(routes=routes, exception_handlers={sa.exc.SQLAlchemyError: database_down})
    app.state.web = web
    return AccessLog(StripPrefix(SecurityHeaders(app), settings.public_url))
