"""Page exports: the summary is the standfirst (never the headline again), the source is the site.

Issue 15: "a page export's summary repeats the headline, and its source is the
file name instead of the site".
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.models import Source
from digest.sources.files import read_file
from digest.sources.webpage import parse

ZONE = ZoneInfo("Europe/London")
HEADLINE = "Council approves new cycle lanes for the high street"
STANDFIRST = "Work on two protected cycle lanes will begin in March, the council said."


def export(top: str, *, chrome: str = "The Riverside Gazette — logo\nHome | Local | Sport\n",
           credit: str = "Translated and edited by Ana Silva") -> str:  # fmt: skip
    return (
        f"{chrome}{top}\n\n"
        "The plan was approved by nine votes to four.\n\n"
        f"{credit}\n\nHelpful keywords\nTransport\n"
    )


@pytest.mark.parametrize(
    "top",
    [
        f"{HEADLINE}\n\n{HEADLINE.upper()}\n\n{STANDFIRST}",  # repeated in capitals
        f"{HEADLINE}\n\n{HEADLINE}.\n\n{STANDFIRST}",  # repeated with a full stop
        f"{HEADLINE}\n{HEADLINE}\n\n{HEADLINE}\n\n{STANDFIRST}",  # three times
        f"{HEADLINE}\n\n{HEADLINE}. {STANDFIRST}",  # run into the standfirst
        f"{HEADLINE}\n\n{HEADLINE.upper()} — {STANDFIRST}",
        f"{HEADLINE}\n\n{STANDFIRST}",  # printed once
    ],
    ids=["capitals", "full-stop", "three-times", "run-in", "run-in-capitals", "once"],
)
def test_the_summary_is_the_standfirst_not_the_headline_again(top):
    article = parse(export(top), "export.txt", "exports")
    assert article.title == HEADLINE
    assert article.summary == STANDFIRST
    assert not article.body.casefold().startswith(HEADLINE.casefold())


def test_a_standfirst_that_merely_starts_like_the_headline_is_kept():
    top = f"{HEADLINE}\n\nCouncil approves new cycle lanes, but the row goes on."
    assert parse(export(top), "e.txt", "x").summary.startswith("Council approves new cycle lanes,")


@pytest.mark.parametrize(
    ("chrome", "credit", "site"),
    [
        ("The Riverside Gazette — logo\nHome | Local\n", "Translated by Ana Silva",
         "The Riverside Gazette"),
        ("", "© 2026 The Valley Times. All rights reserved.", "The Valley Times"),
        ("", "Copyright (c) Morning Herald 2026", "Morning Herald"),
        ("", "Reporting by Jane Doe for The Harbour Post.", "The Harbour Post"),
        ("", "Translated and edited by The Syrian Observer", "The Syrian Observer"),
        ("", "Translated and edited by The Syrian Observer staff", "The Syrian Observer"),
        ("", "Edited by Example Wire", "Example Wire"),
        ("", "Translated by SANA", "SANA"),
        # A person signs the line: not a site, and never the folder's name.
        ("Home | Local | Sport\n", "Translated and edited by Ana Silva", ""),
        ("", "Translated and edited by Ana Silva", ""),
        ("", "Translated and edited by Abd al-Rahman Haddad", ""),
        ("", "Translated and edited by Pieter van Dam", ""),
        ("", "Edited by the news desk", ""),
    ],
)  # fmt: skip
def test_the_source_is_the_site_never_the_folder(tmp_path, chrome, credit, site):
    folder = tmp_path / "articles"
    folder.mkdir()
    path = folder / "cycle-lanes-2026-11-24.txt"
    path.write_text(export(f"{HEADLINE}\n\n{STANDFIRST}", chrome=chrome, credit=credit))
    [article] = read_file(path, ZONE).articles
    assert article.source == site
    assert "©" not in article.body and "Copyright" not in article.body
    assert "Ana Silva" not in article.body and "dited by" not in article.body


def test_a_page_that_names_no_site_takes_the_configured_name_then_its_host(tmp_path):
    """With no site on the page: the configured name, else the page's host, else nothing."""
    (tmp_path / "articles").mkdir()
    path = tmp_path / "articles" / "cycle-lanes.txt"
    text = export(f"{HEADLINE}\n\n{STANDFIRST}", chrome="")
    path.write_text(text)
    assert read_file(path, ZONE).articles[0].source == ""
    named = Source(target=str(path), name="Valley desk exports")
    assert read_file(path, ZONE, named).articles[0].source == "Valley desk exports"
    path.write_text("https://www.riverside-gazette.example/2026/cycle-lanes\n" + text)
    assert read_file(path, ZONE).articles[0].source == "riverside-gazette.example"
    assert read_file(path, ZONE, named).articles[0].source == "Valley desk exports"
    # The page's own site still wins over the configured name (a folder may hold several).
    path.write_text(export(f"{HEADLINE}\n\n{STANDFIRST}"))
    assert read_file(path, ZONE, named).articles[0].source == "The Riverside Gazette"


def test_the_realistic_days_saved_page_is_the_syrian_observers_standfirst():
    """benchmarks/data/aleppo-export.txt: the site from its logo caption, and from its
    credit line alone when the caption is cut; the summary is the standfirst."""
    page = ROOT / "benchmarks" / "data" / "aleppo-export.txt"
    standfirst = "Opposition factions in northern Syria called on fighters across the province"
    for text in (page.read_text(), page.read_text().replace("The Syrian Observer — logo\n", "")):
        article = parse(text, "aleppo-export.txt")
        assert article.source == "The Syrian Observer"
        assert article.title == "Rebels Call for Mobilization Amid Assad Gains in Aleppo"
        assert article.summary.startswith(standfirst)
        assert "Rebels Call" not in article.summary


def test_a_paragraph_about_copyright_is_body_text():
    text = export(
        f"{HEADLINE}\n\n{STANDFIRST}\n\nCopyright reform passed the Senate on Tuesday, too.",
        chrome="",
    )
    article = parse(text, "e.txt", "configured")
    assert "Copyright reform passed the Senate" in article.body
    assert article.source == "configured"


def test_the_bundled_exports_name_their_sites():
    examples = ROOT / "examples" / "articles"
    sources = {p.name: read_file(p, ZONE).articles[0].source for p in examples.glob("*export.txt")}
    assert sources["school-bake-sale-export.txt"] == "Riverside Gazette"
    assert sources["weather-satellite-launch-export.txt"] == "Morning Example Herald"


WORD = st.sampled_from(["Council", "votes", "cycle", "lanes", "approved", "river", "bridge",
                        "Mayor", "budget", "2026", "schools", "open", "late", "again"])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    headline=st.lists(WORD, min_size=4, max_size=10).map(" ".join),
    standfirst=st.lists(WORD, min_size=3, max_size=20).map(lambda w: " ".join(w) + "."),
    repeat=st.sampled_from(["", "{h}\n\n", "{H}\n\n", "{h}.\n\n", "{h}. ", "{H} — "]),
)
def test_the_summary_never_repeats_the_headline(headline, standfirst, repeat):
    if standfirst.casefold().startswith(headline.casefold()):
        return  # a standfirst that itself begins with the headline's words
    top = f"{headline}\n\n" + repeat.format(h=headline, H=headline.upper()) + standfirst
    article = parse(export(top), "e.txt", "x")
    assert article.title == headline
    assert article.summary == standfirst
