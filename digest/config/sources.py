"""The ``sources`` setting: feeds, files and folders, each a string or a table.

A plain string is a source with every option at its default, so older files keep
working::

    sources = ["articles/", "https://example.org/feed.xml"]

A table says more about one source::

    [[sources]]
    name = "Example News"          # shown as the source; else the feed's own title
    url = "https://example.org/feed.xml"   # or: path = "articles/"
    keywords = ["Local"]           # given to every article of this source
    categories = false             # the feed's own categories are not keywords
    timeout = 10                   # seconds for the whole download (feed_timeout)

Every entry is checked here, before any work: an error names the entry by its
number (from 1) and its name, and the key.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from digest import validate
from digest.config.values import MAX_LIST, Range, key_name, read, show
from digest.models import Source

SOURCE_KEYS = ("name", "url", "path", "keywords", "categories", "timeout")
TIMEOUT = Range(0, 600, above=True)


def read_sources(value: object, base: Path) -> list[Source]:
    """The configured sources, relative paths made absolute against ``base``.

    Raises ValueError whose text starts with the entry it is about.
    """
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValueError(
            f"expected a list of URLs, paths or tables ([[sources]]), got {show(value)}"
        )
    found: list[Source] = []
    targets: dict[str, int] = {}
    names: dict[str, int] = {}
    for number, entry in enumerate(value, start=1):
        source = _entry(entry, number, base)
        label = f"entry {number}{_named(source)}"
        key = canonical_target(source.target)
        if key in targets:
            raise ValueError(f"{label}: the same source as entry {targets[key]}")
        targets[key] = number
        if source.name:
            folded = source.name.casefold()
            if folded in names:
                raise ValueError(f"{label}: name: the same name as entry {names[folded]}")
            names[folded] = number
        found.append(source)
    return found


def as_source(target: str | Source) -> Source:
    """A configured source, whether the setting gave it whole or as its target alone."""
    return target if isinstance(target, Source) else Source(target=target)


def canonical_target(target: str) -> str:
    """One spelling of a target, to find a repeated source: a URL compared as a
    canonical link, a path as written (made absolute already)."""
    if _is_url(target):
        return validate.canonical_url(target)
    return target


def _named(source: Source) -> str:
    return f" ({validate.shorten(source.name, 40)!r})" if source.name else ""


def _entry(entry: object, number: int, base: Path) -> Source:
    if isinstance(entry, str):
        try:
            target = _target(read("str", entry), base, url=_is_url(entry))
        except ValueError as err:
            raise ValueError(f"entry {number}: {err}") from None
        return Source(target=target)
    if not isinstance(entry, dict):
        raise ValueError(f"entry {number}: expected a URL, a path or a table, got {show(entry)}")
    name = entry.get("name")
    label = f"entry {number}"
    if isinstance(name, str) and name.strip() and not validate.has_control(name):
        label += f" ({validate.shorten(name.strip(), 40)!r})"
    unknown = [k for k in entry if k not in SOURCE_KEYS]
    if unknown:
        raise ValueError(
            f"{label}: unknown key {key_name(unknown[0])} (use {', '.join(SOURCE_KEYS)})"
        )
    if ("url" in entry) == ("path" in entry):
        raise ValueError(f"{label}: give either url or path")
    try:
        fields = _fields(entry, base)
    except _KeyProblem as problem:
        raise ValueError(f"{label}: {problem.key}: {problem.reason}") from None
    return Source(**fields)


class _KeyProblem(Exception):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


def _fields(entry: dict, base: Path) -> dict:
    fields: dict = {}

    def check(key, reader):
        if key in entry:
            try:
                fields[key] = reader(entry[key])
            except ValueError as err:
                raise _KeyProblem(key, str(err)) from None

    check("name", _name)
    check("keywords", _keywords)
    check("categories", lambda v: read("bool", v))
    check("timeout", lambda v: read("float", v, TIMEOUT))
    if "url" in entry:
        check("url", lambda v: _target(read("str", v), base, url=True))
        fields["target"] = fields.pop("url")
    else:
        check("path", lambda v: _target(read("str", v), base, url=False))
        fields["target"] = fields.pop("path")
    return fields


def _is_url(text: str) -> bool:
    return text.strip()[:8].lower().startswith(("http://", "https://"))


def _target(text: str, base: Path, url: bool) -> str:
    text = text.strip()
    if not text:
        raise ValueError("must not be empty")
    if url:
        if not _is_url(text):
            raise ValueError(f"must be an http(s) URL, not {show(text)}")
        try:
            host = urlsplit(text).hostname
        except ValueError:
            host = None
        if not host:
            raise ValueError(f"not a valid http(s) URL: {show(text)}")
        return text
    if _is_url(text):
        raise ValueError(f"a URL is given as url, not path: {show(text)}")
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else base / path)


def _name(value: object) -> str:
    name = validate.clean_line(read("str", value))
    if not name:
        raise ValueError("must not be empty")
    if len(name) > validate.MAX_SOURCE:
        raise ValueError(f"longer than {validate.MAX_SOURCE} characters")
    return name


def _keywords(value: object) -> tuple[str, ...]:
    words = read("list[str]", value)
    if len(words) > validate.MAX_KEYWORDS:
        raise ValueError(f"at most {validate.MAX_KEYWORDS}")
    for word in words:
        if len(word) > validate.MAX_KEYWORD:
            raise ValueError(f"each at most {validate.MAX_KEYWORD} characters")
    return tuple(" ".join(w.split()) for w in words)
