"""Global sensitivity studies in the API: which varied assumptions drive a metric.

Job: :func:`sensitivity` (``creditsim sensitivity`` is this call): read the
scenario (and its ``sensitivity:`` block), plan the design with
:mod:`simulator.gsa`, run it with :func:`~simulator.api.execution.execute_plan`
(resumable, local or Dask) and analyse it into a :class:`simulator.gsa.Sensitivity`.

Boundary: the designs, indices and their intervals are :mod:`simulator.gsa`'s;
this module only wires the arguments (given, else the file's block, else the
defaults) to them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pandas as pd

from simulator import estimate, gsa
from simulator.api.execution import _api_workers, execute_plan
from simulator.api.overrides import apply_overrides
from simulator.errors import CreditsimError, UsageError
from simulator.executors import Executor
from simulator.gsa import DEFAULT_METRICS, DEFAULTS, METHODS, Sensitivity, Study
from simulator.scenario import Scenario, load_scenario
from simulator.sweeps import Progress, SweepResult, scalar_text

__all__ = ["DEFAULT_METRICS", "METHODS", "StudyRun", "sensitivity"]


def sensitivity(
    scenario: Scenario | str | os.PathLike[str],
    vary: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    method: str | None = None,
    samples: int | None = None,
    replications: int | None = None,
    metrics: Sequence[str] | None = None,
    against: Scenario | str | os.PathLike[str] | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int | None = 1,
    executor: str | Executor | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool | Progress | None = True,
    plots: bool = True,
    overrides: Mapping[str | tuple[str | int, ...], Any] | None = None,
    argument_problems: Sequence[str] = (),
    force: bool = True,
    complete: bool = True,
    on_study: Callable[[Study, int, float], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    on_notes: Callable[[list[str]], None] | None = None,
    vary_name: str = "vary",
) -> StudyRun:
    """Which varied keys drive the metrics: a global sensitivity study (``creditsim
    sensitivity``); returns a :class:`simulator.gsa.Sensitivity`.

    ``vary`` maps key paths to a range, ``(low, high)``, or choices, a list
    (``{"recipients.response_probability": (0.1, 0.4), "policy.preset":
    ["inmail-2014", "inmail-2015"]}``), or the CLI's text (``"0.1:0.4"``);
    or it is a list of the CLI's ``KEY=LOW:HIGH`` texts.
    ``method`` is ``"sobol"`` (``samples`` a power of two), ``"morris"``
    (the default, 8 trajectories) or ``"lhs"``; arguments left out come from
    a scenario file's ``sensitivity:`` block, if it has one;
    ``metrics`` are summary.json numbers (default
    :data:`simulator.gsa.DEFAULT_METRICS`). With ``against``, every
    point also runs under that scenario on the same seeds and the indices are
    of B - A. Runs stream to ``out`` (default a scratch folder) as in
    :func:`sweep`, resumable, on ``workers`` processes or ``executor``.
    ``overrides``, ``argument_problems``, ``force``, ``complete`` and
    ``on_start`` as :func:`sweep`; ``on_study(study, design points, CPU
    seconds estimated)`` hears the study's size before it runs, ``on_notes``
    the analysis' notes (default: warnings); ``vary_name`` is what messages and
    the design's labels call the varied keys (the command line: ``--vary``).
    The result's ``run_result`` says how the runs went and ``files`` what was
    written; with ``complete=False`` a study whose runs did not all succeed is
    not analysed (``indices`` None).

    >>> st = sensitivity(scaled("scenarios/baseline.yaml", 0.02, duration_days=60),
    ...                  {"recipients.response_probability": (0.1, 0.4),
    ...                   "policy.refund.window_days": (3, 14)}, samples=4)  # doctest: +SKIP
    >>> st.indices; st.plot("refund_rate")  # doctest: +SKIP
    """
    block: dict[str, Any] = {}
    named: list[tuple[str, Scenario]] = []
    problems: list[str] = []
    if isinstance(scenario, Scenario):
        named.append((scenario.source, scenario))
    else:
        try:
            sc, block = gsa.load_study_scenario(os.fspath(scenario))
            named.append((os.fspath(scenario), sc))
        except CreditsimError as exc:
            problems.extend(exc.problems)
    if against is None and block.get("against"):
        against = block["against"]
    if isinstance(against, Scenario):
        named.append((against.source, against))
    elif against is not None:
        try:
            named.append((os.fspath(against), load_scenario(os.fspath(against))))
        except CreditsimError as exc:
            problems.extend(exc.problems)
    if problems:
        raise UsageError(*problems, *argument_problems)
    scenarios = apply_overrides(named, overrides, argument_problems)
    if metrics is None and block.get("metrics") is not None:
        metrics = str(block["metrics"]).split(",")
    names = gsa.check_metrics(
        [m.strip() for m in metrics] if metrics is not None else list(DEFAULT_METRICS)
    )
    if isinstance(vary, Mapping):
        texts = [f"{key}={_vary_text(value)}" for key, value in vary.items()]
    else:
        texts = list(vary) if vary else block.get("vary", [])
    varies = gsa.parse_vary(texts, scenarios[0], flag=vary_name)

    def given(value: Any, name: str) -> Any:  # the argument, else the block, else the default
        return value if value is not None else block.get(name, DEFAULTS.get(name))

    method, samples = given(method, "method"), given(samples, "samples")
    replications = given(replications, "replications")
    study = gsa.plan_study(scenarios[0], varies, method, samples, replications=replications,
                           seed=given(seed, "seed"),
                           against=scenarios[1] if against is not None else None)  # fmt: skip
    if on_study is not None:
        # Said before anything runs (every point is valid by now): the size and a rough time.
        seconds = sum(estimate.estimate_run_seconds(p.scenario) for p in study.plan.points)
        on_study(study, gsa.design_runs(method, samples, len(varies)), seconds * replications)
    design = {"design.csv": study.design.to_csv(index=False)}
    result = execute_plan(study.plan, out, workers=_api_workers(workers, executor, scheduler),
                          executor=executor, scheduler=scheduler, resume=resume,
                          keep_runs=False, progress=progress, plots=False, files=design,
                          force=force, complete=complete, on_start=on_start)  # fmt: skip
    analysed = result.complete and (complete or not result.failed)
    indices, notes, written = (
        gsa.write_study(study, result.out, names, plots=plots) if analysed else (None, [], [])
    )
    if on_notes is not None:
        on_notes(notes)
    else:
        for note in notes:
            warnings.warn(note, stacklevel=2)
    return StudyRun(result.out, study, indices, names, result, written)


class StudyRun(Sensitivity):
    """A :class:`simulator.gsa.Sensitivity` as :func:`sensitivity` ran it: also
    ``run_result``, how its runs went, and ``files``, what the analysis wrote."""

    def __init__(
        self,
        out: Path,
        study: Study,
        indices: pd.DataFrame | None,
        metrics: Sequence[str],
        run_result: SweepResult,
        files: Sequence[Path],
    ) -> None:
        super().__init__(out, study, cast(pd.DataFrame, indices), metrics)
        self.run_result = run_result
        self.files = list(files)


def _vary_text(value: Any) -> str:
    """A ``vary`` value as the CLI's text: a tuple is a range, a list choices."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        # numpy numbers and numbers written as text are numbers too
        return ":".join(str(v) if isinstance(v, str) else repr(float(v)) for v in value)
    if isinstance(value, list | tuple):
        return ", ".join(scalar_text(v) for v in value)
    raise UsageError(f"vary: expected (low, high), a list of choices or 'LOW:HIGH', got {value!r}")
