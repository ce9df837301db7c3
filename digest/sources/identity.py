"""What makes an entry the same entry the next time it is read.

In this order: the entry's guid **as given** (feedparser would resolve a plain
``<guid>post-123</guid>`` against the feed's address, so the same feed read as
127.0.0.1, as localhost and as a file gave three entries; the feed readers
leave it alone); else its canonical link (``validate.canonical_url``: scheme and
host lower-cased, fragment and click-tracking parameters gone); else a hash: of
a feed entry's title and content, so an entry with neither is still stored, and
stored once; of an article file's title alone, so a page exported again after a
correction updates the article instead of adding a second.

The store scopes each identity to the article's source (``digest.store.article_writer``): two
feeds that both number their entries 1, 2, 3 do not overwrite each other.
"""

from __future__ import annotations

import hashlib

from digest.errors import InputError
from digest.validate import MAX_GUID, canonical_url, clean_line, hide_passwords


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
