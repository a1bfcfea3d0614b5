"""The command line is a layer over the API: its modules import nothing below it.

Issue #14: ``creditsim`` commands parse, call one :mod:`simulator.api`
function and print. A CLI module importing the runner, the reports or the
engine directly would be a second front door; this test walks their imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import simulator.api
import simulator.cli.sensitivity

ROOT = Path(__file__).parents[2]
CLI_MODULES = [
    *sorted((ROOT / "simulator" / "cli").glob("*.py")),
    ROOT / "simulator" / "__main__.py",
]
#: What a CLI module may import of the simulator: the package, its API, its error
#: types, and the CLI's own modules.
ALLOWED = ("simulator", "simulator.api", "simulator.errors")


def _simulator_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "simulator":  # `from simulator import X`: X a module?
                found += [(node.lineno, f"simulator.{a.name}") for a in node.names
                          if (ROOT / "simulator" / f"{a.name}.py").exists()
                          or (ROOT / "simulator" / a.name).is_dir()]  # fmt: skip
    return [(line, name) for line, name in found if name.split(".")[0] == "simulator"]


def test_cli_modules_import_only_the_api() -> None:
    below = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in CLI_MODULES
        for line, name in _simulator_imports(path)
        if name not in ALLOWED and not name.startswith("simulator.cli")
    ]
    assert below == [], "\n".join(below)


def test_the_walk_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check itself: an import of the runner is found, in every spelling."""
    module = tmp_path / "m.py"
    module.write_text("import simulator.runner\nfrom simulator import reports\n"
                      "from simulator.engine import replay\n")  # fmt: skip
    names = [name for _, name in _simulator_imports(module)]
    assert "simulator.runner" in names and "simulator.reports" in names
    assert "simulator.engine" in names


def test_help_does_not_load_the_api() -> None:
    """`creditsim --help` and `--version` stay quick: the API (pandas, matplotlib) is
    loaded when a command runs, not to parse."""
    code = ("import sys; from simulator.cli import _build_parser; _build_parser(); "
            "print('simulator.api' in sys.modules, 'pandas' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()  # fmt: skip
    assert out == ["False", "False"]


def test_the_parser_knows_the_apis_study_words() -> None:
    """The sensitivity parser's methods and default metrics are the API's."""
    assert simulator.cli.sensitivity.METHODS == simulator.api.METHODS
    assert simulator.cli.sensitivity.DEFAULT_METRICS == simulator.api.DEFAULT_METRICS
