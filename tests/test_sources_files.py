"""Files and folders as operators really have them: Windows and old-Mac line ends,
symlinks that point nowhere or round in a circle, folders nested deeper than Python recurses.

Each case reads the same as its tidy twin, or is one named error while the rest
of the folder is still ingested.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.sources import read

UTC_ZONE = ZoneInfo("UTC")
FRONT = (
    "---\n"
    "title: Solar farms outpace forecasts\n"
    "keywords: [Energy, Climate]\n"
    "date: 2026-11-24T06:15:00Z\n"
    "---\n"
    "First paragraph of the story.\n"
    "\n"
    "Second paragraph.\n"
)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def fields(article) -> tuple:
    return (article.title, article.keywords, article.published, article.summary, article.body)


# -- 1. line ends ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".md", ".markdown", ".txt"])
@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_front_matter_with_windows_or_old_mac_line_ends_reads_like_lf(tmp_path, suffix, newline):
    lf = read(str(write(tmp_path / f"lf{suffix}", FRONT)), UTC_ZONE)
    other = read(str(write(tmp_path / f"other{suffix}", FRONT.replace("\n", newline))), UTC_ZONE)
    assert other.errors == [] and other.warnings == []
    [expected], [article] = lf.articles, other.articles
    assert article.title == "Solar farms outpace forecasts"
    assert article.keywords == ["Energy", "Climate"]
    assert article.published == datetime(2026, 11, 24, 6, 15, tzinfo=UTC)
    assert fields(article) == fields(expected)


def test_mixed_line_ends_and_a_utf8_byte_order_mark(tmp_path):
    text = "\ufeff---\r\ntitle: Mixed endings story\rkeywords: Energy\n---\r\nBody.\r"
    [article] = read(str(write(tmp_path / "mixed.md", text)), UTC_ZONE).articles
    assert (article.title, article.keywords, article.body) == (
        "Mixed endings story",
        ["Energy"],
        "Body.",
    )


@settings(max_examples=40, deadline=None)
@given(
    newlines=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=8, max_size=8),
    title=st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20),
)
def test_any_line_ends_give_the_same_article(tmp_path_factory, newlines, title):
    lines = [
        "---",
        f"title: T{title}",
        "keywords: [Energy]",
        "date: 2026-01-02",
        "---",
        "Body",
        "",
        "More",
    ]
    text = "".join(line + end for line, end in zip(lines, newlines, strict=True))
    folder = tmp_path_factory.mktemp("ends")
    [article] = read(str(write(folder / "a.md", text)), UTC_ZONE).articles
    assert article.title == f"T{title}"
    assert article.keywords == ["Energy"]
    assert article.published == datetime(2026, 1, 2, tzinfo=UTC)
    assert "\r" not in article.body
