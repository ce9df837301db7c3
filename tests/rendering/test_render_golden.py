"""Golden files: articles and settings in, the exact HTML and text one subscriber gets out.

Each folder under ``tests/data/render/`` is a case (its README says what it holds).
The case goes through the real path: ingested into a fresh store at a fixed time, the
edition's window and sections, the templates, inlining, personalising. A template
change then shows as a reviewable diff of the expected files
(``pytest tests/rendering/test_render_golden.py --regen-golden`` rewrites them).
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from digest.config.settings import load_settings
from digest.editions.contents import preview
from digest.models import Subscriber
from digest.sources import ingest
from digest.store.store import Store

CASES = sorted(p for p in (DATA / "render").iterdir() if (p / "case.toml").is_file())
NONCE = re.compile(r"%%[0-9a-f]{10}[a-z]+%%")


def render_case(case: Path, tmp_path: Path) -> tuple[str, str]:
    spec = tomllib.loads((case / "case.toml").read_text("utf-8"))
    settings = load_settings(str(case / "digest.toml"))
    store = Store(f"sqlite:///{tmp_path / 'digest.db'}")
    try:
        person = spec["subscriber"]
        store.save_subscribers(
            [
                Subscriber(
                    email=person["email"],
                    name=person.get("name", ""),
                    first_name=person.get("first_name", ""),
                    topics=person.get("topics", []),
                    timezone=person.get("timezone"),
                )
            ]
        )
        source = ROOT / spec["source"] if "source" in spec else case / "articles"
        ingested = spec.get("ingested", spec["now"] - timedelta(hours=1))
        report = ingest(store, [str(source)], settings.zone, now=ingested)
        assert not report.errors, report.errors
        result = preview(store, settings, spec["date"], person["email"], now=spec["now"])
    finally:
        store.close()
    return NONCE.sub("%%nonce%%", result.rendered.html), NONCE.sub(
        "%%nonce%%", result.rendered.text
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_case_renders_exactly_as_its_golden_files(case, tmp_path, monkeypatch, request):
    monkeypatch.setenv("DIGEST_SECRET", "golden-files-secret")
    html, text = render_case(case, tmp_path)
    expected_html, expected_text = case / "expected.html", case / "expected.txt"
    if request.config.getoption("--regen-golden"):
        expected_html.write_text(html, "utf-8")
        expected_text.write_text(text, "utf-8")
    assert expected_html.is_file(), f"no golden file: run with --regen-golden and review {case}"
    assert html == expected_html.read_text("utf-8")
    assert text == expected_text.read_text("utf-8")


def test_every_case_has_its_golden_files_and_inputs():
    assert {c.name for c in CASES} >= {"demo", "hostile", "topics-and-more", "new-york-settings"}
    for case in CASES:
        assert (case / "expected.html").is_file() and (case / "expected.txt").is_file()
        assert (case / "digest.toml").is_file()
