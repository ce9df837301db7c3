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

import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from corpus_expect import (
    ADDED_TITLE,
    CORPUS,
    DISAGREEMENTS,
    ROOT,
    corpus_files,
    expectation,
    headers_of,
    name_of,
    parts,
    text_of,
    with_an_entry,
    with_titles,
)

from digest.errors import InputError
from digest.sources import charset, feed, feed_xml
from digest.sources.files import parse_file
from digest.sources.run import read
from digest.sources.text import html_to_text, summarise, trim_body
from digest.validate import (
    MAX_TITLE,
    clean_block,
    clean_line,
    hide_passwords,
    safe_link,
    shorten,
)

UTC_ZONE = ZoneInfo("UTC")
__all__ = ["ADDED_TITLE", "CORPUS", "corpus_files", "expectation", "headers_of", "name_of"]
__all__ += ["judge", "listed", "parts", "readers_differ", "server_for", "with_titles"]

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
    if not about_titles and any(not e.get("title") for e in parsed.entries):
        data = with_titles(data, parsed.entries)
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


# -- the two readers ----------------------------------------------------------------


def made_of(raw, where: str) -> list:
    """What ``feed.article`` makes of one reader's entries (as ``feed.parse`` calls it):
    the articles, the entries refused, and the warnings."""
    source = clean_line(html_to_text(raw.title)) or where
    base = safe_link(raw.link)
    made, refused, warnings = [], [], []
    for number, entry in enumerate(raw.entries, 1):
        try:
            a = feed.article(entry, source, base, f"{where}: entry {number}", warnings, entry.tags)
        except InputError as err:
            refused.append(str(err))
        else:
            made.append((a.title, a.url, a.guid, a.summary, a.body, a.source, a.published))
            made[-1] += tuple(a.keywords)
    return [made, refused, [str(w) for w in warnings]]


def readers_differ(path: Path) -> bool | None:
    """Whether the two readers make different articles of the file (None: lxml declines it).

    Each reader is called itself: ``feed_xml.read`` (lxml) and ``feed._feedparser``,
    the fallback ``feed.parse`` turns to when lxml raises ``NotSimple``; each is given
    what ``feed.parse`` gives it (the bytes in the encoding that wins, the file's own
    ``Header: Content-Type`` included) and mended as ``feed.parse`` mends it.
    """
    data = path.read_bytes()
    where = name_of(path)
    kind = next((v for k, v in headers_of(data).items() if k.lower() == "content-type"), "")

    def differ(document: bytes) -> bool | None:
        document = charset.to_utf8(document, kind)
        try:
            fast = feed_xml.read(document)
        except feed_xml.NotSimple:
            return None
        slow = feed._feedparser(document)[0]
        feed._mend(fast)
        feed._mend(slow)
        return made_of(fast, where) != made_of(slow, where)

    found = differ(data)
    if found is not False:
        return found
    # an entry refused for want of a title hides what else the readers made of it
    titled = with_titles(data)
    if titled == data:
        return False
    return bool(differ(titled))  # None: the copy is feedparser's alone, nothing to compare


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
