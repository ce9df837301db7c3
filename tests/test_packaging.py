"""A wheel that works anywhere: built, installed into a fresh virtualenv, run from an empty folder.

Nothing here imports digest from the source tree: the commands are the installed
wheel's own console script, run with the new virtualenv's interpreter, in a folder
that holds nothing of the repository. That is how a new user meets digest.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest
from conftest import ROOT

from digest import __version__

# Every file under templates/, the web pages' folder too, as a path inside it.
TEMPLATES = sorted(
    p.relative_to(ROOT / "templates").as_posix()
    for p in (ROOT / "templates").rglob("*")
    if p.is_file()
)


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
    shipped = sorted(n.removeprefix("digest/templates/") for n in names)
    assert [n for n in shipped if n in TEMPLATES] == TEMPLATES
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

    where = _run(
        python, "-c", "import digest.config.settings as c; print(c.PACKAGE_TEMPLATES)", cwd=work
    )
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
    _serves_its_pages(digest, work)


def _serves_its_pages(digest: Path, work: Path) -> None:
    """``digest serve`` of the installed wheel finds its web pages and stylesheet."""
    log = work / "serve.err"
    with log.open("w") as err:
        server = subprocess.Popen(
            [digest, "serve", "--port", "0"], cwd=work, stdout=subprocess.PIPE, stderr=err
        )
    try:
        deadline = time.monotonic() + 60
        while "serving on" not in log.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.05)
        base = re.search(r"serving on (\S+)", log.read_text()).group(1)
        with httpx.Client(trust_env=False, timeout=10) as http:
            archive = http.get(f"{base}/archive")
            css = http.get(f"{base}/static/web.css")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert archive.status_code == 200 and "Past editions" in archive.text
    assert css.status_code == 200 and "font" in css.text
    assert "Traceback" not in log.read_text()
