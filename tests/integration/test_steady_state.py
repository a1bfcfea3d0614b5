"""The steady-state check on real runs: warnings, ``warmup_days: auto``, sweeps, the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.cli import main
from simulator.runner import run
from simulator.scenario import load_scenario
from simulator.steady import SERIES
from simulator.warmup import pilot_days, resolve_warmup

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "model"

# A year of a small stationary population: subscribers who leave and are replaced.
STEADY = """
name: steady
seed: 5
start: 2020-01-01
duration_days: 365
warmup_days: 365
population:
  - name: sales
    tier: sales_navigator
    members: 150
    monthly_cancel_probability: 0.03
    after_cancel: leave
    arrivals: {monthly_rate: replace_churn}
    sending: {inmails_per_month: 30, rate_shape: 3}
"""


@pytest.fixture(scope="module")
def steady_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("steady") / "steady.yaml"
    path.write_text(STEADY)
    return path


def test_a_run_without_warmup_warns_with_the_days_it_suggests(
    steady_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--set warmup_days=0: one warning line naming the suggested warm-up, at least 13 weeks
    (nothing expires in the first 90 days) and as summary.json says."""
    code = main(["run", str(steady_file), "--set", "warmup_days=0", "--out", str(tmp_path / "r"),
                 "--no-report", "--no-progress"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if "not steady" in line]
    assert len(warnings) == 1
    block = json.loads((tmp_path / "r" / "summary.json").read_text())["steady_state"]
    assert block["steady"] is False and block["suggested_warmup_days"] >= 91
    settled = block["suggested_warmup_days"]
    assert f"settle only {settled} days into the run" in warnings[0]
    # The advice is twice the settling point, as warmup_days: auto (steady.SAFETY_FACTOR).
    assert f"use a warm-up of {2 * settled} days, twice that" in warnings[0]


def test_a_steady_run_prints_no_warning(
    steady_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same population after a year of warm-up: steady, and nothing on stderr about it."""
    code = main(["run", str(steady_file), "--out", str(tmp_path / "r"), "--no-report",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    assert "not steady" not in capsys.readouterr().err
    block = json.loads((tmp_path / "r" / "summary.json").read_text())["steady_state"]
    assert block["steady"] is True and block["auto"] is None
    assert len(block["week_start"]) == 52
    assert tuple(block["series"]) == SERIES


def test_auto_warmup_is_chosen_once_and_recorded(steady_file: Path) -> None:
    """warmup_days: auto runs a pilot and gives a whole number of weeks, recorded with why;
    resolving twice gives the same choice (the pilot uses the scenario's seed)."""
    sc = load_scenario(steady_file).with_overrides({"warmup_days": "auto"})
    assert sc.auto_warmup and sc.to_dict()["warmup_days"] == "auto"
    with pytest.raises(ValueError, match="resolve it first"):
        run(sc)
    resolved, record = resolve_warmup(sc)
    again, _ = resolve_warmup(sc)
    assert record is not None and not resolved.auto_warmup
    assert resolved.warmup_days == again.warmup_days == record["chosen_days"]
    assert record["chosen_days"] % 7 == 0 and record["chosen_days"] >= 91
    assert record["pilot_days"] == pilot_days(sc) == 4 * (2 * 90 + 7)  # 2014 rules: 748 days
    result = run(resolved, warmup_record=record)
    assert result.summary["steady_state"]["auto"] == record
    assert result.summary["steady_state"]["steady"] is True


def test_a_sweep_resolves_auto_once_and_reports_steadiness(
    steady_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every point of a sweep shares the base's auto warm-up; results.parquet has the
    verdict of each run; a sweep of unsteady runs prints one warning line for all."""
    auto = tmp_path / "auto.yaml"
    auto.write_text(STEADY.replace("warmup_days: 365", "warmup_days: auto")
                    .replace("members: 150", "members: 40"))  # fmt: skip
    out = tmp_path / "sw"
    code = main(["sweep", str(auto), "--grid", "policy.refund.window_days=3,7",
                 "--out", str(out), "--no-progress", "--no-plots"])  # fmt: skip
    assert code == 0
    meta = json.loads((out / "sweep.json").read_text())
    chosen = meta["warmup_auto"]["chosen_days"]
    assert f"warm-up auto: {chosen} days" in capsys.readouterr().out
    results = pd.read_parquet(out / "results.parquet")
    assert {"steady", "suggested_warmup_days"} <= set(results.columns)
    assert "steady_state" not in results.columns

    cold = tmp_path / "cold.yaml"
    cold.write_text(STEADY.replace("warmup_days: 365", "warmup_days: 0")
                    .replace("members: 150", "members: 40"))  # fmt: skip
    code = main(["sweep", str(cold), "--grid", "policy.refund.window_days=3,7",
                 "--out", str(tmp_path / "cold"), "--no-progress", "--no-plots"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("not steady") == 1 and "2 of 2 runs" in err
    results = pd.read_parquet(tmp_path / "cold" / "results.parquet")
    settled = int(results["suggested_warmup_days"].max())
    assert f"settle up to {settled:,} days into the run: use a warm-up of {2 * settled:,}" in err


@pytest.mark.slow
def test_the_shipped_baseline_is_steady_and_stationary() -> None:
    """scenarios/baseline.yaml as shipped: no warning, a truncation of 0, premium
    subscriptions per month within 5 % of their mean over the year, and the basic cohort's
    upgraders not growing (second half within 20 % of the first: about 20 a month)."""
    sc = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    result = run(sc)
    block = result.summary["steady_state"]
    assert block["steady"] is True and block["suggested_truncation_weeks"] == 0
    bill = result.tables.billing
    # Calendar months: one anniversary grant per subscriber in each (RULES.md section 1).
    month = ((bill["time"].dt.year - 2014) * 12 + bill["time"].dt.month - 1).to_numpy()
    in_year = (month >= 0) & (month < 12)
    per_month = np.bincount(month[in_year], minlength=12)
    assert np.all(np.abs(per_month / per_month.mean() - 1) < 0.05), per_month
    cohort = bill["member"].map(result.tables.members.set_index("member")["cohort"])
    basic = np.bincount(month[in_year & (cohort == "basic_occasional").to_numpy()], minlength=12)
    assert basic[6:].sum() < 1.2 * basic[:6].sum(), basic


def test_auto_is_chosen_on_the_scenario_s_own_seed(
    steady_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """creditsim run --seed S with warmup_days: auto: the pilot runs on the file's seed, so
    the warm-up is the one a sweep's replications share."""
    auto = tmp_path / "auto.yaml"
    auto.write_text(STEADY.replace("warmup_days: 365", "warmup_days: auto")
                    .replace("members: 150", "members: 40"))  # fmt: skip
    chosen = []
    for seed in ("5", "6"):
        out = tmp_path / f"r{seed}"
        code = main(["run", str(auto), "--seed", seed, "--out", str(out), "--no-report",
                     "--no-progress"])  # fmt: skip
        assert code == 0
        block = json.loads((out / "summary.json").read_text())["steady_state"]
        assert block["auto"]["pilot_seed"] == 5  # the file's seed
        chosen.append(block["auto"]["chosen_days"])
    assert chosen[0] == chosen[1]


def test_auto_cannot_be_a_sweep_value(
    steady_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep axis warmup_days=auto,30 is refused before any pilot or run: one line."""
    code = main(["sweep", str(steady_file), "--grid", "warmup_days=auto,30",
                 "--out", str(tmp_path / "sw"), "--no-progress"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warmup_days: auto cannot be a sweep value" in err[0]
    assert not (tmp_path / "sw").exists()
