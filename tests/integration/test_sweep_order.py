"""Sweeps list points by value; --set on sweep and compare; compare's console lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator import cli

ROOT = Path(__file__).parents[2]
TINY = ROOT / "tests" / "data" / "model" / "tiny-sweep.yaml"
main = cli.main
WINDOW = "policy.refund.window_days"


def test_numbers_sort_numerically(tmp_path: Path) -> None:
    """Given as 14,3,7, the windows are listed 3, 7, 14 (not as text: 14, 3, 7) everywhere."""
    out = tmp_path / "sweep"
    code = main(["sweep", str(TINY), "--grid", f"{WINDOW}=14,3,7", "--replications", "2",
                 "--workers", "1", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    results = pd.read_parquet(out / "results.parquet")
    assert list(results[WINDOW]) == [3, 3, 7, 7, 14, 14]  # 3 points x 2 replications
    assert list(results["replication"]) == [0, 1, 0, 1, 0, 1]
    summary = pd.read_csv(out / "summary.csv")
    assert list(dict.fromkeys(summary[WINDOW])) == [3, 7, 14]
    # Run ids are unchanged: they name the run files, which --resume finds again.
    assert {f"{rid}-r0.json" for rid in results["run_id"]} <= {
        p.name for p in (out / "runs").glob("*.json")
    }
    again = ["--workers", "1", "--out", str(out), "--no-progress", "--resume"]
    assert main(["sweep", str(TINY), "--grid", f"{WINDOW}=14,3,7", "--replications", "2",
                 *again]) == 0  # fmt: skip
    assert "net_revenue" in set(summary["metric"])


def test_text_keeps_the_given_order(tmp_path: Path) -> None:
    """A text axis keeps the command line's order (USD, EUR, CHF); a numeric one within it sorts."""
    out = tmp_path / "sweep"
    code = main(["sweep", str(TINY), "--grid", "pricing.currency=USD,EUR,CHF", "--grid",
                 f"{WINDOW}=14,3", "--workers", "1", "--out", str(out), "--no-plots",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    results = pd.read_parquet(out / "results.parquet")
    assert list(results["pricing.currency"]) == ["USD", "USD", "EUR", "EUR", "CHF", "CHF"]
    assert list(results[WINDOW]) == [3, 14, 3, 14, 3, 14]
    summary = pd.read_csv(out / "summary.csv")
    assert list(dict.fromkeys(summary["pricing.currency"])) == ["USD", "EUR", "CHF"]


def test_set_changes_the_swept_scenario(tmp_path: Path) -> None:
    """--set applies before the points: the tiny scenario's 30 + 20 members become 10 + 20."""
    out = tmp_path / "sweep"
    code = main(["sweep", str(TINY), "--grid", f"{WINDOW}=3,7", "--set",
                 "population[0].members=10", "--workers", "1", "--out", str(out), "--no-plots",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    results = pd.read_parquet(out / "results.parquet")
    assert list(results["members"]) == [30, 30]  # 10 career members (set) + 20 free (the file)


def test_bad_set_names_the_flag_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per bad --set, naming it; exit 2; no output folder."""
    out = tmp_path / "sweep"
    code = main(["sweep", str(TINY), "--grid", f"{WINDOW}=3", "--set", "bogus=1", "--set", "x",
                 "--set", "seed=-1", "--out", str(out)])  # fmt: skip
    assert code == 2 and not out.exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "creditsim sweep: --set: expected KEY.PATH=VALUE, got 'x'",
        f"{TINY} (--set): bogus: unknown key",
        f"{TINY} (--set): seed: must be a whole number >= 0, got -1",
    ]
    cmp_out = tmp_path / "cmp"
    b = ROOT / "scenarios" / "policy-2015.yaml"
    assert main(["compare", str(TINY), str(b), "--set", "bogus=1", "--out", str(cmp_out)]) == 2
    assert not cmp_out.exists()
    # The same problem under A and B is one line naming both files.
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{TINY} and {b} (--set): bogus: unknown key"
    ]


def test_compare_with_set_on_both_sides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--set reaches A and B; money is printed with two decimals and the currency."""
    b = tmp_path / "b.yaml"
    b.write_text(TINY.read_text().replace("name: tiny", "name: tiny15")
                 + "policy: {preset: inmail-2015}\n")  # fmt: skip
    out = tmp_path / "cmp"
    code = main(["compare", str(TINY), str(b), "--replications", "2", "--workers", "1",
                 "--set", "population[1].members=5", "--set", "pricing.currency=EUR",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    results = pd.read_parquet(out / "results.parquet")
    assert list(results["members"]) == [35, 35, 35, 35]  # 30 career + 5 free (set), A and B
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("  net_revenue:"))
    assert line.count(" EUR") == 3 and ".0000" not in line  # after A, B and B - A's interval
    comparison = pd.read_csv(out / "comparison.csv").set_index("metric")
    assert {"net_revenue", "credits_capped"} <= set(comparison.index)


def test_sweep_plot_panels(tmp_path: Path) -> None:
    """Default metrics, units on every y axis, money once; all with metrics="all"; x by value."""
    from simulator.sweeps import (
        DEFAULT_PLOT_METRICS,
        load_sweep_scenario,
        parse_axis_arguments,
        plan_sweep,
        plot_sweep_key,
        with_spec,
    )

    out = tmp_path / "sweep"
    code = main(["sweep", str(TINY), "--grid", f"{WINDOW}=14,3,7", "--grid",
                 "policy.grant_expiry_days=90,60", "--replications", "2", "--workers", "1",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    scenario, _ = load_sweep_scenario(TINY)
    axes = parse_axis_arguments([("--grid", f"{WINDOW}=14,3,7"),
                                 ("--grid", "policy.grant_expiry_days=90,60")])  # fmt: skip
    plan = plan_sweep(scenario, with_spec(None, axes=axes, replications=2))
    summary = pd.read_csv(out / "summary.csv")
    for metrics in (None, "all"):
        fig = plot_sweep_key(plan, summary, WINDOW, metrics)
        panels = [ax for ax in fig.axes if ax.get_visible()]
        titles = [ax.get_title() for ax in panels]
        assert titles and all(ax.get_ylabel() for ax in panels)
        assert not any(t.endswith("_cents") for t in titles)
        if metrics is None:
            assert set(titles) <= set(DEFAULT_PLOT_METRICS)
        else:
            assert len(titles) > len(DEFAULT_PLOT_METRICS)
        # The other key's lines, in value order: 60 before 90.
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend == ["policy.grant_expiry_days=60", "policy.grant_expiry_days=90"]
        x = panels[0].lines[0].get_xdata()
        assert list(x) == [3, 7, 14]
    fig = plot_sweep_key(plan, summary, WINDOW, ["refund_rate", "purchase_revenue_cents"])
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_visible()] == ["share (0-1)", "USD cents"]
