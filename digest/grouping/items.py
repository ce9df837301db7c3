"""Every item worth its line: one source's thread, status updates and text-less posts folded.

Applied once per edition, after each story is found once (``dedup.distinct``)
and before sections are built, so every segment sees the same items:

- **A thread is one item.** One source's messages with the same subject, once
  reply and forward prefixes (``Re:``, ``Fwd:``, ``AW:``, ``SV:`` …) and list
  tags (``[rss2email]``) are cut off, are one item: the latest message, under
  the bare subject, with ``thread_size`` messages. A mailing list's four
  "Re: new maintainer …" are one conversation, and its latest message is where
  a reader would pick it up.
- **A status page's updates are one item.** One source's titles that are a
  state ("Up", "Resolved") or a component and its state ("Login & sessions -
  Warning") are one item per component, with the latest ``state``: a reader
  wants to know how it stands, not each step.
- **A text-less post is not a story.** A title that only names the post's format
  ("Photo", "Video", "Untitled"), or no text at all under a title of one or two
  words, gives a reader nothing to choose it by. Its link goes under the same source's
  newest real item (``folded``: "N more from <source>"); a source with nothing
  else that day has nothing to show, and its text-less posts are left out.

Folding never crosses sources (that is ``dedup``'s rule 2), and an item without a
source is never folded: nothing says whose thread it would be.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from digest.keywords import normalise
from digest.models import StoredArticle

# Reply and forward prefixes, in the languages mail clients write them: Re (and
# "Re[2]"), Fwd, Fw, AW (German), SV (Scandinavian), WG (German forward), Antw (Dutch).
_PREFIX = re.compile(r"(?:re|fwd?|aw|sv|wg|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.IGNORECASE)
_LIST_TAG = re.compile(r"\[[^\]]{1,40}\]\s*")

# What status pages (Statuspage, Fastmail, Instatus …) say a component is.
STATES = (
    "up", "down", "warning", "resolved", "investigating", "identified", "monitoring",
    "operational", "degraded", "degraded performance", "partial outage", "major outage",
    "outage", "maintenance", "scheduled maintenance", "under maintenance", "completed",
    "in progress", "scheduled", "recovered", "restored", "fixed", "postmortem",
)  # fmt: skip
_STATE = "|".join(re.escape(s).replace(r"\ ", r"\s+") for s in sorted(STATES, key=len)[::-1])
# "Component - State", "Component: State", "Component | State"; or "State: Component"
# (an incident's update, "Resolved: Login failures"); or the state alone.
_STATUS_AFTER = re.compile(
    rf"(?P<component>.+?)\s*(?:\s[-–—|]\s*|:\s+)(?P<state>{_STATE})\W*", re.I
)
_STATUS_BEFORE = re.compile(rf"(?P<state>{_STATE})\s*(?:[-–—|:]\s*(?P<component>.+))?", re.I)

# Titles that only name a post's format: nothing to choose it by.
TEXTLESS_TITLES = frozenset((
    "photo", "photos", "image", "images", "picture", "pictures", "video", "videos",
    "audio", "gallery", "untitled", "untitled post", "no title", "link", "quote", "aside",
    "status", "post",
))  # fmt: skip
_PUNCTUATION = re.compile(r"[\W_]+")
_NUMBERS = re.compile(r"\d+")
HEADLINE_WORDS = 3


def thread_subject(title: str) -> str:
    """A message's subject with reply and forward prefixes and ``[list]`` tags cut off,
    however they are stacked ("Re: [rss2email] AW: Fwd: x" → "x"); spaces collapsed.
    A title that is nothing but prefixes stays as it is."""
    text = normalise(title)
    while (match := _PREFIX.match(text) or _LIST_TAG.match(text)) and text[match.end() :]:
        text = text[match.end() :].strip()
    return text


def subject_key(title: str) -> str:
    """What one thread's messages share: the bare subject, case-folded."""
    return thread_subject(title).casefold()


def status_of(title: str) -> tuple[str, str] | None:
    """(component, state) when a title is a status page's update, else None."""
    text = normalise(title)
    match = _STATUS_AFTER.fullmatch(text) or _STATUS_BEFORE.fullmatch(text)
    if match is None:
        return None
    return (match.group("component") or "").strip(), " ".join(match.group("state").split())


def is_textless(article: StoredArticle) -> bool:
    """A post with nothing to choose it by: a title that only names its format ("Photo",
    "Video 3", "Untitled"), or no text at all (no summary, no body) under a title of
    fewer than ``HEADLINE_WORDS`` words. A headline-only entry ("Storm Bert: thousands
    without power in Wales") keeps its line: the headline is the story."""
    bare = _NUMBERS.sub(" ", _PUNCTUATION.sub(" ", normalise(article.title).casefold())).strip()
    if not bare or bare in TEXTLESS_TITLES:
        return True
    has_text = article.summary.strip() or article.body.strip()
    return not has_text and len(bare.split()) < HEADLINE_WORDS


def fold_items(articles: Sequence[StoredArticle]) -> list[StoredArticle]:
    """The edition's items, each worth its line (see the module doc), in the order given
    (a folded item where its first member was)."""
    groups: dict[tuple[str, str, str], list[StoredArticle]] = {}
    order: list[tuple[str, str, str] | StoredArticle] = []
    textless: list[StoredArticle] = []
    for article in articles:
        if article.source and is_textless(article):
            textless.append(article)
            continue
        status = status_of(article.title) if article.source else None
        if status is not None:
            key = (article.source, "status", status[0].casefold())
        elif article.source and (subject := subject_key(article.title)):
            key = (article.source, "thread", subject)
        else:
            order.append(article)
            continue
        if key not in groups:
            order.append(key)  # type: ignore[arg-type]
        groups.setdefault(key, []).append(article)
    items = [
        entry if isinstance(entry, StoredArticle) else _one(groups[entry], entry[1])
        for entry in order
    ]
    return _fold_textless(items, textless)


def _latest(articles: Sequence[StoredArticle]) -> StoredArticle:
    return max(articles, key=lambda a: (a.when, a.id))


def _one(members: list[StoredArticle], kind: str) -> StoredArticle:
    """One item for a thread's messages or a component's updates: the latest one's."""
    if len(members) == 1:
        return members[0]
    latest = _latest(members)
    also = list(dict.fromkeys(s for m in members for s in m.also))
    keywords = list(dict.fromkeys(k for m in members for k in m.keywords))
    folded = [link for m in members for link in m.folded]
    if kind == "status":
        state = status_of(latest.title)
        return dataclasses.replace(
            latest,
            keywords=keywords,
            also=also,
            folded=folded,
            thread_size=len(members),
            state=state[1] if state else "",
        )
    return dataclasses.replace(
        latest,
        title=thread_subject(latest.title),
        keywords=keywords,
        also=also,
        folded=folded,
        thread_size=len(members),
    )


def _fold_textless(
    items: list[StoredArticle], textless: list[StoredArticle]
) -> list[StoredArticle]:
    """Each text-less post's link under its source's newest real item; dropped without one."""
    carriers: dict[str, StoredArticle] = {}
    for item in items:
        if item.source and (
            item.source not in carriers or (item.when, item.id) > _key(carriers[item.source])
        ):
            carriers[item.source] = item
    copies: dict[int, StoredArticle] = {}
    for post in sorted(textless, key=_key):
        carrier = carriers.get(post.source)
        if carrier is None or not post.url:
            continue
        copy = copies.setdefault(
            id(carrier), dataclasses.replace(carrier, folded=[*carrier.folded])
        )
        if post.url not in copy.folded and post.url != copy.url:
            copy.folded.append(post.url)
    return [copies.get(id(item), item) for item in items]


def _key(article: StoredArticle) -> tuple:
    return (article.when, article.id)
