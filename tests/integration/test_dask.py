"""Dask executors: a LocalCluster and a real `dask scheduler` + `dask worker` on loopback.

Every sweep here must write exactly the tables the local process pool writes,
and a run sharded over Dask workers exactly the tables of a local run. The
scheduler and workers are started as separate processes on free loopback
ports and always stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

pytest.importorskip("distributed")

from simulator import api, cli
from simulator.executors import DaskExecutor, LocalExecutor, make_executor
from simulator.scenario import load_scenario

ROOT = Path(__file__).parents[2]
MODULE = "simulator"  # `python -m simulator sweep ...`, as `creditsim sweep`
main = cli.main
SMALL = ROOT / "tests" / "data" / "model" / "small.yaml"
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")

SCENARIO = (ROOT / "tests" / "data" / "model" / "tiny-sweep.yaml").read_text()
SPEC = ["--grid", "policy.refund.window_days=7,14", "--grid", "policy.grant_expiry_days=60,90",
        "--replications", "2", "--seed", "3", "--no-plots", "--no-progress"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """`dask scheduler` and `dask worker --nworkers 2` processes on loopback, stopped after."""
    if DASK is None:
        pytest.skip("the dask command is not installed")
    logs = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler.log", "wb"),  # noqa: SIM115
            start_new_session=True, cwd=logs,
        ))  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert procs[0].poll() is None, (logs / "scheduler.log").read_text()
                assert time.monotonic() < deadline, "the scheduler did not start"
                time.sleep(0.1)
        procs.append(subprocess.Popen(
            [DASK, "worker", address, "--nworkers", "2", "--nthreads", "1", "--host",
             "127.0.0.1", "--no-dashboard", "--local-directory", str(logs)],
            stdout=subprocess.DEVNULL, stderr=open(logs / "worker.log", "wb"),  # noqa: SIM115
            start_new_session=True, cwd=logs,
        ))  # fmt: skip
        from distributed import Client

        with Client(address, timeout="20s") as client:
            client.wait_for_workers(2, timeout=60)
        yield SimpleNamespace(address=address, workers=procs[1], logs=logs)
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="module")
def scenario() -> Path:
    return ROOT / "tests" / "data" / "model" / "tiny-sweep.yaml"


@pytest.fixture(scope="module")
def local(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same sweep on the local process pool."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    assert main(["sweep", str(scenario), *SPEC, "--workers", "2", "--out", str(out)]) == 0
    return out


def _same_tables(a: Path, b: Path) -> None:
    assert (a / "results.parquet").read_bytes() == (b / "results.parquet").read_bytes()
    assert (a / "summary.csv").read_text() == (b / "summary.csv").read_text()


def test_local_cluster_sweep_equals_the_local_pool(
    scenario: Path, local: Path, tmp_path: Path
) -> None:
    """--executor dask (a LocalCluster it starts and stops) writes the local pool's tables."""
    out = tmp_path / "dask-local"
    code = main(["sweep", str(scenario), *SPEC, "--executor", "dask", "--workers", "2",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    _same_tables(out, local)


def test_external_cluster_sweep_equals_the_local_pool(
    scenario: Path, local: Path, cluster: SimpleNamespace, tmp_path: Path
) -> None:
    """--scheduler ADDRESS (real dask scheduler and worker processes) writes the same tables."""
    out = tmp_path / "dask-remote"
    assert main(["sweep", str(scenario), *SPEC, "--scheduler", cluster.address,
                 "--out", str(out)]) == 0  # fmt: skip
    _same_tables(out, local)


def test_compare_on_the_cluster_equals_local(
    scenario: Path, cluster: SimpleNamespace, tmp_path: Path
) -> None:
    """compare gives the same comparison.csv on Dask as in one local process."""
    outs = []
    for extra in (["--workers", "1"], ["--scheduler", cluster.address]):
        out = tmp_path / f"cmp{len(outs)}"
        code = main(["compare", str(scenario), str(SMALL), "--replications", "3", *extra,
                     "--out", str(out), "--no-progress"])  # fmt: skip
        assert code == 0
        outs.append(out)
    assert (outs[0] / "comparison.csv").read_text() == (outs[1] / "comparison.csv").read_text()


def test_run_sharded_over_the_cluster_equals_a_local_run(cluster: SimpleNamespace) -> None:
    """creditsim run --scheduler: members spread over the workers, the local run's tables."""
    scenario = load_scenario(SMALL)
    remote = api.run(scenario, scheduler=cluster.address, progress=False)
    here = api.run(scenario, progress=False)
    assert remote.meta["workers"] == 2  # one shard per worker thread
    for name in ("ledger", "inmails", "members", "billing"):
        pd.testing.assert_frame_equal(getattr(remote.tables, name), getattr(here.tables, name))
    assert remote.tables.history.equals(here.tables.history)
    assert remote.summary == here.summary


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_map_keeps_the_order_of_the_items(kind: str) -> None:
    """Every executor's map returns results in the items' order."""
    with make_executor(kind, 2) as executor:
        assert isinstance(executor, LocalExecutor | DaskExecutor)
        assert executor.map(abs, [-5, 4, -3, 2, -1]) == [5, 4, 3, 2, 1]
        done = sorted((c.index, c.value) for c in executor.unordered(abs, [-1, -2, -3]))
        assert done == [(0, 1), (1, 2), (2, 3)]


def _descendants(pid: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in found and child not in found:
                found.add(child)
                changed = True
    found.discard(pid)
    return sorted(found)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_dead_dask_worker_does_not_change_the_tables(
    cluster: SimpleNamespace, tmp_path: Path
) -> None:
    """A worker process killed mid-sweep: Dask reruns its tasks; the tables are unchanged."""
    path = tmp_path / "slower.yaml"
    path.write_text(SCENARIO.replace("members: 30", "members: 150").replace("60", "120"))
    spec = ["--grid", "policy.refund.window_days=7,14", "--replications", "30", "--seed", "2",
            "--no-plots", "--no-progress"]  # fmt: skip
    out = tmp_path / "dying"
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, "sweep", str(path), *spec, "--scheduler", cluster.address,
         "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(list((out / "runs").glob("*.json"))) < 4:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # `dask worker` -> nannies -> worker processes: kill a worker process (the leaves).
    tree = _descendants(cluster.workers.pid)
    leaves = [p for p in tree if not _descendants(p)]
    assert leaves
    os.kill(leaves[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    reference = tmp_path / "reference"
    assert main(["sweep", str(path), *spec, "--workers", "2", "--out", str(reference)]) == 0
    _same_tables(out, reference)
    from distributed import Client

    with Client(cluster.address, timeout="20s") as client:  # the nanny restarts the worker
        client.wait_for_workers(2, timeout=60)


def test_a_scheduler_that_does_not_answer_is_one_line_after_a_bounded_wait(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A well-formed address where nothing listens: exit 2, one line naming it, within the
    client's 10 s connection timeout (executors.DaskExecutor) and some slack; nothing run."""
    address = f"tcp://127.0.0.1:{_free_port()}"  # free: nothing listens there
    started = time.monotonic()
    code = cli.main(["sweep", str(scenario), *SPEC, "--scheduler", address,
                     "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 2 and time.monotonic() - started < 60
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"--scheduler {address}: cannot connect")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_dead_dask_worker_mid_sharded_run_does_not_change_the_tables(
    cluster: SimpleNamespace,
) -> None:
    """Issue 15, fault 12: a worker process killed while it simulates a shard of a run.

    The scheduler gives the lost shard to another worker (the nanny restarts the
    dead one); the run's tables are a local run's. The kill waits until a worker
    has used 0.3 s of CPU on this run, so it lands while the shards simulate.
    """
    import threading

    scenario = load_scenario(SMALL).with_overrides({"population[1].members": 2000})  # ~4 s
    leaves = [p for p in _descendants(cluster.workers.pid) if not _descendants(p)]
    before = {p: _cpu_seconds(p) for p in leaves}
    outcome: dict[str, object] = {}

    def remote() -> None:
        try:
            outcome["run"] = api.run(scenario, scheduler=cluster.address, progress=False)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=remote)
    thread.start()
    deadline = time.monotonic() + 60
    busy = None
    while busy is None:
        assert thread.is_alive() and time.monotonic() < deadline, "the shards never ran"
        busy = next((p for p in leaves if _cpu_seconds(p) - before[p] > 0.3), None)
        time.sleep(0.02)
    os.kill(busy, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the run hung after losing a worker"
    assert "error" not in outcome, outcome.get("error")
    here = api.run(scenario, progress=False)
    got = outcome["run"]
    for name in ("ledger", "inmails", "members", "billing"):
        pd.testing.assert_frame_equal(getattr(got.tables, name), getattr(here.tables, name))  # type: ignore[attr-defined]
    assert got.summary == here.summary  # type: ignore[attr-defined]
    from distributed import Client

    with Client(cluster.address, timeout="20s") as client:  # the nanny restarts the worker
        client.wait_for_workers(2, timeout=60)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (/proc/PID/stat), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_task_that_keeps_killing_its_worker_is_one_line() -> None:
    """KilledWorker (the scheduler's allowed-failures spent) is an ExecutionError, not a
    traceback or a hang: exit status 1 at the CLI, the work not published."""
    import dask

    from simulator.errors import ExecutionError

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        executor = DaskExecutor(workers=1)
    with executor, pytest.raises(ExecutionError) as err:
        executor.map(os._exit, [1])  # the worker process exits while running the task
    (line,) = err.value.lines()
    assert line.startswith("Dask: a task was lost with its worker too many times (")
    assert err.value.exit_code == 1


def test_a_sensitivity_study_on_dask_writes_the_local_files(scenario: Path, tmp_path: Path) -> None:
    """Issue 16: a study on a LocalCluster writes the files the local pool writes."""
    pytest.importorskip("SALib")
    study = ["sensitivity", str(scenario), "--vary", "recipients.response_probability=0.1:0.5",
             "--vary", "policy.refund.window_days=3:14", "--samples", "4", "--no-progress",
             "--no-plots", "--metrics", "refund_rate,net_revenue"]  # fmt: skip
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main([*study, "--workers", "2", "--out", str(local)]) == 0
    assert main([*study, "--executor", "dask", "--workers", "2", "--out", str(dask)]) == 0
    for name in ("design.csv", "results.parquet", "sensitivity.csv"):
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name


def _run_files(run_dir: Path) -> dict[str, bytes]:
    """A run directory's files but run.json (timings, workers), by relative path."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != "run.json"}  # fmt: skip


def test_cluster_workers_write_the_parts_of_the_local_run(
    cluster: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """creditsim run --scheduler (workers in another working directory, --out relative
    here) and --executor dask (a LocalCluster): the workers write the batches' parts, the
    same files as local processes."""
    monkeypatch.chdir(tmp_path)
    base = ["run", str(SMALL), "--batch-members", "10", "--no-progress", "--no-report"]
    assert main([*base, "--workers", "2", "--out", "local"]) == 0
    assert main([*base, "--scheduler", cluster.address, "--out", "remote"]) == 0
    assert main([*base, "--executor", "dask", "--workers", "2", "--out", "cluster"]) == 0
    local = _run_files(tmp_path / "local")
    assert sum(name.startswith("ledger/part-") for name in local) > 2
    assert _run_files(tmp_path / "remote") == local
    assert _run_files(tmp_path / "cluster") == local
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster", "local", "remote"]


def test_workers_that_cannot_use_the_folder_are_one_line(
    cluster: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The staging folder the workers are sent lacks what this process wrote there (as on
    a worker that does not share the storage): one line before any batch runs, not a hang."""
    from simulator import runformat

    real = runformat.start_staging

    def not_shared(out, plan, resume):  # type: ignore[no-untyped-def]
        folder, done = real(out, plan, resume)
        (folder / ".batches" / "plan.json").unlink()  # what a worker elsewhere would not see
        return folder, done

    monkeypatch.setattr(runformat, "start_staging", not_shared)
    out = tmp_path / "r"
    argv = ["run", str(SMALL), "--no-progress", "--scheduler", cluster.address, "--out", str(out)]
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "cannot use the run's folder" in line and "plan.json" not in line
    assert "--out must be on storage every worker sees" in line
    assert not out.exists()
    assert not list(runformat.staging_dir(out).glob("*/part-*")), "no batch ran"
