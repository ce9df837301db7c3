"""A broken template is the operator's to fix: ``template FILE:LINE: reason``, exit 2."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import POSTAL, ROOT, article, run_digest, subscriber

from digest.config.settings import Settings
from digest.errors import ConfigError
from digest.models import Edition
from digest.rendering.renderer import Renderer
from digest.store.store import Store

WHEN = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
EDITION = Edition(
    date=date(2026, 11, 24),
    timezone="UTC",
    window_start=WHEN - timedelta(hours=36),
    cutoff=WHEN,
)


def templates(tmp_path: Path, name: str, edit) -> Path:
    """A copy of the shipped templates with one file changed by ``edit(text)``."""
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    path = folder / name
    if edit is None:
        path.unlink()
    else:
        path.write_text(edit(path.read_text("utf-8")), "utf-8")
    return folder


def render_error(folder: Path) -> str:
    renderer = Renderer(Settings(templates_dir=folder))
    with pytest.raises(ConfigError) as caught:
        renderer.render(EDITION, [], [], "Hello,", "https://example.org/u/1")
    return str(caught.value)


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text("utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    folder = templates(tmp_path, "parts.html.j2", lambda t: t.replace("{{ title }}", "{{ title }"))
    path = folder / "parts.html.j2"
    line = line_of(path, "{{ title }<")
    assert render_error(folder) == f"template {path}:{line}: unexpected '}}'"


def test_an_undefined_variable_names_the_template_and_line(tmp_path):
    folder = templates(
        tmp_path, "parts.txt.j2", lambda t: t.replace("{{ greeting }}", "{{ greting }}")
    )
    path = folder / "parts.txt.j2"
    assert render_error(folder) == (
        f"template {path}:{line_of(path, 'greting')}: 'greting' is undefined"
    )


def test_an_error_inside_an_included_file_names_that_file(tmp_path):
    folder = templates(tmp_path, "digest.css", lambda t: t + "\n{{ colour.shade }}\n")
    path = folder / "digest.css"
    message = render_error(folder)
    assert message.startswith(f"template {path}:{line_of(path, 'colour.shade')}: ")
    assert "colour" in message


def test_a_runtime_error_in_a_template_is_not_a_crash(tmp_path):
    folder = templates(tmp_path, "digest.html.j2", lambda t: t + "{{ article_count // 0 }}")
    path = folder / "digest.html.j2"
    message = render_error(folder)
    assert message.startswith(f"template {path}:{line_of(path, '// 0')}: ZeroDivisionError")


def test_a_missing_template_and_a_missing_include(tmp_path):
    folder = templates(tmp_path, "digest.txt.j2", None)
    assert render_error(folder) == f"template digest.txt.j2: not found in {folder}"
    other = templates(
        tmp_path / "2",
        "parts.html.j2",
        lambda t: t.replace('{% include "digest.css" %}', '{% include "style.css" %}'),
    )
    path = other / "parts.html.j2"
    assert render_error(other) == (
        f"template style.css: not found in {other} "
        f"(included at {path}:{line_of(path, 'style.css')})"
    )


def test_a_template_that_is_not_utf8(tmp_path):
    folder = templates(tmp_path, "digest.txt.j2", lambda t: t)
    path = folder / "digest.txt.j2"
    path.write_bytes(path.read_bytes() + b"Caf\xe9\n")
    assert render_error(folder) == f"template {path}: not UTF-8 text (invalid continuation byte)"


def test_preview_with_a_broken_template_exits_2_with_one_line(tmp_path):
    folder = templates(tmp_path, "digest.html.j2", lambda t: t.replace("{% for", "{% fro", 1))
    (tmp_path / "digest.toml").write_text(
        f'{POSTAL}templates_dir = "{folder.as_posix()}"\n', "utf-8"
    )
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    store = Store(url)
    store.save_articles([article("Heat records", ["Climate"], published=datetime.now(UTC))])
    store.save_subscribers([subscriber("ann@example.com")])
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=url, DIGEST_SECRET="s")

    result = run_digest("preview", "-o", "p.html", cwd=tmp_path, env=env)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    path = folder / "digest.html.j2"
    assert line.startswith(f"Error: template {path}:{line_of(path, '{% fro')}: ")
    assert "fro" in line
    assert not (tmp_path / "p.html").exists()


def test_a_piece_missing_from_the_parts_file_is_named_where_it_is_called(tmp_path):
    folder = templates(
        tmp_path, "digest.html.j2", lambda t: t.replace("parts.masthead(", "parts.mast_head(")
    )
    path = folder / "digest.html.j2"
    assert render_error(folder) == (
        f"template {path}:{line_of(path, 'mast_head')}: parts.html.j2 has no macro 'mast_head'"
    )
