"""A source's name as a reader sees it: a feed's title without its site-title noise.

Feeds name themselves the way their site's HTML ``<title>`` does, and that is
written for a browser tab, not for a line under a headline. Three rules, each
safe on real titles because it only ever removes:

1. **A part that only says "home page" or "news"** is dropped, with its
   separator (" | ", " - ", " – ", " — ", " · ", " » ", " :: "):
   "bbcchinese.com | 主页" → "bbcchinese.com" (主页 is "home page"),
   "Tails - News" → "Tails", "Blog – Quiltville's Quips & Snips!!" →
   "Quiltville's Quips & Snips!!". A part that says more is kept:
   "Software Carpentry - Latest Comments" stays as it is (those are comments,
   and the reader should know it).
2. **A gmane newsgroup name** ("gmane.mail.rss2email") becomes the list's own
   name: "rss2email list". Other dotted names (Usenet's "comp.lang.python") are
   what their readers call them, and stay.
3. **"www."** before a bare host goes: "www.example.com" → "example.com". A
   domain keeps its ending: "bbcchinese" alone reads as a typo, the domain as an
   address the reader can place.

Nothing is invented (no "BBC Chinese" from "bbcchinese.com"), the result is
never longer than the title, never empty when the title has a letter, and
cleaning twice changes nothing more. A configured ``name`` is the operator's
word and is never cleaned (``shown_sources``).

Only what is *shown* is cleaned. The stored ``source`` stays the feed's title
as given: an article stored before schema version 13 is found by it
(``digest.store.article_writer.legacy_key``), and the same link from a source
of the same name is the same story; a cleaned name would lose both.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable
from typing import TypeVar

from digest.models import Article
from digest.validate import clean_line

_SEPARATOR = re.compile(r"(\s+(?:\||-|–|—|·|»|::)\s+)")
# What a site's title adds to say "this is the home page" or "the news", in the languages
# of the feeds we read. Compared case-folded, with "latest"/"all"/"the" in front ignored.
NOISE = frozenset(
    {
        "home",
        "homepage",
        "home page",
        "main page",
        "front page",
        "news",
        "blog",
        "feed",
        "rss",
        "rss feed",
        "atom feed",
        "posts",
        "articles",
        "entries",
        "updates",
        "主页",
        "首页",
        "主頁",
        "首頁",
        "startseite",
        "accueil",
        "inicio",
        "portada",
        "главная",
        "ホーム",
    }
)
_NOISE_LEAD = re.compile(r"(?i)^(?:latest|all|the)\s+")
_WWW_HOST = re.compile(r"(?i)www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_GMANE = re.compile(r"(?i)^gmane\.[a-z0-9-]+\.(?P<list>[a-z0-9][\w.+-]*)$")


def shown_name(title: str) -> str:
    """The source's name as a reader sees it (see the module doc for the rules)."""
    text = clean_line(title)
    parts = _SEPARATOR.split(text)  # [name, separator, name, separator, name …]
    names = parts[0::2]
    kept = [i for i, name in enumerate(names) if not _is_noise(name)]
    if kept and len(kept) < len(names):
        # Each kept name with the separator that came before it (none for the first).
        text = names[kept[0]] + "".join(parts[2 * i - 1] + names[i] for i in kept[1:])
    gmane = _GMANE.match(text)
    if gmane:
        text = gmane.group("list") + " list"
    else:
        while _WWW_HOST.fullmatch(text):
            text = text[4:]
    return text


def _is_noise(name: str) -> bool:
    return _NOISE_LEAD.sub("", name.strip()).casefold() in NOISE


A = TypeVar("A", bound=Article)


def shown_sources(articles: Iterable[A], configured: Collection[str] = ()) -> list[A]:
    """``articles`` with each source as a reader sees it; ``configured`` names stay as given."""
    shown = []
    for item in articles:
        name = item.source if item.source in configured else shown_name(item.source)
        shown.append(item if name == item.source else dataclasses.replace(item, source=name))
    return shown
