"""The emails in a real browser: Debian's chromium, driven by Playwright.

A mail client is a browser engine that may throw the ``<style>`` block away
(Gmail's apps, Yahoo, Outlook's web views), so every check runs with and
without it: nothing may stick out sideways on a 375 px phone or a 600 px
pane, links must be big enough to tap, text big enough to read, and the dark
palette must keep its contrast. Screenshots of each go to ``tests/screenshots/``
(ignored by git) for a look by eye.

Without chromium (or Playwright) the tests skip on a laptop and fail in CI
(``CI`` set): ``make test`` installs chromium where it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from emails import rendered
from test_email_html import AA, contrast

from digest.rendering.frame import framed

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"
KINDS = ["demo", "busy-150", "hostile"]


def _need(what: str) -> None:
    message = f"{what} is not installed (make test installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright (pip)")
    if not Path(CHROMIUM).exists():
        _need("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    return {kind: rendered(folder / kind, kind) for kind in KINDS}


def without_style(html: str) -> str:
    return re.sub(r"<style>.*?</style>", "", html, flags=re.S)


def open_page(browser, html: str, width: int, scheme: str = "light"):
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.set_content(html)
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("style", ["with-style", "no-style"])
@pytest.mark.parametrize("width", [375, 600])
@pytest.mark.parametrize("kind", KINDS)
def test_nothing_sticks_out_sideways(browser, copies, kind, width, style):
    html = copies[kind].html if style == "with-style" else without_style(copies[kind].html)
    page = open_page(browser, html, width)
    try:
        shot(page, f"{kind}-{width}-{style}")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{kind} at {width} px ({style}) is {scroll} px wide"
        card = page.evaluate(
            "document.querySelector('table.container').getBoundingClientRect().width"
        )
        assert card == min(width, 600)
    finally:
        page.close()


@pytest.mark.parametrize("style", ["with-style", "no-style"])
def test_every_link_is_a_tap_target_of_44_px(browser, copies, style):
    html = copies["demo"].html if style == "with-style" else without_style(copies["demo"].html)
    page = open_page(browser, html, 375)
    try:
        heights = page.evaluate(
            """[...document.querySelectorAll('a')].map(a => {
                   const r = a.getBoundingClientRect();
                   return [a.textContent.trim().slice(0, 40), r.height];
               })"""
        )
    finally:
        page.close()
    assert len(heights) > 20
    small = [(text, h) for text, h in heights if h < 44]
    assert small == []


TEXT_STYLES = """
[...document.querySelectorAll('body *')]
  .filter(e => !e.closest('.preheader'))
  .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
  .map(e => {
    const s = getComputedStyle(e);
    let b = e, bg = 'rgba(0, 0, 0, 0)';
    while (b && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) {
      bg = getComputedStyle(b).backgroundColor; b = b.parentElement;
    }
    return {text: e.textContent.trim().slice(0, 30), size: parseFloat(s.fontSize),
            colour: s.color, background: bg, cls: e.className};
  })
"""


def rgb(value: str) -> str:
    r, g, b = (int(float(x)) for x in re.findall(r"[\d.]+", value)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("kind", KINDS)
def test_text_is_readable_in_both_palettes(browser, copies, kind, scheme):
    page = open_page(browser, copies[kind].html, 375, scheme)
    try:
        shot(page, f"{kind}-375-{scheme}")
        texts = page.evaluate(TEXT_STYLES)
    finally:
        page.close()
    assert len(texts) > 10
    for item in texts:
        assert item["size"] >= 14, item
        ratio = contrast(rgb(item["colour"]), rgb(item["background"]))
        assert ratio >= AA, f"{item} is {ratio:.2f}:1"
    body = [t for t in texts if "summary" in t["cls"]]
    assert body and all(t["size"] == 16 for t in body)


def test_the_dark_palette_really_changes_the_page(browser, copies):
    page = open_page(browser, copies["demo"].html, 600, "dark")
    try:
        card = page.evaluate(
            "getComputedStyle(document.querySelector('table.container')).backgroundColor"
        )
    finally:
        page.close()
    assert rgb(card) == "#1c1c1c"


def test_the_phone_frame_of_digest_preview_is_375_px_and_fits(browser, copies):
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    try:
        page.set_content(framed(copies["busy-150"].html, 375, copies["busy-150"].subject))
        frame = page.frames[1]
        frame.wait_for_load_state()
        widths = frame.evaluate("[innerWidth, document.documentElement.scrollWidth]")
        shot(page, "preview-frame-375")
    finally:
        page.close()
    assert widths == [375, 375]


def test_make_test_installs_the_browser_and_spamassassin():
    """The Makefile's promise, read from the Makefile: `make test` needs `make tools`."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\btools\b", makefile, re.M)
    tools = makefile.split("\ntools:", 1)[1].split("\n\n", 1)[0]
    assert "chromium" in tools and "spamassassin" in tools and "apt-get install" in tools
    dry = subprocess.run(["make", "-n", "tools"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr


@pytest.mark.parametrize("style", ["with-style", "no-style"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_first_screen_of_a_phone_shows_the_lead_story_and_its_summary(
    browser, copies, kind, style
):
    """375 × 667 (an iPhone SE, the smallest common screen): the reader sees the
    day's lead headline and what happened without scrolling."""
    html = copies[kind].html if style == "with-style" else without_style(copies[kind].html)
    page = browser.new_page(viewport={"width": 375, "height": 667})
    page.set_content(html)
    try:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"first-screen-{kind}-{style}.png"))
        boxes = page.evaluate(
            """() => ['.lead .title', '.lead .headline', '.lead .summary']
                   .map(s => document.querySelector(s))
                   .filter(e => e)
                   .map(e => [e.className, e.getBoundingClientRect().bottom])"""
        )
        assert {name for name, _ in boxes} >= {"title", "summary"}, boxes
        assert all(bottom <= 667 for _, bottom in boxes), boxes
    finally:
        page.close()
