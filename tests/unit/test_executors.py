"""One reading of workers, executor and scheduler (executors.resolve_execution), its
messages naming parameters, and the command line's words for them (cli.messages)."""

from __future__ import annotations

import pytest

from simulator.cli.messages import as_flags
from simulator.errors import UsageError
from simulator.executors import (
    LocalExecutor,
    SerialExecutor,
    check_workers,
    executor_kind,
    resolve_execution,
)


@pytest.mark.parametrize(
    ("workers", "executor", "scheduler", "message"),
    [
        (2, "local", "tcp://127.0.0.1:1", "scheduler needs executor='dask'"),
        (2, "slurm", None, "executor: must be one of local, dask, got 'slurm'"),
        (0, None, None, "workers must be a whole number >= 1, got 0"),
        (True, None, None, "workers must be a whole number >= 1, got True"),
        (2.5, None, None, "workers must be a whole number >= 1, got 2.5"),
    ],
)
def test_bad_combinations_name_the_parameters(
    workers: object, executor: str | None, scheduler: str | None, message: str
) -> None:
    with pytest.raises(UsageError) as err:
        resolve_execution(workers, executor, scheduler)  # type: ignore[arg-type]
    assert err.value.lines() == (message,)


def test_local_work_runs_here_for_one_worker_else_on_a_pool() -> None:
    with resolve_execution(1) as one:
        assert isinstance(one.executor, SerialExecutor) and one.workers == 1
    with resolve_execution(None, default_workers=3) as three:
        assert isinstance(three.executor, LocalExecutor) and three.workers == 3
        assert three.describe() == "3 local processes"
    with resolve_execution(2, "local", pool=False) as runner:
        assert runner.executor is None and runner.workers == 2  # the runner's own pool


def test_a_given_executor_is_used_and_left_open() -> None:
    given = LocalExecutor(2)
    with resolve_execution(None, given) as use:
        assert use.executor is given and use.workers == 2
    assert given.map(abs, [-1]) == [1]  # still open
    given.close()


def test_kinds() -> None:
    assert executor_kind() == "local"
    assert executor_kind(None, "tcp://h:1") == "dask"
    assert executor_kind(SerialExecutor()) is None
    assert check_workers(None) is None and check_workers(4) == 4


@pytest.mark.parametrize(
    ("command", "library", "cli"),
    [
        ("run", "workers must be a whole number >= 1, got 0",
         "creditsim run: --workers must be >= 1, got 0"),
        ("sweep", "workers must be a whole number >= 1, got -2",
         "creditsim sweep: --workers must be >= 1, got -2"),
        ("run", "batch_members must be a whole number >= 1, got 0",
         "creditsim run: --batch-members must be >= 1, got 0"),
        ("sweep", "scheduler needs executor='dask'", "--scheduler needs --executor dask"),
        ("sweep", "scheduler tcp://h:1: cannot connect: refused",
         "--scheduler tcp://h:1: cannot connect: refused"),
        ("run", "executor='dask' needs Dask: pip install 'creditsim[dask]' (dask[distributed])",
         "--executor dask needs Dask: pip install 'creditsim[dask]' (dask[distributed])"),
        ("run", "out o: holds an earlier output; pass overwrite=True to replace it",
         "creditsim run: --out o: holds an earlier output; pass --overwrite to replace it"),
        ("replay", "until: not an instant", "creditsim replay: --until: not an instant"),
        ("compare", "a.yaml (): estimated memory 2 GiB per run x 2 runs at once exceeds the "
         "1 GiB available; pass force=True to start anyway, or fewer workers",
         "creditsim compare: a.yaml (): estimated memory 2 GiB per run x 2 runs at once "
         "exceeds the 1 GiB available; pass --force to start anyway, or fewer --workers"),
        ("run", "s.yaml: seed: must be a whole number", "s.yaml: seed: must be a whole number"),
    ],
)  # fmt: skip
def test_the_command_line_says_its_flags(command: str, library: str, cli: str) -> None:
    assert as_flags(command, [library]) == (cli,)
