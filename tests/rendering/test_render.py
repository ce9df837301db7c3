"""Rendering: one render per segment, personalised per recipient, identical to a direct render."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import ROOT

from digest.config.settings import Settings
from digest.grouping.sections import Vocabulary, build_sections, tag_articles
from digest.models import Edition, StoredArticle
from digest.rendering.links import Links, view_url
from digest.rendering.personal import escape_attr, greeting_for
from digest.rendering.renderer import Renderer

WHEN = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
EDITION = Edition(
    date=date(2026, 11, 24),
    timezone="Europe/London",
    window_start=WHEN - timedelta(hours=36),
    cutoff=WHEN + timedelta(hours=1),
    id=1,
)
TAG = re.compile(r"</?[A-Za-z][^>]*>")


def stored(title: str, keywords=(), n: int = 0, **fields) -> StoredArticle:
    slug = re.sub(r"\W+", "-", title.lower()).strip("-") or "x"
    values = {
        "guid": f"urn:{slug}:{n}",
        "url": f"https://news.example.org/{slug}-{n}",
        "summary": f"What happened: {title}.",
        "source": "Example Times",
        "published": WHEN - timedelta(minutes=n),
    }
    values.update(fields)
    return StoredArticle(title=title, keywords=list(keywords), id=n + 1, **values)


def sections_of(articles, topics=(), max_per_section: int = 8):
    vocab = Vocabulary(known=[k for a in articles for k in a.keywords])
    return build_sections(
        tag_articles(articles, vocab), vocab.topic_keys(topics), vocab, max_per_section
    )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(outbox_dir=tmp_path / "outbox", templates_dir=ROOT / "templates")


@pytest.fixture
def renderer(settings) -> Renderer:
    return Renderer(settings)


@pytest.fixture
def sections():
    return sections_of(
        [
            stored("Glacier melt sets record", ["Climate"], 0),
            stored("Heat pumps: sales double & more", ["Energy", "Climate"], 1),
            stored("Solar beats “forecasts”", ["Energy"], 2),
            stored("Chipmaker builds fab", ["Technology"], 3, url=None),
            stored("Café owners vote", [], 4, summary=""),
        ]
    )


# -- personalising ---------------------------------------------------------------


NAMES = [
    "Sam O'Connor",
    'Ann "Nan" Lee',
    "Smith & Sons",
    "<b>Eve</b> <script>x()</script>",
    "Zoë Lambert",
    "Lucía Fernández-Ñúñez",
    "李小龍",
    "  Ada \t  Lovelace ",
    "",
    "&amp; &lt;",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "public_url",
    [
        "http://localhost:8000",
        "https://news.example.org/digest?list=daily&lang=en",
        'https://bücher.example/abmelden für "uns"/',  # IDN host, space, quotes
    ],
    ids=["plain", "query", "non-ascii"],
)
def test_personalising_a_segment_equals_rendering_that_copy_directly(
    settings, sections, name, public_url
):
    settings.public_url = public_url
    renderer = Renderer(settings)
    links = Links(public_url, b"render-test-key")
    token = links.token(7, "someone@example.com")
    url = links.unsubscribe(7, "someone@example.com")
    view = view_url(public_url, EDITION, "climate;energy")
    topics = ["Climate", "Energy"]
    segment = renderer.render_segment(EDITION, sections, topics, view)

    personal = renderer.personal.fill(segment, name, token)
    direct = renderer.render(
        EDITION, sections, topics, greeting_for(name), url, view, links.pages.preferences(token)
    )

    assert personal.html == direct.html
    assert personal.text == direct.text
    assert personal.subject == direct.subject
    assert greeting_for(name) in personal.text
    assert url in personal.text
    assert re.search(rf"View in your browser:\s+{re.escape(view)}\n", personal.text)
    assert f'href="{escape_attr(view)}"' in personal.html
    assert not any(
        p in personal.html + personal.text for p in renderer.personal.placeholders.values()
    )


def test_greetings_use_the_first_name_given_else_the_name_whole():
    assert greeting_for("Zoë Lambert", first_name="Zoë") == "Hello Zoë,"
    assert greeting_for("Abd al-Rahman Haddad") == "Hello Abd al-Rahman Haddad,"
    assert greeting_for("Zhang Wei") == "Hello Zhang Wei,"  # not his family name alone
    assert greeting_for("  Ada \n Lovelace ") == "Hello Ada Lovelace,"
    assert greeting_for("李小龍") == "Hello 李小龍,"
    assert greeting_for("") == "Hello,"
    assert greeting_for("   ", first_name=" ") == "Hello,"
    assert greeting_for("ann@example.com") == "Hello,"  # an address where the name goes


def test_the_greeting_setting_and_its_fallback_without_a_name():
    assert greeting_for("Okafor, Chidi", "Dear {name}!") == "Dear Okafor, Chidi!"
    assert greeting_for("", "Dear {name}!") == "Dear!"
    assert greeting_for("Zoë Lambert", "Hi {first_name} ({name})", "Zoë") == "Hi Zoë (Zoë Lambert)"
    assert greeting_for("", "Good morning") == "Good morning"
    # A name of any length stays one line of the text part.
    assert len(greeting_for("Bartholomew " * 40)) < 72


def test_a_name_is_escaped_in_html_and_plain_in_text(settings, sections):
    settings.greeting = "Hello {name},"
    renderer = Renderer(settings)
    segment = renderer.render_segment(EDITION, sections, [])
    copy = renderer.personal.fill(segment, "<b>Eve</b> & Co", "t")
    assert "Hello &lt;b&gt;Eve&lt;/b&gt; &amp; Co," in copy.html
    assert "<b>Eve" not in copy.html
    assert "Hello <b>Eve</b> & Co," in copy.text


# -- HTML --------------------------------------------------------------------------


def test_css_is_inlined(renderer, sections):
    html = renderer.render_segment(EDITION, sections, []).html
    assert "<link" not in html.lower()
    masthead = re.search(r"<h1[^>]*>", html).group(0)
    assert re.search(r"style=[\"']", masthead)
    assert "font-family:Georgia" in masthead.replace(": ", ":")
    heading = re.search(r"<h2[^>]*>", html).group(0)
    assert "color:#8a2f1d" in heading.replace(": ", ":")
    # What cannot be inlined (the narrow-screen and dark-mode rules) stays, and only that.
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.S))
    assert styles.count("@media") == 2 and "prefers-color-scheme: dark" in styles
    assert ".masthead {" not in styles.split("@media", 1)[0]


def test_article_content_is_escaped(renderer):
    evil = stored(
        "<script>alert(1)</script>",
        ["Climate"],
        0,
        summary='<img src=x onerror="alert(2)"> & friends',
        source="<b>Bold</b> Times",
        url='https://evil.example/"><script>alert(3)</script>',
    )
    rendered = renderer.render(
        EDITION, sections_of([evil]), ["Climate"], "Hello,", "http://localhost:8000/u/t"
    )
    html = rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "<img" not in html.lower() and "&lt;img src=x" in html
    assert "<b>Bold</b>" not in html and "&lt;b&gt;Bold&lt;/b&gt; Times" in html
    # The only tags in the document are the template's own.
    tags = {m.group(1).lower() for m in re.finditer(r"<([A-Za-z][A-Za-z0-9]*)", html)}
    assert tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "div",
        "table",
        "tr",
        "td",
        "h1",
        "h2",
        "p",
        "a",
        "br",
    }


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",  # browsers drop tabs and newlines inside a URL
        "java\nscript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "//evil.example/path",  # protocol-relative: nothing to resolve it against
        "/local/path",
        "file:///etc/passwd",
        "https://",  # no host
    ],
)
def test_only_web_and_mail_links_become_clickable(renderer, url):
    article = stored("Clickable or not", ["Climate"], 0, url=url)

    rendered = renderer.render(
        EDITION, sections_of([article]), [], "Hello,", "http://localhost:8000/u/t"
    )

    hrefs = re.findall(r'href="([^"]*)"', rendered.html)
    # Only the footer's own (manage topics and unsubscribe: here the same page).
    assert hrefs == ["http://localhost:8000/u/t"] * 2
    assert "Clickable or not" in rendered.html  # the article is still there, as text
    assert "script:" not in rendered.text and "data:" not in rendered.text


@pytest.mark.parametrize("url", ["https://news.example.org/a?b=1&c=2", "mailto:desk@example.org"])
def test_web_and_mail_links_stay_links(renderer, url):
    article = stored("A link", ["Climate"], 0, url=url)
    rendered = renderer.render(EDITION, sections_of([article]), [], "Hello,", "https://x/u/t")
    assert f'href="{url.replace("&", "&amp;")}"' in rendered.html
    assert url in rendered.text


def test_article_text_cannot_inject_a_placeholder(settings):
    earlier = Renderer(settings)  # e.g. a previous run whose placeholders leaked
    renderer = Renderer(settings)
    assert earlier.personal.placeholders != renderer.personal.placeholders
    guesses = [*earlier.personal.placeholders.values(), "%%digest-000000000000-greeting%%"]
    article = stored(
        "Spoof " + guesses[0], ["Climate"], 0, summary=" ".join(guesses), source=guesses[1]
    )
    segment = renderer.render_segment(EDITION, sections_of([article]), [])

    copy = renderer.personal.fill(segment, "Victim", "TOKEN")

    for guess in guesses:
        assert guess in copy.text
        assert guess in copy.html
    assert copy.text.count("Victim") == 1
    assert copy.text.count("/unsubscribe/TOKEN") == 1
    assert copy.html.count("/unsubscribe/TOKEN") == 1


# -- text --------------------------------------------------------------------------


def test_the_text_part_has_headings_urls_and_no_html(renderer, sections):
    segment = renderer.render_segment(EDITION, sections, ["Climate", "Energy"])
    text = renderer.personal.fill(segment, "Zoë", "TOKEN").text

    assert TAG.search(text) is None
    assert "&amp;" not in text and "&#" not in text
    assert "Heat pumps: sales double & more" in text
    lines = text.splitlines()
    for section in sections:
        heading = section.title.upper()
        assert heading in lines
        assert lines[lines.index(heading) + 1] == "=" * len(heading)
    lead = sections[0].articles[0]  # it opens the email, after the greeting
    assert lines[lines.index("Hello Zoë,") + 2] == f"* {lead.title}"
    for section in sections:
        for a in section.articles:
            assert f"* {a.title}" in lines
            if a.url:
                assert f"  {a.url}" in lines
    assert "Hello Zoë," in lines
    assert lines[-4:] == [
        "Manage topics:",
        "http://localhost:8000/preferences/TOKEN",
        "Unsubscribe:",
        "http://localhost:8000/unsubscribe/TOKEN",
    ]
    assert "-- " in lines  # the signature separator, with its space
    assert "Tuesday, 24 November 2026 - 5 stories in 4 topics" in lines


def test_a_heading_is_underlined_to_its_own_length(renderer):
    # "ß" upper-cases to "SS": the rule must match the heading as printed.
    lead = stored("Wahl am Sonntag", ["Politik"], 0)  # the lead: on the front page
    sections = sections_of([lead, stored("Neue Radwege", ["Straßenverkehr"], 1)])
    text = renderer.render(EDITION, sections, [], "Hallo,", "http://localhost:8000/u/t").text
    lines = text.splitlines()
    index = lines.index("STRASSENVERKEHR")
    assert lines[index + 1] == "=" * len("STRASSENVERKEHR")


def test_the_text_part_comes_from_its_own_template(tmp_path, sections):
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("digest.html.j2", "parts.html.j2", "digest.css"):
        (templates / name).write_text((ROOT / "templates" / name).read_text("utf-8"), "utf-8")
    (templates / "digest.txt.j2").write_text(
        "TEXT EDITION {{ greeting }}\n{% for s in sections %}# {{ s.title }}\n{% endfor %}",
        "utf-8",
    )
    renderer = Renderer(Settings(templates_dir=templates))

    copy = renderer.render(EDITION, sections, [], "Hi,", "http://localhost:8000/u/t")

    assert copy.text.startswith("TEXT EDITION Hi,\n")
    assert "TEXT EDITION" not in copy.html


# -- subject -----------------------------------------------------------------------


def test_the_subject_is_the_lead_headline_and_how_many_more(renderer, sections):
    subject = renderer.render_segment(EDITION, sections, []).subject
    assert subject == f"{sections[0].articles[0].title} + 4 more"


def test_a_one_story_day_has_no_plus_zero_more(renderer):
    one = sections_of([stored("Glacier melt sets record", ["Climate"], 0)])
    assert renderer.render_segment(EDITION, one, []).subject == "Glacier melt sets record"


def test_a_long_lead_is_cut_at_a_word(renderer):
    title = "Ministers agree " + "a very long list of measures " * 8
    subject = renderer.render_segment(EDITION, sections_of([stored(title, ["Climate"], 0)]), [])
    assert subject.subject.endswith("…") and len(subject.subject) <= 90
    assert subject.subject[:-1] in title


def test_the_subject_can_still_name_the_date_and_the_top_keywords(settings, sections):
    settings.subject = "Your digest for {date}: {keywords} ({count})"
    subject = Renderer(settings).render_segment(EDITION, sections, []).subject
    titles = [s.title for s in sections if s.title != "More news"]
    assert subject == f"Your digest for 24 November 2026: {', '.join(titles[:3])} (5)"


def test_the_subject_is_one_line_whatever_the_template_and_keywords(tmp_path):
    settings = Settings(
        templates_dir=ROOT / "templates",
        subject="Digest\r\n{date}\nBcc: victim@example.com\t{keywords}",
    )
    articles = [stored("Story", ["Climate\nChange"], 0), stored("Other", ["Space\r\n"], 1)]
    rendered = Renderer(settings).render_segment(EDITION, sections_of(articles), [])

    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.subject.startswith("Digest 24 November 2026 Bcc: victim@example.com ")
    assert "Climate Change" in rendered.subject
    assert f"<title>{rendered.subject}</title>" in rendered.html


# -- long sections ---------------------------------------------------------------


def test_a_long_section_ends_with_how_many_more(settings):
    articles = [stored(f"Climate story {i}", ["Climate"], i) for i in range(5)]
    articles.append(stored("Space story", ["Space"], 9))
    renderer = Renderer(settings)
    sections = sections_of(articles, max_per_section=2)

    copy = renderer.render(EDITION, sections, [], "Hello,", "http://localhost:8000/u/t")

    assert "3 more on Climate" in copy.html
    assert "  3 more on Climate." in copy.text.splitlines()
    assert "Climate story 0" in copy.text and "Climate story 1" in copy.text
    assert "Climate story 2" not in copy.text and "Climate story 4" not in copy.html
    assert "more on Space" not in copy.html and "more on Space" not in copy.text
