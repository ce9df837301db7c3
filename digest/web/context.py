"""What every route module shares: the store, the settings, the signing key, the
pages, and reading a link's token back into the subscriber it names.

Pages are Jinja2 templates in ``templates/web/`` (shipped in the wheel), with
autoescape on: every value that reaches a page (a name, a topic, a title from
the config) is escaped. An operator's ``templates_dir`` may hold a ``web/``
folder of its own; a page found there is used instead of the shipped one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.config.settings import PACKAGE_TEMPLATES, Settings
from digest.errors import ConfigError
from digest.models import Subscriber
from digest.rendering.compiled import CompiledTemplates
from digest.rendering.links import read_token, signing_key
from digest.rendering.renderer import template_problem
from digest.store.store import Store

log = logging.getLogger("digest.web")

PAGES = (
    "subscription.html.j2",
    "bad_link.html.j2",
    "error.html.j2",
    "archive.html.j2",
    "subscribe.html.j2",
    "subscribe.js.j2",
    "check_inbox.html.j2",
    "confirm.html.j2",
    "manage.html.j2",
)
# Pages that show one subscriber's data: never kept by a browser or a proxy cache.
PRIVATE = {"Cache-Control": "no-store"}
# Shared by every app's page environment (the same options): see compiled.py.
PAGES_COMPILED = CompiledTemplates()


@dataclass
class Web:
    store: Store
    settings: Settings
    key: bytes | None = field(default=None)
    pages: jinja2.Environment = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = signing_key()
        folders = [self.settings.templates_dir / "web", PACKAGE_TEMPLATES / "web"]
        self.pages = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders if f.is_dir()]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=PAGES_COMPILED,  # once a process, not once an app
        )
        # Compiled now, so an operator's broken page stops the start with its
        # file and line, rather than failing each visitor later.
        for name in PAGES:
            try:
                self.pages.get_template(name)
            except Exception as err:
                problem = template_problem(err, self.settings.templates_dir)
                if problem is None:
                    raise
                raise ConfigError(problem) from None

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context,
    ) -> HTMLResponse:
        """``template`` rendered for ``request``: links in it are relative (``root``),
        so the pages work at any path a reverse proxy puts them under."""
        html = self.pages.get_template(template).render(
            title=self.settings.title, root=relative_root(request.url.path), **context
        )
        return HTMLResponse(html, status_code=status, headers=headers)


def relative_root(path: str) -> str:
    """The way back from ``path`` to the app's root, as a relative URL: ``../`` from
    ``/unsubscribe/<token>``, ``./`` from ``/archive``."""
    depth = path.count("/") - 1
    return "../" * depth if depth > 0 else "./"


def subscriber_for(token: str, key: bytes, store: Store) -> Subscriber | None:
    """``read_token`` against the store: whom an unsubscribe link names.

    Here, not beside ``make_token``: making a link needs no store, and reading
    one back is the pages' job, so ``rendering`` never sees the store.
    """
    return read_token(token, key, store.subscriber_by_id, store.find_subscriber)
