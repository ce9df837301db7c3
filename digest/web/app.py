"""The ASGI application: every route module's routes, behind the same middleware.

Each module of ``digest.web`` that serves requests has ``routes(web) -> list``
(``web`` is the shared ``Web`` context: store, settings, signing key, page
templates); adding a module is adding it to ``ROUTE_MODULES``. The middleware
around all of them (``middleware``) writes the access log with tokens
redacted, serves the routes under public_url's path too, and sets the
security headers, so no module has to remember any of it.

No response is built from the request's ``Host`` header: it is whatever the
client says, and a redirect to it (Starlette's own ``redirect_slashes`` answers
``/unsubscribe/<token>/`` with ``307`` to ``http://<Host>/unsubscribe/<token>``)
would send a person, token and all, to a host of an attacker's choosing.
The one redirect the app makes (``slash_redirect``) is relative.
"""

from __future__ import annotations

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Router

from digest.config.settings import Settings
from digest.store.store import Store
from digest.web import archive, health, pages, signup, webhooks
from digest.web.context import PRIVATE, Web, log
from digest.web.middleware import AccessLog, SecurityHeaders, StripPrefix

# In the order their routes are matched.
ROUTE_MODULES = (health, pages, signup, archive, webhooks)


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
    app.router.redirect_slashes = False
    app.router.default = slash_redirect(app.router)
    app.state.web = web
    return AccessLog(StripPrefix(SecurityHeaders(app), settings.public_url))


def slash_redirect(router: Router):
    """What answers a path no route matched: a ``307`` to the same path without its
    one trailing slash when that path is a route (a link a mail client or a person
    added a slash to), else ``404``.

    The target is relative (``../<token>`` from ``/unsubscribe/<token>/``): it
    needs neither the request's ``Host`` (anyone's to forge) nor the prefix a
    reverse proxy put in front, and it can only lead back to this site.
    """

    async def answer(scope, receive, send) -> None:
        path = scope.get("path", "")
        raw = (scope.get("raw_path") or path.encode("latin-1", "replace")).decode("latin-1")
        last = raw.rstrip("/").rpartition("/")[2]
        wanted = {**scope, "path": path[:-1]}
        if (
            scope["type"] == "http"
            and path.endswith("/")
            and not path.endswith("//")
            and raw.endswith("/")
            and last not in ("", ".", "..")
            and any(route.matches(wanted)[0] is not Match.NONE for route in router.routes)
        ):
            query = scope.get("query_string", b"").decode("latin-1")
            target = "../" + last + (f"?{query}" if query else "")
            await Response(status_code=307, headers={"Location": target})(scope, receive, send)
            return
        await router.not_found(scope, receive, send)

    return answer
