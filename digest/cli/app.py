"""What every command shares: the group, the lazily opened settings and store, the
consoles, and the translation of expected failures into one line and an exit code.

Every command is a thin layer over a library call (sources, store, dispatch, …):
it parses, calls, prints. Expected failures become one line on stderr: exit 2 for
bad usage, configuration or input files; exit 1 when the work finished but some
sources or recipients failed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import click
from rich.console import Console

from digest import __version__
from digest.config.settings import Settings, database_named, load_settings
from digest.config.values import mask_secrets
from digest.errors import InputError
from digest.validate import clean_line


# Plain text only: names, titles and paths come from untrusted files, and
# rich would read "[/x]" in one as markup (and fail) or ":fire:" as an emoji.
class _Console(Console):
    """Plain text only, and never a secret: every string printed is masked first."""

    def print(self, *objects, **kwargs) -> None:
        masked = [mask_secrets(o) if isinstance(o, str) else o for o in objects]
        super().print(*masked, **kwargs)


out = _Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = _Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


class OneLine(click.ClickException):
    """An error shown as one line: no line breaks or terminal escapes from what it quotes."""

    def __init__(self, message: str) -> None:
        super().__init__(mask_secrets(clean_line(message)))


class UsageProblem(OneLine):
    """Bad usage, configuration or input: exit 2."""

    exit_code = 2


class Failed(OneLine):
    """The work finished, but some of it failed (each failure already named): exit 1."""

    exit_code = 1


class Stopped(click.ClickException):
    """Stopped by a signal after recording what was sent: exit 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DigestGroup(click.Group):
    """Turns the library's expected failures into one line on stderr and an exit code."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """click's own handling, but no message shows a secret: a value click quotes
        back (``--date SG.…``, a bad choice) goes through the same mask as ours."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.ClickException as error:
            error.message = mask_secrets(error.message)
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            err.print("Aborted!")
            sys.exit(1)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # click would print "Aborted!" and exit 1; a shell expects 130 for Ctrl-C.
            # (digest send handles SIGINT itself, to finish the batch in flight.)
            raise Stopped("interrupted (SIGINT); run the same command again", 130) from None
        except Exception as error:
            problem = expected_failure(error, ctx.obj)
            if problem is None:
                raise
            raise problem from None


def expected_failure(error: Exception, app: App | None) -> click.ClickException | None:
    """The one line and exit code for an expected failure; None for anything else (a bug).

    Which failures are expected, and how a database error reads, is decided in
    ``store.database.expected``, for the scheduler too; only the wording of the
    exit is the CLI's.
    """
    from digest.store.database import expected  # only on the way out with an error

    store = app.opened_store if isinstance(app, App) else None
    found = expected(error, store.engine.url if store is not None else None)
    if found is None:
        return None
    return UsageProblem(found.line) if found.exit_code == 2 else Failed(found.line)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"warning: {message}", markup=False)


@click.group(cls=DigestGroup)
@click.option(
    "--config",
    "config_path",
    envvar="DIGEST_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./digest.toml if present). Env: DIGEST_CONFIG.",
)
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """digest: a daily newsletter digest emailer.

    Ingest tagged articles, group them by keyword, render one email-safe
    digest per audience and send it through outbox, smtp or sendgrid.

    Example: digest ingest examples/articles · digest send --dry-run
    """
    warnings.showwarning = _show_warning
    ctx.obj = App(config_path)


class App:
    """Settings and store are opened on first use, so ``--help`` never touches them."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._store = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def store(self):
        if self._store is None:
            from digest.store.store import Store

            self._opened(Store(self.settings.database_url))
        return self._store

    def store_when_up(self, say, stop=None):
        """The store for a service (`schedule`, `serve`): a database server that does not
        answer yet is waited for (``[database] startup_wait_seconds``), each try told to
        ``say``; None if ``stop`` was set meanwhile."""
        if self._store is None:
            from digest.store.waiting import open_when_up

            settings = self.settings
            store = open_when_up(
                settings.database_url, settings.database.startup_wait_seconds, say, stop
            )
            if store is not None:
                self._opened(store)
        return self._store

    def _opened(self, store) -> None:
        self._store = store
        if store.created and not database_named(self.settings):
            # Forgetting DIGEST_DATABASE_URL in a shell must not go unnoticed. A warning,
            # so `digest schedule --log-format json` logs it as JSON too.
            warnings.warn(
                f"created a new SQLite database at {store.file} (to use another, "
                "set DIGEST_DATABASE_URL or [database] url in digest.toml)",
                stacklevel=1,
            )

    @property
    def opened_store(self):
        """The store if a command opened it, without opening it."""
        return self._store


pass_app = click.make_pass_decorator(App)
# An edition's window reaches back from its date and across timezones; dates
# near the ends of the calendar would overflow it.
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2999, 12, 31)


def _check_day(ctx: click.Context, param: click.Parameter, value):
    if value is not None and not FIRST_DATE <= value.date() <= LAST_DATE:
        raise click.BadParameter(f"must be between {FIRST_DATE} and {LAST_DATE}")
    return value


date_option = click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    callback=_check_day,
    help="Edition date, YYYY-MM-DD (default: today in each delivery timezone).",
)


def day_of(value) -> date | None:
    return value.date() if value else None


def report_errors(errors: list[InputError]) -> None:
    for error in errors:
        err.print(f"error: {error}", markup=False)


def refuse_our_files(output: Path, app: App) -> None:
    """Refuse to write over the database or the config file (a slip of the tab key)."""
    ours = {app.settings.config_path: "the config file"}
    if app.store.file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            ours[app.store.file.with_name(app.store.file.name + suffix)] = "the database"
    for path, what in ours.items():
        if path is not None and output.resolve() == path.resolve():
            raise UsageProblem(f"-o {output}: that is {what}; choose another file")


@contextlib.contextmanager
def until_the_reader_leaves() -> Iterator[None]:
    """Output piped into ``head`` and the like: when the reader stops reading, stop
    quietly with 141 (128 + SIGPIPE, what a shell reports for ``cat`` there)."""
    try:
        yield
    except BrokenPipeError:
        # Python flushes stdout once more on its way out and would complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise ReaderLeft() from None


class ReaderLeft(click.ClickException):
    """Exit 141 and say nothing: whoever read the output stopped reading it."""

    exit_code = 141

    def __init__(self) -> None:
        super().__init__("the reader of the output went away")

    def show(self, file=None) -> None:
        pass
