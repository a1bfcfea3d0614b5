"""paired_comparison and plot_comparison: undefined relative differences, bounds, narrower."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulator.stats import metric_bounds, paired_comparison
from simulator.sweeps import one_money_version, plot_comparison

# t quantiles from any Student t table: t(0.975, 2) = 4.30265, t(0.975, 4) = 2.77645.
T2, T4 = 4.302653, 2.776445

# Three paired replications (A's summary i and B's summary i share a seed).
A = [
    {
        "x_rate": 0.90,
        "credits_capped": 0,
        "purchase_revenue": 100.0,
        "purchase_revenue_cents": 10000,
    },
    {"x_rate": 0.95, "credits_capped": 0, "purchase_revenue": 50.0, "purchase_revenue_cents": 5000},
    {
        "x_rate": 1.00,
        "credits_capped": 0,
        "purchase_revenue": 150.0,
        "purchase_revenue_cents": 15000,
    },
]
B = [
    {"x_rate": 1.0, "credits_capped": 2, "purchase_revenue": 0.0, "purchase_revenue_cents": 0},
    {"x_rate": 1.0, "credits_capped": 4, "purchase_revenue": 0.0, "purchase_revenue_cents": 0},
    {"x_rate": 1.0, "credits_capped": 6, "purchase_revenue": 0.0, "purchase_revenue_cents": 0},
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return paired_comparison(A, B).set_index("metric")


def test_metric_bounds() -> None:
    """Rates lie in [0, 1]; non-negative counts and money in [0, inf); others are unbounded."""
    assert metric_bounds("refund_rate", [0.2]) == (0.0, 1.0)
    assert metric_bounds("credits_spent", [0.0, 3.0]) == (0.0, math.inf)
    assert metric_bounds("balance_change", [-1.0, 3.0]) == (-math.inf, math.inf)


def test_a_zero_keeps_the_absolute_difference(frame: pd.DataFrame) -> None:
    """credits_capped is 0 under A: relative difference undefined, B - A and its interval kept."""
    row = frame.loc["credits_capped"]
    assert row["mean_a"] == 0 and row["diff"] == 4  # mean of 2, 4, 6 minus 0
    assert math.isnan(row["relative_diff"])
    # Paired: differences 2, 4, 6 have sd 2, so 4 -/+ T2 * 2 / sqrt(3) = [-0.968, 8.968];
    # B - A >= -A = 0 for a count, so the low end is clipped to 0.
    assert row["ci_low"] == 0
    assert row["ci_high"] == pytest.approx(4 + T2 * 2 / math.sqrt(3), rel=1e-5)
    # Unpaired: s_a = 0, s_b = 2: 4 -/+ T4 * sqrt(4 / 3) = [0.794, 7.206], inside the range.
    assert row["unpaired_ci_low"] == pytest.approx(4 - T4 * math.sqrt(4 / 3), rel=1e-5)
    assert row["clipped"] == "paired"
    assert row["narrower"] == "unpaired"  # half-widths 4.968 against 3.206


def test_a_rate_interval_stays_in_its_range(frame: pd.DataFrame) -> None:
    """A rate's B is at most 1, so B - A is at most 1 - mean A (here 1 - 0.95 = 0.05)."""
    row = frame.loc["x_rate"]
    assert row["diff"] == pytest.approx(0.05)  # differences 0.10, 0.05, 0.00
    # Paired 0.05 + T2 * 0.05 / sqrt(3) = 0.174 and unpaired 0.05 + T4 * 0.05 / sqrt(3) = 0.130
    # both pass 0.05: both clipped.
    assert row["ci_high"] == pytest.approx(0.05) and row["unpaired_ci_high"] == pytest.approx(0.05)
    assert row["ci_low"] == pytest.approx(0.05 - T2 * 0.05 / math.sqrt(3), rel=1e-5)
    assert row["clipped"] == "both"
    assert row["narrower"] == "unpaired"  # T4 * 0.0289 = 0.080 against T2 * 0.0289 = 0.124


def test_money_cannot_fall_below_minus_a(frame: pd.DataFrame) -> None:
    """purchase_revenue falls from a mean of 100 to 0: B - A and its interval stay >= -100."""
    row = frame.loc["purchase_revenue"]
    assert row["diff"] == -100 and row["relative_diff"] == -1  # -100 % of A's mean
    # Paired: differences -100, -50, -150 (sd 50): -100 -/+ 124.2, low end clipped to -100.
    assert row["ci_low"] == -100 and row["unpaired_ci_low"] == -100
    assert row["ci_high"] == pytest.approx(-100 + T2 * 50 / math.sqrt(3), rel=1e-5)
    assert row["clipped"] == "both"


def test_one_money_version() -> None:
    """A _cents metric is dropped when its currency twin is there, kept when it is alone."""
    assert one_money_version(["net_revenue_cents", "net_revenue", "x_cents", "refund_rate"]) == [
        "net_revenue",
        "x_cents",
        "refund_rate",
    ]


def test_plot_shows_a_metric_that_is_zero_under_a(frame: pd.DataFrame) -> None:
    """The plot has a panel in the metric's units for credits_capped; money appears once."""
    comparison = paired_comparison(A, B)
    fig = plot_comparison(comparison, "2014", "2015")
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes]
    assert labels == [["x_rate", "purchase_revenue"], ["credits_capped"]]
    assert "% of A's mean" in fig.axes[0].get_xlabel()
    assert "metric's units" in fig.axes[1].get_xlabel()
