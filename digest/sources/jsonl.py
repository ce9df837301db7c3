"""JSON Lines: one article object a line. A bad line is reported, the rest kept.

Lines are split on ``\\n`` alone (a trailing ``\\r`` dropped): JSON strings may
hold U+2028, form feeds and other characters that ``str.splitlines`` would
take for line ends, which would report one line as two.
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import (
    SourceResult,
    keyword_list,
    make_article,
    parse_published,
    shown,
    text_value,
)
from digest.sources.text import html_to_text


def parse(text: str, where: str, zone: ZoneInfo) -> SourceResult:
    result = SourceResult()
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r").removeprefix("\ufeff")  # files joined with cat
        if not line.strip():
            continue
        place = f"{where}:{number}"
        try:
            result.articles.append(_article(line, place, zone, result.warnings))
        except InputError as err:
            result.errors.append(err)
    return result


def _article(line: str, where: str, zone: ZoneInfo, warnings: list[InputError]) -> Article:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(where, f"not valid JSON ({err.msg} at column {err.colno})") from None
    except (RecursionError, ValueError) as err:  # nested too deeply, a 5,000-digit number
        raise InputError(where, f"not usable JSON ({shown(err)})") from None
    if not isinstance(obj, dict):
        raise InputError(where, "expected a JSON object")
    body = html_to_text(text_value(obj, "body", where, warnings, "content"))
    return make_article(
        where,
        warnings,
        title=text_value(obj, "title", where, warnings),
        url=text_value(obj, "url", where, warnings) or None,
        guid=text_value(obj, "guid", where, warnings) or None,
        summary=html_to_text(text_value(obj, "summary", where, warnings)),
        body=body,
        source=text_value(obj, "source", where, warnings),
        published=parse_published(obj.get("published"), zone, where, warnings),
        keywords=keyword_list(obj.get("keywords"), where, warnings),
    )
