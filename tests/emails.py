"""Emails to check, made through the real path: the demo, busy days, a hostile title.

Shared by the HTML, browser, spam and caniemail checks, so each looks at the
same copies a subscriber would get: ingested into a store, grouped, rendered
once per segment and personalised, or written by the outbox provider.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from busy_day import articles, write_jsonl
from conftest import ROOT

from digest.config.settings import Settings
from digest.delivery.outbox import OutboxProvider
from digest.editions.contents import preview
from digest.models import Article, Subscriber
from digest.rendering.renderer import Rendered
from digest.sending.dispatch import Dispatcher
from digest.sources import ingest
from digest.store.store import Store

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
POSTAL_ADDRESS = "Example Media Ltd, 1 High Street, London N1 1AA, United Kingdom"
HOSTILE_TITLE = '<script>alert(1)</script> & "quotes"'
PEOPLE = [
    Subscriber("chidi.okafor@example.net", "Okafor, Chidi", [], "UTC"),
    Subscriber("alice.moreau@example.com", "Alice Moreau", ["Climate", "Energy"], "UTC"),
    Subscriber("bob@example.org", "", ["Technology"], "UTC"),
]


def site_settings(folder: Path, **overrides) -> Settings:
    values = {
        "title": "Daily Digest",
        "from_address": "Daily Digest <digest@news.example.com>",
        "public_url": "https://digest.example.com",
        "templates_dir": ROOT / "templates",
        "outbox_dir": folder / "outbox",
        "postal_address": POSTAL_ADDRESS,
    }
    values.update(overrides)
    return Settings(**values)


def _store(folder: Path, sources: list[str], extra: list[Article] = ()) -> Store:
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{folder / 'digest.db'}")
    report = ingest(store, sources, UTC, now=NOW - timedelta(minutes=5))
    assert not report.errors, report.errors
    # Straight into the store, as an older release or another tool might have put
    # them: ingest would have cleaned the markup out of the title already.
    store.save_articles(list(extra), now=NOW - timedelta(hours=1))
    store.save_subscribers(PEOPLE)
    return store


def day_sources(folder: Path, kind: str) -> list[str]:
    """``demo`` (examples/articles), or ``busy-<N>``: a made-up day of N articles."""
    if kind == "demo":
        return [str(ROOT / "examples" / "articles")]
    folder.mkdir(parents=True, exist_ok=True)
    count = int(kind.split("-")[1])
    return [str(write_jsonl(folder / f"{kind}.jsonl", articles(count, NOW)))]


def rendered(folder: Path, kind: str, email: str = "chidi.okafor@example.net", **settings):
    """What one subscriber gets on that day."""
    extra = []
    if kind == "hostile":
        kind = "demo"
        extra = [
            Article(
                guid="urn:hostile",
                title=HOSTILE_TITLE,
                url="https://news.example.org/hostile",
                summary='Its summary <img src=x onerror="alert(2)"> & more "quotes".',
                source="<b>Bold</b> Times",
                published=NOW - timedelta(minutes=30),
                keywords=["Climate"],
            ),
            Article(
                guid="urn:long-word",
                title="Wordwithoutanyspaceatallthatgoesonandonforeverandeverandever" * 3,
                url="https://news.example.org/long",
                summary="https://news.example.org/" + "a" * 200,
                published=NOW - timedelta(minutes=31),
                keywords=["Climate"],
            ),
        ]
    store = _store(folder, day_sources(folder, kind), extra)
    try:
        return preview(
            store, site_settings(folder, **settings), NOW.date(), email, now=NOW
        ).rendered
    finally:
        store.close()


def outbox_files(folder: Path, kind: str, **settings) -> list[Path]:
    """The day's .eml files, as the outbox provider writes them for PEOPLE."""
    store = _store(folder, day_sources(folder, kind))
    config = site_settings(folder, **settings)
    try:
        Dispatcher(store, config, OutboxProvider(config.outbox_dir), now=lambda: NOW).send()
    finally:
        store.close()
    return sorted(config.outbox_dir.rglob("*.eml"))


def write_page(folder: Path, copy: Rendered, name: str) -> Path:
    path = folder / f"{name}.html"
    path.write_text(copy.html, encoding="utf-8")
    return path
