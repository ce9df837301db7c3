"""The HTML as mail clients get it: structure, colours, sizes, escaping (checked with lxml).

Contrast is computed here, from the colours the email really uses: each piece
of text's colour against the background it sits on, in the light palette
(inline), the dark one (the ``prefers-color-scheme`` rules over the inline
colours) and as a client that inverts colours shows it.
"""

from __future__ import annotations

import re

import lxml.html
import pytest
from emails import HOSTILE_TITLE, POSTAL_ADDRESS, rendered

from digest.rendering.fitting import LIMIT

AA = 4.5  # WCAG 2 AA, normal text


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("emails")
    return {
        "demo": rendered(folder / "demo", "demo"),
        "topics": rendered(folder / "topics", "demo", email="alice.moreau@example.com"),
        "busy-150": rendered(folder / "b150", "busy-150"),
        "busy-500": rendered(folder / "b500", "busy-500", max_per_section=1000),
        "hostile": rendered(folder / "hostile", "hostile"),
    }


KINDS = ["demo", "topics", "busy-150", "busy-500", "hostile"]


def tree(html: str):
    return lxml.html.document_fromstring(html)


def style_of(element) -> dict[str, str]:
    found = {}
    for part in (element.get("style") or "").split(";"):
        name, colon, value = part.partition(":")
        if colon:
            found[name.strip().lower()] = value.strip()
    return found


# -- structure -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_runs_and_nothing_is_fetched(copies, kind):
    html = copies[kind].html
    doc = tree(html)
    assert doc.xpath("//script") == [] and "<script" not in html.lower()
    assert doc.xpath("//link") == [] and "@import" not in html
    assert "url(" not in html  # no CSS resource, web font or background image
    assert doc.xpath("//iframe|//object|//embed|//form|//video|//audio") == []
    for img in doc.xpath("//img"):  # none today; any one later must stay optional
        assert img.get("alt") is not None and img.get("width") and img.get("height")
    for link in doc.xpath("//a"):
        assert re.match(r"(https?://|mailto:|#)", link.get("href", "")), link.get("href")


@pytest.mark.parametrize("kind", KINDS)
def test_layout_tables_are_presentation_and_the_card_is_fluid(copies, kind):
    html = copies[kind].html
    doc = tree(html)
    tables = doc.xpath("//table")
    assert tables and all(t.get("role") == "presentation" for t in tables)
    page, card = (
        doc.xpath("//table[contains(@class, 'wrapper')]")[0],
        doc.xpath("//table[contains(@class, 'container')]")[0],
    )
    # Background on a wrapper table (with bgcolor for clients that ignore CSS), not <body>.
    assert page.get("width") == "100%" and page.get("bgcolor")
    assert "background" not in (doc.body.get("style") or "") and not doc.body.get("bgcolor")
    # Fluid: 100% wide, at most 600 px by an inline max-width, not by the <style> block.
    assert card.get("width") == "100%" and style_of(card)["max-width"] == "600px"
    assert 'width="600"' not in html.replace(
        '<table role="presentation" width="600" align="center"', ""
    )
    # The fixed 600 px table exists only for Outlook on Windows, in MSO conditional comments.
    assert '<!--[if mso]><table role="presentation" width="600"' in html
    assert "<![endif]-->" in html
    # Padding is on table cells, never on a <div>.
    assert not [d for d in doc.xpath("//div") if "padding" in style_of(d)]


@pytest.mark.parametrize("kind", KINDS)
def test_language_title_colour_scheme_and_heading(copies, kind):
    copy = copies[kind]
    doc = tree(copy.html)
    assert doc.get("lang") == "en" and doc.get("dir") == "ltr"
    assert doc.xpath("//title")[0].text == copy.subject
    metas = {m.get("name"): m.get("content") for m in doc.xpath("//meta[@name]")}
    assert metas["color-scheme"] == "light dark"
    assert "prefers-color-scheme: dark" in copy.html
    (h1,) = doc.xpath("//h1")
    assert h1.text_content() == "Daily Digest"
    assert doc.xpath("//h2")


@pytest.mark.parametrize("kind", KINDS)
def test_the_preheader_is_one_hidden_sentence_with_spacers_after_it(copies, kind):
    doc = tree(copies[kind].html)
    (pre,) = doc.xpath("//div[contains(@class, 'preheader')]")
    style = style_of(pre)
    assert style["display"] == "none" and style["max-height"] == "0"
    assert style["overflow"] == "hidden" and style["mso-hide"] == "all"
    assert "color" not in style  # same-colour text is what spam filters look for
    text = pre.text_content()
    sentence = text.rstrip("\u034f\u200c\u00a0 ")
    # One sentence: the lead's summary's first, or a made one; a long one cut at a word.
    assert sentence.endswith((".", "…")) and sentence.count(". ") == 0
    assert len(text) - len(sentence) > 60  # spacers keep body text out of the inbox preview
    assert doc.body.index(pre) == 0  # the first thing in the body


@pytest.mark.parametrize("kind", KINDS)
def test_the_footer_has_everything_the_law_and_the_reader_need(copies, kind):
    doc = tree(copies[kind].html)
    (footer,) = doc.xpath("//td[contains(@class, 'footer')]")
    links = {a.text_content(): a.get("href") for a in footer.xpath(".//a")}
    assert links["Unsubscribe"].startswith("https://digest.example.com/unsubscribe/")
    assert links["Manage topics"].startswith("https://digest.example.com/preferences/")
    assert links["Manage topics"].rsplit("/", 1)[1] == links["Unsubscribe"].rsplit("/", 1)[1]
    assert links["View in your browser"].startswith(
        "https://digest.example.com/archive/2026-11-24/UTC"
    )
    text = " ".join(footer.text_content().split())
    assert POSTAL_ADDRESS in text
    assert "You get all topics." in text or "You chose " in text


def test_why_you_receive_it_names_the_chosen_topics(copies):
    footer = tree(copies["topics"].html).xpath("//td[contains(@class, 'footer')]")[0]
    assert "You chose Climate and Energy." in " ".join(footer.text_content().split())


def test_titles_are_links_that_look_like_links_and_plain_ones_do_not(copies):
    doc = tree(copies["demo"].html)
    linked = doc.xpath("//a[contains(@class, 'title')]")
    plain = doc.xpath("//*[contains(@class, 'headline')]")
    assert linked and plain  # the demo has both
    for a in linked:
        style = style_of(a)
        assert style["color"] == "#1a4d8f" and "text-decoration" not in style  # underlined
    for p in plain:
        assert p.tag == "p" and "color" not in style_of(p)  # body text colour, no underline


def test_the_table_of_contents_links_to_each_section(copies):
    doc = tree(copies["demo"].html)
    ids = {h.get("id") for h in doc.xpath("//h2[@id]")}
    toc = doc.xpath("//td[contains(@class, 'toc')]//a")
    # Every section but the front page's "Top stories", which the email opens with.
    assert [a.get("href")[1:] for a in toc] == [h.get("id") for h in doc.xpath("//h2[@id]")]
    assert [h.text_content() for h in doc.xpath("//h2[not(@id)]")] == ["Top stories"]
    assert all(a.get("href").startswith("#") and a.get("href")[1:] in ids for a in toc)
    first = doc.xpath("//h2[@id]")[0].text_content()  # after the front page took its stories
    assert re.fullmatch(re.escape(first) + r"\xa0\(\d\)", toc[0].text_content())


def test_n_more_links_to_that_section_of_the_web_copy(copies):
    doc = tree(copies["busy-150"].html)
    more = doc.xpath("//td[contains(@class, 'more')]//a")
    assert more
    for a in more:
        topic = re.fullmatch(r"\d+ more on (.+) →", a.text_content()).group(1)
        base, _, fragment = a.get("href").partition("#")
        assert base == "https://digest.example.com/archive/2026-11-24/UTC"
        assert doc.xpath(f"//h2[@id='{fragment}']")[0].text_content() == topic


# -- sizes and type -----------------------------------------------------------------------


def test_the_500_article_day_is_under_100_kb(copies):
    html = copies["busy-500"].html
    assert len(html.encode("utf-8")) < LIMIT
    assert "Unsubscribe</a>" in html and html.rstrip().endswith("</html>")


@pytest.mark.parametrize("kind", KINDS)
def test_body_text_is_16_px_and_nothing_is_under_14(copies, kind):
    doc = tree(copies[kind].html)
    card = doc.xpath("//table[contains(@class, 'container')]")[0]
    assert style_of(card)["font-size"] == "16px"
    for element in doc.iter():
        size = style_of(element).get("font-size") if isinstance(element.tag, str) else None
        if size and "preheader" not in (element.get("class") or ""):
            assert int(size.removesuffix("px")) >= 14, lxml.html.tostring(element)[:200]


@pytest.mark.parametrize("kind", KINDS)
def test_only_system_font_stacks_and_no_web_fonts(copies, kind):
    html = copies[kind].html
    doc = tree(html)
    stacks = [style_of(e)["font-family"] for e in doc.iter() if "font-family" in style_of(e)]
    stacks += re.findall(
        r"font-family:([^;}]+)", "".join(re.findall(r"<style>(.*?)</style>", html, re.S))
    )
    assert stacks
    for stack in stacks:
        last = stack.replace("!important", "").split(",")[-1].strip()
        assert last in ("sans-serif", "serif"), stack
    assert "@font-face" not in html


# -- escaping ----------------------------------------------------------------------------


def test_a_hostile_title_is_shown_as_text(copies):
    copy = copies["hostile"]
    doc = tree(copy.html)
    assert doc.xpath("//script") == [] and doc.xpath("//img") == [] and doc.xpath("//b") == []
    titles = [a.text_content() for a in doc.xpath("//a[contains(@class, 'title')]")]
    assert HOSTILE_TITLE in titles
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp; "quotes"' in copy.html
    assert HOSTILE_TITLE in copy.text


# -- contrast ----------------------------------------------------------------------------


def luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def invert(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return "#" + "".join(f"{255 - int(value[i : i + 2], 16):02x}" for i in (0, 2, 4))


def dark_rules(html: str) -> list[tuple[list[str], dict[str, str]]]:
    """The dark palette's rules: (selector parts, declarations), in order."""
    # Only the stylesheet: the body has no braces, and the pattern below would try
    # every position of a 100 KB body against the rest of it (43 s on the busy day).
    block = html.split("prefers-color-scheme: dark", 1)[1].split("</style>", 1)[0]
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", block):
        declarations = {}
        for part in body.split(";"):
            name, colon, value = part.partition(":")
            if colon:
                declarations[name.strip()] = value.replace("!important", "").strip()
        for selector in selectors.split(","):
            rules.append((selector.split(), declarations))
    return rules


def _matches(element, simple: str) -> bool:
    tag, _, cls = simple.partition(".")
    classes = (element.get("class") or "").split()
    return (not tag or element.tag == tag) and (not cls or cls in classes)


def _selects(element, parts: list[str]) -> bool:
    if not _matches(element, parts[-1]):
        return False
    rest, node = parts[:-1], element.getparent()
    while rest and node is not None:
        if _matches(node, rest[-1]):
            rest = rest[:-1]
        node = node.getparent()
    return not rest


def colour_pairs(html: str, scheme: str) -> set[tuple[str, str, str]]:
    """(text colour, background, a sample of the text) for every element with text."""
    doc = tree(html)
    rules = dark_rules(html) if scheme == "dark" else []
    pairs = set()

    def walk(element, colour, background):
        if not isinstance(element.tag, str) or "preheader" in (element.get("class") or ""):
            return
        style = style_of(element)
        colour = style.get("color", colour)
        background = style.get("background-color", element.get("bgcolor") or background)
        for parts, declarations in rules:
            if _selects(element, parts):
                colour = declarations.get("color", colour)
                background = declarations.get("background-color", background)
        if (element.text or "").strip():
            pairs.add((colour, background, element.text.strip()[:30]))
        for child in element:
            walk(child, colour, background)
            if (child.tail or "").strip():
                pairs.add((colour, background, child.tail.strip()[:30]))

    walk(doc.body, "#000000", "#ffffff")
    return pairs


@pytest.mark.parametrize("scheme", ["light", "dark", "inverted"])
@pytest.mark.parametrize("kind", ["demo", "hostile", "busy-500"])
def test_every_colour_pair_in_use_passes_wcag_aa(copies, kind, scheme):
    pairs = colour_pairs(copies[kind].html, "dark" if scheme == "dark" else "light")
    assert len({(c, b) for c, b, _ in pairs}) >= 4
    for colour, background, sample in pairs:
        if scheme == "inverted":
            colour, background = invert(colour), invert(background)
        ratio = contrast(colour, background)
        assert ratio >= AA, f"{sample!r}: {colour} on {background} is {ratio:.2f}:1"
