"""What a typed topic would catch: its stories in the last week's articles.

Someone who types "Quantum; bake sale" on the preferences page should learn at
once whether those words catch anything, not find out from an empty inbox. The
page asks ``topic_reach``, which tags the week's articles by the rule editions
use (``digest.grouping``: an article's own keywords, aliases folded; an untagged
article by the whole words it mentions) with the edition's vocabulary, which
holds the typed topics once they are saved, and counts each topic's stories
(each story once, as in an email).

A page view must stay cheap, so only the newest ``MAX_SCANNED`` articles of the
week are read, and only the columns tagging needs: on a busy site the count is
then "at least N" over the newest ones (``Reach.capped`` says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.config.settings import Settings
from digest.editions.contents import vocabulary
from digest.grouping.dedup import distinct
from digest.grouping.sections import Vocabulary, tag_articles
from digest.keywords import keyword_key
from digest.store.store import Store

WEEK = timedelta(days=7)
# 10,000 articles in the week tag in about a second on the shared machine (see
# docs/web.md); the newest 2,000 keep a page view near a fifth of that.
MAX_SCANNED = 2000


@dataclass(frozen=True)
class Reach:
    """Each typed topic (as typed) and its stories this week; ``capped``: more
    articles arrived this week than were read, so a count may be higher;
    ``ignored``: typed topics on the ignore list (a post format, feed machinery,
    the operator's ``ignore``), which never tag anything."""

    counts: dict[str, int]
    capped: bool
    ignored: frozenset[str] = frozenset()


def topic_reach(
    store: Store,
    settings: Settings,
    topics: Iterable[str],
    now: datetime,
    limit: int = MAX_SCANNED,
) -> Reach:
    """How many of the last week's stories each of ``topics`` would have caught."""
    typed = list(dict.fromkeys(" ".join(t.split()) for t in topics if keyword_key(t)))
    if not typed:
        return Reach({}, False)
    vocab = vocabulary(store, settings)
    if not all(vocab.resolve(t) in vocab.phrases or vocab.is_ignored(t) for t in typed):
        # The edition's vocabulary holds every active subscriber's saved topics
        # (issue 21, point 1), and the page counts only after saving, so this is
        # for topics not saved (a caller's look-ahead) or a vocabulary that does
        # not hold subscribers' topics: the configured topics and these, so a
        # typed word inside a longer configured phrase is read as that phrase.
        topics = [*settings.topics, *typed]
        vocab = Vocabulary(settings.aliases, topics=topics, ignore=settings.ignore)
    week, capped = store.recent_articles(now - WEEK, now, limit)
    tagged = tag_articles(distinct(week), vocab)
    wanted = {t: vocab.resolve(t) for t in typed}
    counts = dict.fromkeys(typed, 0)
    for item in tagged:
        keys = set(item.keys)
        for topic, key in wanted.items():
            if key in keys:
                counts[topic] += 1
    return Reach(counts, capped, frozenset(t for t in typed if vocab.is_ignored(t)))
