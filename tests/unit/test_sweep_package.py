"""The sweeps package: its public names, its light import, and a folder's run table read back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import simulator.sweeps as sweeps
from simulator.errors import InputError
from simulator.sweeps import RunTable, TablePoint, load_run_table, run_id

ROOT = Path(__file__).parents[2]

# Every public name simulator/sweeps.py had, importable from the package as before.
OLD_NAMES = [
    "DEFAULT_PLOT_METRICS",
    "FORMAT_VERSION",
    "MAX_RANGE_VALUES",
    "MAX_RUNS",
    "Axis",
    "Plan",
    "Point",
    "Progress",
    "SweepResult",
    "SweepSpec",
    "TqdmProgress",
    "canonical_key",
    "canonical_params",
    "check_out",
    "compare_notes",
    "comparison_inputs",
    "execute",
    "expand",
    "load_sweep_scenario",
    "metric_unit",
    "one_money_version",
    "ordered_points",
    "parse_axis_arguments",
    "parse_scalar_values",
    "plan_compare",
    "plan_sweep",
    "plot_comparison",
    "plot_sweep_key",
    "replication_seed",
    "run_id",
    "scalar_text",
    "spec_from_block",
    "with_spec",
    "write_comparison",
]


def test_every_old_name_is_still_importable() -> None:
    """The package re-exports the module's names; the plotting ones are simulator.plots',
    but for plot_sweep_key, which draws a run table with simulator.plots' plain inputs."""
    import simulator.plots
    import simulator.sweeps.figures

    for name in OLD_NAMES:
        assert getattr(sweeps, name) is not None, name
    for name in ("plot_comparison", "metric_unit", "one_money_version", "DEFAULT_PLOT_METRICS"):
        assert getattr(sweeps, name) is getattr(simulator.plots, name), name
    assert sweeps.plot_sweep_key is simulator.sweeps.figures.plot_sweep_key
    assert callable(sweeps.execute)  # the function, not the module simulator.sweeps.execution
    assert set(OLD_NAMES) <= set(sweeps.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = sweeps.no_such_name  # type: ignore[attr-defined]


def test_import_loads_no_matplotlib() -> None:
    """A sweep without plots never loads matplotlib; asking for a plotting name does."""
    code = textwrap.dedent("""
        import sys
        import simulator.sweeps
        assert "matplotlib" not in sys.modules, "import simulator.sweeps loaded matplotlib"
        from simulator.sweeps import plot_sweep_key
        assert "matplotlib" not in sys.modules, "plot_sweep_key loaded matplotlib before drawing"
        from simulator.sweeps import plot_comparison
        assert "matplotlib" in sys.modules
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# Values a runs.csv cell must give back with their type: numbers, null, booleans,
# text that looks like a number, text with YAML's special characters, dates.
AWKWARD: tuple[Any, ...] = (7, 0.1, 1e-05, -3, None, True, "7", "null", "inmail-2015",
                            "a: b, c", "it's", "two\nlines", 2.5e20)  # fmt: skip


def _stage(folder: Path, table: RunTable[TablePoint], **meta: Any) -> None:
    folder.mkdir()
    (folder / "runs.csv").write_text(table.table_csv(), encoding="utf-8")
    header = {"format_version": 1, "kind": table.kind, "scenario": table.source,
              "keys": list(table.keys), "points": len(table.points),
              "replications": table.replications, "seed": table.seed,
              "seeds": table.seeds(), "runs": table.runs, "fingerprint": "0" * 64}  # fmt: skip
    (folder / "sweep.json").write_text(json.dumps({**header, **meta}), encoding="utf-8")


def test_the_run_table_reads_back_with_its_types(tmp_path: Path) -> None:
    """runs.csv holds values as text; load_run_table gives the values the plan had."""
    points = []
    for value in AWKWARD:
        params = {"policy.x": value, "population[1].y": "same, for all"}
        points.append(TablePoint(run_id(params), params))
    table = RunTable("sweep", "s.yaml", ("policy.x", "population[1].y"), tuple(points), 3, 11)
    _stage(tmp_path / "sweep", table, warmup_auto={"warmup_days": 20})
    loaded = load_run_table(tmp_path / "sweep")
    assert loaded == RunTable(table.kind, table.source, table.keys, table.points,
                              table.replications, table.seed,
                              {"warmup_auto": {"warmup_days": 20}})  # fmt: skip
    # == would let 7 pass for 7.0 and 1 for True: the types too.
    for old, new in zip(table.points, loaded.points, strict=True):
        assert [type(v) for v in new.params.values()] == [type(v) for v in old.params.values()]
    assert loaded.table_csv() == table.table_csv()


def test_a_bad_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a readable sweep folder"):
        load_run_table(tmp_path)
    table = RunTable("sweep", "s.yaml", ("k",), (TablePoint("k=1__x", {"k": 1}),), 1, 0)
    _stage(tmp_path / "other", table, keys=["j"])
    with pytest.raises(InputError, match=r"runs\.csv: expected the columns run_id, j, "):
        load_run_table(tmp_path / "other")
