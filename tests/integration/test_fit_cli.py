"""creditsim fit from the command line: one API call, its files, a scenario that runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import simulator as cs
from simulator.calibration import COHORT_MODES as LIBRARY_COHORT_MODES
from simulator.cli import main
from simulator.cli.calibrate import COHORT_MODES

TRUTH = Path(__file__).parents[1] / "data" / "fit" / "recovery.yaml"


def test_the_parser_offers_the_librarys_cohort_modes() -> None:
    """The CLI keeps its own copy (so --help loads no API): it must equal the library's."""
    assert COHORT_MODES == LIBRARY_COHORT_MODES


@pytest.mark.slow
def test_fit_a_runs_history_parts_and_run_the_fitted_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run's history/ parts in, every file out; the fitted scenario loads and runs."""
    truth = cs.scaled(cs.load_scenario(TRUTH), 0.25)
    cs.run(truth, progress=False).save(tmp_path / "run", reports=False)
    parts = sorted(str(p) for p in (tmp_path / "run" / "history").glob("part-*.csv"))
    out = tmp_path / "fit"
    argv = ["fit", *parts, "--out", str(out), "--validate", "1", "--seed", "3", "--no-progress"]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    for name in ("scenario.yaml", "fit.csv", "fit.html", "validation.csv", "arrivals.csv"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [
        "delays.png", "rates.png", "validation.png"]  # fmt: skip
    parameters = pd.read_csv(out / "fit.csv")
    assert {"parameter", "estimate", "low", "high", "n", "method", "source"} <= set(parameters)
    assert set(parameters["source"]) <= {"fit", "fixed"}  # no base scenario was given
    fitted = cs.load_scenario(out / "scenario.yaml")
    assert {c.name for c in fitted.population} == {c.name for c in truth.population}
    rerun = cs.run(cs.scaled(fitted, 0.2, duration_days=60), progress=False)
    assert rerun.summary["inmails_sent"] > 0
