"""The import graph of simulator/: layers, not a web (issue #14).

Every ``import simulator.X`` in the package, at the top of a module or
inside a function (a lazy import still makes one module need the other), is
an edge between the top-level modules and packages it joins
(``simulator.reports.sums`` counts as ``simulator.reports``). The graph must
have no cycle: then each module can be read, tested and imported without
the ones above it. Imports under ``TYPE_CHECKING`` are annotations only, and
``simulator`` itself (its version, its lazy API) is the root, not a layer.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "simulator"


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        annotations_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in annotations_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("simulator"):
                assert node.module is not None
                targets.append(node.module)
                targets += [f"{node.module}.{a.name}" for a in node.names
                            if f"{node.module}.{a.name}" in modules]  # fmt: skip
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names if a.name.startswith("simulator")]
            for target in targets:
                a, b = _layer(name), _layer(target)
                if a != b and b != "simulator":
                    edges[a].add(b)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges``, as the path that closes it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    """No chain of imports, lazy ones included, leads from a module back to itself."""
    edges = _graph()
    assert edges["simulator.runner"] >= {"simulator.model", "simulator.reports"}, "graph read"
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check can fail: a -> b -> c -> a is found, a -> b, a -> c is not."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None
