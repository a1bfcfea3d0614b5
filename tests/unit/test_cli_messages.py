"""Library messages name parameters; the command line says them with its flags.

Each case raises a message from the library (a Python caller's text, naming
``force=True``, ``out``, ``replications``...) and checks that
:func:`simulator.cli.messages.as_flags` gives the command line's text of it,
unchanged from before the library stopped naming flags (issue #14).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from simulator import estimate, gsa
from simulator.cli.messages import as_flags
from simulator.errors import UsageError
from simulator.executors import LocalExecutor
from simulator.runner import run as runner_run
from simulator.scenario import load_scenario
from simulator.sweeps import SweepSpec, check_out, parse_axis_arguments, plan_compare, plan_sweep

SMALL = Path(__file__).parents[1] / "data" / "model" / "small.yaml"


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    return load_scenario(SMALL)


def _says(call: Callable[[], Any], command: str, library: str, cli: str) -> None:
    """``call`` raises one line, ``library``; ``creditsim COMMAND`` prints ``cli``."""
    with pytest.raises(UsageError) as info:
        call()
    assert info.value.lines() == (library,)
    assert as_flags(command, info.value.lines()) == (cli,)


def test_memory_names_force_and_reports(small, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(estimate, "available_memory_bytes", lambda: 1)
    need = estimate.readable_bytes(estimate.estimate_written_run_bytes(small))
    head = f"{small.source}: estimated memory {need} exceeds the 1 B available"
    _says(lambda: estimate.check_memory(small, force=False), "run",
          f"{head}; pass force=True to run anyway",
          f"{head}; pass --force to run anyway")  # fmt: skip
    without = estimate.estimate_written_run_bytes(small, reports=False)
    monkeypatch.setattr(estimate, "available_memory_bytes", lambda: without)
    need = estimate.readable_bytes(estimate.estimate_written_run_bytes(small))
    head = (f"{small.source}: estimated memory {need} exceeds the "
            f"{estimate.readable_bytes(without)} available")  # fmt: skip
    fits = "; it fits without its reports: "
    _says(lambda: estimate.check_memory(small, force=False), "run",
          f"{head}; pass force=True to run anyway{fits}reports=False runs it",
          f"{head}; pass --force to run anyway{fits}--no-report runs it")  # fmt: skip


def test_disk_names_out_and_force(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(estimate, "free_disk_bytes", lambda folder: 0)
    need = estimate.readable_bytes(estimate.estimate_output_bytes(small))
    head = (f"{small.source}: its run directory needs about {need}, but the disk of "
            f"{tmp_path / 'o'} has 0 B free; free some space, choose another ")  # fmt: skip
    _says(lambda: estimate.check_disk(small, tmp_path / "o", force=False), "run",
          f"{head}out, or pass force=True to run anyway",
          f"{head}--out, or pass --force to run anyway")  # fmt: skip


def test_counts_name_replications_and_seed(small) -> None:  # type: ignore[no-untyped-def]
    spec = SweepSpec(parse_axis_arguments([("--grid", "policy.refund.window_days=7,14")]), 0)
    _says(lambda: plan_sweep(small, spec), "sweep",
          "replications must be >= 1, got 0", "--replications must be >= 1, got 0")  # fmt: skip
    _says(lambda: plan_compare(small, small, replications=2, seed=-1), "compare",
          "seed must be a whole number >= 0, got -1",
          "--seed must be a whole number >= 0, got -1")  # fmt: skip
    _says(lambda: plan_compare(small, small, replications=1), "compare",
          "replications must be >= 2 to compare, got 1",
          "--replications must be >= 2 to compare, got 1")  # fmt: skip
    _says(lambda: plan_compare(small, small, replications=20_000_000), "compare",
          "replications 20,000,000: the comparison would have 40,000,000 runs; at most "
          "100,000 are allowed",
          "--replications 20,000,000: the comparison would have 40,000,000 runs; at most "
          "100,000 are allowed")  # fmt: skip


def test_the_unswept_seed_names_seed_and_replications() -> None:
    for label, command in (("grid", None), ("--grid", "sweep")):
        with pytest.raises(UsageError) as info:
            parse_axis_arguments([(label, "seed=1,2")])
        library = f"{label} seed=1,2: the seed is not swept: set seed and replications"
        assert info.value.lines() == (library,)
        if command is not None:
            assert as_flags(command, [library]) == (
                "--grid seed=1,2: the seed is not swept: set --seed and --replications",
            )


def test_a_sweeps_folder_names_out_and_resume(tmp_path: Path) -> None:
    plan: Any = SimpleNamespace(kind="sweep", fingerprint=lambda: "a", yaml_fingerprint=lambda: "b")
    file = tmp_path / "f"
    file.write_text("x")
    _says(lambda: check_out(file, plan, False), "sweep",
          f"out {file}: exists and is not a directory",
          f"--out {file}: exists and is not a directory")  # fmt: skip
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("x")
    _says(lambda: check_out(foreign, plan, False), "compare",
          f"out {foreign}: not empty and not a creditsim sweep; choose another directory",
          f"--out {foreign}: not empty and not a creditsim sweep; "
          "choose another directory")  # fmt: skip
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "sweep.json").write_text("{")
    _says(lambda: check_out(earlier, plan, False), "sweep",
          f"out {earlier}: cannot read sweep.json: Expecting property name enclosed in double "
          "quotes: line 1 column 2 (char 1)",
          f"--out {earlier}: cannot read sweep.json: Expecting property name enclosed in double "
          "quotes: line 1 column 2 (char 1)")  # fmt: skip
    (earlier / "sweep.json").write_text(json.dumps({"kind": "sweep", "fingerprint": "c"}))
    _says(lambda: check_out(earlier, plan, False), "sensitivity",
          f"out {earlier}: holds an earlier sweep; pass resume=True to finish it, or choose "
          "another directory",
          f"--out {earlier}: holds an earlier sweep; pass --resume to finish it, or choose "
          "another directory")  # fmt: skip
    _says(lambda: check_out(earlier, plan, True), "sweep",
          f"resume: {earlier} holds a different sweep (its scenario, keys, values, "
          "replications or seed differ); choose another out",
          f"--resume: {earlier} holds a different sweep (its scenario, keys, values, "
          "replications or seed differ); choose another --out")  # fmt: skip


def test_a_study_names_its_parameters(small) -> None:  # type: ignore[no-untyped-def]
    _says(lambda: gsa.plan_study(small, (), "fast", 8), "sensitivity",
          "method: 'fast': use one of sobol, morris, lhs",
          "--method: 'fast': use one of sobol, morris, lhs")  # fmt: skip
    _says(lambda: gsa.check_metrics(["refund_rat"]), "sensitivity",
          "metrics: unknown metric 'refund_rat' (did you mean 'refund_rate'?)",
          "--metrics: unknown metric 'refund_rat' (did you mean 'refund_rate'?)")  # fmt: skip
    _says(lambda: gsa.check_metrics([""]), "sensitivity",
          "metrics: expected NAME,NAME,... (summary.json's numbers)",
          "--metrics: expected NAME,NAME,... (summary.json's numbers)")  # fmt: skip
    _says(lambda: gsa.check_metrics([]), "sensitivity",
          "metrics: name at least one metric", "--metrics: name at least one metric")  # fmt: skip
    _says(lambda: gsa.parse_vary(["policy.preset=inmail-2015"], small), "sensitivity",
          "vary policy.preset=inmail-2015: a choice needs at least two values",
          "vary policy.preset=inmail-2015: a choice needs at least two values")  # fmt: skip


def test_a_studys_counts_name_their_parameters(small) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("SALib")
    for kwargs, library in (
        ({"method": "morris", "samples": 1}, "samples must be at least 2, got 1"),
        ({"method": "sobol", "samples": 6},
         "samples 6: Sobol designs need a power of two (e.g. 8)"),
        ({"method": "morris", "samples": 4, "seed": -1},
         "seed must be a whole number >= 0, got -1"),
        ({"method": "morris", "samples": 4, "replications": 0},
         "replications must be >= 1, got 0"),
    ):  # fmt: skip
        _says(lambda kwargs=kwargs: gsa.plan_study(small, (), **kwargs), "sensitivity",
              library, f"--{library}")  # fmt: skip


def test_workers_that_cannot_use_the_folder_name_out() -> None:
    head = ("the worker on h (pid 1) cannot use the run's folder /x: Permission denied; the "
            "workers write the parts themselves, so ")  # fmt: skip
    tail = "must be on storage every worker sees (a shared file system)"
    assert as_flags("run", [f"{head}out {tail}"]) == (f"{head}--out {tail}",)


def test_workers_are_checked_once_with_one_text(small) -> None:  # type: ignore[no-untyped-def]
    """LocalExecutor and the runner check workers as the API does (check_workers)."""
    for call in (lambda: LocalExecutor(0), lambda: runner_run(small, workers=0)):
        _says(call, "run", "workers must be a whole number >= 1, got 0",
              "creditsim run: --workers must be >= 1, got 0")  # fmt: skip


def test_a_run_folders_lines_keep_the_command() -> None:
    """``out`` lines of run and replay keep their ``creditsim COMMAND:``; a sweep's never had it."""
    line = "out o: exists and is not a directory"
    assert as_flags("run", [line]) == ("creditsim run: --out o: exists and is not a directory",)
    assert as_flags("sweep", [line]) == ("--out o: exists and is not a directory",)


@pytest.mark.parametrize("other", ["scenario", "version"])
def test_resume_of_another_plan(other: str, tmp_path: Path) -> None:
    """A resume of another plan: ``resume=True`` and ``batch_members`` for Python callers,
    ``--resume`` and ``--batch-members`` for ``creditsim run`` (test_run_format pins it)."""
    from simulator import runformat

    plan = runformat.plan_of("name: a\n", 30, 104)
    staging, _ = runformat.start_staging(tmp_path / "run", plan, resume=False)
    again = (runformat.plan_of("name: b\n", 30, 104) if other == "scenario"
             else {**plan, "creditsim": "0.0.1"})  # fmt: skip
    made = f"creditsim {runformat.__version__}"
    why = {
        "scenario": ("holds an interrupted run of another scenario, seed or {b}; "
                     "run without {r} to start again"),
        "version": ("holds an interrupted run made by " + made + ", and this is creditsim "
                    "0.0.1; its batches may differ from this version's: run without {r} to "
                    "start again"),
    }[other]  # fmt: skip
    _says(lambda: runformat.start_staging(tmp_path / "run", again, resume=True), "run",
          f"resume: {staging} " + why.format(b="batch_members", r="resume=True"),
          f"--resume: {staging} " + why.format(b="--batch-members", r="--resume"))  # fmt: skip
