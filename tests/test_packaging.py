"""A wheel that works anywhere: built, installed into a fresh virtualenv, run from an empty folder.

Nothing here imports digest from the source tree: the commands are the installed
wheel's own console script, run with the new virtualenv's interpreter, in a folder
that holds nothing of the repository. That is how a new user meets digest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from digest import __version__

TEMPLATES = sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The wheel and the sdist, built from this checkout (no build backend download)."""
    out = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=out)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def test_the_wheel_and_the_sdist_carry_the_templates(dist):
    (wheel,) = dist.glob("digest-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("digest/templates/")) == (
        TEMPLATES
    )
    (sdist,) = dist.glob("digest-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert all(any(m.endswith(f"/templates/{t}") for m in members) for t in TEMPLATES)


def test_an_installed_wheel_runs_the_demo_from_an_empty_folder(dist, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)  # this pip installs into it (--python): quicker
    python = env_dir / "bin" / "python"
    (wheel,) = dist.glob("digest-*.whl")
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel, cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stderr
    digest = env_dir / "bin" / "digest"
    work = tmp_path / "empty"
    work.mkdir()
    articles = shutil.copytree(ROOT / "examples" / "articles", tmp_path / "articles")
    people = shutil.copy(ROOT / "subscribers.example.csv", tmp_path / "people.csv")

    where = _run(python, "-c", "import digest.config as c; print(c.PACKAGE_TEMPLATES)", cwd=work)
    version = _run(digest, "--version", cwd=work)
    steps = [
        _run(digest, "ingest", articles, cwd=work),
        _run(digest, "subscribers", "import", people, cwd=work),
        _run(digest, "preview", "-o", "preview.html", cwd=work),
        _run(digest, "send", cwd=work),
    ]

    assert Path(where.stdout.strip()).is_relative_to(env_dir)  # the wheel's own copy
    assert version.returncode == 0
    assert version.stdout.strip() == f"digest, version {__version__}"
    for step in steps:
        assert step.returncode == 0, [*step.args[1:], step.stderr]
        assert "Traceback" not in step.stderr
    html = (work / "preview.html").read_text("utf-8")
    assert html.lstrip().startswith("<!DOCTYPE html>") and "Daily Digest" in html
    sent = sorted((work / "outbox").rglob("*.eml"))
    assert len(sent) >= 5
    assert b"multipart/alternative" in sent[0].read_bytes()
