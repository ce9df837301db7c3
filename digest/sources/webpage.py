"""Plain text saved from a news web page, the way newsrooms export it.

The shape, top to bottom: a few lines of site chrome (logo caption, navigation
words), the headline (often printed twice), a standfirst, body paragraphs
separated by blank lines, a credit line ("Translated and edited by …"), and a
"Helpful keywords" block with one tag per line, which may be empty.

The summary is the standfirst, never the headline again (however the second
copy is spelt: in capitals, with a full stop, or run into the standfirst).

The source is the site's name, in this order:

1. the logo caption or masthead line ("The Syrian Observer — logo");
2. a credit line that names a site: "© 2026 The Valley Times", "… for The
   Harbour Post", or "Translated and edited by The Syrian Observer", where what
   follows "by" is an organisation ("The …", a newsroom word such as Times,
   Observer, Agency, or an acronym), not a person ("… by Maria Lopez": people
   sign these lines too, and a person is not a site);
3. the configured source's ``name``;
4. the host of the page's own address ("syriaobserver.com"), a name a reader
   can place;
5. nothing: no source is shown. Never the folder's or the file's name: a
   folder called "articles" or "exports" names the operator's filing, not the
   site, and was shown to readers as if it were a newsroom.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import urlsplit

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import make_article
from digest.sources.text import unify_line_ends

# Lines are right-stripped; one \s* either side of ":" would backtrack quadratically.
KEYWORDS_HEADING = re.compile(r"^\s*helpful\s+keywords\s*:?$", re.I)
CREDIT = re.compile(
    r"^\s*(translated|edited|written|reported|compiled|produced|reporting|additional reporting)"
    r"\b.{0,80}\bby\b",
    re.I,
)
URL_LINE = re.compile(r"^\s*(https?://\S+)\s*$")
# "© 2026 The Daily Example", "Copyright (c) The Daily Example. All rights reserved."
# ("Copyright reform passed…" is a sentence, not a credit: © or a year must follow.)
COPYRIGHT = re.compile(
    r"^\s*(?:©|\(c\)|copyright\s*(?:©|\(c\)|(?=\d{4})))\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?\s*)?"
    r"(?P<name>[^.,;\d]{2,80}?)\s*(?:\d{4})?\s*(?:[.,;].*)?$",
    re.I,
)
MAX_CREDIT = 200  # characters: a credit line is short
# "Reporting by Jane Doe for The Daily Example"
CREDIT_FOR = re.compile(r"\bfor\s+(?P<name>[A-Z][^.,;]{1,78}?)\s*\.?$")
# "Translated and edited by The Syrian Observer" (who follows "by" is judged by
# _is_organisation: a person signs such a line as often as a newsroom does).
CREDIT_BY = re.compile(r"\bby\s+(?P<name>[^.,;:]{2,80}?)\s*\.?$")
ORG_WORD = re.compile(
    r"(?i)\b(observer|times|post|news|herald|gazette|courier|journal|tribune|daily|weekly|"
    r"press|agency|media|network|radio|tv|television|magazine|review|monitor|chronicle|"
    r"telegraph|express|guardian|independent|standard|wire|service|desk|newsroom|bureau|"
    r"online|today|report|examiner|inquirer|globe|record|insider|bulletin|institute|"
    r"foundation|cent(?:er|re)|group|ltd|inc)\b"
)
SMALL_WORDS = {"the", "of", "and", "for", "on", "de", "la", "le", "al", "el", "&", "-", "—"}
# "The Syrian Observer staff" names the site; the trailing word is who at it.
STAFF = re.compile(r"(?i)\s+(staff|team|desk|newsroom|editors)$")
NAV_SEPARATORS = re.compile(r"\s[|·•›»/]\s")
CHROME_WORDS = re.compile(r"(?i)\b(logo|menu|skip to|sign in|subscribe|search)\b")
LOGO = re.compile(r"(?i)\b(logo|home\s{0,3}page)\b")


def parse(
    text: str, where: str, configured_name: str = "", warnings: list[InputError] | None = None
) -> Article:
    """The article in a page export; what had to change is added to ``warnings``.

    ``configured_name`` is the configured source's name: the source when the
    page names no site itself (see the module doc for the whole order).
    """
    warnings = [] if warnings is None else warnings
    lines = [line.rstrip() for line in unify_line_ends(text).split("\n")]
    keywords: list[str] = []
    for index in range(len(lines) - 1, -1, -1):
        if KEYWORDS_HEADING.match(lines[index]):
            keywords = [k for k in lines[index + 1 :] if k.strip()]
            lines = lines[:index]
            break
    url = None
    kept = []
    for line in lines:
        match = URL_LINE.match(line)
        if match and url is None:
            url = match.group(1)
        else:
            kept.append(line)
    head, rest = _headline(kept)
    if head is None:
        raise InputError(where, "no headline found (expected a line of at least four words)")
    chrome, title = head
    paragraphs = _without_headline(_paragraphs(rest), title)
    credits = [
        p for p in paragraphs if len(p) <= MAX_CREDIT and (CREDIT.match(p) or COPYRIGHT.match(p))
    ]
    paragraphs = [p for p in paragraphs if p not in credits]
    return make_article(
        where,
        warnings,
        title=title,
        url=url,
        summary=paragraphs[0] if paragraphs else "",
        body="\n\n".join(paragraphs),
        source=_source_name(chrome) or _credited_site(credits) or configured_name or _host(url),
        keywords=keywords,
        html_title=False,
    )


def _headline(lines: list[str]) -> tuple[tuple[list[str], str], list[str]] | tuple[None, list[str]]:
    """Find the headline: a line printed twice in a row, else the first real sentence.

    Everything before it is site chrome. Returns ((chrome, headline), rest).
    """
    nonblank = [(i, line.strip()) for i, line in enumerate(lines) if line.strip()]
    for (i, a), (j, b) in itertools.pairwise(nonblank):
        if j - i <= 2 and _same_text(a, b) and _is_headline(a):
            return ([c for k, c in nonblank if k < i], a), lines[j + 1 :]
        if i > 12:  # the headline sits near the top; past that it is body text
            break
    for i, line in nonblank:
        if _is_headline(line):
            rest = lines[i + 1 :]
            # A repeat further down (after a blank line) is the same headline again.
            while rest and (not rest[0].strip() or _same_text(rest[0], line)):
                if _same_text(rest[0], line):
                    rest = rest[1:]
                    break
                rest = rest[1:]
            return ([c for k, c in nonblank if k < i], line), rest
    return None, lines


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _same_text(a: str, b: str) -> bool:
    """The same words, whatever the case and punctuation: the headline printed again."""
    return _words(a) == _words(b) != ""


def _without_headline(paragraphs: list[str], title: str) -> list[str]:
    """The paragraphs after the headline, with no copy of it left at their start."""
    words = _words(title)
    while paragraphs and _words(paragraphs[0]) == words:
        paragraphs = paragraphs[1:]
    if paragraphs and _words(paragraphs[0]).startswith(words + " "):
        # "Headline. Standfirst…" or "HEADLINE — standfirst…": cut the headline off.
        first = paragraphs[0]
        pattern = r"\W*".join(map(re.escape, words.split()))
        found = re.match(rf"\W*{pattern}\W*", first, re.I)
        if found and found.end() < len(first):
            paragraphs = [first[found.end() :], *paragraphs[1:]]
    return paragraphs


def _credited_site(credits: list[str]) -> str:
    """A site named by a copyright, "… for <site>" or "… by <organisation>" credit line."""
    for line in credits:
        found = COPYRIGHT.match(line) or CREDIT_FOR.search(line)
        if found:
            name = found.group("name").strip(" -—–:|")
            if name and not re.match(r"(?i)all rights", name):
                return name
    for line in credits:
        found = CREDIT_BY.search(line)
        name = STAFF.sub("", found.group("name").strip(" -—–:|")) if found else ""
        if _is_organisation(name):
            return name
    return ""


def _is_organisation(name: str) -> bool:
    """Whether a credited name is a newsroom rather than a person.

    "The Syrian Observer", "Riverside Gazette", "SANA" and "Example Wire" are;
    "Maria Lopez", "Pieter van Dam" and "Abd al-Rahman Haddad" are not. When
    in doubt (two capitalised words, "Syria Direct"), a person: a site's name
    guessed wrong is worse than none, since the configured name or the page's
    host comes next.
    """
    words = name.split()
    if not words or len(words) > 8:
        return False
    if not all(w[0].isupper() or w[0].isdigit() or w.casefold() in SMALL_WORDS for w in words):
        return False  # "the news desk", "a colleague": words, not a masthead
    return (
        words[0].casefold() == "the"
        or bool(ORG_WORD.search(name))
        or any(len(w) >= 3 and w.isupper() and w.isalpha() for w in words)
        or bool(re.search(r"\w\.(?:com|org|net|news|info)\b", name, re.I))
    )


def _host(url: str | None) -> str:
    """The page's host without "www.": the last name a reader can still place."""
    if not url:
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _is_headline(line: str) -> bool:
    return (
        len(line.split()) >= 4
        and not NAV_SEPARATORS.search(f" {line} ")
        and not CHROME_WORDS.search(line)
        and not CREDIT.match(line)
    )


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _source_name(chrome: list[str]) -> str:
    """The site's name from its logo caption: "The Daily Example — logo" → "The Daily Example"."""
    for line in chrome:
        if NAV_SEPARATORS.search(f" {line} "):
            continue
        # A search, then strip: "\s*[-—–:|]?\s*\blogo" as one pattern takes cubic time
        # on a chrome line with a long run of spaces.
        logo = LOGO.search(line)
        name = (line[: logo.start()] if logo else line).strip().rstrip("-—–:|").strip(" -—–")
        if name:
            return name
    return ""
