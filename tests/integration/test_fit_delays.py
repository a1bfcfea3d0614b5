"""creditsim fit's delay choice: a family by AIC, or the empirical delays when none fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.api import run
from simulator.calibration import fit
from simulator.scenario import load_scenario

TRUTH = Path(__file__).parents[1] / "data" / "fit" / "recovery.yaml"


def test_bimodal_delays_fall_back_to_empirical(tmp_path: Path) -> None:
    """Delays of minutes or of three weeks (4 : 3): no family fits, so the delay is empirical.

    The truth is ``recovery.yaml``'s premium_business cohort alone with an
    empirical delay of seven values, four under an hour and three of 20-22
    days: the empirical fit's quantiles put about 4/7 under an hour and 3/7
    past 19 days.
    """
    sc = load_scenario(TRUTH)
    short = [600, 1200, 1800, 2400]
    long = [d * 86_400 for d in (20, 21, 22)]
    sc = sc.with_overrides(
        {
            "population": [sc.to_dict()["population"][2]],
            "recipients.delay": {"kind": "empirical", "delay_seconds": short + long},
        }
    )
    path = tmp_path / "history.csv"
    run(sc, progress=False).tables.history.to_csv(path, index=False)
    fitted = fit(path, until=sc.end)
    delay = fitted.scenario.recipients.delay
    assert delay.kind == "empirical"
    seconds = np.array(delay.seconds)
    assert abs(np.mean(seconds < 3600) - 4 / 7) < 0.05
    assert abs(np.mean(seconds > 19 * 86_400) - 3 / 7) < 0.05
    p = fitted.parameters.set_index("parameter")
    assert "no family" in p.loc["recipients.delay.kind", "note"]


def test_gamma_delays_choose_gamma(tmp_path: Path) -> None:
    """recovery.yaml's gamma delays (shape 0.8, mean 3 days): AIC picks gamma, KM agrees."""
    sc = load_scenario(TRUTH)
    sc = sc.with_overrides({"population": [sc.to_dict()["population"][2]]})
    path = tmp_path / "history.csv"
    run(sc, progress=False).tables.history.to_csv(path, index=False)
    fitted = fit(path, until=sc.end)
    assert fitted.scenario.recipients.delay.kind == "gamma"
    p = fitted.parameters.set_index("parameter")
    for name, truth in (("shape", 0.8), ("mean_days", 3.0)):
        assert (
            p.loc[f"recipients.delay.{name}", "low"]
            <= truth
            <= p.loc[f"recipients.delay.{name}", "high"]
        )
