"""What every source needs: dates, keywords, and one gate every article passes.

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
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from digest.errors import InputError
from digest.keywords import keyword_key
from digest.models import Article
from digest.sources.identity import identity
from digest.sources.text import html_to_text, summarise, trim_body
from digest.validate import (
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_SOURCE,
    MAX_TITLE,
    MAX_URL,
    clean_block,
    clean_line,
    safe_link,
    shorten,
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
    identify_by_content: bool = False,
) -> Article:
    """The one gate from raw fields to an ``Article`` fit to store (see the module doc).

    ``summary`` and ``body`` are plain text; ``title`` may hold markup unless
    ``html_title`` is false. Without a guid or a link, the article is known by a
    hash of its title, or of its title and content (``identify_by_content``).
    Raises ``InputError`` only when there is no title.
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
    body = trim_body(clean_block(body).strip())
    summary = clean_line(summarise(clean_block(summary) or body))
    return Article(
        guid=identity(guid, link, title, summary, body, where, warnings, identify_by_content),
        title=title,
        url=link,
        summary=summary,
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


def merge_keywords(
    own: Iterable[str], extra: Iterable[str], where: str, warnings: list[InputError]
) -> list[str]:
    """An article's keywords with a source's added, held to the same limits."""
    return _keywords([*own, *extra], where, warnings)


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
