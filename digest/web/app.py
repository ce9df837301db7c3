"""The ASGI application: every route module's routes, behind the same middleware.

Each module of ``digest.web`` that serves requests has ``routes(web) -> list``
(``web`` is the shared ``Web`` context: store, settings, signing key, page
templates); adding a module is adding it to ``ROUTE_MODULES``. The middleware
around all of them sets the security headers and writes the access log with
tokens redacted, so no module has to remember either.
"""

from __future__ import annotations

from starlette.applications import Starlette

from digest.config import Settings
from digest.store import Store
from digest.web import health
from digest.web.context import Web

# In the order their routes are matched.
ROUTE_MODULES = (health,)


def create_app(store: Store, settings: Settings, key: bytes | None = None) -> Starlette:
    """The app for ``store`` and ``settings``; ``key`` signs and checks the links
    (default: ``DIGEST_SECRET``, else the development key, with a warning)."""
    web = Web(store, settings, key)
    routes = [route for module in ROUTE_MODULES for route in module.routes(web)]
    app = Starlette(routes=routes)
    app.state.web = web
    return app
