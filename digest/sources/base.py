"""What every source needs: decoding, dates, and one gate every article passes.

Each input kind only finds the raw fields; ``make_article`` then holds them
all to the same rules (``digest.validate``): control characters out, every
stored field within its limit, only http(s) and mailto links, a usable date
or none. What it has to change is reported as a warning naming the place and
the field, and the article is kept; only an article without a title is
refused. So a new input kind cannot forget a rule, and the store never sees a
value its columns would refuse.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import nh3

from digest.errors import InputError
from digest.grouping import keyword_key
from digest.models import Article
from digest.validate import (
    MAX_GUID,
    MAX_KEY_BYTES,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_SOURCE,
    MAX_TITLE,
    MAX_URL,
    clean_block,
    clean_line,
    hide_passwords,
    key_bytes,
    safe_link,
    shorten,
)

# Longest article body we keep; the rest of a huge export is dropped at a paragraph end.
MAX_BODY_CHARS = 200_000
SUMMARY_CHARS = 320
CP1252_UNDEFINED = {b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"}
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class SourceResult:
    """What one file, folder or feed yielded: the good articles and each failure.

    ``warnings`` name what was changed to make an article fit (a link
    dropped, a title shortened, a date ignored); the article is kept.
    """

    articles: list[Article] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files not of a known kind
    warnings: list[InputError] = field(default_factory=list)

    def extend(self, other: SourceResult) -> None:
        self.articles.extend(other.articles)
        self.errors.extend(other.errors)
        self.skipped.extend(other.skipped)
        self.warnings.extend(other.warnings)


def decode(data: bytes) -> str:
    """Text as its author meant it: by its byte-order mark, else UTF-8, else Windows-1252.

    Windows-1252 is what "ANSI" exports from newsroom tools are; it is a
    superset of Latin-1's printable range, and the few bytes it leaves
    undefined fall back to Latin-1 so nothing is lost. UTF-16 and UTF-32 are
    recognised only by their mark (what Windows' "Unicode" saves).
    """
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
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


def decode_text(data: bytes, where: str) -> str:
    """``decode`` for a file that must be text: NUL bytes without a mark mean it is not."""
    if b"\x00" in data and not any(data.startswith(bom) for bom, _ in BOMS):
        raise InputError(where, "binary file (or UTF-16 without a byte-order mark)")
    return decode(data)


def unify_line_ends(text: str) -> str:
    """``text`` with Windows (CRLF) and old-Mac (CR) line ends as ``\\n``.

    Every line-based reader (front matter fences, page exports) then sees one
    kind of line end; a ``^---$`` fence never matches before a ``\\r``.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def shown(value: object, limit: int = 80) -> str:
    """A value quoted for a message: one clean line, at most ``limit`` characters."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # holds an integer too long for Python to print in decimal
        text = f"<a {type(value).__name__}>"
    return repr(shorten(clean_line(text[: limit * 4]), limit))


def text_value(
    record: dict, key: str, where: str, warnings: list[InputError], *alternatives: str
) -> str:
    """The text at ``key`` (or the first of ``alternatives`` present) of a YAML/JSON record.

    Numbers and dates become their usual spelling; a list or a mapping is not
    text, and is ignored with a warning rather than stored as its repr.
    """
    for name in (key, *alternatives):
        value = record.get(name)
        if value is None or value == "":
            continue
        text = scalar_text(value)
        if text is None:
            reason = f"{name}: expected text, got {_kind(value)}; ignored"
            warnings.append(InputError(where, reason))
        return text or ""
    return ""


def scalar_text(value: object) -> str | None:
    """A string, number or date as text; None for anything else (a list, a mapping)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | date):
        try:
            return str(value)
        except ValueError:  # an integer too long for Python to print in decimal
            return None
    return None


def _kind(value: object) -> str:
    if isinstance(value, int):
        return "a number too long to print"
    return f"a {type(value).__name__}: {shown(value, 40)}"


def make_guid(url: str | None, guid: str | None, source: str, title: str) -> str:
    if guid and guid.strip():
        return guid.strip()
    if url and url.strip():
        return url.strip()
    key = f"{source.strip().casefold()}\x1f{' '.join(title.split()).casefold()}"
    return "sha1:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def parse_published(
    value: object, zone: ZoneInfo, where: str, warnings: list[InputError]
) -> datetime | None:
    """An aware UTC datetime from YAML/JSON values; naive times are in ``zone``.

    A date that is not one, or that UTC cannot represent (year 1 east of
    Greenwich, year 9999 west of it), is this article's problem alone: it is
    reported and the article is stored undated.
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return _no_date(where, warnings, f"not an ISO 8601 date: {shown(value)}")
    else:
        return _no_date(where, warnings, f"not a date: {shown(value)}")
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return _no_date(where, warnings, f"out of range: {shown(value)}")


def published_from_feed(when, where: str, warnings: list[InputError]) -> datetime | None:
    """feedparser's UTC time tuple as a datetime; absurd years are reported, not raised."""
    if not when:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(when), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        shown_date = "-".join(str(part) for part in tuple(when)[:3])
        return _no_date(where, warnings, f"out of range: {shown(shown_date)}")


def _no_date(where: str, warnings: list[InputError], reason: str) -> None:
    warnings.append(InputError(where, f"published: {reason}; stored undated"))
    return None


def keyword_list(value: object, where: str, warnings: list[InputError]) -> list[str]:
    """Keywords from a YAML/JSON value: a list, or one string separated by , or ;."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return re.split(r"[,;]", value)
    if isinstance(value, list):
        items = []
        for item in value:
            text = scalar_text(item)
            if text is not None:
                items.append(text)
            elif item is not None:
                reason = f"keywords: {_kind(item)} is not a word; dropped"
                warnings.append(InputError(where, reason))
        return items
    warnings.append(
        InputError(
            where,
            f"keywords: expected a list or a comma-separated string, got {_kind(value)}; ignored",
        )
    )
    return []


def make_article(
    where: str,
    warnings: list[InputError],
    *,
    title: str,
    url: str | None = None,
    guid: str | None = None,
    summary: str = "",
    body: str = "",
    source: str = "",
    published: datetime | None = None,
    keywords: Iterable[str] = (),
    base_url: str | None = None,
    html_title: bool = True,
) -> Article:
    """The one gate from raw fields to an ``Article`` fit to store (see the module doc).

    ``summary`` and ``body`` are plain text; ``title`` may hold markup unless
    ``html_title`` is false. Raises ``InputError`` only when there is no title.
    """
    title = clean_line(html_to_text(title) if html_title else title)
    if not title:
        raise InputError(where, "article has no title")
    if len(title) > MAX_TITLE:
        warnings.append(InputError(where, f"title: longer than {MAX_TITLE} characters; shortened"))
        title = shorten(title, MAX_TITLE)
    source = clean_line(source)
    if len(source) > MAX_SOURCE:
        warnings.append(
            InputError(where, f"source: longer than {MAX_SOURCE} characters; shortened")
        )
        source = shorten(source, MAX_SOURCE)
    link = _link(url, base_url, where, warnings)
    guid = hide_passwords(clean_line(guid or ""))
    if len(guid) > MAX_GUID:
        warnings.append(
            InputError(where, f"guid: longer than {MAX_GUID} characters; its hash is used")
        )
        guid = "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()
    body = trim_body(clean_block(body).strip())
    identity = make_guid(link, guid, source, title)
    if key_bytes(identity) > MAX_KEY_BYTES:  # a long link in Chinese, say: too big to index
        identity = "sha256:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()
    return Article(
        guid=identity,
        title=title,
        url=link,
        summary=clean_line(summarise(clean_block(summary) or body)),
        body=body,
        source=source,
        published=published,
        keywords=_keywords(keywords, where, warnings),
        origin=where,
    )


# An http(s) link's "user:password@" (up to the last "@" before the path).
_USER_PART = re.compile(r"(?i)^(https?://)[^/?#]*@")


def _link(url: str | None, base: str | None, where: str, warnings: list[InputError]) -> str | None:
    if not url or not url.strip():
        return None
    link = safe_link(url, base)
    if link is not None and _USER_PART.match(link):
        # A password would go out in every email; a user part alone can pass off
        # one host as another ("https://bank.example@evil.example/").
        warnings.append(InputError(where, "url: a user name or password in the link; removed"))
        link = _USER_PART.sub(r"\1", link, count=1)
    if link is None:
        if len(url.strip()) > MAX_URL:
            reason = f"longer than {MAX_URL} characters"
        elif re.match(r"^\s*[A-Za-z][A-Za-z0-9+.-]*:", url) or base:
            reason = f"not an http(s) or mailto link: {shown(url, 60)}"
        else:
            reason = f"a relative link with nothing to resolve it against: {shown(url, 60)}"
        warnings.append(InputError(where, f"url: {reason}; stored without a link"))
    return link


def _keywords(spellings: Iterable[str], where: str, warnings: list[InputError]) -> list[str]:
    """Clean keywords, one per key, each within MAX_KEYWORD, at most MAX_KEYWORDS of them.

    The length is checked after NFKC and case folding too, because that key
    is what the store indexes, and a few characters expand up to eighteen-fold.
    """
    kept: dict[str, str] = {}
    extra = 0
    for spelling in spellings:
        word = clean_line(spelling)
        key = keyword_key(word)
        if not key or key in kept:
            continue
        if max(len(word), len(key)) > MAX_KEYWORD:
            warnings.append(
                InputError(
                    where,
                    f"keywords: longer than {MAX_KEYWORD} characters; dropped {shown(word, 40)}",
                )
            )
        elif len(kept) < MAX_KEYWORDS:
            kept[key] = word
        else:
            extra += 1
    if extra:
        warnings.append(
            InputError(where, f"keywords: more than {MAX_KEYWORDS}; dropped the last {extra}")
        )
    return list(kept.values())


def html_to_text(markup: str) -> str:
    """Plain text from untrusted HTML, paragraphs kept apart by blank lines."""
    markup = clean_block(markup)  # nh3 cannot take a lone surrogate
    if "<" not in markup and "&" not in markup:
        return "\n\n".join(p for p in (" ".join(p.split()) for p in _PARAGRAPH.split(markup)) if p)
    # [^<>]* rather than [^>]*: an unclosed "<br" must not scan to the end each time.
    markup = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/blockquote|/tr)\b[^<>]*>", "\n\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set(), clean_content_tags={"script", "style"}))
    paragraphs = [" ".join(p.split()) for p in _PARAGRAPH.split(text)]
    return "\n\n".join(p for p in paragraphs if p)


_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")


def summarise(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first paragraph, cut at a word boundary to ``limit`` characters."""
    for paragraph in _PARAGRAPH.split(text.strip()):
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
    """Enough Markdown removal for a readable plain-text summary.

    Every pattern stops at the next bracket or line end, so text full of
    unclosed brackets or asterisks costs linear time, not quadratic.
    """
    text = re.sub(r"!\[([^\[\]\n]*)\]\([^()\n]*\)", r"\1", text)
    text = re.sub(r"\[([^\[\]\n]+)\]\([^()\n]*\)", r"\1", text)
    text = re.sub(r"(?m)^[ \t]{0,3}(#{1,6}|>|[-*+]|\d{1,9}\.)[ \t]+", "", text)
    text = re.sub(r"(\*\*|__|\*|_|`)(\S(?:[^*_`\n]{0,200}?\S)?)\1", r"\2", text)
    return text
