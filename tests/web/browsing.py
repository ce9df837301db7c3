"""What the browser tests share: Debian's Chromium under Playwright (skipped where
either is missing, except in CI, where that fails: ``make test`` installs
Chromium with apt), a phone's width, and the colours Chromium computed for every
text, to check each against WCAG AA."""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 375, "height": 740}


@contextlib.contextmanager
def chromium():
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "Playwright is not installed (pip install -e '.[test]')"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"no Chromium at {CHROMIUM} (make test installs it: apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


# Every element with text of its own: its colour, and the background it is drawn on
# (the nearest ancestor's that is not transparent), as the browser computed them.
TEXT_COLOURS = """() => {
  const hex = c => '#' + c.match(/[0-9.]+/g).slice(0, 3)
      .map(n => Number(n).toString(16).padStart(2, '0')).join('');
  const opaque = c => !/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent';
  const found = [];
  for (const e of document.querySelectorAll('body *')) {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    let b = e;
    while (b && !opaque(getComputedStyle(b).backgroundColor)) b = b.parentElement;
    const bg = b ? getComputedStyle(b).backgroundColor : 'rgb(255, 255, 255)';
    found.push([e.tagName + (e.id ? '#' + e.id : ''), hex(getComputedStyle(e).color), hex(bg)]);
  }
  return found;
}"""


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio (as ``tests/rendering/test_email_html.py`` computes it)."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
