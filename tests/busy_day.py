"""A busy news day, made up but readable: N articles over a dozen topics, for the
size guard, the spam score, the browser checks and the README's screenshots.

Headlines are a subject and a predicate of the same topic, so they read like
news rather than "Story 17"; summaries run to three or four sentences (the
"long summaries" the size guard is tested with). The same seed gives the same
day, so the figures in the README can be measured again.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from digest.models import Article

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "Climate": (
        [
            "Alpine glaciers",
            "Arctic sea ice",
            "Coastal towns",
            "Farmers in the delta",
            "The UN climate panel",
            "Peat bogs",
        ],
        [
            "lose a record share of their ice",
            "shrink to a new summer low",
            "brace for higher spring tides",
            "switch to drought-proof crops",
            "warns of a hotter decade",
            "store more carbon than thought",
        ],
    ),
    "Energy": (
        [
            "Offshore wind farms",
            "Home heat pumps",
            "The national grid",
            "Solar farms",
            "A nuclear start-up",
            "Battery makers",
        ],
        [
            "beat output forecasts",
            "double their sales",
            "opens bids for storage",
            "outpace planners for a third year",
            "wins approval for a test reactor",
            "cut prices by a fifth",
        ],
    ),
    "Economy": (
        [
            "The central bank",
            "Port freight volumes",
            "Retail sales",
            "Factory orders",
            "House prices",
            "The jobless rate",
        ],
        [
            "holds interest rates",
            "rebound as routes reopen",
            "beat expectations in October",
            "fall for a second month",
            "cool in the capital",
            "drops to a ten-year low",
        ],
    ),
    "Technology": (
        [
            "A Zürich start-up",
            "Schools",
            "Chipmakers",
            "Regulators",
            "Open-source developers",
            "A satellite broadband firm",
        ],
        [
            "unveils an error-corrected quantum chip",
            "trial AI tutors for homework",
            "pick a river valley for a new factory",
            "fine a platform over data transfers",
            "patch a widely used library",
            "connects remote islands",
        ],
    ),
    "Space": (
        [
            "A private lunar lander",
            "The Mars sample mission",
            "A weather satellite",
            "Astronomers",
            "The space station crew",
            "A reusable rocket",
        ],
        [
            "touches down near the south pole",
            "is sent back to the drawing board",
            "sharpens storm forecasts",
            "spot a planet in a habitable zone",
            "grows lettuce in orbit",
            "flies for the twentieth time",
        ],
    ),
    "Health": (
        [
            "A dengue vaccine",
            "Hospitals",
            "A new malaria drug",
            "Family doctors",
            "Hay fever sufferers",
            "A walking study",
        ],
        [
            "is offered to every teenager",
            "report record heat admissions",
            "passes its final trial",
            "get more time per patient",
            "face a longer pollen season",
            "links short walks to better sleep",
        ],
    ),
    "Politics": (
        [
            "Parliament",
            "The coalition",
            "Mayors of big cities",
            "The opposition",
            "Voters in the north",
            "The upper house",
        ],
        [
            "passes the budget by four votes",
            "agrees on a housing plan",
            "call for control of bus routes",
            "names a new leader",
            "turn out in record numbers",
            "delays the planning bill",
        ],
    ),
    "Science": (
        [
            "Archaeologists",
            "A deep-sea survey",
            "Physicists",
            "Bird watchers",
            "A museum team",
            "Geologists",
        ],
        [
            "find a Bronze Age harbour",
            "maps an unknown coral reef",
            "measure the neutron's lifetime again",
            "count the most swifts in decades",
            "reassembles a Roman mosaic",
            "date the oldest rocks on the coast",
        ],
    ),
    "Sport": (
        [
            "The women's team",
            "A marathon runner",
            "The cycling federation",
            "A teenage chess player",
            "The rugby club",
            "Swimmers",
        ],
        [
            "reach their first final",
            "breaks the course record",
            "bans a new bike design",
            "wins the national title",
            "sells its stadium naming rights",
            "qualify for the world championships",
        ],
    ),
    "Culture": (
        [
            "A lost opera",
            "The national gallery",
            "A debut novelist",
            "Film festival judges",
            "A folk choir",
            "The city library",
        ],
        [
            "is performed after 200 years",
            "opens a free Sunday",
            "wins the book prize",
            "pick a documentary",
            "tours village halls",
            "extends its opening hours",
        ],
    ),
    "Transport": (
        [
            "Night trains",
            "A new tram line",
            "Electric buses",
            "The airport",
            "Cycle lanes",
            "Rail fares",
        ],
        [
            "return between three capitals",
            "opens a year early",
            "replace the diesel fleet",
            "caps flights at night",
            "cut commuting times",
            "rise by less than inflation",
        ],
    ),
    "Education": (
        [
            "Universities",
            "Primary schools",
            "Apprenticeships",
            "Exam boards",
            "Teachers",
            "Adult learners",
        ],
        [
            "freeze tuition fees",
            "add an hour of reading",
            "hit a record number of starts",
            "allow laptops in exams",
            "accept a pay offer",
            "return to evening classes",
        ],
    ),
}
SOURCES = [
    "The Example Times",
    "Example Wire",
    "Morning Example Herald",
    "Financial Example",
    "Northern Courier",
    "Mountain Post",
    "Le Quotidien d'Exemple",
    "Riverside Gazette",
]
DETAILS = [
    "Officials said the figures, published on {day}, were the clearest sign yet "
    "of a change that had been expected for years.",
    "Critics warned that the numbers hide large differences between regions, "
    "and asked for a full review before the end of the year.",
    "Local groups welcomed the news but said the work had only just begun, "
    "and that the next winter would be the real test.",
    "The plan will be paid for from existing budgets, the ministry said, "
    "and a first report is due in the spring.",
    "Researchers cautioned that one good year does not make a trend, "
    "but said the direction was encouraging.",
    "A spokesperson declined to say how much the project would cost, "
    "citing talks that are still going on.",
]


PLACES = [
    "",
    " in Lyon",
    " in Leeds",
    " in Porto",
    " in Gdańsk",
    " in Bergen",
    " in Turin",
    " in Cork",
    " in Ghent",
    " in Malmö",
    " in Brno",
    " in Basel",
    " in Graz",
    " in Aarhus",
    " in Tartu",
    " in Split",
    " in Nantes",
    " in Kraków",
    " in Bilbao",
    " in Utrecht",
    " in Tampere",
]


def headlines(rng: random.Random, topic: str):
    """Every headline of ``topic`` once, in a shuffled order: subject, predicate, place."""
    subjects, predicates = TOPICS[topic]
    for place in PLACES:
        pairs = [(s, p) for s in subjects for p in predicates]
        rng.shuffle(pairs)
        for subject, predicate in pairs:
            yield f"{subject} {predicate}{place}"


def articles(
    count: int, now: datetime, seed: int = 24, topics: list[str] | None = None
) -> list[Article]:
    """``count`` articles published in the 20 hours before ``now``, over ``topics``
    (default: all twelve), the first topics busier than the last."""
    rng = random.Random(seed)
    names = topics or list(TOPICS)
    weights = [len(names) - i for i in range(len(names))]
    made = []
    pools = {
        name: headlines(
            rng, name if name in TOPICS else list(TOPICS)[names.index(name) % len(TOPICS)]
        )
        for name in names
    }
    for i in range(count):
        topic = rng.choices(names, weights)[0]
        title = next(pools[topic])
        published = now - timedelta(minutes=rng.randrange(20, 20 * 60))
        summary = " ".join(rng.sample(DETAILS, 4)).format(day=f"{published:%A}")
        made.append(
            Article(
                guid=f"urn:busy-day:{seed}:{i}",
                title=title,
                url=f"https://news.example.org/{topic.lower()}/{seed}-{i}",
                summary=summary,
                body=summary,
                source=rng.choice(SOURCES),
                published=published,
                keywords=[topic],
            )
        )
    return made


def write_jsonl(path: Path, items: list[Article]) -> Path:
    """The articles as a JSON Lines file that ``digest ingest`` reads."""
    with path.open("w", encoding="utf-8") as out:
        for a in items:
            record = {
                "guid": a.guid,
                "title": a.title,
                "url": a.url,
                "summary": a.summary,
                "body": a.body,
                "source": a.source,
                "published": a.published.isoformat() if a.published else None,
                "keywords": a.keywords,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
