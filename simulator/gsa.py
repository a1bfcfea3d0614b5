"""Global sensitivity analysis: which varied assumptions drive a metric (issue 16).

A study varies D scenario keys over ranges (``--vary KEY=LOW:HIGH``) or
choices (``--vary KEY=V1,V2,...``), samples a design with SALib (Saltelli's
scheme for Sobol indices, Morris trajectories, or a Latin hypercube), runs
every distinct design point as a sweep point (:mod:`simulator.sweeps`:
validated before anything runs, streamed to disk, resumable, local or Dask,
replications on common seeds), and analyses each metric's mean over the
replications with SALib:

* ``sobol``: first-order ``S1`` and total ``ST`` indices (the share of the
  metric's variance a key explains alone, and with its interactions), from
  ``N * (D + 2)`` points (``N`` a power of two);
* ``morris``: ``mu_star`` (the mean absolute elementary effect, in the
  metric's units: a screening rank) and ``sigma`` (its spread: interactions
  or non-linearity), from ``N * (D + 1)`` points on a 4-level grid;
* ``lhs``: Spearman rank correlations of the metric with each key, from
  ``N`` points, with Fisher-z intervals.

Intervals are 95 %: bootstrap (1,000 resamples, seeded) for Sobol and Morris.
The design and the bootstraps are seeded from the study's seed (SALib's
default is unseeded), so a study resumed, re-run, local or on Dask writes
identical files. With ``against``, every point also runs under a second
scenario on the same seeds, and the metrics analysed are the paired
differences B - A: whether a policy conclusion survives the assumptions.

Choices where the issue is silent, documented in README ("Sensitivity"):
a whole-number key samples ``LOW..HIGH`` uniformly (the unit interval
``[LOW, HIGH + 1)`` floored); money (``pricing``) is rounded to cents; a
choice samples its index the same way; a key the scenario holds as text or
``true``/``false`` takes only choices. A metric that is undefined at some
point (``refund_rate`` with nothing settled) gets no indices (NaN), with a
note.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.errors import ScenarioError, UsageError
from simulator.outputs import atomic_write_text
from simulator.run_summary import SUMMARY_METRICS
from simulator.scenario import Scenario, load_scenario_with_block, parse_key_path
from simulator.sweeps import (
    MAX_RUNS,
    Axis,
    Plan,
    Point,
    SweepSpec,
    canonical_key,
    parse_scalar_values,
    plan_sweep,
    run_id,
    scalar_text,
)

__all__ = [
    "DEFAULTS",
    "DEFAULT_METRICS",
    "METHODS",
    "Sensitivity",
    "Study",
    "Vary",
    "analyse",
    "check_metrics",
    "design_runs",
    "load_study_scenario",
    "parse_vary",
    "plan_study",
    "point_means",
    "write_study",
]

METHODS = ("sobol", "morris", "lhs")
DEFAULT_METRICS = ("expiry_waste_rate", "refund_rate", "net_revenue")
#: What a study uses when neither a flag (an argument) nor the file's block says.
DEFAULTS: dict[str, Any] = {"method": "morris", "samples": 8, "replications": 1}
MORRIS_LEVELS = 4
BOOTSTRAP = 1_000
CONFIDENCE = 0.95
_MONEY = re.compile(r"-?[0-9]+\.[0-9]{2}\Z")


@dataclass(frozen=True)
class Vary:
    """One varied key: a numeric range (``low``..``high``) or ``choices``.

    ``kind`` is ``int``, ``float``, ``money`` or ``choice``; ``bounds`` are the
    SALib bounds of its unit variable.
    """

    key: str
    label: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    @property
    def bounds(self) -> tuple[float, float]:
        if self.kind == "choice":
            return (0.0, float(len(self.choices)))
        if self.kind == "int":
            return (self.low, self.high + 1.0)
        return (self.low, self.high)

    def extremes(self) -> tuple[Any, ...]:
        """The values at the ends of the range (every choice): what bounds the others."""
        if self.kind == "choice":
            return self.choices
        low, high = self.bounds
        return (self.value(low), self.value(high))  # value() keeps a whole number <= HIGH

    def value(self, x: float) -> Any:
        """The scenario value of the unit variable ``x`` (inside :attr:`bounds`)."""
        if self.kind == "choice":
            return self.choices[min(math.floor(x), len(self.choices) - 1)]
        if self.kind == "int":
            return min(math.floor(x), int(self.high))
        if self.kind == "money":
            return f"{round(x, 2):.2f}"
        return float(x)


def parse_vary(texts: Sequence[str], scenario: Scenario, flag: str = "vary") -> tuple[Vary, ...]:
    """``KEY=LOW:HIGH`` or ``KEY=V1,V2,...`` texts -> :class:`Vary`, typed by the scenario.

    Raises :class:`UsageError` with one line per problem, each naming ``flag``: the
    parameter, ``vary``, for a Python caller; the command line passes ``--vary``.
    """
    problems: list[str] = []
    out: list[Vary] = []
    document = scenario.to_dict()
    for text in texts:
        label = f"{flag} {text}"
        key_text, sep, rest = text.partition("=")
        key = canonical_key(label, key_text, problems)
        if key is None:
            continue
        if not sep or not rest.strip():
            problems.append(f"{label}: expected KEY=LOW:HIGH or KEY=V1,V2,...")
            continue
        current = _value_at(document, key)
        if ":" in rest and "," not in rest:
            vary = _range(label, key, rest, current, problems)
        else:
            values = parse_scalar_values(label, rest, problems)
            vary = None
            if values is not None and len(values) < 2:
                problems.append(f"{label}: a choice needs at least two values")
            elif values is not None:
                vary = Vary(key, label, "choice", choices=tuple(values))
        if vary is not None:
            if any(v.key == key for v in out):
                problems.append(f"{label}: {key} is varied twice")
                continue
            out.append(vary)
    if not out and not problems:
        problems.append(f"{flag}: give at least one KEY=LOW:HIGH or KEY=V1,V2,...")
    if problems:
        raise UsageError(*problems)
    return tuple(out)


def _range(label: str, key: str, text: str, current: Any, problems: list[str]) -> Vary | None:
    low_text, _, high_text = text.partition(":")
    bounds: list[float] = []
    for what, part in (("LOW", low_text), ("HIGH", high_text)):
        try:
            number = float(part.strip())
        except ValueError:
            problems.append(f"{label}: {what} must be a number, got {part.strip()!r}")
            continue
        if not math.isfinite(number):
            problems.append(f"{label}: {what} must be finite, got {part.strip()!r}")
            continue
        bounds.append(number)
    if len(bounds) != 2:
        return None
    low, high = bounds
    if not low < high:
        problems.append(f"{label}: LOW must be below HIGH, got {low:g}:{high:g}")
        return None
    if isinstance(current, bool):
        problems.append(f"{label}: {key} is true or false: give choices, KEY=false,true")
        return None
    if isinstance(current, str):
        if _MONEY.match(current):
            return Vary(key, label, "money", low, high)
        problems.append(f"{label}: {key} is text ({current!r}): give choices, KEY=V1,V2,...")
        return None
    written_whole = all(p.strip().lstrip("-").isdigit() for p in (low_text, high_text))
    whole = isinstance(current, int) or (current is None and written_whole)
    if whole:
        if low != math.floor(low) or high != math.floor(high):
            problems.append(f"{label}: {key} is a whole number: LOW and HIGH must be whole")
            return None
        return Vary(key, label, "int", low, high)
    return Vary(key, label, "float", low, high)


def _value_at(document: Mapping[str, Any], key: str) -> Any:
    node: Any = document
    for step in parse_key_path(key):
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


#: Keys of a scenario file's ``sensitivity:`` block (the flags' names).
BLOCK_KEYS = ("vary", "method", "samples", "replications", "metrics", "seed", "against")


def load_study_scenario(path: str | Path) -> tuple[Scenario, dict[str, Any]]:
    """A scenario file and its ``sensitivity:`` block as flag values (empty without one).

    The block holds the flags of ``creditsim sensitivity``: ``vary`` maps key
    paths to ``"LOW:HIGH"``, ``{low: L, high: H}`` or a list of choices;
    ``method``, ``samples``, ``replications``, ``seed``, ``metrics`` (a list)
    and ``against`` (a path relative to the file). It is taken out before the
    scenario is validated. Returned values: ``vary`` as ``KEY=...`` texts.
    """
    source = str(path)

    def parse(block: Any) -> dict[str, Any]:
        problems: list[str] = []
        flags = _block_flags(block, f"{source}: sensitivity", Path(source).parent, problems)
        if problems:
            raise ScenarioError(*problems)
        return flags

    scenario, flags = load_scenario_with_block(path, "sensitivity", parse)
    return scenario, flags or {}


def _block_flags(block: Any, where: str, base: Path, problems: list[str]) -> dict[str, Any]:
    if not isinstance(block, Mapping):
        problems.append(f"{where}: must be a mapping of the flags (vary, method, samples, ...)")
        return {}
    flags: dict[str, Any] = {}
    for key, value in block.items():
        at = f"{where}.{key}"
        if key not in BLOCK_KEYS:
            near = difflib.get_close_matches(str(key), BLOCK_KEYS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(f"{at}: unknown key{hint}")
        elif key == "vary":
            flags["vary"] = _block_vary(value, at, problems)
        elif key == "method":
            if value not in METHODS:
                problems.append(f"{at}: must be one of {', '.join(METHODS)}, got {value!r}")
            flags["method"] = value
        elif key in ("samples", "replications", "seed"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{at}: must be a whole number >= 0, got {value!r}")
            flags[key] = value
        elif key == "metrics":
            if not (isinstance(value, list) and all(isinstance(m, str) for m in value)):
                problems.append(f"{at}: must be a list of metric names, got {value!r}")
            flags["metrics"] = ",".join(map(str, value)) if isinstance(value, list) else value
        else:  # against
            if not isinstance(value, str) or not value:
                problems.append(f"{at}: must be the path of a scenario file, got {value!r}")
            flags["against"] = str(base / str(value))
    return flags


def _block_vary(value: Any, at: str, problems: list[str]) -> list[str]:
    if not isinstance(value, Mapping) or not value:
        problems.append(f"{at}: must map key paths to LOW:HIGH, {{low, high}} or choices")
        return []
    texts = []
    for key, spec in value.items():
        if isinstance(spec, str):
            texts.append(f"{key}={spec}")
        elif isinstance(spec, Mapping) and set(spec) == {"low", "high"}:
            texts.append(f"{key}={spec['low']}:{spec['high']}")
        elif isinstance(spec, list):  # text as JSON strings: a comma inside stays inside
            items = (json.dumps(v) if isinstance(v, str) else scalar_text(v) for v in spec)
            texts.append(f"{key}={', '.join(items)}")
        else:
            problems.append(f"{at}.{key}: must be 'LOW:HIGH', {{low: L, high: H}} or a list of "
                            f"choices, got {spec!r}")  # fmt: skip
    return texts


def problem(varies: Sequence[Vary]) -> dict[str, Any]:
    """The SALib problem of ``varies``: names and bounds of their unit variables."""
    return {
        "num_vars": len(varies),
        "names": [v.key for v in varies],
        "bounds": [list(v.bounds) for v in varies],
    }


def design_runs(method: str, samples: int, keys: int) -> int:
    """Design points of a study (runs = points x replications, x 2 with ``against``)."""
    return {"sobol": samples * (keys + 2), "morris": samples * (keys + 1)}.get(method, samples)


def sample(varies: Sequence[Vary], method: str, samples: int, seed: int) -> np.ndarray:
    """The design matrix (one row per point, one column per key's unit variable)."""
    from SALib.sample import latin, morris, sobol  # an optional extra (creditsim[sensitivity])

    spec = problem(varies)
    if method == "sobol":
        return np.asarray(sobol.sample(spec, samples, calc_second_order=False, seed=seed))
    if method == "morris":
        return np.asarray(morris.sample(spec, samples, num_levels=MORRIS_LEVELS, seed=seed))
    return np.asarray(latin.sample(spec, samples, seed=seed))


@dataclass(frozen=True)
class Study:
    """A planned study: the sweep plan of its distinct points and its design.

    ``design`` has one row per design point: ``sample`` (its row), ``run_id``
    (A's point; ``run_id_b`` under ``against``), each key's value and its
    unit variable ``x[KEY]``.
    """

    plan: Plan
    varies: tuple[Vary, ...]
    method: str
    samples: int
    design: pd.DataFrame
    against: bool = False


def plan_study(
    scenario: Scenario,
    varies: Sequence[Vary],
    method: str,
    samples: int,
    *,
    replications: int = 1,
    seed: int | None = None,
    against: Scenario | None = None,
    progress: Any = None,
) -> Study:
    """Sample the design and validate every distinct point (A's and B's); nothing runs."""
    if method not in METHODS:
        raise UsageError(f"method: {method!r}: use one of {', '.join(METHODS)}")
    try:  # an optional extra, like Dask
        import SALib  # noqa: F401
    except ImportError:
        raise UsageError("sensitivity analysis needs SALib: "
                         "pip install 'creditsim[sensitivity]'") from None  # fmt: skip
    if samples < 2:
        raise UsageError(f"samples must be at least 2, got {samples}")
    if method == "sobol" and samples & (samples - 1):
        raise UsageError(f"samples {samples}: Sobol designs need a power of two (e.g. "
                         f"{1 << samples.bit_length()})")  # fmt: skip
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    if replications < 1:
        raise UsageError(f"replications must be >= 1, got {replications}")
    varies = tuple(varies)
    master = seed if seed is not None else scenario.seed
    runs = design_runs(method, samples, len(varies)) * replications * (2 if against else 1)
    if runs > MAX_RUNS:
        raise UsageError(f"the study has up to {runs:,} runs; at most {MAX_RUNS:,} are allowed")
    matrix = sample(varies, method, samples, master)
    rows = [{v.key: v.value(x) for v, x in zip(varies, row, strict=True)} for row in matrix]
    distinct: dict[str, dict[str, Any]] = {}
    for params in rows:
        distinct.setdefault(run_id(params), params)
    unique = list(distinct.values())
    keys = tuple(v.key for v in varies)
    axis = Axis("zip", keys, tuple(tuple(p[k] for p in unique) for k in keys),
                tuple(v.label for v in varies))  # fmt: skip
    spec = SweepSpec((axis,), replications, master)
    # Each key is checked alone at its range's ends (or every choice), which names
    # the label (``vary``, the command line's ``--vary``) of a value the scenario refuses;
    # then every point as a whole.
    ends = {v.key: v.extremes() for v in varies}
    plan_a = plan_sweep(scenario, spec, progress=progress, check_values=ends)
    points = list(plan_a.points)
    if against is not None:
        plan_b = plan_sweep(against, spec, progress=progress, check_values=ends)
        points = [_side(p, "A") for p in plan_a.points] + [_side(p, "B") for p in plan_b.points]
        keys = (*keys, "scenario")
    extra = {"method": method, "samples": samples, "vary": [v.label for v in varies]}
    if against is not None:
        extra["against"] = against.source
    plan = replace(plan_a, kind="sensitivity", keys=keys, points=tuple(points),
                   extra={**dict(plan_a.extra), **extra})  # fmt: skip
    design = pd.DataFrame({"sample": range(len(rows))})
    ids = [run_id(p) for p in rows]
    if against is not None:
        design["run_id"] = [run_id({**p, "scenario": "A"}) for p in rows]
        design["run_id_b"] = [run_id({**p, "scenario": "B"}) for p in rows]
    else:
        design["run_id"] = ids
    for j, v in enumerate(varies):
        design[v.key] = [p[v.key] for p in rows]
        design[f"x[{v.key}]"] = matrix[:, j]
    return Study(plan, varies, method, samples, design, against is not None)


def _side(point: Point, side: str) -> Point:
    params = {**point.params, "scenario": side}
    return Point(run_id(params), params, point.scenario)


def check_metrics(names: Sequence[str]) -> tuple[str, ...]:
    """Metric names of ``summary.json`` (numbers); UsageError naming the unknown ones."""
    problems = []
    if any(not name for name in names):
        raise UsageError("metrics: expected NAME,NAME,... (summary.json's numbers)")
    names = list(dict.fromkeys(names))  # a metric named twice is analysed once
    for name in names:
        if name not in SUMMARY_METRICS:
            near = difflib.get_close_matches(name, SUMMARY_METRICS, n=1)
            hint = f"did you mean {near[0]!r}?" if near else "see README, summary.json"
            problems.append(f"metrics: unknown metric {name!r} ({hint})")
    if problems:
        raise UsageError(*problems)
    if not names:
        raise UsageError("metrics: name at least one metric")
    return tuple(names)


def point_means(study: Study, results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The metric per design row: the mean over replications (B - A under ``against``)."""
    ok = results[results["error"].isna()] if "error" in results else results
    # A metric no run defined may be stored as nulls of any type: numbers, NaN for None.
    values = ok[list(metrics)].apply(pd.to_numeric, errors="coerce").astype(float)
    means = values.groupby(ok["run_id"]).mean()
    a = means.reindex(study.design["run_id"]).to_numpy()
    if study.against:
        b = means.reindex(study.design["run_id_b"]).to_numpy()
        a = b - a
    return pd.DataFrame(a, columns=list(metrics), index=study.design["sample"])


def analyse(study: Study, means: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``sensitivity.csv``: one row per metric, key and index, with its 95 % interval.

    Columns ``metric, key, index, value, low, high``; ``index`` is ``S1``/``ST``
    (sobol), ``mu_star``/``sigma`` (morris, sigma without interval) or ``rho``
    (lhs).
    """
    rows: list[tuple[str, str, str, float, float, float]] = []
    x = study.design[[f"x[{v.key}]" for v in study.varies]].to_numpy()
    for metric in means.columns:
        y = means[metric].to_numpy(dtype=float)
        rows.extend((metric, *r) for r in _indices(study, x, y, seed))
    return pd.DataFrame(rows, columns=["metric", "key", "index", "value", "low", "high"])


def _indices(
    study: Study, x: np.ndarray, y: np.ndarray, seed: int
) -> list[tuple[str, str, float, float, float]]:
    keys = [v.key for v in study.varies]
    names = {"sobol": ("S1", "ST"), "morris": ("mu_star", "sigma"), "lhs": ("rho",)}[study.method]
    constant = np.ptp(y) == 0 if len(y) else True
    if not np.all(np.isfinite(y)) or (constant and study.method != "morris"):
        return [(k, n, math.nan, math.nan, math.nan) for k in keys for n in names]
    spec = problem(study.varies)
    if study.method == "sobol":
        from SALib.analyze import sobol  # an optional extra (creditsim[sensitivity])

        si = sobol.analyze(spec, y, calc_second_order=False, num_resamples=BOOTSTRAP,
                           conf_level=CONFIDENCE, seed=seed)  # fmt: skip
        return [
            (k, n, float(si[n][j]), float(si[n][j] - si[f"{n}_conf"][j]),
             float(si[n][j] + si[f"{n}_conf"][j]))
            for j, k in enumerate(keys) for n in names
        ]  # fmt: skip
    if study.method == "morris":
        from SALib.analyze import morris  # an optional extra (creditsim[sensitivity])

        mi = morris.analyze(spec, x, y, num_resamples=BOOTSTRAP, conf_level=CONFIDENCE,
                            num_levels=MORRIS_LEVELS, seed=seed)  # fmt: skip
        out = []
        for j, k in enumerate(keys):
            mu, half = float(mi["mu_star"][j]), float(mi["mu_star_conf"][j])
            out.append((k, "mu_star", mu, mu - half, mu + half))
            out.append((k, "sigma", float(mi["sigma"][j]), math.nan, math.nan))
        return out
    out = []
    z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
    for j, k in enumerate(keys):
        rho = float(stats.spearmanr(x[:, j], y).statistic)
        # Fisher z with the Fieller-Hartley-Pearson variance 1.06 / (n - 3) for Spearman.
        half = z * math.sqrt(1.06 / max(len(y) - 3, 1))
        centre = math.atanh(max(min(rho, 0.999999), -0.999999))
        low, high = math.tanh(centre - half), math.tanh(centre + half)
        out.append((k, "rho", rho, min(low, rho), max(high, rho)))  # |rho| = 1 stays inside
    return out


def write_study(
    study: Study, out: Path, metrics: Sequence[str], plots: bool = True
) -> tuple[pd.DataFrame, list[str], list[Path]]:
    """Analyse a finished study's ``results.parquet``; write ``sensitivity.csv`` and plots.

    Returns the indices, notes (metrics that got no indices, and why) and the
    paths written. The bootstrap is seeded from the study's master seed.
    """
    results = pd.read_parquet(out / "results.parquet")
    means = point_means(study, results, metrics)
    indices = analyse(study, means, study.plan.seed)
    notes = []
    for metric in metrics:
        y = means[metric].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            notes.append(f"{metric} is undefined at {int((~np.isfinite(y)).sum())} of "
                         f"{len(y)} design points (nothing to divide by): no indices")  # fmt: skip
        elif np.ptp(y) == 0:
            what = "its Morris effects are 0" if study.method == "morris" else "no indices"
            notes.append(f"{metric} is the same ({y[0]:g}) at every design point: {what}")
    atomic_write_text(out / "sensitivity.csv", indices.to_csv(index=False))
    written = [out / "sensitivity.csv"]
    if plots:
        from simulator import plots as charts  # loads matplotlib: only when drawing

        folder = out / "plots"
        folder.mkdir(exist_ok=True)
        keys = [v.key for v in study.varies]
        label = " (B - A)" if study.against else ""
        for metric in metrics:
            fig = charts.plot_sensitivity_indices(indices, metric + label, study.method,
                                                  rows=indices["metric"] == metric)  # fmt: skip
            written.append(charts.save_figure(fig, folder / f"indices-{metric}.png"))
            fig = charts.plot_sensitivity_scatter(study.design, means[metric], keys, metric + label)
            written.append(charts.save_figure(fig, folder / f"scatter-{metric}.png"))
    return indices, notes, written


class Sensitivity:
    """A finished study (``cs.sensitivity``): its indices, design and results on disk.

    ``indices`` is ``sensitivity.csv`` (one row per metric, key and index,
    with its 95 % interval); ``design`` has one row per design point;
    ``results`` one row per run (read from ``results.parquet`` on each access:
    small, one row per run); ``means`` the analysed metric per design point.
    """

    def __init__(self, out: Path, study: Study, indices: pd.DataFrame, metrics: Sequence[str]):
        self.out = out
        self.study = study
        self.indices = indices
        self.metrics = tuple(metrics)

    @property
    def design(self) -> pd.DataFrame:
        return self.study.design

    @property
    def results(self) -> pd.DataFrame:
        return pd.read_parquet(self.out / "results.parquet")

    @property
    def means(self) -> pd.DataFrame:
        return point_means(self.study, self.results, self.metrics)

    def plot(self, metric: str, kind: str = "indices") -> Any:
        """The indices of ``metric`` as bars with intervals, or (``kind="scatter"``) the
        metric at every design point against each key; a matplotlib Figure."""
        from simulator import plots as charts  # loads matplotlib: only when drawing

        charts.enable_inline_figures()  # a Figure made without pyplot, shown in Jupyter
        if metric not in self.metrics:
            raise UsageError(f"plot: {metric!r} was not analysed (the study's metrics: "
                             f"{', '.join(self.metrics)})")  # fmt: skip
        if kind == "scatter":
            keys = [v.key for v in self.study.varies]
            return charts.plot_sensitivity_scatter(self.design, self.means[metric], keys, metric)
        if kind != "indices":
            raise UsageError(f"plot: kind must be 'indices' or 'scatter', got {kind!r}")
        return charts.plot_sensitivity_indices(self.indices, metric, self.study.method,
                                               rows=self.indices["metric"] == metric)  # fmt: skip

    def __repr__(self) -> str:
        study = self.study
        size = f"{len(self.design)} design points, {study.plan.runs} runs"
        return f"<Sensitivity {study.method}: {len(study.varies)} keys, {size} in {self.out}>"
