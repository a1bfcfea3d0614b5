"""The Python API (simulator/api.py) on tiny scenarios: what a notebook user gets.

Every entry point returns DataFrames and Figures that equal what the CLI and the
lower layers produce: a run in memory equals the same run read back from its
directory, a replay from a DataFrame or a list of rows equals the replay of the
file, and two workers started from ``python -c`` (no ``__main__`` guard) give
the tables of one. Expected values come from the layers the API delegates to
(``simulator.runner``, ``simulator.reports``, ``creditsim replay``), never from
the API itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import simulator
import simulator as cs
from simulator import reports as rep
from simulator.api import PLOTS, REPORTS
from simulator.cli import main as cli_main
from simulator.errors import HistoryError, InputError, ScenarioError, UsageError
from simulator.runner import run as runner_run

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "data" / "model" / "small.yaml"
EXAMPLE = ROOT / "scenarios" / "examples" / "history.csv"
TABLES = ("ledger", "inmails", "members", "billing", "history")

TINY = """\
name: tiny
seed: 5
start: 2024-01-01
duration_days: 45
warmup_days: 10
population:
  - name: career
    tier: premium_career
    members: 12
    sending: {inmails_per_month: 6}
  - name: free
    tier: basic
    members: 8
    sending:
      inmails_per_month: 1
      out_of_credit: {buy_probability: 0.5, buy_quantity: 2}
"""


@pytest.fixture(scope="module")
def small_run() -> cs.Run:
    return cs.run(SMALL, progress=False)


@pytest.fixture(scope="module")
def saved(small_run: cs.Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run.save(tmp_path_factory.mktemp("api") / "run")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(TINY)
    return path


def _same_tables(a: cs.Run, b: cs.Run) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)


# -- the package -----------------------------------------------------------------


def test_all_names_resolve() -> None:
    """Every name in simulator.__all__ is importable from the package."""
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None, name
    assert callable(cs.sweep) and callable(cs.compare) and callable(cs.run)


def test_import_is_light_and_api_names_stay_functions() -> None:
    """`import simulator` loads no pandas; importing the modules behind the API
    (simulator.sweeps, .gsa, .run_audit) never shadows its functions."""
    code = textwrap.dedent("""
        import sys, simulator
        assert "pandas" not in sys.modules, "import simulator loaded pandas"
        import simulator.gsa, simulator.run_audit, simulator.sweeps
        import simulator.api as api
        for name in ("sweep", "sensitivity", "audit", "compare", "run"):
            assert getattr(simulator, name) is getattr(api, name), name
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# -- run ---------------------------------------------------------------------------


def test_run_gives_the_runner_tables_and_summary(small_run: cs.Run) -> None:
    """run() returns the runner's summary and tables, as DataFrames with UTC second instants."""
    direct = runner_run(cs.load_scenario(SMALL))
    assert small_run.summary == direct.summary
    assert small_run.seed == 11 and small_run.scenario == direct.scenario
    for name in ("ledger", "inmails", "members", "billing"):
        pd.testing.assert_frame_equal(small_run.tables[name], getattr(direct.tables, name))
    pd.testing.assert_frame_equal(small_run.tables.history, direct.tables.history.to_pandas())
    assert str(small_run.tables.ledger["time"].dtype) == "datetime64[s, UTC]"


def test_summary_frame_lists_every_metric(small_run: cs.Run) -> None:
    """summary_frame has one row per summary metric, with the exact values."""
    frame = small_run.summary_frame
    assert list(frame.columns) == ["metric", "value"]
    assert dict(zip(frame["metric"], frame["value"], strict=True)) == small_run.summary


def test_the_api_reports_are_the_files_reports(
    small_run: cs.Run, saved: Path, tmp_path: Path
) -> None:
    """run.reports and RUN_DIR/reports/ come from the one registry: every written report
    (the headline too, its values floats in both) is the same frame in both."""
    copy = Path(shutil.copytree(saved, tmp_path / "run"))
    rep.write_reports(copy, fmt="parquet")  # Parquet keeps each column's type exactly
    written = [r.name for r in rep.REPORTS if r.written]
    assert set(written) == set(REPORTS) - {"per_tier"}
    for name in written:
        on_disk = pd.read_parquet(copy / "reports" / f"{name}.parquet")
        pd.testing.assert_frame_equal(small_run.reports[name], on_disk, obj=name)
    assert small_run.reports.headline["value"].dtype == np.float64


def test_every_report_is_the_reports_module_frame(small_run: cs.Run) -> None:
    """Each report equals the simulator.reports function on the same tables."""
    t = small_run.report_tables
    assert list(small_run.reports) == list(REPORTS)
    rates = rep.refund_rates(t)
    expected = {
        "expiry_waste": rep.expiry_waste(t),
        "expiry_waste_by_source": rep.expiry_waste_by_source(t),
        "credit_age": rep.credit_age(t),
        "refund_rates": rates,
        "refund_rates_by_tier_category": rep.refund_cuts(rates, ["tier", "category"]),
        "refund_rates_by_length": rep.refund_cuts(rates, ["tier", "length_bucket"]),
        "refund_totals": rep.refund_totals(rates),
        "response_delays": rep.response_delays(t),
        "utilisation": rep.utilisation(t),
        "utilisation_members": rep.utilisation_members(t),
        "balance_distribution": rep.balance_distribution(t),
        "purchases_revenue": rep.purchases_revenue(t),
        "rejections": rep.rejections(t),
    }
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(small_run.reports[name], frame, obj=name)
        assert getattr(small_run.reports, name) is small_run.reports[name]
    head = small_run.reports.headline.set_index("metric")["value"]
    assert head.to_dict() == pytest.approx(rep.headline(t), nan_ok=True)
    with pytest.raises(KeyError, match="no report 'nope'"):
        small_run.reports["nope"]


def test_per_tier_adds_up_to_the_summary(small_run: cs.Run) -> None:
    """Per-tier credits times members sum to the run's window totals."""
    tiers = small_run.per_tier()
    assert list(tiers["tier"]) == ["basic", "premium_career", "sales_navigator"]
    assert tiers["members"].sum() == small_run.summary["members"]
    s = small_run.summary
    for column, metric in [("granted", "credits_granted"), ("spent", "credits_spent"),
                           ("expired", "credits_expired"), ("refunded", "credits_refunded"),
                           ("sent", "inmails_sent"),
                           ("no_credit", "inmails_rejected_no_credit")]:  # fmt: skip
        total = (tiers[column] * tiers["members"]).sum()
        assert total == pytest.approx(s[metric]), column


def test_every_plot_is_a_figure(small_run: cs.Run) -> None:
    """plot(name) and plots[name] give titled matplotlib Figures, one per PLOTS name."""
    assert list(small_run.plots) == list(PLOTS)
    for name in PLOTS:
        fig = small_run.plot(name)
        assert isinstance(fig, Figure) and fig.axes, name
    assert small_run.plots["expiry_waste"] is small_run.plots["expiry_waste"]
    with pytest.raises(KeyError, match="no plot 'pie'"):
        small_run.plot("pie")


def test_progress_bar_goes_to_stderr(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True draws a bar over simulated days; progress=False draws nothing."""
    cs.run(tiny, progress=True)
    assert "simulating tiny" in capsys.readouterr().err
    cs.run(tiny, progress=False)
    assert capsys.readouterr().err == ""


# -- deriving scenarios ----------------------------------------------------------------


def test_with_overrides_and_seed_reach_the_run(tiny: Path) -> None:
    """with_overrides, run(overrides=...) and run(seed=...) change what is simulated."""
    base = cs.load_scenario(tiny)
    changed = base.with_overrides({"policy.refund.window_days": 14, "population[0].members": 5})
    r = cs.run(changed, progress=False)
    assert r.meta["refund_window_days"] == 14 and r.summary["members"] == 13
    same = cs.run(tiny, overrides={"policy.refund.window_days": 14,
                                   "population[0].members": 5}, progress=False)  # fmt: skip
    _same_tables(r, same)
    reseeded = cs.run(tiny, seed=99, progress=False)
    assert reseeded.seed == 99 and reseeded.scenario.seed == 99
    assert not reseeded.tables.inmails.equals(cs.run(tiny, progress=False).tables.inmails)
    with pytest.raises(InputError, match=r"policy\.refund\.widow_days: unknown key"):
        base.with_overrides({"policy.refund.widow_days": 14})


def test_scaled_keeps_the_mix_and_sets_the_days() -> None:
    """scaled() multiplies every cohort (at least 1 member) and sets the duration."""
    base = cs.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    small = cs.scaled(base, 0.1, duration_days=30, warmup_days=5)
    assert [c.members for c in small.population] == [120, 80, 50, 35, 15]
    assert small.end - small.start == 30 * 86_400 - 1
    assert small.start - small.sim_start == 5 * 86_400
    assert min(c.members for c in cs.scaled(base, 0.0001).population) == 1
    with pytest.raises(UsageError, match="fraction must be a number > 0, got 0"):
        cs.scaled(base, 0)


# -- load_run and save -------------------------------------------------------------------


def test_load_run_equals_the_run_in_memory(small_run: cs.Run, saved: Path) -> None:
    """A saved run read back has equal scenario, seed, summary, tables and reports."""
    loaded = cs.load_run(saved)
    assert loaded.scenario == small_run.scenario and loaded.seed == small_run.seed
    assert loaded.summary == small_run.summary
    assert loaded.meta["counts"] == small_run.meta["counts"]
    _same_tables(small_run, loaded)
    for name in REPORTS:
        pd.testing.assert_frame_equal(loaded.reports[name], small_run.reports[name], obj=name)


def test_save_writes_what_creditsim_run_writes(saved: Path) -> None:
    """save() writes the run directory, reports, plots and report.html."""
    for name in ("run.json", "summary.json", "scenario.yaml", "ledger/part-00000.parquet",
                 "history/part-00000.csv",
                 "report.html", "reports/expiry_waste.csv", "plots/expiry_waste.png"):  # fmt: skip
        assert (saved / name).is_file(), name
    assert json.loads((saved / "run.json").read_text())["seed"] == 11


def test_save_refuses_to_overwrite_unless_asked(small_run: cs.Run, saved: Path,
                                                tmp_path: Path) -> None:  # fmt: skip
    """An earlier run is replaced only with overwrite=True; a foreign folder never."""
    with pytest.raises(UsageError, match="holds an earlier run; pass overwrite=True"):
        small_run.save(saved)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="exists and is not a creditsim run directory"):
        small_run.save(foreign, overwrite=True)


def test_a_loaded_run_saves_an_equal_copy(saved: Path, tmp_path: Path) -> None:
    """Saving a loaded run writes a directory that loads to the same run."""
    copy = cs.load_run(saved).save(tmp_path / "copy", reports=False)
    _same_tables(cs.load_run(saved), cs.load_run(copy))
    assert not (copy / "report.html").exists()
    for name in ("ledger", "inmails", "members", "billing", "history"):
        parts = sorted(p.name for p in (saved / name).iterdir())
        assert parts == sorted(p.name for p in (copy / name).iterdir()), name
        for part in parts:  # both writers give the same bytes, part for part
            assert (copy / name / part).read_bytes() == (saved / name / part).read_bytes(), part


def test_run_with_out_writes_the_directory_and_reads_it_lazily(
    small_run: cs.Run, saved: Path, tmp_path: Path
) -> None:
    """run(out=...): the workers write the run directory (the files save() writes, no
    reports) and the Run reads its tables from it only when asked."""
    got = cs.run(SMALL, progress=False, out=tmp_path / "r")
    assert got.directory == tmp_path / "r" and got._loaded is not None
    assert "ledger" not in got.tables._cache, "no table read before it is asked for"
    assert got.summary == small_run.summary
    _same_tables(got, small_run)
    for name in TABLES:
        for part in (saved / name).iterdir():
            assert (tmp_path / "r" / name / part.name).read_bytes() == part.read_bytes()
    assert not (tmp_path / "r" / "report.html").exists()
    with pytest.raises(UsageError, match="holds an earlier run; pass overwrite=True"):
        cs.run(SMALL, progress=False, out=tmp_path / "r")
    assert cs.run(SMALL, progress=False, out=tmp_path / "r", overwrite=True).summary == got.summary


def test_a_run_too_large_for_memory_goes_to_a_scratch_folder(
    small_run: cs.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above IN_MEMORY_MAX_BYTES of expected tables, run() writes a scratch run directory
    (removed when Python exits) and reads from it on request: the same run."""
    import simulator.api.runs as api_runs

    monkeypatch.setattr(api_runs, "IN_MEMORY_MAX_BYTES", 0)
    got = cs.run(SMALL, progress=False)
    assert got.directory is not None and got.directory.name == "run"
    assert got.directory.parent.name.startswith("creditsim-run-")
    assert got.summary == small_run.summary
    _same_tables(got, small_run)


def test_load_run_names_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    """load_run on a folder without run.json says so."""
    with pytest.raises(InputError, match="not a creditsim run directory"):
        cs.load_run(tmp_path)


# -- replay -----------------------------------------------------------------------------


def test_replay_of_a_file_writes_what_the_cli_writes(tmp_path: Path) -> None:
    """Replay.save writes byte for byte the files of `creditsim replay`."""
    assert cli_main(["replay", str(EXAMPLE), "--out", str(tmp_path / "cli")]) == 0
    cs.replay(EXAMPLE).save(tmp_path / "api")
    for name in ("ledger.csv", "balances.csv"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


def test_replay_frames_are_typed() -> None:
    """ledger and balances are DataFrames with integer counts and UTC instants."""
    audit = cs.replay(EXAMPLE)
    assert list(audit.ledger.columns) == ["time", "member", "kind", "lot", "quantity", "inmail",
                                          "reason", "balance_after"]  # fmt: skip
    assert str(audit.ledger["time"].dtype) == "datetime64[s, UTC]"
    assert audit.balances.to_dict("records") == [
        {"member": "alice", "balance": 0, "allotted": 0, "purchased": 0},
        {"member": "bob", "balance": 3, "allotted": 0, "purchased": 3},
    ]
    assert audit.actions == 12 and audit.until == pd.Timestamp("2024-06-30T09:00:00Z")


def test_replay_from_rows_and_frames_equals_the_file() -> None:
    """A DataFrame, a list of dicts and a list of tuples replay like the CSV they came from."""
    from_file = cs.replay(EXAMPLE).ledger
    frame = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False)
    typed = pd.read_csv(EXAMPLE)  # numbers as floats, empty cells as NaN, free as bool
    dicts = [{k: v for k, v in row.items() if v != ""} for row in frame.to_dict("records")]
    tuples = list(frame.itertuples(index=False, name=None))
    for history in (frame, typed, dicts, tuples):
        pd.testing.assert_frame_equal(cs.replay(history).ledger, from_file)


def test_replay_policy_forms_agree() -> None:
    """A preset name, a policy block, a scenario file and a Scenario select the same rules."""
    scenario = cs.load_scenario(ROOT / "scenarios" / "policy-2015.yaml")
    expected = cs.replay(EXAMPLE, policy=scenario).ledger
    for policy in ("inmail-2015", {"preset": "inmail-2015"},
                   ROOT / "scenarios" / "policy-2015.yaml", scenario.policy):  # fmt: skip
        pd.testing.assert_frame_equal(cs.replay(EXAMPLE, policy=policy).ledger, expected)
    assert not expected.equals(cs.replay(EXAMPLE).ledger)


def test_replay_until_cuts_the_history() -> None:
    """until (text, seconds or datetime) stops the replay there."""
    text = cs.replay(EXAMPLE, until="2024-03-01T00:00:00Z")
    assert text.ledger["time"].max() < pd.Timestamp("2024-03-01T00:00:00Z")
    stamp = cs.replay(EXAMPLE, until=pd.Timestamp("2024-03-01", tz="UTC"))
    pd.testing.assert_frame_equal(stamp.ledger, text.ledger)
    seconds = cs.replay(EXAMPLE, until=int(pd.Timestamp("2024-03-01", tz="UTC").timestamp()))
    pd.testing.assert_frame_equal(seconds.ledger, text.ledger)
    with pytest.raises(UsageError, match="until: "):
        cs.replay(EXAMPLE, until="March")


def test_replay_span_guard_and_its_override() -> None:
    """Spans over 36,500 days are refused as typos (issue 15) unless allow_long_span."""
    rows = [
        {"time": "0000-01-01T00:00:00Z", "member": "a", "action": "subscribe",
         "tier": "premium_career"},
        {"time": "2024-01-01T00:00:00Z", "member": "b", "action": "cancel"},
    ]  # fmt: skip
    with pytest.raises(HistoryError, match=r"^<history>:2: instant 0000-01-01T00:00:00Z is "):
        cs.replay(rows)
    with pytest.raises(UsageError, match=r"^until: 2200-01-01T00:00:00Z is 64,252 days after"):
        cs.replay(EXAMPLE, until="2200-01-01T00:00:00Z")
    # 0000-01-01 .. 2024-01-01 holds 12 * 2024 monthly anniversaries after the first grant.
    grants = cs.replay(rows, allow_long_span=True).ledger["kind"].eq("grant").sum()
    assert grants == 12 * 2024 + 1


def test_replay_of_bad_rows_names_each_row() -> None:
    """Bad rows raise HistoryError, one line per problem, rows counted from line 2."""
    rows = [
        {"time": "2024-01-01T00:00:00Z", "member": "a", "action": "subscribe", "tier": "gold"},
        {"time": "2024-01-02", "member": "a", "action": "purchase", "quantity": 2},
    ]
    with pytest.raises(HistoryError) as err:
        cs.replay(rows)
    assert err.value.problems == (
        "<history>:2: unknown tier 'gold'",
        "<history>:3: malformed instant '2024-01-02' (expected like 2024-01-31T09:00:00Z)",
    )


def test_explain_says_why_each_line_is_there() -> None:
    """explain() adds one plain-language line per ledger entry, naming its rule."""
    bob = cs.replay(EXAMPLE).explain("bob")
    assert list(bob["kind"]) == ["purchase", "spend", "reject", "refund", "expire", "spend"]
    text = list(bob["explanation"])
    assert text[0] == "bought 5 credits in new lot bob:1, never expires (R5)"
    assert text[2] == ("purchase rejected, nothing consumed: a purchase must be 1..10 credits "
                       "(R5)")  # fmt: skip
    assert text[3].startswith("credit back for InMail b1: no response within 7 days (R6)")
    assert text[4] == ("1 credit of refund lot bob:2 (issued 2024-03-17T09:05:00Z) expired "
                       "unused (R2)")  # fmt: skip
    alice = cs.replay(EXAMPLE).explain("alice")
    assert alice["explanation"].iloc[0].startswith("monthly grant of premium_career (R1): 5 ")
    assert (
        alice["explanation"].iloc[-1].endswith("forfeited: the cancelled subscription ended (R8)")
    )
    with pytest.raises(KeyError, match="no ledger entry for member 'carol'"):
        cs.replay(EXAMPLE).explain("carol")


def test_a_runs_history_replays_to_its_ledger(small_run: cs.Run) -> None:
    """Run.replay(member) rebuilds that member's ledger exactly (the audit of notebook 04)."""
    busy = small_run.tables.ledger["member"].value_counts().index[:3].tolist()
    audit = small_run.replay(busy)
    ours = small_run.tables.ledger
    ours = ours[ours["member"].isin(busy)][list(audit.ledger.columns)]
    key = ["member"]
    pd.testing.assert_frame_equal(
        audit.ledger.sort_values(key, kind="stable").reset_index(drop=True),
        ours.sort_values(key, kind="stable").reset_index(drop=True),
    )


# -- workers and executors ------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_from_python_c_need_no_guard(small_run: cs.Run, tmp_path: Path) -> None:
    """`python -c` with workers=2 (no __main__ guard, like a notebook) gives the 1-worker run."""
    code = textwrap.dedent(f"""
        import simulator as cs
        r = cs.run({str(SMALL)!r}, workers=2, progress=False)
        r.save({str(tmp_path / "two")!r}, reports=False)
        sw = cs.sweep({str(SMALL)!r}, grid={{"policy.refund.window_days": [7, 14]}},
                      replications=2, workers=2, out={str(tmp_path / "sweep")!r},
                      progress=False, plots=False)
        print(len(sw.results))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4"
    _same_tables(small_run, cs.load_run(tmp_path / "two"))
    serial = cs.sweep(SMALL, grid={"policy.refund.window_days": [7, 14]}, replications=2,
                      out=tmp_path / "serial", progress=False, plots=False)  # fmt: skip
    parallel = cs.load_sweep(tmp_path / "sweep")
    pd.testing.assert_frame_equal(parallel.results, serial.results)
    pd.testing.assert_frame_equal(parallel.summary, serial.summary)


@pytest.mark.slow
def test_a_dask_run_equals_the_local_run(small_run: cs.Run) -> None:
    """executor='dask' shards over a LocalCluster (closed afterwards) with identical tables."""
    pytest.importorskip("distributed")
    _same_tables(small_run, cs.run(SMALL, workers=2, executor="dask", progress=False))


# -- sweep, compare, load_sweep ----------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_sweep(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> cs.Sweep:
    out = tmp_path_factory.mktemp("sweep") / "grid"
    return cs.sweep(tiny, grid={"policy.grant_expiry_days": [30, 90],
                                "policy.refund.window_days": range(7, 22, 7)},
                    replications=2, seed=3, out=out, progress=False)  # fmt: skip


def test_sweep_tables_are_dataframes(grid_sweep: cs.Sweep) -> None:
    """results has one row per run; summary one per point and metric, keys typed."""
    assert grid_sweep.keys == ("policy.grant_expiry_days", "policy.refund.window_days")
    assert len(grid_sweep.results) == 2 * 3 * 2 and grid_sweep.failed == []
    waste = grid_sweep.metric("expiry_waste_rate")
    assert len(waste) == 6 and (waste["n"] == 2).all()
    assert sorted(waste["policy.refund.window_days"].unique()) == [7, 14, 21]
    assert (waste["ci_low"] <= waste["mean"]).all() and (waste["mean"] <= waste["ci_high"]).all()
    with pytest.raises(KeyError, match="no metric 'nope'"):
        grid_sweep.metric("nope")


def test_sweep_surface_is_a_pivot_of_the_means(grid_sweep: cs.Sweep) -> None:
    """surface(metric, x, y) puts y values on rows, x values on columns, means in cells."""
    x, y = grid_sweep.keys
    surface = grid_sweep.surface("refund_rate", x, y)
    assert list(surface.columns) == [30, 90] and list(surface.index) == [7, 14, 21]
    waste = grid_sweep.metric("refund_rate").set_index([y, x])["mean"]
    assert surface.loc[14, 90] == waste.loc[(14, 90)]
    with pytest.raises(KeyError, match="'seed' is not swept"):
        grid_sweep.surface("refund_rate", "seed")


def test_sweep_plots_are_figures(grid_sweep: cs.Sweep) -> None:
    """plot(key), plots and plot_surface give Figures; plots/ holds one PNG per key."""
    assert isinstance(grid_sweep.plot(), Figure)
    assert set(grid_sweep.plots) == set(grid_sweep.keys)
    fig = grid_sweep.plot_surface("expiry_waste_rate", *grid_sweep.keys)
    assert isinstance(fig, Figure) and "expiry_waste_rate (%)" in fig.axes[0].get_title()
    assert len(list((grid_sweep.out / "plots").glob("*.png"))) == 2


def test_sweep_bands_stay_inside_each_metrics_range(grid_sweep: cs.Sweep, tmp_path: Path) -> None:
    """A t-interval can leave a metric's range (a rate above 1, a count below 0); the band
    drawn is cut to it. The intervals are widened by hand in a copy of the folder."""
    copy = tmp_path / "wide"
    shutil.copytree(grid_sweep.out, copy)
    summary = pd.read_csv(copy / "summary.csv")
    rate, count = summary["metric"] == "refund_rate", summary["metric"] == "credits_spent"
    summary.loc[rate, "ci_high"] = 1.5
    summary.loc[count, "ci_low"] = -1e6
    summary.to_csv(copy / "summary.csv", index=False)
    fig = cs.load_sweep(copy).plot("policy.refund.window_days")
    panels = {ax.get_title(): ax for ax in fig.axes}
    for metric, low, high in (("refund_rate", 0.0, 1.0), ("credits_spent", 0.0, np.inf)):
        bands = [c for c in panels[metric].collections if len(c.get_paths())]
        ys = np.concatenate([p.vertices[:, 1] for c in bands for p in c.get_paths()])
        assert len(bands) == 2 and ys.min() >= low and ys.max() <= high, metric
    assert ys.min() == 0.0  # the widened credits_spent band was cut at 0, not dropped


def test_load_sweep_equals_the_sweep(grid_sweep: cs.Sweep) -> None:
    """load_sweep reads back the same results and summary."""
    loaded = cs.load_sweep(grid_sweep.out)
    assert type(loaded) is cs.Sweep and loaded.keys == grid_sweep.keys
    pd.testing.assert_frame_equal(loaded.results, grid_sweep.results)
    pd.testing.assert_frame_equal(loaded.summary, grid_sweep.summary)


def test_sweep_axes_match_the_cli_flags(tiny: Path, tmp_path: Path) -> None:
    """grid, zip and ranges expand like --grid, --zip and --range; bad keys are named."""
    sw = cs.sweep(tiny, zip={"policy.refund.window_days": [7, 14],
                             "policy.grant_expiry_days": [30, 60]},
                  ranges={"recipients.response_probability": (0.1, 0.3, 0.1)},
                  out=tmp_path / "zip", progress=False, plots=False)  # fmt: skip
    points = sw.results[list(sw.keys)].drop_duplicates()
    assert len(points) == 2 * 3
    assert sorted(points["recipients.response_probability"].unique()) == [0.1, 0.2, 0.3]
    with pytest.raises(ScenarioError, match=r"policy\.refund\.widow_days"):
        cs.sweep(tiny, grid={"policy.refund.widow_days": [7]}, out=tmp_path / "bad",
                 progress=False)  # fmt: skip
    assert not (tmp_path / "bad").exists()


def test_sweep_uses_the_scenario_files_block(tiny: Path, tmp_path: Path) -> None:
    """Without axes, a scenario file's sweep: block is the spec."""
    path = tmp_path / "block.yaml"
    path.write_text(TINY + "sweep:\n  grid: {policy.refund.window_days: [7, 30]}\n"
                    "  replications: 2\n")  # fmt: skip
    sw = cs.sweep(path, out=tmp_path / "block", progress=False, plots=False)
    assert sw.keys == ("policy.refund.window_days",) and len(sw.results) == 4


@pytest.fixture(scope="module")
def comparison(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> cs.Comparison:
    base = cs.load_scenario(tiny)
    b = base.with_overrides({"name": "tiny-2015", "policy.preset": "inmail-2015"})
    out = tmp_path_factory.mktemp("compare") / "cmp"
    return cs.compare(base, b, replications=3, out=out, keep_runs=True, progress=False)


def test_compare_gives_paired_differences(comparison: cs.Comparison) -> None:
    """comparison holds B - A per metric with its paired 95 % interval."""
    table = comparison.comparison.set_index("metric")
    assert comparison.names == ("tiny", "tiny-2015")
    row = table.loc["credits_purchased"]
    assert row["n"] == 3 and row["mean_b"] == 0  # inmail-2015: nothing is purchasable
    assert row["diff"] == pytest.approx(row["mean_b"] - row["mean_a"])
    assert row["ci_low"] <= row["diff"] <= row["ci_high"]
    assert isinstance(comparison.plot(), Figure)


def test_compare_per_tier_says_who_gains_and_who_loses(comparison: cs.Comparison) -> None:
    """per_tier pairs the per-tier metrics of A's and B's kept runs, replication by replication."""
    tiers = comparison.per_tier()
    assert set(tiers["tier"]) == {"basic", "premium_career"}
    basic = tiers[(tiers["tier"] == "basic") & (tiers["metric"] == "purchased")].iloc[0]
    a_runs, b_runs = comparison.runs("A"), comparison.runs("B")
    assert len(a_runs) == len(b_runs) == 3
    mean_a = sum(r.per_tier().set_index("tier").loc["basic", "purchased"] for r in a_runs) / 3
    assert basic["mean_a"] == pytest.approx(mean_a) and basic["mean_b"] == 0
    assert basic["members"] == 8


def test_load_sweep_of_a_compare_is_a_comparison(comparison: cs.Comparison) -> None:
    """load_sweep returns a Comparison for a compare folder, with the same table."""
    loaded = cs.load_sweep(comparison.out)
    assert isinstance(loaded, cs.Comparison)
    pd.testing.assert_frame_equal(loaded.comparison, comparison.comparison)


def test_per_tier_needs_kept_runs(tiny: Path, tmp_path: Path) -> None:
    """Without keep_runs, per_tier says how to get the runs."""
    base = cs.load_scenario(tiny)
    cmp = cs.compare(base, base.with_overrides({"policy.refund.window_days": 14}),
                     replications=2, out=tmp_path / "cmp", progress=False)  # fmt: skip
    assert cmp.names == ("tiny (A)", "tiny (B)")
    with pytest.raises(InputError, match="compare with keep_runs=True"):
        cmp.per_tier()


def test_load_sweep_names_a_folder_that_is_not_a_sweep(tmp_path: Path) -> None:
    """load_sweep on a folder without sweep.json says so."""
    with pytest.raises(InputError, match="not a creditsim sweep or compare folder"):
        cs.load_sweep(tmp_path)


def test_a_sweep_without_out_cleans_up_its_scratch_folder_at_exit(
    tiny: Path, tmp_path: Path
) -> None:
    """Without out=, results live in a scratch folder that outlives the Sweep (its kept runs
    and load_sweep read it lazily) and is deleted when the Python process exits."""
    import subprocess
    import sys

    code = f"""
import gc
import simulator as cs
sw = cs.sweep({str(tiny)!r}, grid={{"policy.refund.window_days": [7, 14]}}, progress=False,
             plots=False)
again = cs.load_sweep(sw.out)
del sw
gc.collect()
assert len(again.results) == 2, "the folder must stay while the session lasts"
kept = cs.sweep({str(tiny)!r}, grid={{"policy.refund.window_days": [7]}},
               out={str(tmp_path / "kept")!r}, progress=False, plots=False)
print(again.out)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    scratch = Path(done.stdout.strip().splitlines()[-1])
    assert scratch.name.startswith("creditsim-sweep-")
    assert not scratch.exists(), "the scratch folder outlived the process"
    assert (tmp_path / "kept" / "results.parquet").is_file(), "a folder given as out= stays"
