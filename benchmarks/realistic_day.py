"""A realistic day: real feeds re-dated to today, the sample articles, a saved news page,
and subscribers who chose topics, typed their own, or chose none; then every subscriber's
email, as they would get it.

The feeds in ``tests/data/feeds`` are real snapshots, dated 2010-2021. Each is
re-dated by one shift, so that its newest entry is a few hours old and the gaps
between its entries stay as they were: a busy mailing list still has a busy
day, and a blog that posts once a month still has one post in the window.

    python benchmarks/realistic_day.py [FOLDER] [--hours-old H]

writes FOLDER (default ``realistic-day/``, made afresh): the re-dated feeds,
``digest.toml``, ``subscribers.csv``, the database and the outbox, and one
``preview-<name>.html`` per subscriber; then prints, per subscriber, the
subject and the sections with their story counts. Open the previews in a
browser at 375 px to read them as a subscriber would
(``docs/screenshots.py`` takes the README's pictures from this folder).
"""

from __future__ import annotations

import argparse
import email.utils
import html
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ROOT / "tests" / "data" / "feeds"
ARTICLES = ROOT / "examples" / "articles"
PAGE = ROOT / "benchmarks" / "data" / "aleppo-export.txt"

# RSS dates (RFC 822) and Atom/Dublin Core dates (ISO 8601), as elements.
_RFC822 = re.compile(r"(<(pubDate|lastBuildDate)>)([^<]+)(</\2>)")
_ISO = re.compile(
    r"(<((?:atom:|dc:|dcterms:)?(?:updated|published|issued|modified|created|date))>)"
    r"\s*([^<]+?)\s*(</\2>)"
)

SUBSCRIBERS = """email,name,topics,timezone
amira@example.com,Amira Haddad,Aleppo,Europe/London
abd@example.com,Abd al-Rahman Haddad,,Asia/Damascus
zhang@example.com,Zhang Wei,Technology;World,Asia/Shanghai
quilt@example.com,Mary Quilter,Quilting;Crafts,America/Chicago
typed@example.com,Sam Typed,Quantum;bake sale,Europe/London
ops@example.com,Ops Team,Tails;Node.js,UTC
everything@example.com,Everything Reader,,UTC
"""

CONFIG = """# The realistic day (benchmarks/realistic_day.py): every file source of the folder.
timezone = "UTC"
window_hours = 24
sources = [{sources}]

[keywords]
topics = ["Technology", "World", "Energy", "Science", "Climate"]
"""


def _parse(text: str) -> datetime | None:
    text = text.strip()
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def redate(text: str, newest_at: datetime) -> tuple[str, int]:
    """``text`` with every entry date moved by one shift: the newest lands on ``newest_at``."""
    found = [_parse(m.group(3)) for m in _RFC822.finditer(text)]
    found += [_parse(m.group(3)) for m in _ISO.finditer(text)]
    dates = [d for d in found if d is not None]
    if not dates:
        return text, 0
    shift = newest_at - max(dates)

    def rfc822(m: re.Match) -> str:
        when = _parse(m.group(3))
        if when is None:
            return m.group(0)
        return f"{m.group(1)}{email.utils.format_datetime(when + shift)}{m.group(4)}"

    def iso(m: re.Match) -> str:
        when = _parse(m.group(3))
        if when is None:
            return m.group(0)
        moved = (when + shift).astimezone(UTC).isoformat().replace("+00:00", "Z")
        return f"{m.group(1)}{moved}{m.group(4)}"

    return _ISO.sub(iso, _RFC822.sub(rfc822, text)), len(dates)


def build(folder: Path, hours_old: float) -> list[Path]:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "feeds").mkdir(parents=True)
    now = datetime.now(UTC)
    for number, feed in enumerate(sorted(FEEDS.glob("*"))):
        if feed.suffix not in (".rss", ".atom", ".xml"):
            continue
        # Newest entries a few hours old, each feed a little apart.
        newest = now - timedelta(hours=hours_old + number * 0.5)
        text, dates = redate(feed.read_text("utf-8", errors="surrogateescape"), newest)
        (folder / "feeds" / feed.name).write_text(text, "utf-8", errors="surrogateescape")
        print(f"{feed.name}: {dates} dates moved", file=sys.stderr)
    shutil.copytree(ARTICLES, folder / "articles")
    shutil.copy(PAGE, folder / "articles" / PAGE.name)
    sources = ", ".join(f'"{p}"' for p in ("feeds/", "articles/"))
    (folder / "digest.toml").write_text(CONFIG.format(sources=sources), "utf-8")
    (folder / "subscribers.csv").write_text(SUBSCRIBERS, "utf-8")
    return sorted((folder / "feeds").iterdir())


def digest(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"digest {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="realistic-day", type=Path)
    parser.add_argument("--hours-old", type=float, default=3.0, help="age of each feed's newest")
    args = parser.parse_args()
    folder = args.folder.resolve()
    build(folder, args.hours_old)
    print(digest(folder, "ingest").strip())
    print(digest(folder, "subscribers", "import", "subscribers.csv").strip())
    for line in SUBSCRIBERS.splitlines()[1:]:
        address = line.split(",")[0]
        name = address.split("@")[0]
        out = f"preview-{name}.html"
        said = digest(folder, "preview", "--email", address, "-o", out).splitlines()
        print(f"\n{address}: " + "\n  ".join(x for x in said if not x.startswith("warning")))
        if (folder / out).exists():
            page = (folder / out).read_text("utf-8")
            subject = re.search(r"<title>(.*?)</title>", page, re.S)
            print(f"  subject: {html.unescape(subject.group(1).strip()) if subject else '?'}")
            for heading in re.findall(r'class="section-title"[^>]*>(.*?)<', page, re.S):
                print(f"  section: {html.unescape(heading.strip())}")
    print(f"\nthe previews are in {folder}/")


if __name__ == "__main__":
    main()
