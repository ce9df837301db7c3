"""``digest serve``: the web side, in the foreground, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal

import click

from digest.cli.app import App, cli, err, out, pass_app
from digest.sending.preflight import link_problems


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 or :: for every interface; usually a proxy's upstream).",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0: any free port, printed at start).",
)
@pass_app
def serve(app: App, host: str, port: int) -> None:
    """Serve the web side: unsubscribe and topic pages, one-click unsubscribe
    (RFC 8058), the archive of sent editions and /healthz (Starlette under
    uvicorn). Put it behind a reverse proxy with TLS at public_url (docs/web.md).
    SIGINT or SIGTERM stops it after the requests in progress. A database
    server that does not answer yet is waited for, up to [database]
    startup_wait_seconds (then exit 1; a bad setting exits 2).

    Examples: digest serve · digest serve --host 127.0.0.1 --port 8080
    """
    from digest.web.server import serve as run_server  # uvicorn only when serving

    # (A missing DIGEST_SECRET is warned about where the key is read.)
    problems = [p for p in link_problems(app.settings) if p.startswith("public_url")]
    if problems:
        err.print(
            f"warning: {'; '.join(problems)}: fine for trying it out here; "
            "digest send through smtp or sendgrid refuses these",
            markup=False,
        )
    store = app.store_when_up(lambda line: err.print(f"warning: {line}", markup=False))
    stopped = run_server(
        store,
        app.settings,
        host,
        port,
        on_ready=lambda url: err.print(
            f"serving on {url} (public_url {app.settings.public_url}); Ctrl-C stops",
            markup=False,
        ),
    )
    names = ", ".join(signal.Signals(s).name for s in stopped) or "request"
    out.print(f"stopped by {names}", markup=False)
