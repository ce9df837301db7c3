"""Files and folders as operators really have them: Windows and old-Mac line ends,
symlinks that point nowhere or round in a circle, folders nested deeper than Python recurses.

Each case reads the same as its tidy twin, or is one named error while the rest
of the folder is still ingested.
"""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_unicode_line_separators_in_front_matter_are_spaces_not_line_ends(tmp_path):
    text = (
        "---\ntitle: Harbour\u2028reopens after\x85storm\nkeywords: [Sea\u2029Ports]\n---\nBody.\n"
    )
    result = read(str(write(tmp_path / "ls.md", text)), UTC_ZONE)
    assert result.errors == []
    [article] = result.articles
    assert (article.title, article.keywords) == ("Harbour reopens after storm", ["Sea Ports"])


# -- 2. symlinks -----------------------------------------------------------------------


@pytest.fixture
def tangled(tmp_path) -> Path:
    """A folder with one good article and every kind of bad link beside it."""
    folder = tmp_path / "in"
    write(folder / "good.md", FRONT)
    (folder / "dangling.md").symlink_to(folder / "gone.md")
    (folder / "a.md").symlink_to(folder / "b.md")
    (folder / "b.md").symlink_to(folder / "a.md")
    (folder / "self.md").symlink_to("self.md")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")  # a folder link to its own parent
    (folder / "sub" / "top").symlink_to(folder)  # ... and to its grandparent
    return folder


def test_broken_links_and_link_loops_are_named_once_each_and_the_rest_is_read(tangled):
    result = read(str(tangled), UTC_ZONE)
    assert [a.title for a in result.articles] == ["Solar farms outpace forecasts"]
    file_loop = "link loop (it leads back to itself, or through too many links); not read"
    folder_loop = "link loop (a link to a folder that holds it); not followed"
    assert [str(e) for e in result.errors] == [
        f"{tangled / 'a.md'}: {file_loop}",
        f"{tangled / 'b.md'}: {file_loop}",
        f"{tangled / 'dangling.md'}: broken link (its target {tangled / 'gone.md'} does not exist)",
        f"{tangled / 'self.md'}: {file_loop}",
        f"{tangled / 'sub' / 'top'}: {folder_loop}",
        f"{tangled / 'sub' / 'up'}: {folder_loop}",
    ]


def test_a_link_named_directly_says_broken_or_loop(tangled):
    dangling = read(str(tangled / "dangling.md"), UTC_ZONE)
    loop = read(str(tangled / "a.md"), UTC_ZONE)
    assert [e.reason for e in dangling.errors] == [
        f"broken link (its target {tangled / 'gone.md'} does not exist)"
    ]
    assert [e.reason for e in loop.errors] == [
        "link loop (it leads back to itself, or through too many links); not read"
    ]


def test_a_chain_of_links_longer_than_the_system_follows_is_named(tmp_path):
    write(tmp_path / "in" / "end.md", FRONT)
    target = "end.md"
    for n in range(45):  # Linux follows at most 40
        (tmp_path / "in" / f"link{n:02}.md").symlink_to(target)
        target = f"link{n:02}.md"
    result = read(str(tmp_path / "in"), UTC_ZONE)
    assert len(result.articles) == 1 + 40  # the file itself, and each link it can follow
    assert [e.reason for e in result.errors] == [
        "link loop (it leads back to itself, or through too many links); not read"
    ] * 5


def test_a_link_to_another_folder_is_still_only_a_warning(tmp_path):
    write(tmp_path / "elsewhere" / "x.md", FRONT)
    write(tmp_path / "in" / "good.md", FRONT.replace("Solar", "Wind"))
    (tmp_path / "in" / "other").symlink_to(tmp_path / "elsewhere")
    result = read(str(tmp_path / "in"), UTC_ZONE)
    assert result.errors == []
    assert [str(w) for w in result.warnings] == [
        f"{tmp_path / 'in' / 'other'}: a link to a folder; not followed"
    ]


def test_the_command_names_each_bad_link_ingests_the_rest_and_exits_1(tangled, tmp_path):
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    run = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", str(tangled)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stdout.strip() == "ingested: 1 new, 0 updated, 0 skipped, 6 failed"
    assert run.stderr.count("link loop") == 5
    assert run.stderr.count("broken link") == 1


@pytest.fixture
def deep_folder(tmp_path):
    """1,200 folders inside each other (2,400 characters: within PATH_MAX).

    Made and removed one level at a time: ``os.makedirs`` and ``shutil.rmtree``
    recurse, and would fail on it too (and so would pytest's clean-up of old runs).
    """
    top = tmp_path / "in"
    levels = [top / "/".join(["d"] * n) if n else top for n in range(1201)]
    for level in levels:
        level.mkdir()
    yield top, levels[-1]
    for level in reversed(levels):
        for child in level.iterdir():
            if not child.is_dir():
                child.unlink()
        level.rmdir()


def test_a_folder_nested_deeper_than_python_recurses_is_read(deep_folder):
    top, bottom = deep_folder
    (bottom / "deep.md").write_text(FRONT)
    write(top / "top.md", FRONT.replace("Solar", "Wind"))
    result = read(str(top), UTC_ZONE)
    assert result.errors == []
    assert sorted(a.title for a in result.articles) == [
        "Solar farms outpace forecasts",
        "Wind farms outpace forecasts",
    ]
