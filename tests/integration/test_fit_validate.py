"""creditsim fit --validate: seeded, and the same with one worker or two."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.api import run
from simulator.calibration import METRICS, fit
from simulator.scenario import load_scenario

TRUTH = Path(__file__).parents[1] / "data" / "fit" / "recovery.yaml"


@pytest.mark.slow
def test_validation_is_seeded_and_independent_of_workers(tmp_path: Path) -> None:
    """--validate 2 --seed 5: seeds 5 and 6, the same numbers with --workers 1 and 2."""
    sc = load_scenario(TRUTH)
    sc = sc.with_overrides({"population": [sc.to_dict()["population"][2]]})
    path = tmp_path / "history.csv"
    run(sc, progress=False).tables.history.to_csv(path, index=False)
    one = fit(path, until=sc.end, validate=2, seed=5, workers=1)
    two = fit(path, until=sc.end, validate=2, seed=5, workers=2)
    assert one.validation_runs is not None and two.validation_runs is not None
    assert one.validation_runs["seed"].tolist() == [5, 6]
    pd.testing.assert_frame_equal(one.validation_runs, two.validation_runs)
    assert one.validation is not None
    assert one.validation["metric"].tolist() == list(METRICS)
    assert set(one.validation["verdict"]) <= {"consistent", "differs"}
    out = one.save(tmp_path / "fit")
    assert pd.read_csv(out / "validation.csv")["metric"].tolist() == list(METRICS)
