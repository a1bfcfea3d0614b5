"""Reports from per-batch sums (issue 12, item 4).

A run's workers reduce each batch of members to its report sums
(:func:`simulator.reports.sums.batch_sums`); the parent adds them and writes
every report from the result. The report files must be byte-identical to
those of the whole tables read as one batch (what the reports computed
before batches existed), for any batch size and number of workers, and
``creditsim report RUN`` (which reads the parts one batch at a time) must
write the same files again.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

import simulator as cs
from simulator.cli import main
from simulator.reports import load_run_tables, report_frames, write_tables
from simulator.reports import sums as report_sums
from simulator.yamlio import dump_yaml

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "valid"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run(scenario: Path, out: Path, *options: str) -> Path:
    assert main(["run", str(scenario), "--out", str(out), *options]) == 0
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline at 5 % (about 150 members, an open population) for 200 days after a
    120-day warm-up: refunds, purchases, expiries and arrivals in the window."""
    folder = tmp_path_factory.mktemp("sums")
    scenario = cs.scaled("scenarios/baseline.yaml", 0.05, duration_days=200, warmup_days=120)
    path = folder / "baseline.yaml"
    path.write_text(dump_yaml(scenario.to_dict()))
    return path


@pytest.mark.parametrize(
    "scenario",
    ["open-population.yaml", "new-tier.yaml", "policy-2015-overrides.yaml", "end-date.yaml"],
)
def test_batched_reports_equal_the_whole_tables_reports(tmp_path: Path, scenario: str) -> None:
    """Runs of 3 members a batch (up to 21 batches, so Merged adds in several rounds)
    write the report files that the whole tables, read as one batch, give."""
    run = _run(SCENARIOS / scenario, tmp_path / "run", "--batch-members", "3")
    batches = len(json.loads((run / "run.json").read_text())["batches"])
    assert batches >= 2, "the scenario must span several batches to test anything"
    whole = report_frames(load_run_tables(run))  # the folder's parts read as one table
    write_tables(whole, tmp_path / "whole")
    assert _files(run / "reports") == _files(tmp_path / "whole")


def test_reports_do_not_depend_on_batches_or_workers(tmp_path: Path, baseline: Path) -> None:
    """Two batch sizes and two worker counts: the same report files and the same page
    (but for the run's timings, which report.html shows in its metadata)."""
    a = _run(baseline, tmp_path / "a", "--batch-members", "40")
    b = _run(baseline, tmp_path / "b", "--batch-members", "17", "--workers", "2")
    assert len(json.loads((b / "run.json").read_text())["batches"]) > 8
    assert _files(a / "reports") == _files(b / "reports")
    assert _files(a / "plots") == _files(b / "plots")


def test_report_command_rewrites_the_same_files(tmp_path: Path, baseline: Path) -> None:
    """`creditsim report RUN` (sums read from the parts, batch by batch) writes the files
    the run wrote from its workers' sums."""
    run = _run(baseline, tmp_path / "run", "--batch-members", "25", "--workers", "2")
    first = _files(run / "reports")
    page = (run / "report.html").read_bytes()
    shutil.rmtree(run / "reports")
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0
    assert _files(run / "reports") == first
    assert (run / "report.html").read_bytes() == page


def test_merged_sums_do_not_depend_on_the_order_of_batches(tmp_path: Path, baseline: Path) -> None:
    """Batches added in reverse give the same frames: the finish sorts what it lists."""
    run = _run(baseline, tmp_path / "run", "--batch-members", "30", "--no-report")
    meta = load_run_tables(run)
    n = len(meta.meta["batches"])
    parts = [report_sums.part_sums(run, i, meta) for i in range(n)]
    forward = report_sums.frames(report_sums.merge(parts), meta)
    backward = report_sums.frames(report_sums.merge(parts[::-1]), meta)
    for name, frame in forward.items():
        pd.testing.assert_frame_equal(frame, backward[name], obj=name)


def test_summary_and_headline_of_a_run_agree_on_every_shared_metric(tmp_path: Path) -> None:
    """A run of the open-population test scenario: summary.json (the runner's recount)
    and headline.csv (the reports' sums) give each metric they share the same value."""
    out = tmp_path / "run"
    scenario = SCENARIOS / "open-population.yaml"
    assert main(["run", str(scenario), "--out", str(out), "--batch-members", "7"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    frame = pd.read_csv(out / "reports" / "headline.csv")
    headline = dict(zip(frame["metric"], frame["value"], strict=True))
    shared = sorted(set(headline) & {k for k, v in summary.items() if not isinstance(v, dict)})
    # members is the one name the two files define differently, on purpose (README).
    shared.remove("members")
    assert {"expiry_waste_rate", "refund_rate", "purchase_revenue_cents",
            "inmails_rejected_no_credit"} <= set(shared)  # fmt: skip
    for name in shared:
        mine = summary[name]
        theirs = headline[name]
        if mine is None:
            assert math.isnan(theirs), name
        else:
            assert math.isclose(float(mine), theirs, rel_tol=0, abs_tol=0), name
