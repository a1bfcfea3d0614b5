"""simulator.plots sits below the sweeps, the API and the reports: it imports none of them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PLOTS = Path(__file__).parents[2] / "simulator" / "plots"
ALLOWED_THIRD_PARTY = {"numpy", "pandas", "matplotlib"}
ALLOWED_SIMULATOR = {"plots", "stats", "steady", "outputs", "vocabulary", "timeutil"}


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports at run time (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "simulator":  # from simulator import steady
                names.extend(f"simulator.{alias.name}" for alias in node.names)
            else:
                names.append(node.module)
    return names


def _allowed(name: str) -> bool:
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "IPython":
        return True
    parts = name.split(".")
    return top == "simulator" and len(parts) > 1 and parts[1] in ALLOWED_SIMULATOR


@pytest.mark.parametrize("path", sorted(PLOTS.glob("*.py")), ids=lambda p: p.name)
def test_plots_import_nothing_above_them(path: Path) -> None:
    bad = [name for name in _imports(path) if not _allowed(name)]
    assert not bad, (
        f"{path.name} imports {bad}: plots may use only the stdlib, numpy, "
        "pandas, matplotlib and simulator.{plots,stats,steady,outputs,vocabulary,timeutil}"
    )


def test_the_walk_sees_imports() -> None:
    """The check is not vacuous: it finds the package's own imports."""
    names = {n for path in PLOTS.glob("*.py") for n in _imports(path)}
    assert {"matplotlib.figure", "simulator.plots.style", "simulator.steady"} <= names
