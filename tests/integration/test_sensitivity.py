"""``creditsim sensitivity`` and ``cs.sensitivity`` end to end (issue 16).

The analysis itself is checked on closed forms in tests/unit/test_gsa.py; here
the study runs creditsim: a metric driven by one varied key only (the others
varied but inert) gets that key's total index near 1 and exactly 0 for the
others; a study killed and resumed writes the files of an uninterrupted one;
``against`` analyses paired differences; bad input is pinned in
tests/data/invalid/cli/sensitivity-*.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("SALib")

import simulator as cs
from simulator.cli import main
from simulator.errors import UsageError

TINY = """\
name: tiny
seed: 4
start: 2024-01-01
duration_days: 45
warmup_days: 20
population:
  - {name: a, tier: premium_career, members: 30, sending: {inmails_per_month: 8}}
"""
ROOT = Path(__file__).parents[2]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_the_one_key_that_drives_a_metric_gets_the_total_index(tiny: Path, tmp_path: Path) -> None:
    """refund_rate (inmail-2014: a refund unless answered within 7 days) moves with the
    response probability only; the monthly price and the purchase limit (nobody buys:
    no out_of_credit buying) leave every run's InMails unchanged on common seeds.

    Expected: an inert key changes no run, so its Sobol estimators, built from
    f(A) - f(AB_i), are exactly 0; the driver's total index is near 1 (the
    estimator's error at N = 16 is the interval's width).
    """
    study = cs.sensitivity(
        tiny,
        {"recipients.response_probability": (0.05, 0.6),
         "pricing.monthly_price.premium_career": (20, 40),
         "policy.max_per_purchase": (5, 10)},
        method="sobol", samples=16, metrics=["refund_rate", "subscription_revenue"],
        out=tmp_path / "study", workers=2, progress=False,
    )  # fmt: skip
    ix = study.indices.set_index(["metric", "key", "index"])["value"]
    low = study.indices.set_index(["metric", "key", "index"])["low"]
    high = study.indices.set_index(["metric", "key", "index"])["high"]
    driver = ("refund_rate", "recipients.response_probability", "ST")
    assert low[driver] <= 1.0 <= high[driver] or abs(ix[driver] - 1) < 0.1
    for inert in ("pricing.monthly_price.premium_career", "policy.max_per_purchase"):
        assert ix[("refund_rate", inert, "ST")] == 0 and ix[("refund_rate", inert, "S1")] == 0
    # Subscription revenue is the price times the paid months: the price drives it.
    price = ("subscription_revenue", "pricing.monthly_price.premium_career", "ST")
    assert ix[price] == max(ix[("subscription_revenue", k, "ST")] for k in (
        "recipients.response_probability", "pricing.monthly_price.premium_career",
        "policy.max_per_purchase"))  # fmt: skip
    assert len(study.design) == 16 * (3 + 2)
    assert study.plot("refund_rate").axes and study.plot("refund_rate", "scatter").axes


def _cli(tiny: Path, out: Path, *extra: str) -> list[str]:
    return ["sensitivity", str(tiny), "--vary", "recipients.response_probability=0.05:0.6",
            "--vary", "policy.refund.window_days=3:14", "--method", "morris", "--samples", "8",
            "--replications", "2", "--metrics", "refund_rate,net_revenue", "--workers", "2",
            "--no-progress", "--out", str(out), *extra]  # fmt: skip


def test_a_study_killed_and_resumed_writes_the_files_of_an_uninterrupted_one(
    tiny: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    assert main(_cli(tiny, whole)) == 0
    files = ("design.csv", "results.parquet", "sensitivity.csv", "summary.csv", "runs.csv")
    assert all((whole / f).is_file() for f in files)
    assert {p.name for p in (whole / "plots").iterdir()} == {
        "indices-refund_rate.png", "scatter-refund_rate.png",
        "indices-net_revenue.png", "scatter-net_revenue.png"}  # fmt: skip

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *_cli(tiny, cut)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list((cut / "runs").glob("*.json"))) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (cut / "sensitivity.csv").exists()
    assert main(_cli(tiny, cut, "--resume")) == 0
    for name in ("design.csv", "results.parquet", "sensitivity.csv"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    assert json.loads((cut / "sweep.json").read_text())["kind"] == "sensitivity"


def test_against_analyses_paired_differences(tiny: Path, tmp_path: Path) -> None:
    """B differs from A only in its refund window: the window, not varied, shifts B - A;
    every point runs under both on the same seeds, and each difference is B's mean
    minus A's at that point."""
    b = tmp_path / "b.yaml"
    b.write_text(TINY + "policy: {refund: {window_days: 14}}\n")
    study = cs.sensitivity(
        tiny, {"recipients.response_probability": (0.05, 0.6)}, against=b, method="lhs",
        samples=6, metrics=["refund_rate"], out=tmp_path / "ab", progress=False,
    )  # fmt: skip
    results = study.results
    assert sorted(results["scenario"].unique()) == ["A", "B"]
    assert len(results) == 2 * 6
    a = results[results["scenario"] == "A"].set_index("recipients.response_probability")
    bb = results[results["scenario"] == "B"].set_index("recipients.response_probability")
    expected = (bb["refund_rate"] - a["refund_rate"]).reindex(study.design[
        "recipients.response_probability"]).to_numpy()  # fmt: skip
    pd.testing.assert_series_equal(
        study.means["refund_rate"].reset_index(drop=True),
        pd.Series(expected, name="refund_rate"),
        check_names=False,
    )
    # A longer window can only refund fewer InMails (RULES.md: no response *within* it).
    assert (study.means["refund_rate"] <= 0).all()


def test_a_sensitivity_block_stands_for_the_flags_and_flags_win(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's block gives vary, method, samples and metrics; a flag replaces its key."""
    path = tmp_path / "blocked.yaml"
    path.write_text(
        TINY
        + """\
sensitivity:
  vary:
    recipients.response_probability: "0.05:0.6"
    policy.refund.window_days: {low: 3, high: 14}
    policy.preset: [inmail-2014, inmail-2015]
  method: lhs
  samples: 5
  metrics: [refund_rate]
"""
    )
    out = tmp_path / "blocked"
    assert main(["sensitivity", str(path), "--samples", "6", "--no-plots", "--no-progress",
                 "--out", str(out)]) == 0  # fmt: skip
    design = pd.read_csv(out / "design.csv")
    assert len(design) == 6  # --samples won over the block's 5
    assert set(design["policy.preset"]) <= {"inmail-2014", "inmail-2015"}
    indices = pd.read_csv(out / "sensitivity.csv")
    assert set(indices["index"]) == {"rho"} and set(indices["metric"]) == {"refund_rate"}
    # Every other command refuses the block, naming it (one rule, as for sweep:).
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "sensitivity: a sensitivity block is for `creditsim sensitivity` only" in (
        capsys.readouterr().err)  # fmt: skip


def test_a_metric_no_run_defines_gets_a_note_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Members who send nothing: refund_rate is None in every run (results.parquet keeps it
    a float column of nulls) and the study says so, with NaN indices."""
    path = tmp_path / "silent.yaml"
    path.write_text(TINY.replace("inmails_per_month: 8", "inmails_per_month: 0"))
    out = tmp_path / "silent"
    assert main(["sensitivity", str(path), "--vary", "recipients.response_probability=0.1:0.3",
                 "--method", "lhs", "--samples", "4", "--metrics", "refund_rate,refund_rate",
                 "--no-plots", "--no-progress", "--out", str(out)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "refund_rate is undefined at 4 of 4 design points" in captured.err
    indices = pd.read_csv(out / "sensitivity.csv")
    assert len(indices) == 1 and indices["value"].isna().all()  # named twice, analysed once
    assert str(pd.read_parquet(out / "results.parquet")["refund_rate"].dtype) == "float64"


def test_api_ranges_take_numpy_and_text_numbers(tiny: Path, tmp_path: Path) -> None:
    import numpy as np

    study = cs.sensitivity(tiny, {"recipients.response_probability": (np.float64(0.1), "0.3")},
                           method="lhs", samples=3, metrics=["refund_rate"],
                           out=tmp_path / "np", progress=False)  # fmt: skip
    values = study.design["recipients.response_probability"]
    assert ((values >= 0.1) & (values <= 0.3)).all()
    with pytest.raises(UsageError, match=r"^replications must be >= 1, got 0$"):
        cs.sensitivity(tiny, {"recipients.response_probability": (0.1, 0.3)}, replications=0,
                       out=tmp_path / "zero", progress=False)  # fmt: skip
