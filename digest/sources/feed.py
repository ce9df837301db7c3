"""RSS and Atom feeds, parsed by feedparser; a broken entry is reported, not fatal."""

from __future__ import annotations

import calendar
import xml.sax
from datetime import UTC, datetime

import feedparser

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import (
    SourceResult,
    clean_title,
    html_to_text,
    make_guid,
    summarise,
    trim_body,
)

# expat's complaints when the document ends too early (a truncated download or file)
CUT_OFF = {"no element found", "unclosed token", "partial character", "unclosed CDATA section"}


def looks_like_feed(head: bytes) -> bool:
    head = head.lstrip()[:2048].lower()
    return head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head


def parse(data: bytes, where: str, base_url: str | None = None) -> SourceResult:
    result = SourceResult()
    parsed = feedparser.parse(data, response_headers={"content-location": base_url or ""})
    problem = parsed.get("bozo_exception")
    if isinstance(problem, feedparser.NonXMLContentType):
        problem = None  # we pass no Content-Type ourselves: not the feed's fault
    if not parsed.entries:
        reason = problem or ("no entries" if parsed.get("version") else "not RSS or Atom")
        result.errors.append(InputError(where, f"not a usable feed: {reason}"))
        return result
    if isinstance(problem, xml.sax.SAXParseException) and problem.getMessage() in CUT_OFF:
        reason = f"the feed is cut off ({problem}); kept {len(parsed.entries)} entries"
        result.errors.append(InputError(where, reason))
    source = clean_title(parsed.feed.get("title", "")) or where
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            result.articles.append(_article(entry, source))
        except InputError as err:
            result.errors.append(InputError(f"{where}: entry {number}", err.reason))
    return result


def _article(entry, source: str) -> Article:
    title = clean_title(entry.get("title", ""))
    link = entry.get("link") or None
    content = entry.get("content") or []
    body_html = content[0].get("value", "") if content else ""
    summary_html = entry.get("summary", "")
    body = trim_body(html_to_text(body_html or summary_html))
    summary = html_to_text(summary_html) or body
    if not title:
        title = summarise(summary, 80) if summary else ""
    if not title:
        raise InputError("entry", "no title and no text")
    if not (link or entry.get("id")):
        raise InputError("entry", f"{title!r} has no link and no id")
    when = entry.get("published_parsed") or entry.get("updated_parsed")
    published = datetime.fromtimestamp(calendar.timegm(when), UTC) if when else None
    return Article(
        guid=make_guid(link, entry.get("id"), source, title),
        title=title,
        url=link,
        summary=summarise(summary),
        body=body,
        source=source,
        published=published,
        keywords=[
            " ".join(t.get("term", "").split()) for t in entry.get("tags", []) if t.get("term")
        ],
    )
