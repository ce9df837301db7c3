"""feedparser's test corpus held up against digest's reader (issue 23).

Each corpus file says, in an ``Expect:`` comment, what feedparser must make of
it: a Python expression over feedparser's result, such as ``not bozo and
entries[0]['title'] == u'Example'``. Here that expression is split at its
``and``s and each part that is only about a field digest keeps (an entry's
title, link, id, summary or content, date and tags; the feed's title, which
becomes the articles' source) is evaluated against what digest stored, read
through ``digest ingest``'s own path for a file (``files.parse_file``) or, where
the file gives HTTP headers, fetched from a loopback server. Parts about
anything else (``bozo``, authors, enclosures, ``feed.link``) are not digest's
business and are passed over.

The comparison allows for what digest documents that it does to every value
(docs/formats.md): feedparser's expected value is put through digest's own
rules first (HTML reduced to text, white space folded, control characters out,
only http(s)/mailto links, dates as UTC), and only then compared. An entry
that has neither a title nor text is refused by digest, so where feedparser's
entries have no title (most link, id, date and tag cases) a copy of the file
with a title added to each such entry is read instead.

``python tests/sources/feedparser_corpus.py`` prints the disagreements of the
code as it is now, in the form of tests/data/feedparser-disagreements.toml
(reasons already written there kept); ``--write`` writes them into that file:
how the list is refreshed.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from digest.sources import feed, feed_xml  # noqa: E402
from digest.sources.files import parse_file  # noqa: E402
from digest.sources.run import read  # noqa: E402
from digest.sources.text import html_to_text, summarise, trim_body  # noqa: E402
from digest.validate import (  # noqa: E402
    MAX_TITLE,
    clean_block,
    clean_line,
    hide_passwords,
    safe_link,
    shorten,
)

CORPUS = ROOT / "tests" / "data" / "feedparser"
DISAGREEMENTS = ROOT / "tests" / "data" / "feedparser-disagreements.toml"
UTC_ZONE = ZoneInfo("UTC")
ADDED_TITLE = "Corpus entry"  # the title given to an entry that has none
_EXPECT = re.compile(r"Description:\s*(.*?)\s*Expect:\s*(.*)\s*-->")
_HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.M)
# feedparser's result names for the fields digest keeps (old names included).
ENTRY_FIELDS = {
    "title": "title",
    "title_detail": "title",
    "link": "link",
    "id": "id",
    "guid": "id",
    "summary": "summary",
    "description": "summary",
    "summary_detail": "summary",
    "content": "content",
    "published": "published",
    "published_parsed": "published",
    "issued": "published",
    "issued_parsed": "published",
    "updated": "updated",
    "updated_parsed": "updated",
    "modified": "updated",
    "modified_parsed": "updated",
    "date": "updated",
    "date_parsed": "updated",
    "tags": "tags",
    "category": "tags",
}
FEED_FIELDS = {"title": "source", "title_detail": "source"}
ROOTS = {"entries": "entries", "items": "entries", "feed": "feed", "channel": "feed"}


# -- the corpus files ---------------------------------------------------------------


def corpus_files() -> list[Path]:
    return sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md")
    )


def name_of(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix() if path.is_relative_to(CORPUS) else path.name


def text_of(data: bytes) -> str:
    """The file as feedparser's own tests read it: by its byte-order mark, else UTF-8."""
    for mark, codec in (
        (b"\x00\x00\xfe\xff", "utf-32be"),
        (b"\xff\xfe\x00\x00", "utf-32le"),
        (b"\x00\x00\x00\x3c", "utf-32be"),
        (b"\x3c\x00\x00\x00", "utf-32le"),
        (b"\x00\x3c\x00\x3f", "utf-16be"),
        (b"\x3c\x00\x3f\x00", "utf-16le"),
        (b"\xfe\xff", "utf-16be"),
        (b"\xff\xfe", "utf-16le"),
    ):
        if data.startswith(mark):
            return data.decode(codec, errors="ignore")
    return data.decode("utf-8", errors="ignore")


def expectation(data: bytes) -> str | None:
    found = _EXPECT.search(text_of(data))
    return found.group(2).strip() if found else None


def headers_of(data: bytes) -> dict[str, str]:
    return {k: v.strip() for k, v in _HEADER.findall(text_of(data))}


# -- which parts of an expectation are digest's business ----------------------------


def path_of(node: ast.AST) -> tuple | None:
    """``entries[0]['title_detail'].value`` as ("entries", 0, "title_detail", "value")."""
    parts: list = []
    while True:
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            parts.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            parts.append(node.args[0].value)
            node = node.func.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return tuple(reversed(parts))
        else:
            return None


def kept_field(path: tuple) -> str | None:
    """The digest field a path of feedparser's result names, or None if digest keeps none."""
    where = ROOTS.get(path[0])
    if where == "entries" and len(path) >= 3 and isinstance(path[1], int):
        name, rest = ENTRY_FIELDS.get(path[2]), path[3:]
        if path[2].endswith("_detail") and rest[:1] != ("value",):
            return None  # its type, language or base: not kept
        if name == "content" and (len(rest) < 2 or rest[1] != "value"):
            return None if rest else name
        if name == "tags" and rest and rest[-1] != "term" and not isinstance(rest[-1], int):
            return None  # a tag's scheme or label
        return name and f"entries[{path[1]}].{name}"
    if where == "feed" and len(path) >= 2:
        name, rest = FEED_FIELDS.get(path[1]), path[2:]
        if rest and rest != ("value",):
            return None
        return name and f"feed.{name}"
    return None


def parts(expression: str) -> list[tuple[str, list[str]]]:
    """The ``and``-parts of an expectation that are only about fields digest keeps."""
    tree = ast.parse(expression, mode="eval").body
    both = isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And)
    conjuncts = tree.values if both else [tree]
    found = []
    for part in conjuncts:
        paths = [path_of(n) for n in ast.walk(part)]
        paths = [p for p in paths if p and p[0] in ROOTS and p[-1] != "get"]  # x.get(...)
        longest = [p for p in paths if not any(q != p and q[: len(p)] == p for q in paths)]
        fields = [kept_field(p) for p in longest]
        if fields and all(fields):
            found.append((ast.unparse(part), sorted(set(fields))))
    return found


# -- digest's answer, shaped like feedparser's result -------------------------------


def as_text(value: str, kind: str) -> str:
    """feedparser's value as digest's text: HTML reduced, plain text only folded."""
    value = clean_block(value)
    return " ".join(value.split()) if kind == "text/plain" else html_to_text(value)


class Text(str):
    """A stored text that compares equal to feedparser's value put through digest's rules.

    A ``str`` (digest's value), so ``ord``, ``len`` and slicing see what is stored.
    """

    def __new__(cls, stored: str, rule):
        made = super().__new__(cls, stored)
        made.rule = rule
        return made

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return str(self) == str(other)
        return isinstance(other, str) and self.rule(other) == str(self)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __contains__(self, other: object) -> bool:
        wanted = self.rule(other) if isinstance(other, str) else None
        return bool(wanted) and wanted in str(self)


@dataclass(eq=False)
class Moment:
    """A stored UTC time that compares with feedparser's time tuple or date string."""

    stored: datetime | None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = feed_xml.parse_date(other) if other.strip() else None
        if other is None or self.stored is None:
            return other is None and self.stored is None
        return datetime(*tuple(other)[:6], tzinfo=UTC) == self.stored

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __bool__(self) -> bool:
        return self.stored is not None

    def __repr__(self) -> str:
        return repr(self.stored)


class View(dict):
    """An entry or the feed: feedparser's keys, digest's values (attribute access too)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def entry_view(article, fp_entry: dict, base: str | None) -> View:
    """One stored article as feedparser's entry; ``fp_entry`` says which values are HTML."""

    def kind(key: str) -> str:
        return (fp_entry.get(key) or {}).get("type", "text/html")

    def title_rule(value: str) -> str:
        title = clean_line(as_text(value, kind("title_detail")))
        # no words in the title (an image alone): digest's headline is the text's start
        return shorten(title or summarise(article.summary, 80), MAX_TITLE)

    def summary_rule(value: str) -> str:
        text = as_text(value, kind("summary_detail"))
        if not fp_entry.get("content"):  # the summary is all the text: the body holds it whole
            return trim_body(text)
        return clean_line(summarise(text))

    def content_rule(value: str) -> str:
        kinds = [c.get("type", "text/html") for c in fp_entry.get("content") or []]
        return trim_body(as_text(value, kinds[0] if kinds else "text/html"))

    summary = article.body if not fp_entry.get("content") else article.summary
    title = Text(article.title, title_rule)
    text = Text(summary, summary_rule)
    when = Moment(article.published)
    tags = [View(term=Text(word, clean_line)) for word in article.keywords]
    return View(
        title=title,
        title_detail=View(value=title),
        link=Text(article.url or "", lambda value: safe_link(value, base) or ""),
        id=Text(article.guid, lambda value: hide_passwords(clean_line(value))),
        guid=Text(article.guid, lambda value: hide_passwords(clean_line(value))),
        summary=text,
        description=text,
        summary_detail=View(value=text),
        content=[View(value=Text(article.body, content_rule))],
        published=when,
        published_parsed=when,
        issued=when,
        issued_parsed=when,
        updated=when,
        updated_parsed=when,
        modified=when,
        modified_parsed=when,
        date=when,
        date_parsed=when,
        tags=tags,
        category=tags[0]["term"] if tags else Text("", clean_line),
    )


@dataclass
class Verdict:
    """What one corpus file's expectation says about digest: the parts that do not hold."""

    name: str
    failed: dict[str, str] = field(default_factory=dict)  # field(s) -> the part, as written
    checked: int = 0


def judge(path: Path, serve=None) -> Verdict:
    """Every kept-field part of the file's expectation, evaluated on digest's answer.

    The answer is what ``digest ingest`` makes of the file; ``serve(data)``, when
    given, puts the bytes on a loopback server and returns their URL, and the
    feed is then fetched from there (its ``Header:`` lines matter).
    """
    data = path.read_bytes()
    verdict = Verdict(name_of(path))
    expression = expectation(data)
    todo = parts(expression) if expression else []
    if not todo:
        return verdict
    parsed = feedparser.parse(data)
    about_titles = any("title" in f for _, fields in todo for f in fields)
    untitled = {n for n, e in enumerate(parsed.entries) if not e.get("title")}
    if not about_titles and untitled:
        data = with_titles(data, untitled)
        parsed = feedparser.parse(data)
    if not parsed.entries and text_of(data) == data.decode("utf-8", "ignore"):
        data = with_an_entry(data)
        parsed = feedparser.parse(data)
    url = serve(data) if serve else None
    result = read(url, UTC_ZONE, timeout=10) if url else parse_file(data, path, UTC_ZONE)
    by_number = {}
    for article in result.articles:
        number = int(article.origin.rsplit(" entry ", 1)[1])
        by_number[number - 1] = article
    base = url or None
    entries = []
    for number, fp_entry in enumerate(parsed.entries):
        article = by_number.get(number)
        entries.append(entry_view(article, fp_entry, base) if article else View())
    source = result.articles[0].source if result.articles else None
    where = result.articles[0].origin.rsplit(": entry ", 1)[0] if result.articles else ""
    title_kind = (parsed.feed.get("title_detail") or {}).get("type", "text/html")

    def source_rule(value: str) -> str:
        return clean_line(as_text(value, title_kind)) or where

    feed_view = View()
    if source is not None:
        shown = Text(source, source_rule)
        feed_view = View(title=shown, title_detail=View(value=shown))
    env = {"bozo": False, "entries": entries, "items": entries}
    env |= {"feed": feed_view, "channel": feed_view}
    for part, fields in todo:
        verdict.checked += 1
        try:
            holds = bool(eval(part, {}, env))  # the corpus's own expressions
        except (KeyError, IndexError, AttributeError, TypeError, NameError):
            holds = False  # digest has no such entry or value (refused, or not read)
        if not holds:
            verdict.failed[", ".join(fields)] = part
    return verdict


_ENTRY = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)(item|entry)\b[^>]*?(?<!/)>", re.I)


def with_titles(data: bytes, untitled: set[int] | None = None) -> bytes:
    """A copy of the feed with a title added to each entry that has none (ASCII-based files).

    ``untitled``: the numbers (from 0) of the entries feedparser finds no title in;
    found here when not given. Unchanged when the entries cannot be told apart.
    """
    if data.startswith((b"\xfe\xff", b"\xff\xfe", b"\x00", b"\x3c\x00")):
        return data
    if untitled is None:
        entries = feedparser.parse(data).entries
        untitled = {n for n, e in enumerate(entries) if not e.get("title")}
    else:
        entries = None
    starts = list(_ENTRY.finditer(data))
    if entries is not None and len(starts) != len(entries):
        return data
    pieces, at = [], 0
    for number, match in enumerate(starts):
        prefix = match.group(1)
        if number not in untitled:
            continue
        pieces.append(data[at : match.end()])
        pieces.append(b"<" + prefix + b"title>" + ADDED_TITLE.encode() + b"</" + prefix + b"title>")
        at = match.end()
    pieces.append(data[at:])
    return b"".join(pieces)


_END = re.compile(
    rb"</((?:[A-Za-z_][\w.-]*:)?)(channel|feed|rdf:RDF)\s*>\s*(?:</rss\s*>?)?\s*$", re.I
)


def with_an_entry(data: bytes) -> bytes:
    """A copy of a feed without entries, with one titled entry: its title is then stored."""
    found = _END.search(data)
    if not found:
        return data
    prefix, tag = found.group(1), found.group(2).lower()
    item = b"entry" if tag == b"feed" else b"item"
    if tag == b"channel" and prefix:
        prefix = b""
    entry = b"<%s%s><%stitle>%s</%stitle></%s%s>" % (
        prefix, item, prefix, ADDED_TITLE.encode(), prefix, prefix, item,
    )  # fmt: skip
    return data[: found.start()] + entry + data[found.start() :]


# -- the two readers ----------------------------------------------------------------


def by_fallback(data: bytes, where: str):
    """``feed.parse`` with the lxml reader stepping aside: feedparser reads the feed."""
    real = feed_xml.read

    def refuse(*args, **kwargs):
        raise feed_xml.NotSimple("read by feedparser")

    feed_xml.read = refuse
    try:
        return feed.parse(data, where)
    finally:
        feed_xml.read = real


def outcome(result) -> list:
    articles = [
        (a.title, a.url, a.guid, a.summary, a.body, a.source, a.published, a.keywords)
        for a in result.articles
    ]
    return [articles, [str(e) for e in result.errors], [str(w) for w in result.warnings]]


def readers_differ(path: Path) -> bool | None:
    """Whether the two readers make different articles of the file (None: lxml declines it)."""
    data = path.read_bytes()
    try:
        feed_xml.read(data)
    except feed_xml.NotSimple:
        return None
    where = name_of(path)
    if outcome(feed.parse(data, where)) != outcome(by_fallback(data, where)):
        return True
    # an entry refused for want of a title hides what else the readers made of it
    titled = with_titles(data)
    return titled != data and outcome(feed.parse(titled, where)) != outcome(
        by_fallback(titled, where)
    )


# -- the list -----------------------------------------------------------------------


def listed() -> dict:
    return tomllib.loads(DISAGREEMENTS.read_text(encoding="utf-8"))


def current(serve_all=None) -> tuple[dict[str, str], set[str]]:
    """Every disagreement now: ``{"FILE | FIELD": the expectation's part}``, and the
    files the two readers read differently. ``serve_all`` gives a ``serve`` for a file."""
    corpus, readers = {}, set()
    for path in corpus_files():
        serve = serve_all(path) if serve_all and headers_of(path.read_bytes()) else None
        verdict = judge(path, serve)
        for fields, part in verdict.failed.items():
            corpus[f"{verdict.name} | {fields}"] = part
        if readers_differ(path):
            readers.add(name_of(path))
    return corpus, readers


def main() -> None:
    """Print the disagreements as they are now, keeping the reasons already written;
    with ``--write``, write them into the list itself (its header kept)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from standins.feed_server import FeedStandIn

    known = listed()
    with FeedStandIn() as server:
        corpus, readers = current(lambda path: server_for(server, path))
    lines = ["[corpus]"]
    for key in sorted(corpus):
        reason = known.get("corpus", {}).get(key, "TODO: why digest is right, or: bug: fixed by")
        lines.append(f"{_quoted(key)} = {_quoted(reason)}")
    lines += ["", "[readers]"]
    for name in sorted(readers):
        reason = known.get("readers", {}).get(name, "TODO: bug: fixed by")
        lines.append(f"{_quoted(name)} = {_quoted(reason)}")
    if "--write" in sys.argv[1:]:
        header = DISAGREEMENTS.read_text(encoding="utf-8").split("\n[corpus]\n", 1)[0]
        DISAGREEMENTS.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
        print(f"{DISAGREEMENTS}: {len(corpus)} disagreements, {len(readers)} read differently")
    else:
        print("\n".join(lines))


def server_for(server, path: Path):
    """``serve`` for one file: its bytes put on the stand-in, served with its headers."""
    flat = name_of(path).replace("/", "__")

    def serve(data: bytes) -> str:
        server.feeds[flat] = data
        return f"{server.url}/written/{flat}"

    return serve


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    main()
