"""Make the README's screenshots: a realistic day and a 150-article day at 375, 600 and 1024 px.

    .venv/bin/python docs/screenshots.py

The realistic day is ``benchmarks/realistic_day.py``'s (real feeds re-dated to
today, the sample articles, a saved news page) as its everything-subscriber
gets it, through the real commands; the 150-article day is rendered through
the same helpers as the tests. Each opens in Debian's chromium through
Playwright, which writes ``docs/images/<day>-<width>.png`` (the top of the
email as a window of that size shows it) and ``realistic-375-footer.png``.
When ImageMagick's ``convert`` is installed the PNGs are reduced to 128
colours, which keeps each under about 100 KB.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from emails import rendered  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

SIZES = {375: 812, 600: 900, 1024: 900}  # a phone, a reading pane, a desktop window


def small(path: Path) -> None:
    """Fewer colours, a third of the bytes; left as it is where that fails."""
    if shutil.which("convert"):
        reduced = path.with_suffix(".small.png")
        done = subprocess.run(
            ["convert", str(path), "-colors", "128", f"PNG8:{reduced}"], capture_output=True
        )
        if done.returncode == 0 and reduced.exists():
            reduced.replace(path)
        reduced.unlink(missing_ok=True)


def main() -> None:
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        day = Path(tmp) / "realistic"
        subprocess.run(
            [sys.executable, str(HERE.parent / "benchmarks" / "realistic_day.py"), str(day)],
            check=True,
            capture_output=True,
        )
        days = {
            "realistic": (day / "preview-everything.html").read_text("utf-8"),
            "busy-150": rendered(Path(tmp) / "busy", "busy-150").html,
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            for day, html in days.items():
                for width, height in SIZES.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.set_content(html)
                    path = out / f"{day}-{width}.png"
                    page.screenshot(path=str(path))
                    if day == "realistic" and width == 375:
                        bottom = page.evaluate("document.documentElement.scrollHeight")
                        path = out / "realistic-375-footer.png"
                        clip = {"x": 0, "y": bottom - 520, "width": width, "height": 520}
                        page.screenshot(path=str(path), clip=clip, full_page=True)
                        small(path)
                    small(out / f"{day}-{width}.png")
                    page.close()
            browser.close()
    for path in sorted(out.glob("*.png")):
        print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size // 1000} KB")


if __name__ == "__main__":
    main()
