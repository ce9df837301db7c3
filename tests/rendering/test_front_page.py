"""The front page as a subscriber meets it: the subject in the inbox, the preheader
after it, the lead story first in the email and its text part, and counts that
match what the email shows."""

from __future__ import annotations

import re
import warnings

import lxml.html
import pytest
from emails import rendered
from test_render import EDITION, sections_of, stored

from digest.config.settings import Settings
from digest.grouping.front import front_page
from digest.rendering.plaintext import width
from digest.rendering.renderer import SUBJECT_COLUMNS, Renderer, subject_for


@pytest.fixture
def renderer(tmp_path) -> Renderer:
    from conftest import ROOT

    return Renderer(Settings(outbox_dir=tmp_path / "outbox", templates_dir=ROOT / "templates"))


def day(articles, cap=8):
    return front_page(sections_of(articles, max_per_section=10**6), cap)


LONG_LEAD = "Rebels Call for Mobilization Amid Assad Gains in Aleppo"


def test_the_subject_fits_a_phone_inbox_line_and_its_count_is_never_what_is_cut(renderer):
    articles = [stored(LONG_LEAD, ["Syria"], 0, also=["Wire", "Radio"])]
    articles += [stored(f"Climate story {i}", ["Climate"], i + 1) for i in range(12)]
    subject = renderer.render_segment(EDITION, day(articles, cap=20), []).subject
    assert width(subject) <= SUBJECT_COLUMNS
    assert subject.endswith(" + 12 more")
    assert subject.startswith("Rebels Call for Mobilization") and "…" in subject
    # Wide characters count twice, as the inbox shows them.
    wide = [stored("中国科学家发现新的量子材料可在室温下超导并已通过多国实验室验证", ["科学"], 0)]
    wide += [stored(f"Story {i}", ["Science"], i + 1) for i in range(3)]
    subject = renderer.render_segment(EDITION, day(wide), []).subject
    assert width(subject) <= SUBJECT_COLUMNS and subject.endswith(" + 3 more")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{lead} + {more} more", "Short lead + 2 more"),
        ("Your digest for {date}: {keywords} ({count})", "Your digest for 24 November 2026: "),
        ("{count} stories: {lead}", "3 stories: Short lead"),
        ("{lead}", "Short lead"),
    ],
)
def test_a_configured_subject_template_keeps_working(template, expected):
    sections = day(
        [stored("Short lead", ["Climate"], 0, also=["Wire"])]
        + [stored(f"Other {i}", ["Energy"], i + 1) for i in range(2)]
    )
    assert subject_for(template, EDITION, sections).startswith(expected)


def test_the_preheader_is_the_leads_summary_and_the_lead_opens_the_email(renderer):
    articles = [
        stored(
            LONG_LEAD,
            ["Syria"],
            30,
            also=["Wire"],
            summary="Opposition factions called on fighters to mobilise. More to come later.",
        )
    ]
    articles += [stored(f"Climate story {i}", ["Climate"], i) for i in range(7)]
    articles.append(stored("Space story", ["Space"], 8))
    copy = renderer.render(EDITION, day(articles), [], "Hello,", "http://localhost:8000/u/t")
    doc = lxml.html.fromstring(copy.html)
    pre = doc.xpath("//div[contains(@class, 'preheader')]")[0].text_content()
    assert pre.startswith("Opposition factions called on fighters to mobilise.")
    assert "More to come" not in pre  # one sentence
    rows = [td.get("class") for td in doc.xpath("//table[contains(@class, 'container')]//td")]
    assert rows[rows.index("greeting") + 1] == "lead"  # right after the greeting
    headings = [h.text_content() for h in doc.xpath("//h2")]
    between = rows[rows.index("lead") + 1 : rows.index("toc")]  # the other top stories
    assert headings[0] == "Top stories" and between == ["section", "article"]
    lead = doc.xpath("//td[@class='lead']")[0]
    assert lead.xpath(".//a")[0].text_content() == LONG_LEAD
    assert "Opposition factions" in lead.text_content()
    # The text part opens the same way: greeting, the lead, its summary, then the rest.
    text = copy.text
    assert text.index("Hello,") < text.index("Rebels Call") < text.index("Opposition factions")
    assert text.index("Opposition factions") < text.index("TOP STORIES")
    assert text.index("TOP STORIES") < text.index("In this edition:") < text.index("CLIMATE")
    # Each story once: the lead is not repeated in its section.
    assert copy.html.count(f">{LONG_LEAD}<") == 1 and text.count("Rebels Call") == 1


def test_what_grouping_folded_is_said_on_the_items_line(renderer):
    """The fields grouping sets when it folds items (``grouping/items.py``);
    set by hand here, as an article stored before them has none."""
    thread = stored("Re: [rss2email] feeds stop updating", ["Lists"], 0)
    status = stored("Mail delivery", ["Service"], 1)  # "status" is a post format
    photos = stored("Our new quilt", ["Quilts"], 2)
    object.__setattr__(thread, "thread_size", 4)
    object.__setattr__(status, "thread_size", 3)
    object.__setattr__(status, "state", "Up")
    object.__setattr__(photos, "folded", ["https://q.example/1", "https://q.example/2"])
    sections = day([thread, status, photos])
    copy = renderer.render(EDITION, sections, [], "Hello,", "http://localhost:8000/u/t")
    for part in (copy.html, copy.text):
        assert "Example Times · 4 messages ·" in part
        assert "Example Times · latest: Up (3 updates) ·" in part
        assert "Example Times · 2 more posts ·" in part
    # One item each, and counted as one story each.
    assert copy.subject.endswith(" + 2 more")


def counts(copy):
    """Stories the email shows (each a title link or headline), and what it says it shows."""
    doc = lxml.html.fromstring(copy.html)
    shown = len(doc.xpath("//*[contains(@class, 'title') or contains(@class, 'headline')]"))
    shown -= len(doc.xpath("//h2"))  # section headings are "section-title"
    dateline = " ".join(doc.xpath("//td[contains(@class, 'dateline')]")[0].text_content().split())
    masthead = int(re.search(r"([\d,]+) stor(y|ies)", dateline).group(1).replace(",", ""))
    more = re.search(r" \+ ([\d,]+) more$", copy.subject)
    text_line = copy.text.splitlines()[1]
    return shown, masthead, int(more.group(1).replace(",", "")) + 1, text_line


@pytest.mark.parametrize(
    ("kind", "settings"),
    [("busy-150", {"max_per_section": 3}), ("busy-500", {})],
    ids=["n-more-lines", "size-guard-cut"],
)
def test_subject_preheader_and_masthead_count_the_stories_the_email_shows(tmp_path, kind, settings):
    """Not the window's articles: "N more on X" lines and "Also today" are links to
    the web copy, not stories this email shows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the size guard's and the development key's
        copy = rendered(tmp_path / kind, kind, **settings)
    shown, masthead, subject, text_line = counts(copy)
    assert shown == masthead == subject
    assert f"{shown:,} stor" in text_line
    assert shown < int(kind.split("-")[1])  # some were left to the web copy
    pre = lxml.html.fromstring(copy.html).xpath("//div[contains(@class, 'preheader')]")[0]
    said = re.search(r"([\d,]+) more stor", pre.text_content())
    assert said is None or int(said.group(1).replace(",", "")) == shown - 2
