"""A wheel that works anywhere: built, installed into a fresh virtualenv, run from an empty folder.

Nothing here imports digest from the source tree: the commands are the installed
wheel's own console script, run with the new virtualenv's interpreter, in a folder
that holds nothing of the repository. That is how a new user meets digest.

And what makes that install work at all: every library digest imports is one
``pyproject.toml`` asks for (lxml was imported for a long time and declared
nowhere: it came only because premailer needs it), and every one of them is
pinned in ``constraints.txt``, which ``make test`` and CI install from.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import venv
import zipfile
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from conftest import PG_SERVER, ROOT, PgSchemas, _pg_available
from packaging.requirements import Requirement

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


def test_the_wheel_and_the_sdist_carry_the_license(dist):
    """MIT asks that the notice go with every copy: the wheel's metadata names it."""
    (wheel,) = dist.glob("digest-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
        licence = archive.read(metadata.replace("METADATA", "licenses/LICENSE")).decode()
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text
    assert licence == (ROOT / "LICENSE").read_text("utf-8")
    (sdist,) = dist.glob("digest-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("/LICENSE") for m in members)
    assert any(m.endswith("/constraints.txt") for m in members)  # its Makefile installs with it


def test_an_installed_wheel_runs_the_demo_from_an_empty_folder(dist, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)  # this pip installs into it (--python): quicker
    python = env_dir / "bin" / "python"
    (wheel,) = dist.glob("digest-*.whl")
    # At the versions make test runs with (constraints.txt), so a release of some
    # library tomorrow does not turn this test red on a commit that changed nothing.
    pins = ROOT / "constraints.txt"
    # --no-compile: byte-compiling some 40 libraries (a third of the install's time) is
    # nothing this test looks at; Python compiles what the commands import as they run.
    installed = _run(
        *(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile"),
        *("-c", pins, wheel),
        cwd=tmp_path,
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
    if _pg_available() is None:
        schemas = PgSchemas(sqlalchemy.create_engine(PG_SERVER))
        url = schemas()
        try:
            _names_the_driver_to_install(python, digest, tmp_path, pins, url)
        finally:
            schemas.drop(url)
            schemas.engine.dispose()


def _names_the_driver_to_install(
    python: Path, digest: Path, tmp_path: Path, pins: Path, url: str
) -> None:
    """Installed without ``[postgres]``, a PostgreSQL URL is exit 2 with the exact command
    for this venv; what it installs is what makes the same command work."""
    work = tmp_path / "pg"
    work.mkdir()
    (work / "digest.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    refused = _run(digest, "status", cwd=work)
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip()
    assert line.startswith("Error: no driver for postgresql+psycopg in "), line
    command = re.search(
        rf"install PostgreSQL's with: {re.escape(str(python))} -m pip install '([^']+)'", line
    )
    assert command, line
    added = _run(
        *(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile"),
        *("-c", pins, command.group(1)),
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    works = _run(digest, "status", cwd=work)
    assert works.returncode == 0, works.stderr


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


# -- what the package imports is what it declares ------------------------------------


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503): "PyYAML>=6" → "pyyaml"."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def _guarded(node: ast.Try) -> bool:
    """``try: import x`` / ``except ImportError``: the code runs without ``x``."""
    caught = [h.type for h in node.handlers if h.type is not None]
    names = {n.id for t in caught for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def third_party_imports(package: Path) -> dict[str, tuple[bool, str]]:
    """Each top-level module outside the standard library that ``package`` imports:
    whether every import of it is guarded, and one place that imports it."""
    found: dict[str, tuple[bool, str]] = {}

    def visit(node: ast.AST, where: Path, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            modules = []
        for module in modules:
            top = module.partition(".")[0]
            if top in sys.stdlib_module_names or top == package.name:
                continue
            before = found.get(top, (True, ""))
            place = before[1] if before[1] and not before[0] else f"{where}:{node.lineno}"
            found[top] = (before[0] and guarded, place)
        inner = guarded or (isinstance(node, ast.Try) and _guarded(node))
        for child in ast.iter_child_nodes(node):
            # Only the try's own body is guarded, not its handlers or else.
            if isinstance(node, ast.Try) and child not in node.body:
                visit(child, where, guarded)
            else:
                visit(child, where, inner)

    for path in sorted(package.rglob("*.py")):
        visit(ast.parse(path.read_bytes()), path.relative_to(package.parent), False)
    return found


def undeclared(package: Path, pyproject: Path) -> list[str]:
    """A line for each imported module whose distribution ``pyproject`` does not ask
    for: in ``dependencies``, or, for an import under an ImportError guard, an extra."""
    project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
    required = {_name(r) for r in project.get("dependencies", [])}
    optional = {
        _name(r) for extra in project.get("optional-dependencies", {}).values() for r in extra
    }
    distributions = importlib.metadata.packages_distributions()
    problems = []
    for module, (guarded, place) in sorted(third_party_imports(package).items()):
        names = {_name(d) for d in distributions.get(module, [])}
        if not names:
            problems.append(f"{place}: {module}: not installed, so its distribution is unknown")
        elif not names & (required | optional if guarded else required):
            where = "an optional extra" if guarded else "dependencies"
            problems.append(f"{place}: {module}: {', '.join(sorted(names))} is not in {where}")
    return problems


def test_every_library_digest_imports_is_a_declared_dependency():
    assert undeclared(ROOT / "digest", ROOT / "pyproject.toml") == []


def test_an_undeclared_import_is_named_with_where_it_is(tmp_path):
    """The check above can fail: a package importing lxml and psycopg, declaring neither
    in its dependencies, and psycopg as an extra (enough only where it is guarded)."""
    package = tmp_path / "demo"
    package.mkdir()
    (package / "reader.py").write_text("import os\nfrom lxml import etree\n")
    (package / "optional.py").write_text(
        "try:\n    import psycopg\nexcept ImportError:\n    psycopg = None\n"
    )
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "demo"\ndependencies = ["jinja2"]\n'
        '[project.optional-dependencies]\npostgres = ["psycopg[binary]>=3.1"]\n'
    )
    assert undeclared(package, pyproject) == ["demo/reader.py:2: lxml: lxml is not in dependencies"]
    (package / "store.py").write_text("import psycopg\n")
    assert undeclared(package, pyproject)[1] == (
        "demo/store.py:1: psycopg: psycopg is not in dependencies"
    )


def test_every_dependency_is_pinned_in_the_constraints_file_within_its_range():
    """``make constraints`` was run after the last change of ``pyproject.toml``'s lists."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: not pinned with ==: {line!r}"
            pins[_name(name)] = version.strip()
    problems = []
    for requirement in map(Requirement, wanted):
        pinned = pins.get(_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name}: not pinned")
        elif pinned not in requirement.specifier:
            problems.append(f"{requirement.name}: {pinned} is outside {requirement.specifier}")
    assert problems == [], "run make constraints"
