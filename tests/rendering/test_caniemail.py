"""Every HTML and CSS feature the email uses, against caniemail's data.

Nothing may be used that Apple Mail, Gmail, Outlook or Yahoo does not support
(on any of their platforms, by its latest test: ``n``), except the progressive
enhancements named in ``ENHANCEMENTS``, each with the reason the email still
reads right without it (docs/email-design.md has the same list). Partial
support (``a``) is support. A property caniemail does not list must be in
``UNLISTED``, so a new one is looked at rather than waved through.
The data: tests/data/caniemail/ (from the caniemail npm package; its README).
"""

from __future__ import annotations

import json
import re

import lxml.html
import pytest
from conftest import DATA
from emails import rendered

FAMILIES = ("apple-mail", "gmail", "outlook", "yahoo")

ENHANCEMENTS = {
    "html-style": "only the narrow-screen and dark-mode rules live in <style>; "
    "everything else is inlined",
    "css-at-media": "narrow-screen padding and the dark palette: the layout is fluid without it",
    "css-at-media-prefers-color-scheme": "the dark palette; elsewhere the light one, or the "
    "client's own inversion (contrast checked for both)",
    "css-color-scheme": "tells clients that honour it that the email has a dark palette",
    "html-meta-color-scheme": "the same, for clients that read the meta tag",
    "css-selector-class": "only inside <style> (Gmail's mobile web client drops it whole)",
    "css-selector-descendant": "only inside <style>",
    "css-selector-grouping": "only inside <style>",
    "css-selector-type": "only inside <style>",
    "css-display-none": "hides the preheader, with max-height:0 + overflow:hidden and Outlook's "
    "mso-hide:all: each client honours at least one",
    "css-max-height": "the preheader's second way of hiding",
    "css-overflow": "the preheader's second way of hiding",
    "css-word-break": "breaks only a word too long for a phone's line; without it that word "
    "widens the view, as it would anyway",
    "html-role": "role=presentation speaks to screen readers only: ignoring it changes nothing",
    "html-anchor-links": "the contents' links to sections: where unsupported they do nothing, "
    "and every section is also reached by scrolling",
    "html-doctype": "ignored where unsupported, harmlessly",
    "html-body": "<body> carries only margin:0; the background is on the wrapper table",
}
# Properties and attributes caniemail does not list, known to be safe everywhere.
UNLISTED = {
    "color",
    "font-family",
    "supported-color-schemes",
    "href",
    "class",
    "id",
    "style",
    "border",  # the attribute (0) on layout tables
    "bgcolor",
    "name",
    "content",
    "charset",
    "title",
}
CSS_SLUG = {
    "background-color": "css-background-color",
    "max-width": "css-max-width",
    "max-height": "css-max-height",
    "line-height": "css-line-height",
    "font-size": "css-font-size",
    "font-weight": "css-font-weight",
    "text-align": "css-text-align",
    "word-break": "css-word-break",
    "overflow": "css-overflow",
    "width": "css-width",
    "color-scheme": "css-color-scheme",
}
TAG_SLUG = {"h1": "html-h1-h6", "h2": "html-h1-h6", "tr": "html-table", "td": "html-table"}


@pytest.fixture(scope="module")
def data() -> dict[str, dict]:
    loaded = json.loads((DATA / "caniemail" / "caniemail.json").read_text("utf-8"))
    assert "caniemail 1.0.5" in loaded["about"]["source"]
    return {f["slug"]: f for f in loaded["features"]}


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("caniemail")
    return [rendered(folder / "demo", "demo"), rendered(folder / "hostile", "hostile")]


def css_features(declarations: str) -> set[str]:
    used = set()
    for part in declarations.split(";"):
        name, colon, value = part.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if not colon or name.startswith("mso-"):  # Outlook's own, for Outlook only
            continue
        if name.startswith("padding"):
            used.add("css-padding")
        elif name.startswith("margin"):
            used.add("css-margin")
        elif name.startswith("border"):
            used.add("css-border")
        elif name == "display":
            kinds = {
                "none": "css-display-none",
                "flex": "css-display-flex",
                "grid": "css-display-grid",
            }
            used.add(kinds.get(value.split()[0] if value else "", "css-display"))
        else:
            used.add(CSS_SLUG.get(name, name))
        if re.search(r"\d(px)\b", value):
            used.add("css-unit-px")
        if "%" in value:
            used.add("css-unit-percent")
        if "!important" in value:
            used.add("css-important")
    return used


def features(html: str) -> set[str]:
    doc = lxml.html.document_fromstring(html)
    used = {"html-doctype"} if html.lstrip().lower().startswith("<!doctype") else set()
    if "<!--" in html:
        used.add("html-comments")
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag
        if tag not in ("html", "head", "meta", "title", "br", "a"):  # a: links, mailto apart
            used.add(TAG_SLUG.get(tag, f"html-{tag}"))
        for name, value in element.attrib.items():
            used.add(f"html-{name}" if name not in UNLISTED else name)
            if name == "style":
                used |= css_features(value)
        if tag == "a" and element.get("href", "").startswith("#"):
            used.add("html-anchor-links")
        if tag == "a" and element.get("href", "").startswith("mailto:"):
            used.add("html-mailto-links")
        if tag == "meta" and element.get("name") == "color-scheme":
            used.add("html-meta-color-scheme")
        if tag == "style":
            sheet = element.text or ""
            if "@media" in sheet:
                used.add("css-at-media")
            if "prefers-color-scheme" in sheet:
                used.add("css-at-media-prefers-color-scheme")
            used |= {
                f"css-at-{rule}"
                for rule in re.findall(r"@(font-face|import|supports|keyframes)", sheet)
            }
            for selectors, body in re.findall(r"([^{}@]+)\{([^{}]*)\}", sheet):
                used |= css_features(body)
                if "," in selectors:
                    used.add("css-selector-grouping")
                for selector in selectors.split(","):
                    parts = selector.split()
                    if len(parts) > 1:
                        used.add("css-selector-descendant")
                    for part in parts:
                        if "." in part:
                            used.add("css-selector-class")
                        if re.match(r"[a-z]", part):
                            used.add("css-selector-type")
    return used - {"html-http-equiv"}


def unsupported(feature: dict) -> list[str]:
    """``family/platform`` for each where the latest test says no."""
    return [
        f"{family}/{platform}"
        for family in FAMILIES
        for platform, (_version, result) in feature["latest"].get(family, {}).items()
        if result.startswith("n")
    ]


def test_the_email_uses_nothing_the_big_four_lack_but_the_named_enhancements(data, copies):
    used = set().union(*(features(copy.html) for copy in copies))
    unknown = sorted(f for f in used if f not in data and f not in UNLISTED)
    assert unknown == [], f"not in caniemail and not known to be safe: {unknown}"
    problems = {
        slug: unsupported(data[slug])
        for slug in sorted(used & set(data))
        if unsupported(data[slug]) and slug not in ENHANCEMENTS
    }
    assert problems == {}
    # Every exception is still needed: an enhancement no longer used is removed from the list.
    stale = sorted(s for s in ENHANCEMENTS if s not in used or not unsupported(data[s]))
    assert stale == []


def test_a_feature_the_big_four_lack_is_caught(data):
    """The check itself: a web font, flexbox or a <video> would each be refused."""
    html = (
        "<!DOCTYPE html><html><head><style>@font-face{font-family:x}</style></head>"
        '<body><div style="display:flex"><video></video></div></body></html>'
    )
    used = features(html)
    caught = {slug for slug in used & set(data) if unsupported(data[slug])} - set(ENHANCEMENTS)
    assert {"css-at-font-face", "css-display-flex", "html-video"} <= caught
