"""Plots drawn from small report frames written by hand: titles, axes, what is drawn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from simulator.plots import (
    figure_png,
    plot_balance_distribution,
    plot_expiry_waste,
    plot_purchases_revenue,
    plot_refund_rates,
    plot_replications,
    plot_response_delays,
    plot_utilisation,
    save_figure,
)

PC = "premium_career"

EXPIRY = pd.DataFrame(
    {
        "tier": ["basic", "basic", PC, PC],
        "month": ["2024-01", "2024-02", "2024-01", "2024-02"],
        "credits_issued": [4, 0, 7, 5],
        "credits_expired": [0, 0, 3, 4],
        "waste_rate": [0.0, math.nan, 3 / 7, 0.8],
    }
)

BY_CATEGORY = pd.DataFrame(
    {
        "tier": ["basic", PC, PC],
        "category": ["business_deal", "career_opportunity", "job_inquiry"],
        "settled": [2, 2, 0],
        "refund_rate": [0.5, 0.25, math.nan],
    }
)

BALANCES = pd.DataFrame(
    {
        "date": ["2024-01-01", "2024-01-02"] * 2,
        "tier": ["all", "all", PC, PC],
        "members": [4, 4, 1, 1],
        "mean_balance": [16.0, 17.0, 14.0, 15.0],
        "p10": [0, 0, 14, 15],
        "p25": [0, 0, 14, 15],
        "p50": [0, 1, 14, 15],
        "p75": [14, 15, 14, 15],
        "p90": [50, 50, 14, 15],
        "max_balance": [50, 50, 14, 15],
    }
)

DELAYS = pd.DataFrame(
    {
        "bin_start_days": [0.0, 3.5, 7.0, 10.5, 14.0],
        "bin_end_days": [3.5, 7.0, 10.5, 14.0, math.inf],
        "responses": [5, 2, 1, 0, 1],
        "within_window": [True, True, False, False, False],
    }
)

PURCHASES = pd.DataFrame(
    {
        "tier": ["basic", "basic", PC, PC],
        "month": ["2024-01", "2024-02"] * 2,
        "credits_bought": [3, 0, 0, 2],
        "purchase_revenue_cents": [3000, 0, 0, 2000],
        "subscription_revenue_cents": [0, 0, 2999, 2999],
    }
)

UTIL = pd.DataFrame(
    {
        "tier": ["basic", PC],
        "members": [2, 3],
        "never_send_share": [0.5, 1 / 3],
        "members_with_grants": [0, 3],
        "mean_utilisation": [math.nan, 0.4],
        "p10": [math.nan, 0.1],
        "p25": [math.nan, 0.2],
        "p50": [math.nan, 0.4],
        "p75": [math.nan, 0.6],
        "p90": [math.nan, 0.9],
    }
)

REPS = pd.DataFrame(
    {
        "metric": ["refund_rate", "credits_expired", "purchase_revenue_cents"],
        "n": [5, 5, 5],
        "mean": [0.5, 100.0, 3000.0],
        "std": [0.05, 10.0, 100.0],
        "ci_low": [0.44, 88.0, 2876.0],
        "ci_high": [0.56, 112.0, 3124.0],
    }
)


def labels(ax) -> tuple[str, str, str]:
    return ax.get_title(), ax.get_xlabel(), ax.get_ylabel()


def test_expiry_waste_plot_axes():
    """The expiry plot shows credits expired and waste rate (%) per tier over months."""
    fig = plot_expiry_waste(EXPIRY)
    left, right = fig.axes
    assert fig.get_suptitle() == "Expiry waste by tier"
    assert labels(left) == ("Credits expired", "calendar month (UTC)", "credits expired per month")
    assert right.get_ylabel() == "waste rate (%)"
    assert [line.get_label() for line in left.lines] == ["basic", PC]
    # premium_career: 3 then 4 expired; 3/7 and 80 % waste
    assert left.lines[1].get_ydata().tolist() == [3, 4]
    assert right.lines[1].get_ydata() == pytest.approx([300 / 7, 80.0])


def test_refund_rate_plot_bars():
    """The refund plot has one bar per (tier, category), in percent, categories on y."""
    fig = plot_refund_rates(BY_CATEGORY)
    (ax,) = fig.axes
    assert labels(ax) == (
        "Refund rate by tier and category (settled paid InMails)",
        "refund rate (% of settled paid InMails)",
        "InMail category",
    )
    # the unsettled job_inquiry row is dropped: 2 categories x 2 tiers bars, NaN where absent
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 4
    assert sorted(w for w in widths if not math.isnan(w)) == [25.0, 50.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["business_deal", "career_opportunity"]


def test_balance_plot_fan_and_tiers():
    """The balance plot draws the all-member fan and one median line per tier."""
    fig = plot_balance_distribution(BALANCES)
    left, right = fig.axes
    assert left.get_ylabel() == "credits held at end of day"
    assert left.get_xlabel() == right.get_xlabel() == "date (UTC)"
    assert len(left.collections) == 2  # the 10-90 % and 25-75 % bands
    assert [line.get_label() for line in right.lines if not line.get_label().startswith("_")] == [
        f"{PC} median"
    ]


def test_response_delay_plot_marks_window():
    """The delay histogram splits bars at the refund window and draws the window line."""
    fig = plot_response_delays(DELAYS, 7)
    (ax,) = fig.axes
    assert labels(ax) == (
        "Response delay of paid InMails against the 7-day refund window",
        "days from sending to response",
        "paid InMails responded (per bin)",
    )
    heights = [p.get_height() for p in ax.patches]
    assert heights == [5, 2, 1, 0, 1]  # within (2 bars), then after (3 bars)
    window = [line for line in ax.lines if line.get_label().startswith("refund window")]
    assert window[0].get_xdata()[0] == 7


def test_purchases_plot_stacks_revenue_in_currency():
    """The purchases plot stacks credits by tier and revenue in currency units."""
    fig = plot_purchases_revenue(PURCHASES, "USD")
    left, right = fig.axes
    assert left.get_ylabel() == "credits bought per month"
    assert right.get_ylabel() == "revenue per month (USD)"
    assert len(left.patches) == 4  # 2 tiers x 2 months
    # subscriptions 29.99 both months, purchases 30.00 then 20.00 on top
    tops = sorted(p.get_y() + p.get_height() for p in right.patches)
    assert tops == pytest.approx([29.99, 29.99, 49.99, 59.99])


def test_utilisation_plot_boxes_only_tiers_with_grants():
    """The utilisation plot has a box per tier with grants and a never-send bar per tier."""
    fig = plot_utilisation(UTIL)
    left, right = fig.axes
    assert left.get_ylabel() == "utilisation (spent / granted)"
    assert [t.get_text() for t in left.get_xticklabels()] == [PC]
    assert [p.get_height() for p in right.patches] == pytest.approx([50.0, 100 / 3])


def test_replication_plot_one_panel_per_metric():
    """The replication plot has one panel per metric with its interval as error bars."""
    fig = plot_replications(REPS)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(REPS["metric"])
    assert [ax.get_ylabel() for ax in visible] == ["fraction", "credits", "cents"]
    # the error bar of refund_rate spans 0.44 .. 0.56
    segments = visible[0].collections[0].get_segments()[0]
    assert np.asarray(segments)[:, 1] == pytest.approx([0.44, 0.56])


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plot_expiry_waste(EXPIRY.iloc[:0]),
        lambda: plot_refund_rates(BY_CATEGORY.iloc[:0]),
        lambda: plot_balance_distribution(BALANCES.iloc[:0]),
        lambda: plot_response_delays(DELAYS.assign(responses=0), 7),
        lambda: plot_purchases_revenue(PURCHASES.iloc[:0]),
        lambda: plot_utilisation(UTIL.iloc[:0]),
        lambda: plot_replications(REPS.iloc[:0]),
    ],
)
def test_empty_frames_say_no_data(draw):
    """An empty report gives a figure that says so instead of failing."""
    fig = draw()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no data" in texts


def test_figure_png_is_png():
    """figure_png renders PNG bytes."""
    fig = Figure()
    fig.subplots().plot([0, 1])
    assert figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_figure_writes_file(tmp_path):
    """save_figure writes the PNG and leaves no temporary file."""
    fig = Figure()
    fig.subplots().plot([0, 1])
    path = save_figure(fig, tmp_path / "x.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
