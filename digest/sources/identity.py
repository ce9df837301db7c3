"""What makes an entry the same entry the next time it is read.

In this order: the entry's guid **as given** (feedparser would resolve a plain
``<guid>post-123</guid>`` against the address it was fetched from, so a feed
that redirects or moves host would give every entry another id; the feed readers
leave it alone); else its canonical link (``validate.canonical_url``: scheme and
host lower-cased, fragment and click-tracking parameters gone); else a hash: of
a feed entry's title and content, so an entry with neither is still stored, and
stored once; of an article file's title alone, so a page exported again after a
correction updates the article instead of adding a second.

The store scopes each identity (``digest.store.article_writer.store_key``) so
that two feeds that both number their entries 1, 2, 3 never overwrite each other.
A feed's entries are scoped to the feed's **address** (``scope_of``): the URL as
configured, or the feed file's path. Not to its title (schema version 12 and
before did that: two feeds both titled "News", both with an entry ``1``, were one
story, and the second overwrote the first), and not to the configured ``name``:

- a feed that renames itself keeps its address, so its stories stay the same
  stories (the title was the key once: a rename made every story new);
- the operator renaming the source (``name``) is a change of wording, not of
  feed: the address stays (scoped to the name, a rename would make every story
  new, and two sources given one name by mistake would overwrite each other);
- a feed that moves http -> https is the same feed: the scheme is not part of the
  scope (nor the host's case, a default port, the password). A permanent redirect
  changes nothing either: the configured URL stays the scope, wherever it is
  fetched from (``run``);
- what the address cannot keep: the operator pointing the source at another host
  or path. Entries with a link are still found by it (the same link from a source
  of the same name is the same story); the others come once more as new.

Each feed file is its own address, also in a folder: a folder of feeds holds
several feeds. Article files (Markdown, plain text, JSON Lines) are not feeds:
each names its own site (one folder of exports may hold several), and a page
exported again under another file name is the same article, so they have no
address and stay scoped to their source's name.
"""

from __future__ import annotations

import hashlib
import os

from digest.errors import InputError
from digest.validate import MAX_GUID, canonical_url, clean_line, hide_passwords

_WEB = ("http://", "https://")


def identity(
    guid: str | None,
    link: str | None,
    title: str,
    summary: str,
    body: str,
    where: str,
    warnings: list[InputError],
    by_content: bool = False,
) -> str:
    """The identity of an entry from its cleaned fields (see the module doc)."""
    given = hide_passwords(clean_line(guid or ""))
    if given:
        if len(given) > MAX_GUID:
            reason = f"guid: longer than {MAX_GUID} characters; its hash is used"
            warnings.append(InputError(where, reason))
            return hashed(given)
        return given
    if link:
        return canonical_url(link)
    return hashed(f"{title}\x1f{body or summary}" if by_content else title)


def hashed(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def scope_of(address: str) -> str:
    """What a feed's entries are scoped to (see the module doc): its URL as a canonical
    link under one scheme, the password hidden; or its absolute path. A path's bytes
    that are not UTF-8 are written as ``\\xff`` escapes, so every scope can be stored."""
    if address[:8].lower().startswith(_WEB):
        link = canonical_url(hide_passwords(address.strip()))
        return "https://" + link.partition("://")[2]
    path = os.path.abspath(address) if address.strip() else address
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
