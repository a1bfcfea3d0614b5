"""The house rules of every figure, checked on the frames of a small real run.

The frames come from tests/data/model/small.yaml (75 members, 150 days, two
seeds for the replications), the same frames ``reports.write_reports`` hands to
:mod:`simulator.plots`. Each figure is drawn (``fig.canvas.draw()``, which runs
the constrained layout) and then measured in display pixels:

* every legend lies outside every panel and apart from the other legends;
* nothing drawn (bars, lines, bands, error bars, labels on bars) reaches the
  top of its panel: a gap of at least 2 % of the panel's height is left;
* every panel with data has a y label;
* no tick label or offset is in scientific notation (``1e6``, ``e+``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from simulator import plots
from simulator.reports import load_run_tables, report_frames
from simulator.runner import run, write_run
from simulator.scenario import load_scenario
from simulator.stats import replications

SMALL = Path(__file__).parents[1] / "data" / "model" / "small.yaml"


@pytest.fixture(scope="module")
def small(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The report frames, tables and summaries of small.yaml under seeds 11 and 12."""
    summaries, first = [], None
    for seed in (11, 12):
        scenario = load_scenario(SMALL).with_overrides({"seed": seed})
        out = write_run(run(scenario), tmp_path_factory.mktemp(f"seed{seed}") / "run")
        summaries.append(json.loads((out / "summary.json").read_text()))
        first = first or out
    tables = load_run_tables(first)
    return report_frames(tables), tables, summaries


FIGURES = {
    "expiry_waste": lambda f, t, s: plots.plot_expiry_waste(f["expiry_waste"]),
    "credit_vintages": lambda f, t, s: plots.plot_credit_vintages(f["credit_vintages"]),
    "refund_rates": lambda f, t, s: plots.plot_refund_rates(f["refund_rates_by_tier_category"]),
    "balance_distribution": lambda f, t, s: plots.plot_balance_distribution(
        f["balance_distribution"]
    ),
    "response_delays": lambda f, t, s: plots.plot_response_delays(
        f["response_delays"], t.refund_window_days
    ),
    "purchases_revenue": lambda f, t, s: plots.plot_purchases_revenue(
        f["purchases_revenue"], t.currency
    ),
    "utilisation": lambda f, t, s: plots.plot_utilisation(f["utilisation"]),
    "steady_state": lambda f, t, s: plots.plot_steady_state(s[0]["steady_state"]),
    "replications": lambda f, t, s: plots.plot_replications(replications(s), currency="USD"),
}


@pytest.fixture(scope="module")
def figures(small):  # type: ignore[no-untyped-def]
    """Each figure, drawn once (``fig.canvas.draw()`` runs the constrained layout)."""
    drawn = {}
    for name, draw in FIGURES.items():
        fig = draw(*small)
        fig.canvas.draw()
        drawn[name] = fig
    return drawn


def renderer(fig: Figure):  # type: ignore[no-untyped-def]
    return fig.canvas.get_renderer()  # type: ignore[attr-defined]


def panels(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def legends(fig: Figure) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]


def has_data(ax) -> bool:  # type: ignore[no-untyped-def]
    return bool(ax.patches or ax.lines or ax.collections)


def data_artists(ax) -> list:  # type: ignore[no-untyped-def]
    """What a panel draws: bars, lines, bands, error bars and the labels on them."""
    no_data = {"no data", "no credits bought", "no revenue"}
    texts = [t for t in ax.texts if t.get_text() not in no_data]
    return [*ax.patches, *ax.lines, *ax.collections, *texts]


@pytest.mark.parametrize("name", list(FIGURES))
def test_legends_outside_the_panels(figures, name):
    """No legend overlaps a panel (so it hides no data) or another legend."""
    fig = figures[name]
    boxes = [legend.get_window_extent(renderer(fig)) for legend in legends(fig)]
    for box in boxes:
        for ax in panels(fig):
            assert not box.overlaps(ax.get_window_extent(renderer(fig))), (name, ax.get_title())
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), name


# The refund-rate bars are horizontal: their value axis is x (0-100 %), y holds categories.
VERTICAL = [name for name in FIGURES if name != "refund_rates"]


@pytest.mark.parametrize("name", VERTICAL)
def test_headroom_above_the_data(figures, name):
    """Nothing drawn reaches the top of its panel: 2 % of the panel's height stays free.

    Artists as tall as the panel (a shaded warm-up or a vertical window line)
    span it by design and are left out.
    """
    fig = figures[name]
    checked = 0
    for ax in panels(fig):
        frame = ax.get_window_extent(renderer(fig))
        tops = []
        for artist in data_artists(ax):
            box: Bbox = artist.get_window_extent(renderer(fig))
            if box.height >= frame.height - 1 or not np.isfinite(box.extents).all():
                continue  # spans the panel: axvspan, axvline
            tops.append(box.y1)
        if tops:
            checked += 1
            assert max(tops) <= frame.y1 - 0.02 * frame.height, (name, ax.get_title())
    assert checked


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_panel_with_data_has_a_y_label(figures, name):
    """Every panel that draws something names its y axis (with its unit)."""
    fig = figures[name]
    for ax in panels(fig):
        if has_data(ax):
            assert ax.get_ylabel().strip(), (name, ax.get_title())


@pytest.mark.parametrize("name", list(FIGURES))
def test_no_scientific_notation_on_axes(figures, name):
    """Tick labels are plain numbers: no '1e6' offset and no 'e+' exponent anywhere."""
    fig = figures[name]
    for ax in panels(fig):
        ticks = [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
        offsets = [ax.xaxis.get_offset_text().get_text(), ax.yaxis.get_offset_text().get_text()]
        for text in ticks + offsets:
            assert "e+" not in text and "1e" not in text and "e-0" not in text, (name, text)
        assert ax.yaxis.get_offset_text().get_text() == "", name


def test_purchases_legend_lists_the_tiers_that_bought(small):
    """Only tiers with credits bought appear in the purchases legend, in tier order."""
    frames, tables, _ = small
    purchases = frames["purchases_revenue"]
    bought = purchases.groupby("tier")["credits_bought"].sum()
    fig = plots.plot_purchases_revenue(purchases, tables.currency)
    tiers = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(tiers) == sorted(bought[bought > 0].index)
    # small.yaml: only the basic members buy when out of credit (buy_probability 0.6,
    # and career members 0.3, who all start with grants): so some tiers buy nothing.
    assert len(tiers) < purchases["tier"].nunique()


def test_vintage_legend_lists_the_fates_that_happened(small):
    """A fate no credit met (capped: small.yaml has no balance cap) is not in the legend."""
    frames, _, _ = small
    vintages = frames["credit_vintages"]
    fig = plots.plot_credit_vintages(vintages)
    shown = [t.get_text() for t in fig.legends[0].get_texts()]
    labels = {"spent": "spent", "expired": "expired", "capped": "capped",
              "forfeited": "forfeited", "live_at_end": "live at end"}  # fmt: skip
    happened = [label for column, label in labels.items() if vintages[column].sum() > 0]
    assert shown[: len(happened)] == happened
    assert "capped" not in shown


def test_refund_bars_carry_n_and_intervals_on_real_frames(small):
    """Every drawn refund-rate bar has an n label and a whisker around its rate."""
    frames, _, _ = small
    frame = frames["refund_rates_by_tier_category"]
    frame = frame[frame["settled"] > 0]
    fig = plots.plot_refund_rates(frame)
    (ax,) = fig.axes
    assert len(ax.patches) == len(frame)
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(f"n = {int(n):,}" for n in frame["settled"])
    whiskers = [seg for c in ax.collections for seg in c.get_segments()]
    assert len(whiskers) == len(frame)
    bars = {(round(p.get_y() + p.get_height() / 2, 6)): p.get_width() for p in ax.patches}
    for seg in whiskers:
        (low, y), (high, _) = seg
        assert low <= bars[round(y, 6)] <= high


def test_refund_bars_and_labels_stay_inside_the_rate_axis(figures):
    """On the horizontal refund-rate bars, every bar, whisker and n label ends inside the frame.

    The rate axis runs past 100 % (to 105 %), so a whisker's cap at 100 % does not touch it.
    """
    fig = figures["refund_rates"]
    (ax,) = fig.axes
    frame = ax.get_window_extent(renderer(fig))
    for artist in data_artists(ax):
        box = artist.get_window_extent(renderer(fig))
        assert frame.x0 - 1 <= box.x0 and box.x1 < frame.x1 - 1, artist
