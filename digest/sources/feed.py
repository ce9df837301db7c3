"""RSS and Atom feeds: a broken entry is reported, not fatal.

Well-formed RSS 2.0 and Atom 1.0 are read by ``feed_xml`` (lxml, fast); anything
else by feedparser, which reads almost anything that calls itself a feed. Both
give ``RawEntry`` fields, and ``article`` makes the same article from either.
"""

from __future__ import annotations

import html
import re
import xml.sax

import feedparser

from digest.errors import InputError
from digest.models import Article
from digest.sources import charset, feed_xml
from digest.sources.base import SourceResult, make_article, published_from_feed
from digest.sources.feed_xml import RawEntry, RawFeed
from digest.sources.identity import scope_of
from digest.sources.text import html_to_text, summarise, undo_double_utf8, windows_1252_c1
from digest.validate import clean_line, safe_link

# feedparser resolves an entry's id against xml:base (or the feed's address) when it
# takes it for a permalink, so "post-123" became "http://host/post-123", and the same
# feed read from two addresses gave two sets of entries. The id is the entry's identity
# and is kept as given; links are resolved here, separately (``article``).
# A private class: pyproject.toml bounds feedparser to the versions tested with it.
_Mixin = feedparser.mixin._FeedParserMixin
_Mixin.can_be_relative_uri = frozenset(_Mixin.can_be_relative_uri - {"id"})

# expat's complaints when the document ends too early (a truncated download or file)
CUT_OFF = {"no element found", "unclosed token", "partial character", "unclosed CDATA section"}
_HTML_PAGE = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)


def looks_like_feed(head: bytes) -> bool:
    head = head.lstrip()[:2048].lower()
    return head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head


def is_html_page(data: bytes) -> bool:
    """Whether ``data`` is a web page rather than a feed (a site's home page, an error page)."""
    return bool(_HTML_PAGE.match(data[:4096]))


def parse(
    data: bytes,
    where: str,
    base_url: str | None = None,
    *,
    content_type: str = "",
    name: str = "",
    categories: bool = True,
    keywords: tuple[str, ...] = (),
    address: str = "",
) -> SourceResult:
    """The entries of one feed document; ``base_url`` is where it was fetched from,
    ``content_type`` the HTTP header it came with (its charset: ``charset.decode``).

    ``name`` replaces the feed's own title as the articles' source;
    ``categories=False`` leaves the feed's categories out of their keywords;
    ``keywords`` are given to every article. ``address`` is the feed's URL as
    configured, or its file: what its entries' identities are scoped to
    (``identity.scope_of``; "" leaves them to the source's name).
    """
    result = SourceResult()
    data = charset.to_utf8(data, content_type)
    if is_html_page(data):
        page = "the server sent an HTML page" if base_url else "an HTML page"
        result.errors.append(InputError(where, f"not a feed: {page}"))
        return result
    try:
        feed, problem = feed_xml.read(data, base_url), None
    except feed_xml.NotSimple:
        feed, problem = _feedparser(data)
    _mend(feed)
    if not feed.entries:
        reason = problem or "no entries"
        result.errors.append(InputError(where, f"not a usable feed: {clean_line(str(reason))}"))
        return result
    if isinstance(problem, xml.sax.SAXParseException) and problem.getMessage() in CUT_OFF:
        reason = f"the feed is cut off ({problem}); kept {len(feed.entries)} entries"
        result.errors.append(InputError(where, reason))
    source = name or clean_line(html_to_text(feed.title)) or where
    # Links feedparser could not resolve (a local file has no URL) are resolved
    # against the URL it was fetched from, else the feed's own <link>.
    base = safe_link(base_url) or safe_link(feed.link)
    scope = scope_of(address) if address else ""
    entries, feed.entries = feed.entries, []
    entries.reverse()  # taken from the end: each entry's fields are let go once it is made
    for number in range(1, len(entries) + 1):
        entry = entries.pop()
        place = f"{where}: entry {number}"
        tags = [*entry.tags, *keywords] if categories else list(keywords)
        try:
            made = article(entry, source, base, place, result.warnings, tags)
        except InputError as err:
            result.errors.append(err)
        else:
            made.scope = scope
            result.articles.append(made)
    return result


def _mend(feed: RawFeed) -> None:
    """Every text of ``feed`` with double-encoded UTF-8 undone, then C1 controls
    read as Windows-1252 (``text.undo_double_utf8``, ``text.windows_1252_c1``).

    feedparser does both to every element it reads (for Latin-1 only, and
    leaving five C1 controls): the lxml reader's text is mended the same way
    here, and feedparser's the rest of the way, so both give the same articles.
    """

    def mend(text: str) -> str:
        if text.isascii():  # most text: nothing to mend
            return text
        return windows_1252_c1(undo_double_utf8(text))

    feed.title = mend(feed.title)
    for entry in feed.entries:
        entry.title = mend(entry.title)
        entry.summary_html = mend(entry.summary_html)
        entry.body_html = mend(entry.body_html)
        entry.tags = [mend(tag) for tag in entry.tags]


def _feedparser(data: bytes) -> tuple[RawFeed, object]:
    """The feed as feedparser reads it, and what it found wrong (or None).

    No base URL is given: feedparser would resolve a plain ``<guid>post-123</guid>``
    against it, and the guid must stay as given. Links are resolved later.
    """
    parsed = feedparser.parse(data, sanitize_html=False)
    problem = parsed.get("bozo_exception")
    if isinstance(problem, feedparser.NonXMLContentType):
        problem = None  # we pass no Content-Type ourselves: not the feed's fault
    if not parsed.entries and problem is None:
        problem = "no entries" if parsed.get("version") else "not RSS or Atom"
    atom = parsed.get("version", "").startswith("atom")
    title = parsed.feed.get("title", "")
    if atom:
        title = _as_html(title, parsed.feed.get("title_detail"))
    feed = RawFeed(title=title, link=parsed.feed.get("link") or None)
    feed.entries = [_raw(entry, atom) for entry in parsed.entries]
    return feed, problem


def _raw(entry, atom: bool) -> RawEntry:
    guid = entry.get("id") or None
    if atom:  # the link is an alternate link's; an http(s) id stands in for none
        link = _alternate(entry.get("links") or [])
        from_guid = link is None
    else:
        link = entry.get("link") or None
        from_guid = bool(entry.get("guidislink")) and link == guid
        if not from_guid:
            link = _alternate(entry.get("links") or []) or link
    content = entry.get("content") or []
    if not atom:  # RSS says nothing of its text's type: it is all read as HTML
        summary = entry.get("summary", "")
        body = content[0].get("value", "") if content else ""
        title = entry.get("title", "")
    else:
        # A summary feedparser copied from the content has no detail of its own.
        detail = entry.get("summary_detail") or (content[0] if content else None)
        summary = _as_html(entry.get("summary", ""), detail)
        body = _as_html(content[0].get("value", ""), content[0]) if content else ""
        title = _as_html(entry.get("title", ""), entry.get("title_detail"))
    # dict.get: feedparser's own get() warns when it maps one key to the other.
    when = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    return RawEntry(
        title=title,
        link=None if from_guid else link,
        guid=guid,
        guid_is_link=from_guid,
        summary_html=summary,
        body_html=body,
        when=when,
        tags=[t.get("term") or "" for t in entry.get("tags") or []],
    )


def _alternate(links: list) -> str | None:
    """The entry's page: the rule of ``feed_xml._alternate``. feedparser 6.0.14 gives
    whichever link without an href came last (an Atom 0.3 enclosure, say)."""
    found = None
    for link in links:
        href = (link.get("href") or "").strip()
        if not href or (link.get("rel") or "alternate").lower() != "alternate":
            continue
        if (link.get("type") or "text/html").lower() in feed_xml.HTML_TYPES:
            return href
        found = found or href
    return found


def _as_html(value: str, detail) -> str:
    """An Atom text construct as HTML, whatever type it declares (as ``feed_xml._construct``).

    feedparser gives text as text ("History of the <blink> tag"), which read as HTML
    would lose its words in brackets; and base64 it cannot decode as it found it.
    """
    kind = ((detail or {}).get("type") or "text/html").lower()
    if kind in feed_xml.HTML_TYPES or kind.endswith(("+xml", "/xml")):
        return value
    if kind.startswith("text/"):
        return html.escape(value, quote=False)
    return "" if feed_xml.binary(value) else value


def article(
    entry: RawEntry, source: str, base: str | None, where: str, warnings, keywords: list[str]
) -> Article:
    """An article from one entry's fields. Only an entry with no title and no text is refused:
    one with no link and no guid is kept, known by a hash of its title and content."""
    link = entry.link
    if not link and entry.guid_is_link and _absolute(entry.guid):
        link = entry.guid  # an RSS permalink guid; a bare "post-123" is no link
    summary = html_to_text(entry.summary_html)
    body = html_to_text(entry.body_html) if entry.body_html else summary
    summary = summary or body
    title = html_to_text(entry.title) or summarise(summary, 80)
    if not title:
        raise InputError(where, "no title and no text")
    return make_article(
        where,
        warnings,
        title=title,
        url=link,
        guid=entry.guid,
        summary=summary,
        body=body,
        source=source,
        published=published_from_feed(entry.when, where, warnings),
        keywords=keywords,
        base_url=base,
        html_title=False,  # made text above
        identify_by_content=True,
    )


def _absolute(link: str | None) -> bool:
    return bool(link) and link.strip()[:8].lower().startswith(("http://", "https://"))
