"""Member batches, the unit of work of a run (issue 12, item 1).

A run's members are split by global index into consecutive batches of
``batch_members``; each batch is simulated, assembled, checked and reduced to
the sums behind ``summary.json`` on its own. Whatever the number of workers
or the executor, the tables are the same; whatever the batch size, they hold
the same rows (in batch order, as the run directory's parts) and the summary
is the same: members never interact, every member draws from its own
generator, and every value of :func:`simulator.run_summary.summary_counts` is a
sum over members.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import simulator as cs
from simulator.cli import main
from simulator.errors import InvariantError
from simulator.population import roster
from simulator.run_summary import finish_summary, merge_counts, summarise, summary_counts
from simulator.runner import batch_ranges, run, run_batch, write_run
from simulator.tables import plain_table
from simulator.yamlio import dump_yaml

TABLES = ("ledger", "inmails", "members", "billing")


def _sorted(table: pa.Table) -> pa.Table:
    """The rows in one canonical order (every column, ascending): to compare row sets."""
    table = plain_table(table)
    return table.sort_by([(name, "ascending") for name in table.column_names])


@pytest.fixture(scope="module")
def scenario() -> cs.Scenario:
    """The baseline at 8 % for 200 days after a 120-day warm-up: an open population
    (arrivals among the batches' members), refunds, purchases, expiries in the window."""
    return cs.scaled("scenarios/baseline.yaml", 0.08, duration_days=200, warmup_days=120)


@pytest.fixture(scope="module")
def whole(scenario: cs.Scenario) -> object:
    """The run as one batch: what the runner gave before batches existed."""
    return run(scenario, batch_members=10**9)


def test_batch_ranges_cover_the_members_once_in_order() -> None:
    ranges = batch_ranges(10, 4)
    assert [(r.start, r.stop) for r in ranges] == [(0, 4), (4, 8), (8, 10)]
    assert batch_ranges(8, 4) == [range(0, 4), range(4, 8)]
    assert batch_ranges(3, 100) == [range(0, 3)]
    assert batch_ranges(0, 5) == [range(0, 0)]  # a run without members still has a batch
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_members must be a whole number >= 1"):
            batch_ranges(10, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("batch_members", "workers"), [(37, 1), (120, 1), (37, 2)])
def test_the_rows_and_summary_are_the_same_for_any_batches_and_workers(
    scenario: cs.Scenario, whole: object, batch_members: int, workers: int
) -> None:
    got = run(scenario, batch_members=batch_members, workers=workers)
    members = roster(scenario)
    assert members.size > 2 * batch_members  # several batches
    assert members.size > members.initial  # and arrivals, split over batches too
    for name in TABLES:
        mine, theirs = got.tables.arrow[name], whole.tables.arrow[name]  # type: ignore[attr-defined]
        assert _sorted(mine).equals(_sorted(theirs)), name
    assert _sorted(got.tables.history).equals(_sorted(whole.tables.history))  # type: ignore[attr-defined]
    # The members table is in global index order for any batch size (batches are
    # consecutive indices), so it is equal row for row.
    assert got.tables.arrow["members"].equals(whole.tables.arrow["members"])  # type: ignore[attr-defined]
    assert json.dumps(got.summary) == json.dumps(whole.summary)  # type: ignore[attr-defined]
    assert got.meta["batch_members"] == batch_members
    ranges = batch_ranges(members.size, batch_members)
    assert [b["members"] for b in got.meta["batches"]] == [[r.start, r.stop] for r in ranges]


def test_the_tables_are_the_same_for_any_workers(scenario: cs.Scenario) -> None:
    """Same batches on 1 or 2 processes: the same tables, row for row."""
    one, two = (run(scenario, batch_members=60, workers=w) for w in (1, 2))
    for name in TABLES:
        assert one.tables.arrow[name].equals(two.tables.arrow[name]), name  # type: ignore[union-attr]
    assert one.tables.history.equals(two.tables.history)  # type: ignore[union-attr]


def test_the_merged_sums_of_the_batches_are_the_sums_of_the_run(
    scenario: cs.Scenario, whole: object
) -> None:
    """summary_counts is additive over batches, steady-state bins included."""
    members = roster(scenario)
    ranges = batch_ranges(members.size, 150)
    batches = [run_batch((scenario, i, r, False, None, False)) for i, r in enumerate(ranges)]
    assert all(b.problems == [] for b in batches)
    merged = merge_counts(b.counts for b in batches)
    direct = summary_counts(whole.tables, scenario, members)  # type: ignore[attr-defined]
    assert merged.keys() == direct.keys()
    for key, value in direct.items():
        if key == "steady":
            for name, bins in value.items():
                assert (merged["steady"][name] == bins).all(), name
        else:
            assert merged[key] == value, key
    assert sum(b.counts["members"] for b in batches) == members.size
    assert sum(b.counts["members_initial"] for b in batches) == members.initial
    # One convention: the summary of the merged sums is the summary of the run.
    summary = finish_summary(merged, scenario)
    assert summary == summarise(whole.tables, scenario, members)  # type: ignore[attr-defined]


def test_a_batch_that_breaks_an_invariant_is_not_a_result(
    scenario: cs.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's problems reach the run's InvariantError (the check runs in the batch)."""
    import simulator.runner as runner

    real = runner.summary_counts

    def off_by_one(*args: object, **kw: object) -> dict:
        counts = real(*args, **kw)  # type: ignore[arg-type]
        counts["refunds"] += 1
        return counts

    monkeypatch.setattr(runner, "summary_counts", off_by_one)
    with pytest.raises(InvariantError) as err:
        run(scenario, batch_members=120)
    lines = err.value.lines()
    text = "\n".join(lines)
    assert "summary: refunds is" in text and "but a recount from the tables gives" in text
    # The first failing batch's lines in full, then one line for each other batch, so
    # the message does not grow with the run: 299 members in batches of 120 are 3.
    assert text.count("summary: refunds is") == 1
    assert [line.split(":")[0] for line in lines[-2:]] == [
        "members 120 to 239 (batch 1)", "members 240 to 298 (batch 2)"]  # fmt: skip


def test_the_merged_tables_are_checked_against_the_batches(
    scenario: cs.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch lost between the workers and the merged tables is caught (the review's
    case: a merge that drops the last batch), not published."""
    import simulator.runner as runner

    real = runner.concat
    monkeypatch.setattr(runner, "concat", lambda parts: real(parts[:-1]))
    with pytest.raises(InvariantError) as err:
        run(scenario, batch_members=120)
    lines = err.value.lines()
    assert any(line.startswith("ledger: ") and "rows after merging, but the batches wrote"
               in line for line in lines)  # fmt: skip
    assert any(line.startswith("members table: 240 members after merging, but the scenario "
                               "has 299") for line in lines)  # fmt: skip


def test_each_process_lays_out_a_run_once(
    scenario: cs.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roster and member ids are laid out once per process and run, not per batch
    (a batch of a 1M-member run would otherwise pay for the whole run each time)."""
    import simulator.runner as runner

    calls = []
    real = runner.roster
    monkeypatch.setattr(runner, "roster", lambda sc: calls.append(1) or real(sc))
    runner._LAYOUTS.clear()
    run(scenario, batch_members=50)  # 6 batches
    assert len(calls) == 2  # run() itself, then the first batch's layout


def test_the_cli_takes_a_batch_size_and_writes_the_same_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = cs.scaled("scenarios/baseline.yaml", 0.03, duration_days=60, warmup_days=30)
    path = tmp_path / "small.yaml"
    path.write_text(dump_yaml(small.to_dict()))
    base = ["run", str(path), "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--batch-members", "7", "--out", str(tmp_path / "b")]) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    reports = sorted(p.name for p in (a / "reports").iterdir())
    assert reports and reports == sorted(p.name for p in (b / "reports").iterdir())
    for name in reports:  # the reports do not depend on the batches either
        assert (a / "reports" / name).read_bytes() == (b / "reports" / name).read_bytes(), name
    batches = json.loads((b / "run.json").read_text())["batches"]
    assert len(batches) == -(-roster(small).size // 7) > 1
    for name in TABLES:  # the same rows, in other parts
        mine = pa.Table.from_pandas(cs.load_run(a).tables[name])
        theirs = pa.Table.from_pandas(cs.load_run(b).tables[name])
        assert _sorted(mine).equals(_sorted(theirs)), name
        assert len(list((b / name).iterdir())) == len(batches)
    assert json.loads((b / "run.json").read_text())["batch_members"] == 7
    capsys.readouterr()
    assert main([*base, "--batch-members", "0", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["creditsim run: --batch-members must be >= 1, got 0"]
    assert not (tmp_path / "c").exists()


def test_a_summary_only_run_drops_each_batch_once_reduced(
    scenario: cs.Scenario, whole: object
) -> None:
    """keep_tables=False (a sweep's replication, the warm-up pilot): the same summary and
    counts, every invariant still checked in the batches, no tables held or merged."""
    got = run(scenario, batch_members=50, keep_tables=False)
    assert got.tables is None
    assert json.dumps(got.summary) == json.dumps(whole.summary)  # type: ignore[attr-defined]
    assert got.meta["counts"] == whole.meta["counts"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="out= or keep_tables=True"):
        write_run(got, "never-written")


@pytest.mark.parametrize("workers", [1, 2])
def test_each_batch_is_reported_once_when_done(scenario: cs.Scenario, workers: int) -> None:
    """on_batch (the CLI's progress bar: batches done, InMails simulated) sees every batch
    once, with the rows it wrote."""
    seen: list[object] = []
    got = run(scenario, batch_members=120, workers=workers, keep_tables=False,
              on_batch=seen.append)  # fmt: skip
    assert sorted(b.index for b in seen) == [0, 1, 2]  # type: ignore[attr-defined]
    inmails = sum(b.rows["inmails"] for b in seen)  # type: ignore[attr-defined]
    assert inmails == got.meta["counts"]["inmails_attempted"]
