"""The package's shape, as a test: no import circles, and the layers import downwards.

Imports are read from the source: module level, inside functions, and inside
``if TYPE_CHECKING:`` blocks too (a type-only import is still a dependency a
reader must follow, and a circle through one is a circle the day someone needs
the name at run time). So a circle fails here before it fails at import time
in some order nobody tried.

The contract is written once, below: ``LAYERS`` (each package may import only
the packages in rows below its own, never a sibling in its row) and
``FORBIDDEN`` (rules the rows cannot say). A rule naming a package or module
that no longer exists fails, so the contract cannot rot silently.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from conftest import ROOT

from digest.config.settings import PROVIDERS

PACKAGE = ROOT / "digest"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _contract_rows() -> list[tuple[str, ...]]:
    """The layer rows, as ``docs/architecture.md`` draws them under "The layer rules":
    the page a newcomer reads is the contract the test holds the code to."""
    text = ARCHITECTURE.read_text("utf-8").split("## The layer rules", 1)[1]
    block = text.split("```", 2)[1]
    rows = []
    for line in block.strip().splitlines():
        if line.startswith("kernel:"):
            rows.append(("digest", *(f"digest.{m}" for m in line.split(":", 1)[1].split())))
        else:
            # Package names, each followed by two or more spaces, then the row's words.
            *names, _description = re.split(r"\s{2,}", line.strip())
            rows.append(tuple(f"digest.{name}" for name in names))
    return rows


# Top to bottom. A package imports only from rows below its own; kernel modules
# (the last row, with the package's own __init__: its version and project URL)
# may also import each other (the circle check still holds them).
LAYERS = (("digest.__main__",), *_contract_rows())  # ``python -m digest`` above all
KERNEL = LAYERS[-1]
# What the rows allow but the design does not.
FORBIDDEN = (
    # Providers take values (a rendered segment, recipients), never the database
    # or the send loop: a provider can be tested by what it would send.
    ("digest.delivery", ("digest.store", "digest.sending")),
    # Grouping is pure: articles and a vocabulary in, sections out.
    ("digest.grouping", ("digest.config", "digest.store", "digest.sources")),
    # Rendering turns sections into an email; reading the database is not its job.
    ("digest.rendering", ("digest.store",)),
    # The database knows nothing of the settings, let alone the pipeline.
    ("digest.store", ("digest.config",)),
    # The tables know nothing of the pipeline that fills them.
    ("digest.store.schema", ("digest.store.store", "digest.models")),
)


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                targets |= {f"{base}.{a.name}" for a in node.names} | {base}
        resolved = set()
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                resolved.add(target)  # a package's own __init__ is not an import of it
        found[name] = resolved
    return found


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


GRAPH = _imports()


def test_no_module_of_digest_imports_itself_back_through_others():
    assert _circles(GRAPH) == []


def test_the_walker_sees_a_circle_when_there_is_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _inside(name: str) -> set[str]:
    """The modules of ``name``: the module itself, or a package and everything in it
    (the top package ``digest`` is only its ``__init__``)."""
    if name == "digest":
        return {"digest"}
    return {m for m in GRAPH if m == name or m.startswith(name + ".")}


def _owner(module: str) -> str | None:
    """The contract entry (package or kernel module) a module belongs to."""
    names = [n for row in LAYERS for n in row]
    found = [n for n in names if module in _inside(n)]
    return max(found, key=len) if found else None


ROW = {name: number for number, row in enumerate(LAYERS) for name in row}


def test_every_module_of_digest_has_a_place_in_the_layers():
    assert sorted(m for m in GRAPH if _owner(m) is None) == []


@pytest.mark.parametrize("name", [n for row in LAYERS for n in row] + [m for m, _ in FORBIDDEN])
def test_every_name_in_the_contract_exists(name):
    assert _inside(name), f"{name} is named in the layer contract but is not in digest/"


@pytest.mark.parametrize("name", [n for row in LAYERS for n in row])
def test_each_layer_imports_only_the_rows_below_it(name):
    upward = sorted(
        f"{m} -> {t}"
        for m in _inside(name)
        for t in GRAPH[m]
        if (owner := _owner(t)) is not None
        and owner != name
        and ROW[owner] <= ROW[name]
        and not (name in KERNEL and owner in KERNEL)
    )
    assert upward == [], f"{name} imports its own row or above: {upward}"


@pytest.mark.parametrize(("name", "forbidden"), FORBIDDEN, ids=[n for n, _ in FORBIDDEN])
def test_what_the_rows_allow_but_the_design_forbids(name, forbidden):
    for target in forbidden:
        assert _inside(target), f"the rule for {name} names {target}, which does not exist"
    reached = sorted(
        f"{m} -> {t}"
        for m in _inside(name)
        for t in GRAPH[m]
        if any(t == f or t.startswith(f + ".") for f in forbidden)
    )
    assert reached == [], f"{name} imports what it must not: {reached}"


def _packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between contract entries (packages and kernel modules)."""
    found: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = _owner(module)
        found.setdefault(mine, set())
        found[mine] |= {o for t in targets if (o := _owner(t)) not in (None, mine)}
    return found


def test_no_circle_between_packages():
    assert _circles(_packages(GRAPH)) == []


def test_the_layer_check_sees_an_upward_import(monkeypatch):
    """The contract fails when a lower layer reaches up (here: store imports sending)."""
    graph = {m: set(t) for m, t in GRAPH.items()}
    graph["digest.store.store"].add("digest.sending.ledger")
    monkeypatch.setitem(globals(), "GRAPH", graph)
    with pytest.raises(AssertionError, match=r"digest\.store\.store -> digest\.sending\.ledger"):
        test_each_layer_imports_only_the_rows_below_it("digest.store")
    assert _circles(_packages(graph)) != []


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_provider_name_is_a_module_whose_provider_has_that_name(name):
    module = importlib.import_module(f"digest.delivery.{name}")
    assert module.PROVIDER.name == name
