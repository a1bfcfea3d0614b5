"""The credit engine stays pure: no simpy, numpy, pandas, matplotlib or pyarrow (DESIGN.md).

Two checks: importing ``simulator.engine`` in a fresh interpreter leaves none of
those packages in ``sys.modules`` (the runtime truth), and no module the engine
reaches through ``simulator.*`` imports names one of them in its source (the
static truth, which also catches an import hidden inside a function).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("simpy", "numpy", "pandas", "matplotlib", "pyarrow")
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "simulator"
ENGINE = PACKAGE / "engine"


def _is_forbidden(module: str) -> bool:
    return module.split(".", 1)[0] in FORBIDDEN


def _imports(path: Path) -> list[str]:
    """Every absolute module name imported anywhere in ``path`` (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            # `from simulator import timeutil` imports simulator.timeutil
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            pytest.fail(f"{path}: relative import; the closure below follows absolute ones only")
    return names


def _source_of(module: str) -> Path | None:
    """The file of a ``simulator.*`` module, or None if the name is not a module."""
    parts = module.split(".")
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _engine_closure() -> dict[Path, list[str]]:
    """The engine's files plus every ``simulator`` module they import, transitively."""
    todo = sorted(ENGINE.glob("*.py"))
    todo.append(PACKAGE / "__init__.py")  # importing simulator.engine runs it first
    seen: dict[Path, list[str]] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = _imports(path)
        for name in seen[path]:
            if name.split(".", 1)[0] == "simulator":
                src = _source_of(name)
                if src is not None and src not in seen:
                    todo.append(src)
    return seen


def test_importing_engine_loads_no_heavy_package() -> None:
    """A fresh `import simulator.engine` loads none of the forbidden packages."""
    code = "import json, sys, simulator.engine; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert "simulator.engine" in loaded  # the probe did import what it claims to
    assert [m for m in loaded if _is_forbidden(m)] == []


def test_engine_closure_is_not_empty() -> None:
    """The static walk finds the engine's own modules and the helpers it uses."""
    names = {p.relative_to(ROOT).as_posix() for p in _engine_closure()}
    assert {"simulator/engine/core.py", "simulator/timeutil.py", "simulator/errors.py"} <= names


@pytest.mark.parametrize(
    "path",
    sorted(_engine_closure()),
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_engine_source_imports_no_heavy_package(path: Path) -> None:
    """No module in the engine's import closure names a forbidden package, even lazily."""
    bad = [name for name in _imports(path) if _is_forbidden(name)]
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"
