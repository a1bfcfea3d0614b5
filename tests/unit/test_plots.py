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
    plot_credit_vintages,
    plot_expiry_waste,
    plot_purchases_revenue,
    plot_refund_rates,
    plot_replications,
    plot_response_delays,
    plot_steady_state,
    plot_utilisation,
    save_figure,
    steady_state_title,
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

# Two tiers of grant lots; February straddles the window's start (a warm-up and a measured
# row); one month of refund lots; no purchase lots.
VINTAGES = pd.DataFrame(
    {
        "tier": ["basic", PC, PC, PC, PC],
        "lot_source": ["refund", "grant", "grant", "grant", "grant"],
        "issue_month": ["2024-02", "2024-01", "2024-02", "2024-02", "2024-03"],
        "warmup": [False, True, False, True, False],
        "issued": [4, 10, 5, 5, 20],
        "spent": [1, 6, 2, 3, 5],
        "expired": [0, 4, 3, 1, 0],
        "capped": [0, 0, 0, 0, 0],
        "forfeited": [0, 0, 0, 1, 0],
        "live_at_end": [3, 0, 0, 0, 15],
        "waste_rate": [math.nan, 0.4, 0.6, 0.2, math.nan],
    }
)

STEADY = {
    "method": "MSER, batch size 1, on weekly series over the measured window",
    "week_start": ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"],
    "series": {
        "expiry_waste_rate": [0.5, 0.25, None, 0.25],
        "refund_rate": [0.8, 0.8, 0.9, 0.8],
        "response_rate": [0.2, 0.2, 0.2, 0.2],
        "spend_per_member": [1.0, 2.0, 2.0, 2.0],
    },
    "truncation_weeks": {
        "expiry_waste_rate": 1,
        "refund_rate": 0,
        "response_rate": 0,
        "spend_per_member": 1,
    },
    "suggested_truncation_weeks": 1,
    "cap_weeks": 2,
    "threshold_weeks": 4,
    "steady": True,
    "warmup_days": 92,
    "suggested_warmup_days": 92,
    "auto": None,
}

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


def test_credit_vintages_plot_stacks_shares_per_source():
    """One panel per source with data; each bar stacks to 100 %; warm-up bars are marked."""
    fig = plot_credit_vintages(VINTAGES)
    grant, refund = fig.axes
    assert grant.get_title() == "grant lots (40 credits issued)"
    assert refund.get_title() == "refund lots (4 credits issued)"
    for ax in (grant, refund):
        assert ax.get_ylabel() == "share of credits issued (%)"
        assert ax.get_ylim() == (0, 100)
    assert refund.get_xlabel() == "month of issue (UTC)"
    bars = [p for p in grant.patches if p.get_width() == 0.8]
    # 4 bars (2024-01 warm-up, 2024-02 warm-up, 2024-02 measured, 2024-03) x 5 fates.
    assert len(bars) == 20
    by_x: dict[float, float] = {}
    for bar in bars:
        by_x[bar.get_x()] = by_x.get(bar.get_x(), 0.0) + bar.get_height()
    assert list(by_x.values()) == pytest.approx([100.0] * 4)
    # Spent shares in issue order: 6/10, then February's warm-up part 3/5 before its measured 2/5.
    assert [b.get_height() for b in bars[:4]] == pytest.approx([60.0, 60.0, 40.0, 25.0])
    assert [t.get_text() for t in grant.get_xticklabels()] == [
        "2024-01",
        "2024-02",
        "2024-02",
        "2024-03",
    ]
    # Warm-up bars are hatched on a shaded span up to the last warm-up bar.
    assert [bool(b.get_hatch()) for b in bars[:4]] == [True, True, False, False]
    (span,) = [p for p in grant.patches if p.get_width() != 0.8]
    assert span.get_x() == -0.5 and span.get_x() + span.get_width() == 1.5
    assert not [p for p in refund.patches if p.get_width() != 0.8]  # no warm-up refunds
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "spent",
        "expired",
        "capped",
        "forfeited",
        "live at end",
        "warm-up (issued before the measured window)",
    ]


def test_steady_state_plot_one_panel_per_series():
    """Four panels of weekly values; the suggested truncation is a labelled shaded span."""
    fig = plot_steady_state(STEADY)
    assert fig.get_suptitle() == "measured window steady: MSER truncation 1 weeks <= threshold 4"
    assert [ax.get_title() for ax in fig.axes] == [
        "expiry_waste_rate (MSER truncation 1 weeks)",
        "refund_rate (MSER truncation 0 weeks)",
        "response_rate (MSER truncation 0 weeks)",
        "spend_per_member (MSER truncation 1 weeks)",
    ]
    waste, _, _, spend = fig.axes
    assert waste.get_ylabel() == "expiry_waste_rate (%)"
    assert spend.get_ylabel() == "spend_per_member (credits)"
    values = waste.lines[0].get_ydata()
    assert values[:2].tolist() == [50.0, 25.0] and math.isnan(values[2])
    assert spend.lines[0].get_ydata().tolist() == [1.0, 2.0, 2.0, 2.0]
    (span,) = waste.patches
    assert span.get_label() == "MSER truncation: 1 weeks"
    assert span.get_width() == pytest.approx(7.0)  # one week, in days
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "MSER truncation: 1 weeks",
        "weekly value",
    ]


@pytest.mark.parametrize(
    ("changes", "title"),
    [
        ({}, "measured window steady: MSER truncation 1 weeks <= threshold 4"),
        (
            {"steady": False, "suggested_truncation_weeks": 6, "cap_weeks": 26,
             "suggested_warmup_days": 134},
            "NOT steady: suggested warm-up 134 days (MSER truncation 6 weeks > threshold 4)",
        ),
        (
            {"steady": False, "suggested_truncation_weeks": 2, "suggested_warmup_days": 106},
            "NOT steady: suggested warm-up 106 days "
            "(an MSER truncation hit the cap of 2 weeks: needs a longer warm-up)",
        ),
        (
            {"steady": False, "capped": True, "suggested_truncation_weeks": 1,
             "suggested_warmup_days": 99},
            "NOT steady: suggested warm-up 99 days "
            "(an MSER truncation hit the cap of 2 weeks: needs a longer warm-up)",
        ),
        (
            {"steady": None, "suggested_truncation_weeks": None},
            "steadiness not known: too few weeks with data for MSER",
        ),
    ],
)  # fmt: skip
def test_steady_state_title(changes, title):
    """The verdict: steady, not steady (over the threshold or at the cap), or not known."""
    block = {**STEADY, **changes}
    assert steady_state_title(block) == title
    assert plot_steady_state(block).get_suptitle() == title


def test_steady_state_plot_without_truncations():
    """Truncations of null (too few weeks) draw the series without a span."""
    block = {
        **STEADY,
        "steady": None,
        "suggested_truncation_weeks": None,
        "truncation_weeks": dict.fromkeys(STEADY["series"]),
    }
    fig = plot_steady_state(block)
    assert fig.axes[0].get_title() == "expiry_waste_rate (too few weeks with data)"
    assert not fig.axes[0].patches


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
        lambda: plot_credit_vintages(VINTAGES.iloc[:0]),
        lambda: plot_steady_state({**STEADY, "week_start": [], "series": {}}),
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
