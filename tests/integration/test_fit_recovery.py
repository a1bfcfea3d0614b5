"""creditsim fit recovers a known scenario from the history creditsim simulated from it.

The truth is ``tests/data/fit/recovery.yaml`` (about 2,000 members, one year:
heterogeneous rates, gamma delays, length and category effects, cancels,
tier changes, arrivals, purchases and upgrades). Its history is simulated
once with the scenario's seed (17) and fitted; every expected number below is
that file's value, put in the fit's parametrisation by :func:`_truth` (the
normalisations are the fit's own: weekday weights and multipliers averaging
1, category weights as shares).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator.api import run
from simulator.calibration import Fit, fit, normalised_recipients
from simulator.calibration.page import naive_comparison
from simulator.calibration.recipients import fit_delay_naive
from simulator.calibration.validate import METRICS, validate_fit
from simulator.scenario import Scenario, load_scenario
from simulator.timeutil import DAY, format_instant

pytestmark = pytest.mark.slow

TRUTH = Path(__file__).parents[1] / "data" / "fit" / "recovery.yaml"


def _history(sc: Scenario, path: Path) -> Path:
    run(sc, progress=False).tables.history.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def recovery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Fit]:
    sc = load_scenario(TRUTH)
    path = _history(sc, tmp_path_factory.mktemp("fit") / "history.csv")
    return sc, fit(path, until=sc.end)


def _truth(sc: Scenario, fitted: Fit) -> dict[str, float]:
    """The scenario's values keyed as fit.csv's ``parameter`` column."""
    out: dict[str, float] = {}
    for c in sc.population:
        k, s = f"population[{c.name}]", c.sending
        out[f"{k}.members"] = c.members
        out[f"{k}.sending.inmails_per_month"] = s.inmails_per_month
        out[f"{k}.sending.rate_shape"] = s.rate_shape or math.inf
        w = np.array(s.weekday_weights)
        for d, v in enumerate(w / w.mean()):
            out[f"{k}.sending.weekday_weights[{d}]"] = v
        for name in ("body_chars", "subject_chars"):
            dist = getattr(s, name)
            out[f"{k}.sending.{name}.median"] = dist.median
            out[f"{k}.sending.{name}.sigma"] = dist.sigma
        total = sum(s.categories.values())
        for cat in sc.policy.categories:
            out[f"{k}.sending.categories.{cat}"] = s.categories.get(cat, 0) / total
        out[f"{k}.sending.free_share"] = s.free_share
        out[f"{k}.sending.out_of_credit.buy_probability"] = s.out_of_credit.buy_probability
        out[f"{k}.sending.out_of_credit.upgrade_probability"] = s.out_of_credit.upgrade_probability
        if c.tier == "basic":
            continue
        out[f"{k}.subscription_spread_days"] = c.subscription_spread_days
        out[f"{k}.monthly_cancel_probability"] = c.monthly_cancel_probability
        out[f"{k}.monthly_change_probability"] = c.monthly_change_probability
        total = sum(c.change_to.values()) or 1.0
        for t, v in c.change_to.items():
            out[f"{k}.change_to.{t}"] = v / total
        rate = c.arrivals.monthly_rate if c.arrivals is not None else 0.0
        out[f"{k}.arrivals.monthly_rate"] = rate or 0.0
        for t in sc.policy.tiers:
            if t not in ("basic", c.tier):
                d = sc.decisions(c, t)
                where = f"{k}.after_change.{t}"
                out[f"{where}.monthly_cancel_probability"] = d.monthly_cancel_probability
                out[f"{where}.monthly_change_probability"] = d.monthly_change_probability
    r = sc.recipients
    total = sum(r.response_kinds.values())
    for kind, v in r.response_kinds.items():
        out[f"recipients.response_kinds.{kind}"] = v / total
    for name in ("mean_days", "median_days", "sigma", "shape"):
        if getattr(r.delay, name) is not None:
            out[f"recipients.delay.{name}"] = getattr(r.delay, name)
    cells = fitted.recipients_fit["data"]["cell_sends"].reshape(4, -1)
    buckets = cells.sum(1) / cells.sum()
    cats = {
        c: v / cells.sum() for c, v in zip(sc.policy.categories, cells.sum(0), strict=True) if v
    }
    out.update(normalised_recipients(r, buckets, cats))
    return out


def _scored(sc: Scenario, fitted: Fit) -> pd.DataFrame:
    p = fitted.parameters
    p = p[(p["source"] == "fit") & np.isfinite(p["low"])].copy()
    p["truth"] = p["parameter"].map(_truth(sc, fitted))
    p = p[p["truth"].notna()]
    p["covered"] = (p["low"] <= p["truth"]) & (p["truth"] <= p["high"])
    return p


def test_intervals_cover_the_truth(recovery: tuple[Scenario, Fit]) -> None:
    """About 95 % of the 95 % intervals cover the true value (at least 88 % of 130-odd).

    With seed 17, 126 of 133 intervals cover (94.7 %). 88 % is 3.5 binomial
    standard deviations below 95 % for 133 intervals, so a failure is a bias,
    not bad luck.
    """
    sc, fitted = recovery
    scored = _scored(sc, fitted)
    missed = scored[~scored["covered"]][["parameter", "estimate", "low", "high", "truth"]]
    assert len(scored) >= 120
    assert scored["covered"].mean() >= 0.88, missed.to_string()


@pytest.mark.parametrize(
    "block",
    ["inmails_per_month", "rate_shape", "monthly_cancel_probability", "recipients.delay",
     "response_probability", "buy_probability"],
)  # fmt: skip
def test_every_block_is_estimated(recovery: tuple[Scenario, Fit], block: str) -> None:
    """Each kind of parameter the issue lists has rows of its own in fit.csv."""
    _, fitted = recovery
    p = fitted.parameters
    assert (p["parameter"].str.contains(block, regex=False) & (p["source"] == "fit")).any()


def test_the_fitted_scenario_saves_loads_and_runs(
    recovery: tuple[Scenario, Fit], tmp_path: Path
) -> None:
    """scenario.yaml loads back to the same scenario, which runs; fit.csv and fit.html are there."""
    _, fitted = recovery
    out = fitted.save(tmp_path / "fit")
    loaded = load_scenario(out / "scenario.yaml")
    assert loaded == fitted.scenario
    month = loaded.with_overrides({"end": format_instant(loaded.start + 30 * DAY)})
    assert run(month, progress=False).summary["members"] > 0
    csv = pd.read_csv(out / "fit.csv")
    assert list(csv.columns) == list(fitted.parameters.columns)
    assert {"estimate", "se", "low", "high", "n", "method", "source"} <= set(csv.columns)
    page = (out / "fit.html").read_text()
    assert "data:image/png;base64," in page
    assert 'src="http' not in page and "<link" not in page
    for section in ("Cohorts", "Response delays", "Sending rates", "Parameters (fit.csv)",
                    "Arrivals by month", "scenario.yaml"):  # fmt: skip
        assert f">{section}" in page, section
    assert (
        pd.read_csv(out / "arrivals.csv").query("cohort == 'premium_career'")["arrivals"].sum() > 0
    )
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "delays.png", "rates.png", "validation.png"]  # fmt: skip


def test_tier_activity_cohorts(recovery: tuple[Scenario, Fit], tmp_path: Path) -> None:
    """--cohorts tier-activity splits each tier into a low and a high sender cohort."""
    sc, _ = recovery
    path = _history(sc.with_overrides({"duration_days": 120}), tmp_path / "h.csv")
    names = [c.name for c in fit(path, cohorts="tier-activity").scenario.population]
    assert "premium_business-low" in names and "premium_business-high" in names


def _long(sc: Scenario) -> Scenario:
    return sc.with_overrides(
        {"recipients.delay": {"kind": "lognormal", "median_days": 30, "sigma": 1.2}}
    )


def test_censored_delay_fit_beats_the_naive_fit(tmp_path: Path) -> None:
    """Delays of median 30 days seen for a year: the censored fit covers 30; the naive is low.

    A response later than ``until`` is never seen, so the delays that are
    seen are the short ones: ignoring that (the naive fit) reads a median of
    about 24 days; the mixture cure model reads about 30.
    """
    sc = _long(load_scenario(TRUTH))
    fitted = fit(_history(sc, tmp_path / "long.csv"), until=sc.end)
    p = fitted.parameters.set_index("parameter")
    row = p.loc["recipients.delay.median_days"]
    assert row["low"] <= 30 <= row["high"]
    naive = fit_delay_naive(fitted.observed, fitted.replayed, sc.policy)
    naive_median = naive["block"]["delay"]["median_days"]
    assert abs(naive_median - 30) > 3 * abs(row["estimate"] - 30)
    assert naive_median < 27
    table = naive_comparison(fitted).set_index("parameter")  # what fit.html shows
    assert table.loc["delay (lognormal) median_days", "naive"] == naive_median


def test_validation_compares_every_metric(recovery: tuple[Scenario, Fit]) -> None:
    """--validate 3 --workers 2: seeds in order; the history's response and refund rates fit."""
    _, fitted = recovery
    table = validate_fit(fitted, 3, seed=100, workers=2)
    assert table["metric"].tolist() == list(METRICS)
    assert fitted.validation_runs is not None
    assert fitted.validation_runs["seed"].tolist() == [100, 101, 102]
    verdicts: dict[str, Any] = dict(zip(table["metric"], table["verdict"], strict=True))
    assert verdicts["response_rate"] == "consistent"
    assert verdicts["refund_rate"] == "consistent"
    assert (table["verdict"] == "consistent").sum() >= 6
