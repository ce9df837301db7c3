"""The words of an email that are made, not copied: greeting, preheader, lists, times.

Kept apart from the templates because each has a rule a subscriber notices
when it is wrong: "Hello Abd," greets a fragment of "Abd al-Rahman"; a preheader
cut mid-word reads like a bug; "Climate, Energy" reads like tags, "Climate
and Energy" like a sentence; an article's time in UTC is the wrong time for
a reader in New York.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime

from digest.config.values import DEFAULT_GREETING as DEFAULT_GREETING
from digest.rendering.plaintext import char_width, width

NAME_COLUMNS = 50  # a name in a greeting, in display columns: one line of the text part


def shorten(text: str, columns: int) -> str:
    """``text`` cut at a word to fit ``columns`` display columns, with "…" when cut."""
    text = " ".join(text.split())
    if width(text) <= columns:
        return text
    cut, used = "", 0
    for char in text:
        used += char_width(char)
        if used > columns - 1:
            break
        cut += char
    head = cut.rsplit(" ", 1)[0] if " " in cut[columns // 2 :] else cut
    return head.rstrip(" ,;:.-–—") + "…"


def greeting(template: str, name: str, first_name: str = "") -> str:
    """The greeting line from the ``greeting`` setting, by the names a subscriber gave.

    ``{first_name}`` is their first name when they gave one, else their name
    whole: "Hello Abd al-Rahman Haddad," rather than a first word guessed
    from it, which is a fragment of a compound name ("Abd") or a family name
    ("Zhang" of "Zhang Wei"). ``{name}`` is the name, else the first name.
    An address typed with or for a name is left out. With neither, a field
    and the space before it are left out, so the default "Hello
    {first_name}," reads "Hello,". Names are cut to ``NAME_COLUMNS`` so the
    line stays one line of the text part.
    """
    if not first_name and len(name) <= NAME_COLUMNS and name.isascii() and "@" not in name:
        # Most of a list: one short name, nothing to cut or take out. The same
        # greeting as below in half the time, and a send makes a million.
        full = " ".join(name.split())
        if any(map(str.isalnum, full)):
            return " ".join(template.format(first_name=full, name=full).split())
    return _greeting(template, name, first_name)


def _greeting(template: str, name: str, first_name: str) -> str:
    full = _as_name(name)
    given = _as_name(first_name) if first_name else ""
    called = shorten(given or full, NAME_COLUMNS)
    # Shortened once when both fields are the same name (a send's common case).
    values = {
        "first_name": called,
        "name": shorten(full, NAME_COLUMNS) if given and full else called,
    }
    for field, value in values.items():
        if not value:
            template = re.sub(r"[ \t]*\{" + field + r"\}", "", template)
    return " ".join(template.format(**values).split())


def _as_name(text: str) -> str:
    # Words with "@" are an address, not a name: "Ann <ann@example.com>" is "Ann";
    # and a name has a letter or a digit (" , " is none).
    words = text.split()
    if "@" in text:
        words = [word for word in words if "@" not in word]
    name = " ".join(words)
    return name if any(map(str.isalnum, name)) else ""


def and_list(items: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else many or one + 's'}"


_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z0-9À-ÖØ-ÞĀ-ſ])")


def lede(summary: str, sentences: int = 2, columns: int = 320) -> str:
    """The first one or two sentences of ``summary``, cut at a word if still long."""
    text = " ".join(summary.split())
    parts = _SENTENCE.split(text)
    short = " ".join(parts[:sentences])
    return shorten(short, columns)


def local_time(when: datetime | None, edition_date: date, zone) -> str:
    """When an article was published, in the edition's timezone: "07:30",
    "yesterday 18:05" or "22 Nov 18:05"; "" for an undated article."""
    if when is None:
        return ""
    local = when.astimezone(zone)
    clock = f"{local:%H:%M}"
    days = (edition_date - local.date()).days
    if days == 0:
        return clock
    if days == 1:
        return f"yesterday {clock}"
    return f"{local.day} {local:%b} {clock}"


def anchor(key: str) -> str:
    """A stable HTML id for a section, the same in the email and its web copy.

    Readable where the keyword is plain ASCII ("climate", "solar-energy-3f9a1c"
    when something had to be dropped to make it), and always unique: two
    keywords that slug alike differ in the hash.
    """
    plain = key.lstrip("\x00")  # digest's own sections ("More news") start with a NUL
    folded = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:40]
    if slug and slug == plain:
        return slug
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:6]
    return f"{slug}-{digest}" if slug else f"topic-{digest}"


def folding(article: object) -> str:
    """What grouping folded into one item, in a reader's words: "4 messages" for
    a mailing-list thread, "latest: Up (3 updates)" for a status page's
    component, "12 more posts" for a source's text-less posts; "" for a plain
    item. Read with ``getattr``: the fields are grouping's, and an article
    from before they existed has none."""
    size = getattr(article, "thread_size", 0) or 0
    state = " ".join(str(getattr(article, "state", "") or "").split())
    folded = len(getattr(article, "folded", None) or ())
    said = []
    if state:
        updates = f" ({plural(size, 'update')})" if size > 1 else ""
        said.append(f"latest: {shorten(state, 40)}{updates}")
    elif size > 1:
        said.append(plural(size, "message"))
    if folded:
        said.append(plural(folded, "more post"))
    return " · ".join(said)


PREHEADER_COLUMNS = 140  # what an inbox shows after the subject, and then some


def preheader(titles: Sequence[str], total: int, topics: Sequence[str], summary: str = "") -> str:
    """The one sentence an inbox shows after the subject: what it does not say.

    The subject names the lead story, so this is the first sentence of the
    lead's own summary (cut at a word, with "…", past ``PREHEADER_COLUMNS``);
    else it names the next story and how many more, on which topics.
    ``titles`` are the front page's titles (the lead first), ``total`` the
    stories the email shows, ``topics`` the section names.
    """
    if not titles:
        return ""
    if summary.strip():
        return lede(summary, sentences=1, columns=PREHEADER_COLUMNS)
    named = and_list([*topics[:3], "more"] if len(topics) > 3 else list(topics))
    if len(titles) == 1 or total <= 1:
        return f"{shorten(titles[0], 90)}, on {named}." if named else shorten(titles[0], 120)
    rest = total - 2
    also = f"Also: {shorten(titles[1], 90)}"
    if rest <= 0:
        return also + "."
    return f"{also}, and {plural(rest, 'more story', 'more stories')} on {named}."
