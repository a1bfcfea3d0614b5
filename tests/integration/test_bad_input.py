"""`creditsim run` (and friends) on bad input: exit 2, pinned lines, no traceback, nothing written.

Two data-driven corpora, like tomli's invalid folders, each case with its
expected standard error pinned in a sibling ``.err`` file:

* ``tests/data/invalid/scenario/<case>.yaml``: scenario files given to
  ``creditsim run <case>.yaml --out out``; the existing scenario corpus
  (``tests/data/scenarios/invalid``, pinned by tests/unit/test_scenario.py
  through the API) is run through the command line the same way;
* ``tests/data/invalid/cli/<case>.json``: command lines
  (``{"args": [...], "files": {path: text}}``), run in a folder holding
  ``s.yaml`` (a copy of ``_scenario.yaml``, valid) and the case's files.

For every case: exit status 2, standard error exactly the pinned lines, each
naming the file or the option at fault, nothing on standard output, no
``Traceback``, and the working folder exactly as it was (no output folder
created, an existing one untouched; compared by path, size, mtime and bytes).
A case whose ``.xfail`` file (scenario) or ``"xfail"`` key (CLI) gives a
reason is a known bug: it is marked ``xfail(strict=True)``, so fixing it
turns the test red until the marker is removed (its ``.err`` holds the
proposed text).

In-process runs are guarded: reaching the simulation (``simulator.runner.run``)
or starting a process raises :class:`Reached`, which escapes ``main`` and
fails the case, so a case that wrongly gets past validation can never start a
100,000-process pool or a 10-million-member run. A YAML tag that tried to run
code would ``touch creditsim-yaml-tag-ran``; the tests check it never appears.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing.process
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "data" / "invalid" / "scenario"
OLD_SCENARIOS = ROOT / "tests" / "data" / "scenarios" / "invalid"
CLI = ROOT / "tests" / "data" / "invalid" / "cli"
HISTORIES = ROOT / "tests" / "data" / "invalid" / "history"
MARKER = "creditsim-yaml-tag-ran"  # what the python-tag cases would `touch`
GIB = 1 << 30


class Reached(Exception):
    """A bad-input case got as far as simulating or starting a process."""


# -- the corpora ----------------------------------------------------------------------


def _scenario_cases() -> list[Any]:
    out = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        reason = path.with_suffix(".xfail")
        marks = (
            [pytest.mark.xfail(strict=True, reason=reason.read_text(encoding="utf-8").strip())]
            if reason.exists()
            else []
        )
        out.append(pytest.param(path.stem, marks=marks, id=path.stem))
    return out


def _cli_case(name: str) -> dict[str, Any]:
    return json.loads((CLI / f"{name}.json").read_text(encoding="utf-8"))


def _cli_cases() -> list[Any]:
    out = []
    for path in sorted(CLI.glob("*.json")):
        reason = _cli_case(path.stem).get("xfail")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(path.stem, marks=marks, id=path.stem))
    return out


def _pinned(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# -- helpers -------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[Any, ...]]:
    """Every path below ``folder``: kind, size, mtime and (files) a digest of the bytes."""
    out: dict[str, tuple[Any, ...]] = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[path.relative_to(folder).as_posix()] = (path.is_dir(), st.st_size, st.st_mtime_ns,
                                                    digest)  # fmt: skip
    return out


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make simulating or starting a process raise Reached (see the module docstring)."""

    def no_run(*args: Any, **kwargs: Any) -> Any:
        raise Reached("the run was started")

    def no_process(self: Any) -> None:
        raise Reached("a process was started")

    # Modules that bind ``run`` at import (``from simulator.runner import run``) hold
    # their own reference: import them now and patch every copy, so the guard holds
    # whichever test imported them first (once it did not, and a 10-million-member
    # compare ran out of memory).
    import simulator.runner
    import simulator.sweeps
    import simulator.warmup

    real = simulator.runner.run
    for name, module in list(sys.modules.items()):
        if name.startswith("simulator") and getattr(module, "run", None) is real:
            monkeypatch.setattr(module, "run", no_run)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", no_process)


def _stage_cli(name: str, where: Path) -> list[str]:
    """Lay out a CLI case's folder in ``where``; return its arguments."""
    case = _cli_case(name)
    shutil.copy(CLI / "_scenario.yaml", where / "s.yaml")
    for rel, text in case.get("files", {}).items():
        target = where / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return list(case["args"])


def _run_in(
    where: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    before = _snapshot(where)
    rc = main(argv)
    out, err = capsys.readouterr()
    assert _snapshot(where) == before, "the working folder changed"
    return rc, out, err


def _names_its_subject(line: str, files: list[str]) -> bool:
    """A line names the file (``FILE:``, or ``FILE (--set ...):`` and the like for a flag's
    value checked against the file) or the option or argument."""
    if any(line.startswith((f"{f}:", f"{f} (--")) for f in files):
        return True
    if re.match(r"--[a-z]", line):
        return True
    return line.startswith("creditsim") and bool(re.search(r"--[a-z]|COMMAND|[A-Z_]+\.yaml", line))


# -- the corpora are complete -----------------------------------------------------------------


def test_every_case_has_its_pinned_lines() -> None:
    """Each scenario .yaml and each CLI .json has an .err beside it, and nothing else is loose."""
    for folder, suffix in ((SCENARIOS, ".yaml"), (CLI, ".json")):
        cases = {p.stem for p in folder.glob(f"*{suffix}")}
        pinned = {p.stem for p in folder.glob("*.err")}
        assert cases == pinned, folder
    assert {p.stem for p in SCENARIOS.glob("*.xfail")} <= {p.stem for p in SCENARIOS.glob("*.yaml")}


def test_there_are_enough_cases() -> None:
    """At least 20 new scenario/CLI cases, and more than 40 bad inputs over all corpora."""
    new = len(list(SCENARIOS.glob("*.yaml"))) + len(list(CLI.glob("*.json")))
    old = len(list(OLD_SCENARIOS.glob("*.yaml"))) + len(list(HISTORIES.glob("*.csv")))
    assert new >= 20
    assert new + old > 40


# -- scenario files --------------------------------------------------------------------------


@pytest.mark.parametrize("case", _scenario_cases())
def test_bad_scenario_exits_2_with_pinned_lines(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    guarded: None,
) -> None:
    """`creditsim run CASE.yaml --out out`: exit 2, the pinned lines, nothing written."""
    shutil.copytree(SCENARIOS, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run_in(tmp_path, ["run", f"{case}.yaml", "--out", "out"], capsys)
    assert (rc, err.splitlines()) == (2, _pinned(SCENARIOS / f"{case}.err"))
    assert out == ""
    assert "Traceback" not in err
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("case", sorted(p.stem for p in SCENARIOS.glob("*.err")))
def test_bad_scenario_lines_name_the_file(case: str) -> None:
    """Every pinned line of a scenario case starts with the scenario file's name."""
    for line in _pinned(SCENARIOS / f"{case}.err"):
        assert line.startswith(f"{case}.yaml: "), line


@pytest.mark.parametrize("case", sorted(p.stem for p in OLD_SCENARIOS.glob("*.yaml")))
def test_existing_scenario_corpus_through_the_command_line(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    guarded: None,
) -> None:
    """The 41 scenario cases of tests/data/scenarios/invalid give their pinned lines on the CLI."""
    shutil.copytree(OLD_SCENARIOS, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run_in(tmp_path, ["run", f"{case}.yaml", "--out", "out"], capsys)
    assert (rc, err.splitlines()) == (2, _pinned(OLD_SCENARIOS / f"{case}.err"))
    assert out == "" and "Traceback" not in err


# -- command lines -------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cli_cases())
def test_bad_command_line_exits_2_with_pinned_lines(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    guarded: None,
) -> None:
    """Bad options, --set, --out and files: exit 2, the pinned lines, the folder untouched."""
    argv = _stage_cli(case, tmp_path)
    gib = _cli_case(case).get("available_gib")
    if gib is not None:
        import simulator.estimate

        monkeypatch.setattr(simulator.estimate, "available_memory_bytes", lambda: gib * GIB)
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run_in(tmp_path, argv, capsys)
    assert (rc, err.splitlines()) == (2, _pinned(CLI / f"{case}.err"))
    assert out == ""
    assert "Traceback" not in err
    assert not (tmp_path / MARKER).exists()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", sorted(p.stem for p in CLI.glob("*.json")))
def test_bad_command_line_lines_name_the_file_or_option(case: str) -> None:
    """Every pinned CLI line names the file at fault, or the option or argument."""
    files = ["s.yaml", *_cli_case(case).get("files", {}), *_cli_case(case)["args"]]
    for line in _pinned(CLI / f"{case}.err"):
        assert _names_its_subject(line, files), line


# -- in a real process --------------------------------------------------------------------------


def _subprocess(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "simulator", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "case"),
    [("scenario", "python-tag-nested"), ("scenario", "utf16"), ("cli", "set-python-tag"),
     ("cli", "out-foreign-folder"), ("cli", "seed-not-a-number")],
)  # fmt: skip
def test_bad_input_in_a_real_process(kind: str, case: str, tmp_path: Path) -> None:
    """`python -m simulator` exits 2 with the pinned lines, no traceback, nothing written."""
    if kind == "scenario":
        shutil.copytree(SCENARIOS, tmp_path, dirs_exist_ok=True)
        argv, pinned = ["run", f"{case}.yaml", "--out", "out"], SCENARIOS / f"{case}.err"
    else:
        argv, pinned = _stage_cli(case, tmp_path), CLI / f"{case}.err"
    before = _snapshot(tmp_path)
    proc = _subprocess(argv, tmp_path)
    assert (proc.returncode, proc.stderr.splitlines()) == (2, _pinned(pinned))
    assert "Traceback" not in proc.stdout + proc.stderr
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / MARKER).exists()


# -- what --out accepts -------------------------------------------------------------------------


@pytest.mark.parametrize("setup", ["new", "empty", "earlier-run-with-overwrite"])
def test_out_accepts_new_empty_or_overwritten_folders(
    setup: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new or empty --out is written; an earlier run is replaced only with --overwrite."""
    argv = [*_stage_cli("out-earlier-run", tmp_path), "--no-report", "--no-progress"]
    out = tmp_path / "out"
    shutil.rmtree(out)
    if setup == "empty":
        out.mkdir()
    elif setup == "earlier-run-with-overwrite":
        out.mkdir()
        (out / "run.json").write_text("{}\n", encoding="utf-8")
        (out / "stale.txt").write_text("from the earlier run\n", encoding="utf-8")
        argv.append("--overwrite")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    capsys.readouterr()
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["scenario"] == "s"
    assert not (out / "stale.txt").exists()


# -- the memory check and the invariant check, wired into creditsim run -----------------------


@pytest.mark.parametrize("case", ["memory-too-big", "sweep-memory-too-big",
                                  "compare-memory-too-big"])  # fmt: skip
def test_force_skips_the_memory_check(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], guarded: None,
) -> None:  # fmt: skip
    """With --force a run, sweep or compare estimated beyond the memory available is
    started anyway (it reaches the simulation or a worker process: the guard stops it)."""
    import simulator.estimate

    argv = [*_stage_cli(case, tmp_path), "--force"]
    monkeypatch.setattr(simulator.estimate, "available_memory_bytes", lambda: 16 * GIB)
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except Reached:
        return  # run (and a pool's first worker) reach the guard in this process
    # A serial compare runs in this process too, where the guard's Reached is one run's
    # crash: recorded, and the compare ends with status 1, past the memory check.
    err = capsys.readouterr().err
    assert code == 1 and "estimated memory" not in err and "Reached" in err


def test_invariant_violation_exits_3_and_writes_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken invariant: exit 3, the problem on stderr, the member's history, no result."""
    import simulator.cli
    import simulator.invariants
    from simulator.violations import Violation

    line = "m000000: ledger row 0 (grant at 2014-01-01T00:00:00Z): negative balance_after -1"

    def broken(*args: Any, **kwargs: Any) -> list[str]:
        return [Violation(line, ["m000000"])]

    for module in (simulator.invariants, simulator.runner, simulator.cli):
        monkeypatch.setattr(module, "check_run", broken, raising=False)
    argv = [*_stage_cli("out-earlier-run", tmp_path), "--no-report", "--no-progress"]
    shutil.rmtree(tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 3
    assert line in err.splitlines()
    assert "Traceback" not in err
    folder = tmp_path / "out" / "invariant-failures"
    assert (folder / "m000000.csv").is_file() and (folder / "README.txt").is_file()
    assert not (tmp_path / "out" / "run.json").exists()  # never reported as a result
    assert not (tmp_path / ".out.partial").exists(), "nothing to --resume: it would fail again"
    assert "wrote" not in out
