"""creditsim sweep and compare end to end: files, determinism, resume, faults, CRN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from simulator import cli
from simulator.stats import replications
from simulator.sweeps import replication_seed

ROOT = Path(__file__).parents[2]
MODULE = "simulator"  # `python -m simulator sweep ...`, as `creditsim sweep`
main = cli.main

SCENARIO = (ROOT / "tests" / "data" / "model" / "tiny-sweep.yaml").read_text()
GRID = ["--grid", "policy.refund.window_days=7,14", "--grid", "policy.grant_expiry_days=60,90"]
# Enough runs that a sweep on two processes takes a few seconds: time to kill it midway.
LONG = ["--grid", "policy.refund.window_days=7,14", "--replications", "40", "--seed", "3",
        "--no-plots"]  # fmt: skip


@pytest.fixture(scope="module")
def scenario() -> Path:
    return ROOT / "tests" / "data" / "model" / "tiny-sweep.yaml"


@pytest.fixture(scope="module")
def slower(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "slower.yaml"
    path.write_text(SCENARIO.replace("members: 30", "members: 150").replace("60", "120"))
    return path


@pytest.fixture(scope="module")
def reference(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "sweep"
    code = main(["sweep", str(scenario), *GRID, "--replications", "2", "--seed", "3",
                 "--workers", "1", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def long_reference(slower: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "long"
    assert main(["sweep", str(slower), *LONG, "--workers", "2", "--out", str(out)]) == 0
    return out


def _same_tables(a: Path, b: Path) -> None:
    assert (a / "results.parquet").read_bytes() == (b / "results.parquet").read_bytes()
    assert (a / "summary.csv").read_text() == (b / "summary.csv").read_text()
    assert (a / "runs.csv").read_text() == (b / "runs.csv").read_text()


def test_sweep_writes_the_documented_files(reference: Path) -> None:
    """results.parquet: a row per run, by value; run table, timings, summary and plots beside it."""
    results = pd.read_parquet(reference / "results.parquet")
    keys = ["policy.refund.window_days", "policy.grant_expiry_days"]
    assert list(results.columns[:5]) == ["run_id", *keys, "replication", "seed"]
    assert results.columns[-1] == "error" and results["error"].isna().all()
    assert len(results) == 8
    # Sorted by value, key by key (GRID's order), then by replication.
    rows = list(zip(results[keys[0]], results[keys[1]], results["replication"], strict=True))
    assert rows == sorted(rows)
    assert str(results[keys[0]].dtype) == "int64"
    assert set(results["seed"]) == {replication_seed(3, 0), replication_seed(3, 1)}
    first = json.loads(next((reference / "runs").glob("*-r0.json")).read_text())
    metrics = list(first["summary"])
    assert list(results.columns[5:-1]) == metrics
    runs = pd.read_csv(reference / "runs.csv")
    assert list(runs.columns) == ["run_id", *keys, "replication", "seed"] and len(runs) == 8
    timings = pd.read_csv(reference / "timings.csv")
    assert list(timings.columns) == ["run_id", "replication", "seed", "worker", "started_at",
                                     "wall_s", "cpu_s", "simulate_s"]  # fmt: skip
    assert (timings["wall_s"] > 0).all()
    summary = pd.read_csv(reference / "summary.csv")
    assert list(summary.columns) == ["run_id", *keys, "metric", "n", "mean", "std", "ci_low",
                                     "ci_high"]  # fmt: skip
    rid = results["run_id"].iloc[0]
    files = sorted((reference / "runs").glob(f"{rid}-r*.json"))
    expected = replications([json.loads(p.read_text())["summary"] for p in files])
    got = summary[summary["run_id"] == rid].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert sorted(p.name for p in (reference / "plots").iterdir()) == [
        "policy.grant_expiry_days.png", "policy.refund.window_days.png",
    ]  # fmt: skip
    meta = json.loads((reference / "sweep.json").read_text())
    assert meta["runs"] == 8 and meta["seed"] == 3 and meta["keys"] == keys


def test_one_worker_and_two_workers_give_identical_tables(
    scenario: Path, reference: Path, tmp_path: Path
) -> None:
    """The local pool with two processes writes byte-identical results to one process."""
    out = tmp_path / "two"
    code = main(["sweep", str(scenario), *GRID, "--replications", "2", "--seed", "3",
                 "--workers", "2", "--out", str(out), "--no-plots"])  # fmt: skip
    assert code == 0
    _same_tables(out, reference)


def test_replications_share_random_streams_across_points(scenario: Path, tmp_path: Path) -> None:
    """Common random numbers: a price change leaves every draw, hence every send, unchanged."""
    out = tmp_path / "crn"
    code = main(["sweep", str(scenario), "--grid", "pricing.credit_price=10,20",
                 "--replications", "3", "--out", str(out), "--no-plots"])  # fmt: skip
    assert code == 0
    frame = pd.read_parquet(out / "results.parquet")
    cheap = frame[frame["pricing.credit_price"] == 10].set_index("replication")
    dear = frame[frame["pricing.credit_price"] == 20].set_index("replication")
    pd.testing.assert_series_equal(cheap["inmails_attempted"], dear["inmails_attempted"])
    pd.testing.assert_series_equal(cheap["credits_purchased"], dear["credits_purchased"])
    pd.testing.assert_series_equal(2 * cheap["purchase_revenue_cents"],
                                   dear["purchase_revenue_cents"])  # fmt: skip
    assert cheap["inmails_attempted"].nunique() > 1  # replications differ among themselves


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--grid", "policy.refund.window_dayz=7,14"],
         "{src} (--grid policy.refund.window_dayz=7,14): unknown key "
         "(did you mean 'window_days'?)"),
        (["--grid", "policy.refund.window_days=7,x"],
         "{src} (--grid policy.refund.window_days=7,x): must be a whole number from 1 to 36500, "
         "got 'x'"),
        (["--grid", "policy.refund.window_days="],
         "--grid policy.refund.window_days=: no values (an empty grid)"),
        (["--replications", "0"], "creditsim sweep: --replications must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_bad_specs_exit_2_and_write_nothing(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    """A bad sweep spec is one line naming the flag (and the scenario it breaks), exit status 2,
    and no --out folder."""
    out = tmp_path / "never"
    assert main(["sweep", str(scenario), *args, "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [line.format(src=scenario)]
    assert not out.exists()


def test_out_folder_rules(
    scenario: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out must be new, or an earlier sweep with --resume, and then the same sweep."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("mine")
    base = ["sweep", str(scenario), *GRID, "--replications", "2", "--seed", "3"]
    assert main([*base, "--out", str(other)]) == 2
    assert main([*base, "--out", str(reference)]) == 2
    assert main([*base[:-1], "4", "--out", str(reference), "--resume"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"--out {other}: not empty and not a creditsim sweep; choose another directory",
        f"--out {reference}: holds an earlier sweep; pass --resume to finish it, or choose "
        "another directory",
        f"--resume: {reference} holds a different sweep (its scenario, keys, values, "
        "replications or seed differ); choose another --out",
    ]


def test_resume_of_a_finished_sweep_runs_nothing(
    scenario: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume on a complete sweep runs no run and rebuilds the same tables."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    (copy / "results.parquet").unlink()
    code = main(["sweep", str(scenario), *GRID, "--replications", "2", "--seed", "3",
                 "--out", str(copy), "--resume", "--no-plots"])  # fmt: skip
    assert code == 0
    assert "0 runs done now, 8 done before, 0 failed" in capsys.readouterr().out
    _same_tables(copy, reference)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, "sweep", *args],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_runs(out: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(list((out / "runs").glob("*.json"))) < count:
        assert proc.poll() is None, f"the sweep ended too soon: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _descendants(pid: int) -> dict[int, int]:
    """Descendant pid -> depth below ``pid`` (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    depth = {pid: 0}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in depth and child not in depth:
                depth[child] = depth[parent] + 1
                changed = True
    del depth[pid]
    return depth


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_interrupted_sweep_resumes_to_the_same_tables(
    slower: Path, long_reference: Path, tmp_path: Path, how: str
) -> None:
    """Killed (or Ctrl-C) midway, then run with --resume: the tables of an uninterrupted sweep."""
    out = tmp_path / "broken"
    proc = _start([str(slower), *LONG, "--workers", "2", "--out", str(out)])
    _wait_for_runs(out, 6, proc)
    if how == "SIGKILL":
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, like a lost machine
    else:
        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=30)
    finished = len(list((out / "runs").glob("*.json")))
    assert 6 <= finished < 80 and not (out / "results.parquet").exists()
    if how == "SIGINT":
        assert proc.returncode == 130
        assert "run the same command with --resume to finish" in err
    assert not list((out / "runs").glob(".*")), "no temporary file left behind"
    code = main(["sweep", str(slower), *LONG, "--workers", "2", "--out", str(out), "--resume"])
    assert code == 0
    _same_tables(out, long_reference)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_dead_worker_leaves_a_resumable_sweep(
    slower: Path, long_reference: Path, tmp_path: Path
) -> None:
    """A worker process killed midway: exit 1 with a --resume hint; the resume completes it."""
    out = tmp_path / "dead"
    proc = _start([str(slower), *LONG, "--workers", "2", "--out", str(out)])
    _wait_for_runs(out, 4, proc)
    # Pool workers are forked by the fork server: the driver's grandchildren.
    workers = [pid for pid, depth in _descendants(proc.pid).items() if depth == 2]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "runs did not finish" in err and "--resume" in err
    assert not (out / "results.parquet").exists()
    assert main(["sweep", str(slower), *LONG, "--workers", "1", "--out", str(out), "--resume"]) == 0
    _same_tables(out, long_reference)


def test_a_crashed_run_is_recorded_and_the_sweep_goes_on(
    scenario: Path,
    reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run that raises is written with its error; the others finish; exit status 1."""
    import simulator.sweeps.execution as sweep_module

    real_run = sweep_module.run
    bad_seed = replication_seed(3, 1)

    def flaky(scenario, seed=None, **kwargs):  # type: ignore[no-untyped-def]
        if seed == bad_seed and scenario.policy.refund.window_days == 14:
            raise RuntimeError("simulated crash\nsecond line")
        return real_run(scenario, seed=seed, **kwargs)

    monkeypatch.setattr(sweep_module, "run", flaky)
    out = tmp_path / "crash"
    args = ["sweep", str(scenario), *GRID, "--replications", "2", "--seed", "3", "--workers",
            "1", "--out", str(out), "--no-plots"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "failed: RuntimeError: simulated crash" in err
    results = pd.read_parquet(out / "results.parquet")
    failed = results[results["error"].notna()]
    assert len(failed) == 2 and set(failed["replication"]) == {1}
    assert (failed["error"] == "RuntimeError: simulated crash").all()
    assert failed["inmails_attempted"].isna().all()
    record = json.loads((out / "runs" / f"{failed['run_id'].iloc[0]}-r1.json").read_text())
    assert record["status"] == "error" and "simulated crash" in record["traceback"]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.loc[summary["run_id"] == failed["run_id"].iloc[0], "n"]) == {1}
    # Fixed, a resume runs only the failed runs and gives the tables of a clean sweep.
    monkeypatch.setattr(sweep_module, "run", real_run)
    assert main([*args, "--resume"]) == 0
    assert "2 runs done now, 6 done before" in capsys.readouterr().out
    _same_tables(out, reference)


def test_keep_runs_writes_full_run_directories(scenario: Path, tmp_path: Path) -> None:
    """--keep-runs: each run's directory under runs/, with the summary the sweep recorded."""
    out = tmp_path / "keep"
    code = main(["sweep", str(scenario), "--grid", "policy.refund.window_days=7,14",
                 "--workers", "2", "--out", str(out), "--keep-runs", "--no-plots"])  # fmt: skip
    assert code == 0
    dirs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    assert len(dirs) == 2
    for d in dirs:
        record = json.loads(d.with_suffix(".json").read_text())
        summary = json.loads((d / "summary.json").read_text())
        block = summary.pop("steady_state")
        assert {
            **summary,
            "steady": block["steady"],
            "suggested_warmup_days": block["suggested_warmup_days"],
        } == record["summary"]
        assert (d / "ledger" / "part-00000.parquet").is_file() and (d / "run.json").is_file()


def test_sweep_block_in_the_scenario_file(scenario: Path, tmp_path: Path) -> None:
    """A sweep: block is used when no flag is given; flags replace its axes."""
    path = tmp_path / "with_block.yaml"
    path.write_text(SCENARIO + "sweep:\n  range:\n    recipients.response_probability: "
                    "0.1:0.3:0.1\n  replications: 2\n  seed: 4\n")  # fmt: skip
    out = tmp_path / "block"
    assert main(["sweep", str(path), "--out", str(out), "--no-plots"]) == 0
    results = pd.read_parquet(out / "results.parquet")
    assert sorted(set(results["recipients.response_probability"])) == [0.1, 0.2, 0.3]
    assert len(results) == 6 and set(results["seed"]) == {replication_seed(4, r) for r in (0, 1)}
    out2 = tmp_path / "flags"
    code = main(["sweep", str(path), "--grid", "policy.refund.window_days=7,14", "--out",
                 str(out2), "--no-plots"])  # fmt: skip
    assert code == 0
    assert list(pd.read_csv(out2 / "runs.csv").columns)[1] == "policy.refund.window_days"


def test_compare_pairs_replications_and_narrows_the_interval(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare: paired difference of B - A; common random numbers beat an unpaired interval."""
    b = tmp_path / "b.yaml"
    b.write_text(SCENARIO.replace("name: tiny", "name: tiny15") + "policy: {preset: inmail-2015}\n")
    out = tmp_path / "cmp"
    code = main(["compare", str(scenario), str(b), "--replications", "6", "--workers", "2",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(out / "comparison.csv").set_index("metric")
    assert list(frame.columns) == ["n", "mean_a", "mean_b", "diff", "diff_std", "ci_low",
                                   "ci_high", "relative_diff", "unpaired_ci_low",
                                   "unpaired_ci_high", "narrower", "clipped"]  # fmt: skip
    row = frame.loc["credits_spent"]
    assert row["n"] == 6
    assert row["diff"] == pytest.approx(row["mean_b"] - row["mean_a"])
    for metric in ("inmails_attempted", "inmails_sent", "credits_spent", "responses"):
        paired = frame.loc[metric, "ci_high"] - frame.loc[metric, "ci_low"]
        unpaired = frame.loc[metric, "unpaired_ci_high"] - frame.loc[metric, "unpaired_ci_low"]
        assert paired < unpaired, metric
        assert frame.loc[metric, "narrower"] == "paired", metric
    results = pd.read_parquet(out / "results.parquet")
    assert list(results["run_id"].unique()) == ["A", "B"]
    assert (out / "comparison.png").stat().st_size > 0
    assert "B - A over 6 paired replications" in capsys.readouterr().out


@pytest.mark.slow
def test_compare_the_shipped_policies(tmp_path: Path) -> None:
    """creditsim compare scenarios/baseline.yaml scenarios/policy-2015.yaml runs and pairs."""
    out = tmp_path / "policies"
    code = main(["compare", str(ROOT / "scenarios/baseline.yaml"),
                 str(ROOT / "scenarios/policy-2015.yaml"), "--replications", "2", "--out",
                 str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(out / "comparison.csv").set_index("metric")
    assert frame.loc["credits_purchased", "mean_b"] == 0  # no purchases under the 2015 rules
    assert pq.read_metadata(out / "results.parquet").num_rows == 4
    # No caps under the 2014 rules (A is 0): the absolute difference is still given.
    assert frame.loc["credits_capped", "mean_a"] == 0 and frame.loc["credits_capped", "diff"] > 0
    assert frame.loc["net_revenue", "mean_a"] == pytest.approx(
        frame.loc["purchase_revenue", "mean_a"] + frame.loc["subscription_revenue", "mean_a"]
    )
    for metric, row in frame.iterrows():
        if row["n"] >= 2 and str(metric).endswith("_rate"):
            assert row["ci_low"] >= -1 and row["ci_high"] <= 1, metric
        if row["n"] >= 2 and row["mean_a"] >= 0:
            assert row["ci_low"] >= -row["mean_a"] - 1e-9, metric
            assert row["unpaired_ci_low"] >= -row["mean_a"] - 1e-9, metric


@pytest.mark.slow
def test_local_pool_works_in_jupyter_without_a_main_guard(scenario: Path, tmp_path: Path) -> None:
    """The forkserver pool runs a sweep from a notebook cell (no __main__ module to import)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    out = tmp_path / "nb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import simulator as cs\n"
        "from simulator.executors import LocalExecutor\n"
        "with LocalExecutor(2) as ex:\n"
        f"    sw = cs.sweep({str(scenario)!r}, grid={{'policy.refund.window_days': [7, 14]}},\n"
        f"                  out={str(out)!r}, executor=ex, plots=False, progress=False)\n"
        "    order = ex.map(abs, [-3, 2, -1])\n"
        "print(len(sw.results), order)\n"
    )]  # fmt: skip
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "2 [3, 2, 1]" in text


def test_text_values_zips_and_undefined_rates_are_tabled_and_plotted(
    scenario: Path, tmp_path: Path
) -> None:
    """Text keys become text columns; a rate undefined at one point leaves a gap, not a crash."""
    out = tmp_path / "text"
    code = main(["sweep", str(scenario), "--grid", "policy.preset=inmail-2014,inmail-2015",
                 "--zip", "population[0].members=10,20", "--zip", "population[1].members=5,6",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    results = pd.read_parquet(out / "results.parquet")
    assert str(results["policy.preset"].dtype) in ("object", "string", "str")
    assert results.loc[results["policy.preset"] == "inmail-2015", "refund_rate"].isna().all()
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "policy.preset.png", "population0.members.png", "population1.members.png",
    ]  # fmt: skip


def test_a_folder_reads_back_as_a_typed_run_table_and_summary(reference: Path) -> None:
    """load_run_table and read_summary give a sweep's points and summary with typed keys:
    enough to plot the sweep again, without its scenarios."""
    from simulator.sweeps import load_run_table, ordered_points, plot_sweep_key, read_summary

    keys = ("policy.refund.window_days", "policy.grant_expiry_days")
    table = load_run_table(reference)
    assert (table.kind, table.keys, table.replications, table.seed) == ("sweep", keys, 2, 3)
    assert table.table_csv() == (reference / "runs.csv").read_text()
    assert {p.params[keys[0]] for p in table.points} == {7, 14}
    assert all(type(p.params[k]) is int for p in table.points for k in keys)
    summary = read_summary(reference, table)
    raw = pd.read_csv(reference / "summary.csv")
    assert list(summary.columns) == list(raw.columns) and len(summary) == len(raw)
    assert str(summary[keys[0]].dtype) == "int64"
    pd.testing.assert_series_equal(summary["mean"], raw["mean"].astype(float))
    by_run = dict(zip(summary["run_id"], summary[keys[1]], strict=False))
    assert all(by_run[p.run_id] == p.params[keys[1]] for p in table.points)
    order = list(dict.fromkeys(summary["run_id"]))  # the file is in value order
    assert order == [p.run_id for p in ordered_points(table)]
    fig = plot_sweep_key(table, summary, keys[0])
    assert fig.axes and any(ax.get_title() == "net_revenue" for ax in fig.axes)
