"""The package's shape, as a test: no import circles, and the layers import downwards.

Imports are read from the source (module level and inside functions, leaving out
``if TYPE_CHECKING:`` blocks), so a circle fails here before it fails at import time
in some order nobody tried.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from conftest import ROOT

from digest.config.settings import PROVIDERS

PACKAGE = ROOT / "digest"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"))
        skipped = {
            id(node)
            for branch in ast.walk(tree)
            if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
            for node in ast.walk(branch)
        }
        targets = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
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


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # The bottom: tables and edge rules know nothing of the pipeline.
        (
            "digest.store.schema",
            {
                "digest.store.store",
                "digest.sending.ledger",
                "digest.sending.planning",
                "digest.models",
            },
        ),
        ("digest.validate", {"digest"}),
        ("digest.models", {"digest.store.store", "digest.store.schema", "digest.sending.ledger"}),
        # Providers take values, not the database.
        (
            "digest.delivery",
            {
                "digest.store.store",
                "digest.sending.ledger",
                "digest.store.schema",
                "digest.sending.planning",
            },
        ),
        # The library never reaches up into the command line (only ``python -m digest``).
        ("digest", {"digest.cli"}),
    ],
)
def test_layers_import_downwards(module, forbidden):
    inside = {m for m in GRAPH if m == module or m.startswith(module + ".")}
    if module == "digest":
        inside = {m for m in inside if not m.startswith("digest.cli") and m != "digest.__main__"}
    reached = {
        t
        for m in inside
        for t in GRAPH[m]
        if any(t == f or t.startswith(f + ".") for f in forbidden)
    }
    if module == "digest.validate":
        reached = {t for t in GRAPH[module] if t.startswith("digest")}
    assert reached == set(), f"{module} imports {sorted(reached)}"


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_provider_name_is_a_module_whose_provider_has_that_name(name):
    module = importlib.import_module(f"digest.delivery.{name}")
    assert module.PROVIDER.name == name
