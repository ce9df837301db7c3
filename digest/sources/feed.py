"""RSS and Atom feeds, parsed by feedparser; a broken entry is reported, not fatal."""

from __future__ import annotations

import xml.sax

import feedparser

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import (
    SourceResult,
    html_to_text,
    make_article,
    published_from_feed,
    summarise,
)
from digest.validate import clean_line, safe_link

# expat's complaints when the document ends too early (a truncated download or file)
CUT_OFF = {"no element found", "unclosed token", "partial character", "unclosed CDATA section"}


def looks_like_feed(head: bytes) -> bool:
    head = head.lstrip()[:2048].lower()
    return head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head


def parse(data: bytes, where: str, base_url: str | None = None) -> SourceResult:
    """The entries of one feed document; ``base_url`` is where it was fetched from."""
    result = SourceResult()
    parsed = feedparser.parse(data, response_headers={"content-location": base_url or ""})
    problem = parsed.get("bozo_exception")
    if isinstance(problem, feedparser.NonXMLContentType):
        problem = None  # we pass no Content-Type ourselves: not the feed's fault
    if not parsed.entries:
        reason = problem or ("no entries" if parsed.get("version") else "not RSS or Atom")
        result.errors.append(InputError(where, f"not a usable feed: {clean_line(str(reason))}"))
        return result
    if isinstance(problem, xml.sax.SAXParseException) and problem.getMessage() in CUT_OFF:
        reason = f"the feed is cut off ({problem}); kept {len(parsed.entries)} entries"
        result.errors.append(InputError(where, reason))
    source = clean_line(html_to_text(parsed.feed.get("title", ""))) or where
    # Links feedparser could not resolve (a local file has no URL) are resolved
    # against the URL it was fetched from, else the feed's own <link>.
    base = safe_link(base_url) or safe_link(parsed.feed.get("link"))
    for number, entry in enumerate(parsed.entries, start=1):
        place = f"{where}: entry {number}"
        try:
            result.articles.append(_article(entry, source, base, place, result.warnings))
        except InputError as err:
            result.errors.append(err)
    return result


def _article(entry, source: str, base: str | None, where: str, warnings) -> Article:
    link = entry.get("link") or None
    guid = entry.get("id") or None
    if link is not None and link == guid and safe_link(link, base) is None:
        link = None  # feedparser copies a non-link id (urn:…, a number) into link
    if not (link or guid):
        title = clean_line(html_to_text(entry.get("title", "")))[:80]
        raise InputError(where, f"{title!r} has no link and no id")
    content = entry.get("content") or []
    body_html = content[0].get("value", "") if content else ""
    summary_html = entry.get("summary", "")
    body = html_to_text(body_html or summary_html)
    summary = html_to_text(summary_html) or body
    title = entry.get("title", "")
    if not html_to_text(title):
        title = summarise(summary, 80)
    if not title:
        raise InputError(where, "no title and no text")
    # dict.get: feedparser's own get() warns when it maps one key to the other.
    when = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    return make_article(
        where,
        warnings,
        title=title,
        url=link,
        guid=guid,
        summary=summary,
        body=body,
        source=source,
        published=published_from_feed(when, where, warnings),
        keywords=[t.get("term") or "" for t in entry.get("tags") or []],
        base_url=base,
    )
