"""Plots drawn from small report frames written by hand: titles, axes, what is drawn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
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
from simulator.plots.style import plain_axis

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

# refund_rate = settled_refunds / settled, as reports.refund_rates computes it.
BY_CATEGORY = pd.DataFrame(
    {
        "tier": ["basic", PC, PC],
        "category": ["business_deal", "career_opportunity", "job_inquiry"],
        "settled": [2, 4, 0],
        "settled_refunds": [1, 1, 0],
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

# premium_business pays a subscription but buys no credits.
PURCHASES = pd.DataFrame(
    {
        "tier": ["basic", "basic", PC, PC, "premium_business", "premium_business"],
        "month": ["2024-01", "2024-02"] * 3,
        "credits_bought": [3, 0, 0, 2, 0, 0],
        "purchase_revenue_cents": [3000, 0, 0, 2000, 0, 0],
        "subscription_revenue_cents": [0, 0, 2999, 2999, 4999, 4999],
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
    assert right.get_ylabel() == "waste rate (% of the month's credits issued)"
    assert [line.get_label() for line in left.lines] == ["basic", PC]
    # premium_career: 3 then 4 expired; 3/7 and 80 % waste
    assert left.lines[1].get_ydata().tolist() == [3, 4]
    assert right.lines[1].get_ydata() == pytest.approx([300 / 7, 80.0])


def test_refund_rate_plot_bars():
    """The refund plot has one bar per (tier, category) with data, in percent, categories on y."""
    fig = plot_refund_rates(BY_CATEGORY)
    (ax,) = fig.axes
    assert fig.get_suptitle() == "Refund rate by tier and category (settled paid InMails)"
    assert labels(ax) == (
        "bars: refund rate; whiskers: 95 % Wilson score interval; n: settled paid InMails counted",
        "refund rate (% of settled paid InMails)",
        "InMail category",
    )
    # The unsettled job_inquiry row is dropped, and no bar is drawn where a tier has no row:
    # basic 1 of 2 refunded (50 %), premium_career 1 of 4 (25 %).
    assert [p.get_width() for p in ax.patches] == [50.0, 25.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["business_deal", "career_opportunity"]
    # Each bar is labelled with its sample size: the settled paid InMails it divides by.
    assert [t.get_text() for t in ax.texts] == ["n = 2", "n = 4"]


def test_refund_rate_bars_carry_wilson_intervals():
    """Each bar's whisker spans the 95 % Wilson score interval of its rate, in percent."""
    fig = plot_refund_rates(BY_CATEGORY)
    (ax,) = fig.axes
    # One LineCollection of whiskers per tier; its segment runs (low, y) .. (high, y).
    (basic,), (career,) = ([np.asarray(s)[:, 0] for s in c.get_segments()] for c in ax.collections)
    # By hand, Wilson (1927): centre = (p + z²/2n) / (1 + z²/n),
    # half = z sqrt(p(1 - p)/n + z²/4n²) / (1 + z²/n), z = 1.959964 (the 97.5 % normal quantile).
    z = 1.959963984540054
    for (p, n), (low, high) in (((0.5, 2), basic), ((0.25, 4), career)):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert (low, high) == pytest.approx((100 * (centre - half), 100 * (centre + half)))
    # 1 of 4: 0.25 -> 4.56 % .. 69.94 % (the formula above, evaluated to 4 digits).
    assert career == pytest.approx([4.56, 69.94], abs=0.01)


def test_balance_plot_fan_and_tiers():
    """The balance plot draws the all-member fan and one median line per tier."""
    fig = plot_balance_distribution(BALANCES)
    left, right = fig.axes
    assert left.get_ylabel() == right.get_ylabel() == "credits held at end of day"
    assert left.get_xlabel() == right.get_xlabel() == "date (UTC)"
    assert len(left.collections) == 2  # the 10-90 % and 25-75 % bands
    assert [line.get_label() for line in right.lines if not line.get_label().startswith("_")] == [
        f"{PC} median"
    ]
    # Two legends outside the panels: the tiers, then the fan's key.
    tiers, fan = ([t.get_text() for t in legend.get_texts()] for legend in fig.legends)
    assert tiers == [PC]
    assert fan == ["10-90 % of members", "25-75 % of members", "median", "mean"]
    # The largest value drawn is the p90 of 50 credits: the axis goes above it.
    assert left.get_ylim()[1] > 50


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
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "refund window (7 days)",
        "within the window (no refund)",
        "after the window",
    ]
    assert ax.get_ylim()[1] > 5  # headroom above the tallest bar (5)


def test_response_delay_plot_legend_only_parts_with_data():
    """With no response after the window, the legend does not list that part."""
    fig = plot_response_delays(DELAYS.assign(responses=[5, 2, 0, 0, 0]), 7)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "refund window (7 days)",
        "within the window (no refund)",
    ]


def test_purchases_plot_stacks_revenue_in_currency():
    """The purchases plot stacks credits by tier and revenue in currency units."""
    fig = plot_purchases_revenue(PURCHASES, "EUR")
    left, right = fig.axes
    assert left.get_ylabel() == "credits bought per month"
    assert right.get_ylabel() == "revenue per month (EUR)"
    assert len(left.patches) == 4  # 2 tiers that bought x 2 months; premium_business has none
    # subscriptions 29.99 + 49.99 = 79.98 both months, purchases 30.00 then 20.00 on top
    tops = sorted(p.get_y() + p.get_height() for p in right.patches)
    assert tops == pytest.approx([79.98, 79.98, 99.98, 109.98])
    # Legends list only the tiers that bought credits, and the revenue totals: 2 x 79.98, 50.00.
    tiers, revenue = ([t.get_text() for t in legend.get_texts()] for legend in fig.legends)
    assert tiers == ["basic", PC]
    assert revenue == ["subscriptions (159.96)", "credit purchases (50.00)"]
    assert fig.legends[1].get_title().get_text() == "revenue (total, EUR)"
    # Headroom: the tallest stacks are 3 credits (basic, January) and 109.98 EUR (February).
    assert left.get_ylim()[1] > 3 and right.get_ylim()[1] > 109.98


def test_purchases_plot_without_purchases_lists_no_tier():
    """Nobody bought credits: no tier legend, a "no credits bought" note, subscriptions shown."""
    fig = plot_purchases_revenue(PURCHASES.assign(credits_bought=0, purchase_revenue_cents=0))
    left, _ = fig.axes
    assert [t.get_text() for t in left.texts] == ["no credits bought"]
    ((revenue,),) = [[t.get_text() for t in legend.get_texts()] for legend in fig.legends]
    assert revenue == "subscriptions (159.96)"  # 2999 + 4999 cents a month, two months


def test_utilisation_plot_boxes_only_tiers_with_grants():
    """The utilisation plot has a box per tier with grants and a never-send bar per tier."""
    fig = plot_utilisation(UTIL)
    left, right = fig.axes
    assert left.get_ylabel() == "utilisation (% of credits granted spent)"
    assert right.get_ylabel() == "share of the tier's members (%)"
    assert [t.get_text() for t in left.get_xticklabels()] == [PC]
    assert [p.get_height() for p in right.patches] == pytest.approx([50.0, 100 / 3])
    # In percent: premium_career's whiskers are its p10 and p90 (0.1, 0.9), its median 0.4.
    whiskers = sorted(y for line in left.lines for y in line.get_ydata())
    assert whiskers[0] == pytest.approx(10.0) and max(whiskers) == pytest.approx(100.0)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "box: 25-75 %, whiskers: 10-90 %",
        "median",
        "mean",
        "spent = granted (100 %)",
    ]


def test_replication_plot_one_panel_per_metric():
    """One panel per metric, headline metrics first, rates in %, money in currency units."""
    fig = plot_replications(REPS, currency="EUR")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    # purchase_revenue_cents has no currency twin in the frame: drawn as purchase_revenue.
    assert [ax.get_title() for ax in visible] == [
        "refund_rate",
        "purchase_revenue",
        "credits_expired",
    ]
    assert [ax.get_ylabel() for ax in visible] == ["percent (%)", "EUR", "credits"]
    # the error bar of refund_rate spans 0.44 .. 0.56, drawn as 44 .. 56 %
    segments = visible[0].collections[0].get_segments()[0]
    assert np.asarray(segments)[:, 1] == pytest.approx([44.0, 56.0])
    # 2876 .. 3124 cents are 28.76 .. 31.24 EUR; the text gives mean ± half-width
    segments = visible[1].collections[0].get_segments()[0]
    assert np.asarray(segments)[:, 1] == pytest.approx([28.76, 31.24])
    assert [t.get_text() for t in visible[1].texts] == ["30 ± 1.2"]


def test_replication_plot_one_version_of_money_no_diagnostics():
    """A *_cents metric with a currency twin, and steady_state.* diagnostics, get no panel."""
    reps = pd.concat(
        [
            REPS,
            pd.DataFrame(
                {
                    "metric": ["purchase_revenue", "steady_state.cap_weeks"],
                    "n": [5, 5],
                    "mean": [30.0, 26.0],
                    "std": [1.0, 0.0],
                    "ci_low": [28.76, 26.0],
                    "ci_high": [31.24, 26.0],
                }
            ),
        ]
    )
    fig = plot_replications(reps, max_metrics=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["refund_rate", "purchase_revenue"]
    assert visible[1].get_ylabel() == "currency units"  # no currency given
    # 3 metrics remain (refund_rate, purchase_revenue, credits_expired); 2 are shown.
    assert fig.get_suptitle().endswith("(2 of 3 metrics)")


def test_credit_vintages_plot_stacks_shares_per_source():
    """One panel per source with data; each bar stacks to 100 %; warm-up bars are marked."""
    fig = plot_credit_vintages(VINTAGES)
    grant, refund = fig.axes
    assert grant.get_title() == "grant lots (40 credits issued)"
    assert refund.get_title() == "refund lots (4 credits issued)"
    for ax in (grant, refund):
        assert ax.get_ylabel() == "share of credits issued (%)"
        # Bars stack to 100 %: the axis ends above them (100 % plus half the 10 % headroom).
        assert ax.get_ylim() == pytest.approx((0, 105))
        assert ax.get_yticks()[-1] == 100
    assert refund.get_xlabel() == "month of issue (UTC)"
    bars = [p for p in grant.patches if p.get_width() == 0.8]
    # 4 bars (2024-01 warm-up, 2024-02 warm-up, 2024-02 measured, 2024-03) x 4 fates
    # (capped is 0 everywhere in VINTAGES: not drawn).
    assert len(bars) == 16
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
        "forfeited",
        "live at end",
        "warm-up (issued before the measured window)",
    ]


def test_steady_state_plot_one_panel_per_series():
    """Four panels of weekly values; the suggested truncation is a labelled shaded span."""
    fig = plot_steady_state(STEADY)
    assert fig.get_suptitle() == "measured window steady: MSER truncation 1 weeks <= threshold 4"
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == [
        "unspent share of credits due (weekly): MSER truncation 1 weeks",
        "refund rate (weekly): MSER truncation 0 weeks",
        "response rate (weekly): MSER truncation 0 weeks",
        "credits spent per active member (weekly): MSER truncation 1 weeks",
    ]
    waste, _, _, spend = fig.axes
    assert waste.get_ylabel() == "unspent share of credits due (%)"
    assert spend.get_ylabel() == "credits per member who sent"
    # The weekly expiry series is not the headline metric of its name, and says so.
    note = waste.get_title().split("\n", 1)[1].replace("\n", " ")
    assert note.startswith("series expiry_waste_rate: of the credits whose lots fell due")
    assert "the headline expiry_waste_rate is credits expired / credits issued" in note
    # So is the weekly response rate (answers within steady.py's horizon, 7 days).
    note = fig.axes[2].get_title().split("\n", 1)[1].replace("\n", " ")
    assert "answered within 7 days of sending" in note
    assert "the headline response_rate counts answers up to the run's end" in note
    values = waste.lines[0].get_ydata()
    assert values[:2].tolist() == [50.0, 25.0] and math.isnan(values[2])
    assert spend.lines[0].get_ydata().tolist() == [1.0, 2.0, 2.0, 2.0]
    (span,) = waste.patches
    assert span.get_label() == "weeks to drop (largest series truncation): 1"
    assert span.get_width() == pytest.approx(7.0)  # one week, in days
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "weeks to drop (largest series truncation): 1",
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
    assert (
        fig.axes[0]
        .get_title()
        .startswith("unspent share of credits due (weekly): too few weeks with data\n")
    )
    assert not fig.axes[0].patches


def test_steady_state_plot_no_span_for_zero_truncation():
    """A truncation of 0 weeks cuts nothing: no span is drawn and none is in the legend."""
    fig = plot_steady_state({**STEADY, "suggested_truncation_weeks": 0})
    assert not fig.axes[0].patches
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["weekly value"]


def test_steady_state_plot_unknown_series_keeps_its_name():
    """A series this module does not describe is titled by its name, in % if a rate."""
    block = {**STEADY, "series": {"other_rate": [0.1, 0.2, 0.2, 0.2]}, "truncation_weeks": {}}
    (ax,) = [ax for ax in plot_steady_state(block).axes if ax.get_visible()]
    assert ax.get_title() == "other_rate: too few weeks with data"
    assert ax.get_ylabel() == "other_rate (%)"


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


@pytest.mark.parametrize(
    "draw",
    [
        # Millions of responses per bin: a default axis would print "1e6" above it.
        lambda: plot_response_delays(DELAYS.assign(responses=DELAYS["responses"] * 10**6), 7),
        # Large values in a narrow range: a default axis would print an offset ("+1e6").
        lambda: plot_steady_state(
            {**STEADY, "series": {"spend_per_member": [1e6, 1e6 + 2, 1e6 + 1, 1e6 + 3]}}
        ),
        lambda: plot_balance_distribution(
            BALANCES.assign(**{c: BALANCES[c] * 10**6 for c in ("p10", "p50", "p90")})
        ),
    ],
)
def test_large_values_are_plain_numbers(draw):
    """Tick labels stay plain numbers with separators: no offset text, no exponent."""
    fig = draw()
    fig.canvas.draw()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        assert ax.yaxis.get_offset_text().get_text() == ""
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        assert ticks and not any("e+" in t or "1e" in t for t in ticks)
        assert any("," in t for t in ticks)  # thousands separators


def test_plain_formatter_decimals_follow_the_tick_step():
    """Ticks 0.25 apart get two decimals; whole ticks none; every label differs."""
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [-1e-17, 1.0])
    ax.set_yticks([-1e-17, 0.25, 0.5, 0.75, 1.0])  # a rounding error must not print "-0.00"
    plain_axis(ax)
    FigureCanvasAgg(fig).draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    ax.set_yticks([0, 1000, 2000])
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1,000", "2,000"]
