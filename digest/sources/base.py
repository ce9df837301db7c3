"""What every source needs: decoding, dates, guids, summaries and safe HTML."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import nh3

from digest.errors import InputError
from digest.models import Article

# Longest article body we keep; the rest of a huge export is dropped at a paragraph end.
MAX_BODY_CHARS = 200_000
SUMMARY_CHARS = 320
CP1252_UNDEFINED = {b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"}


@dataclass
class SourceResult:
    """What one file, folder or feed yielded: the good articles and each failure."""

    articles: list[Article] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files not of a known kind

    def extend(self, other: SourceResult) -> None:
        self.articles.extend(other.articles)
        self.errors.extend(other.errors)
        self.skipped.extend(other.skipped)


def decode(data: bytes) -> str:
    """Text as its author meant it: UTF-8 (with or without BOM), else Windows-1252.

    Windows-1252 is what "ANSI" exports from newsroom tools are; it is a
    superset of Latin-1's printable range, and the few bytes it leaves
    undefined fall back to Latin-1 so nothing is lost.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # The five bytes Windows-1252 leaves undefined are taken as Latin-1.
    return "".join(
        chunk.decode("latin-1") if chunk in CP1252_UNDEFINED else chunk.decode("cp1252")
        for chunk in re.split(rb"([\x81\x8d\x8f\x90\x9d])", data)
        if chunk
    )


def make_guid(url: str | None, guid: str | None, source: str, title: str) -> str:
    if guid and guid.strip():
        return guid.strip()
    if url and url.strip():
        return url.strip()
    key = f"{source.strip().casefold()}\x1f{' '.join(title.split()).casefold()}"
    return "sha1:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def parse_published(value: object, zone: ZoneInfo, where: str) -> datetime | None:
    """An aware datetime from YAML/JSON values; naive times are in the default zone."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(where, f"published: not an ISO 8601 date: {value!r}") from None
    else:
        raise InputError(where, f"published: not a date: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def keyword_list(value: object, where: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        items = re.split(r"[,;]", value)
    elif isinstance(value, list):
        items = [str(v) for v in value if v is not None]
    else:
        raise InputError(
            where, f"keywords: expected a list or a comma-separated string, got {value!r}"
        )
    return [" ".join(i.split()) for i in items if i.strip()]


def clean_title(text: str) -> str:
    """Titles are plain text: drop any markup a feed put in, fold white space."""
    return " ".join(html_to_text(text).split())


def html_to_text(markup: str) -> str:
    """Plain text from untrusted HTML, paragraphs kept apart by blank lines."""
    markup = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/blockquote|/tr)\b[^>]*>", "\n\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set(), clean_content_tags={"script", "style"}))
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def sanitise_html(markup: str) -> str:
    """Article HTML fit to store: nh3's safe subset, links made rel=noopener."""
    return nh3.clean(markup)


def summarise(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first paragraph, cut at a word boundary to ``limit`` characters."""
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        paragraph = " ".join(paragraph.split())
        if paragraph:
            break
    else:
        return ""
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[:limit].rsplit(" ", 1)[0].rstrip(",;:.-— ")
    return cut + "…"


def trim_body(text: str) -> str:
    if len(text) <= MAX_BODY_CHARS:
        return text
    cut = text.rfind("\n\n", 0, MAX_BODY_CHARS)
    return text[: cut if cut > 0 else MAX_BODY_CHARS]


def strip_markdown(text: str) -> str:
    """Enough Markdown removal for a readable plain-text summary."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(?m)^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+", "", text)
    text = re.sub(r"(\*\*|__|\*|_|`)(\S(?:.*?\S)?)\1", r"\2", text)
    return text
