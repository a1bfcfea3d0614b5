"""Sweep plans: a spec expanded over a scenario into a validated run table.

Job: expand a :class:`~simulator.sweeps.spec.SweepSpec` into points
(:func:`expand`), validate every point against the scenario before anything
runs (:func:`plan_sweep`; :func:`plan_compare` for two scenarios), name each
point (:func:`run_id`, hashing :func:`canonical_params`) and seed each
replication (:func:`replication_seed`), and order points by value
(:func:`ordered_points`).

Two types hold a run table. :class:`RunTable` is what a sweep folder
records (``runs.csv`` and ``sweep.json``): points with their run ids and
typed parameters (:class:`TablePoint`), replications and the master seed;
enough to order, table and plot the points, and what
:func:`simulator.sweeps.folder.load_run_table` reads back. :class:`Plan` is a
run table whose points (:class:`Point`) carry their validated scenarios:
what :func:`simulator.sweeps.execution.execute` runs and ``--resume``
fingerprints.

Determinism, which tests pin:

- Replication ``r`` (0, 1, ...) of *every* point runs with the seed
  :func:`replication_seed` ``(master, r)``: the first 32-bit word of
  ``numpy.random.SeedSequence(master, spawn_key=(r,))``. Each member draws
  only from ``SeedSequence(seed, spawn_key=(member,))``, so all points of a
  replication see the same random streams (common random numbers).
- A run id is :func:`run_id` of the point's parameters: a readable prefix
  (``window_days=7__grant_expiry_days=60``) and the first 8 hex digits of
  the SHA-256 of the parameters dumped as canonical YAML (keys sorted).

Boundary: nothing runs here and nothing is written; the scenario's schema
is :mod:`simulator.scenario`, the warm-up pilot :mod:`simulator.warmup`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import yaml

from simulator.errors import CreditsimError, ScenarioError, UsageError
from simulator.scenario import Scenario
from simulator.sweeps.spec import SweepSpec, scalar_text
from simulator.warmup import resolve_warmup
from simulator.yamlio import dump_yaml

__all__ = [
    "MAX_RUNS",
    "Plan",
    "Point",
    "RunTable",
    "TablePoint",
    "canonical_params",
    "expand",
    "file_label",
    "ordered_points",
    "plan_compare",
    "plan_sweep",
    "replication_seed",
    "run_id",
]

# At most this many runs in a sweep or a comparison: every point is validated
# before anything runs (about 0.8 ms a point on the baseline, so a minute or two
# at the cap) and every run is a row of results.parquet; a larger study is better
# split into sweeps (or sampled; the issue on sensitivity analysis).
MAX_RUNS = 100_000
_MARK = "\x00sweep"  # the source name of trial overrides, replaced in messages
_MAX_PROBLEMS = 30
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


# -- expansion, run ids and seeds ------------------------------------------------


def expand(spec: SweepSpec) -> list[dict[str, Any]]:
    """The sweep's points, ``{key: value}`` each: the cartesian product of its axes.

    The first axis varies slowest. A spec without axes has one point, ``{}``.
    """
    points = []
    for combo in itertools.product(*(axis.points() for axis in spec.axes)):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        points.append(merged)
    return points


def replication_seed(master: int, replication: int) -> int:
    """The seed of replication ``replication`` of every point of a sweep with seed ``master``.

    The first 32-bit word of ``SeedSequence(master, spawn_key=(replication,))``.
    """
    ss = np.random.SeedSequence(master, spawn_key=(replication,))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def run_id(params: Mapping[str, Any]) -> str:
    """A short, stable, readable id for a point's parameters.

    ``<leaf>=<value>`` pairs joined by ``__`` (the last name of each key
    path; the whole path where two keys share a last name), cut to 60
    characters, then ``__`` and 8 hex digits of the SHA-256 of the
    parameters as canonical YAML (keys sorted). Without parameters the
    prefix is ``base``.
    """
    digest = hashlib.sha256(canonical_params(params).encode("utf-8")).hexdigest()[:8]
    leaves = {k: _leaf(k) for k in params}
    counts: dict[str, int] = {}
    for leaf in leaves.values():
        counts[leaf] = counts.get(leaf, 0) + 1
    parts = []
    for key, value in params.items():
        name = leaves[key] if counts[leaves[key]] == 1 else key
        parts.append(f"{name}={scalar_text(value)}")
    prefix = file_label("__".join(parts))[:60] or "base"
    return f"{prefix}__{digest}"


def canonical_params(params: Mapping[str, Any]) -> str:
    """The parameters as canonical YAML, ``{a: 1, b: 0.5}`` (keys sorted): what run ids hash.

    Values that are numbers, booleans or null are joined from cached key texts
    and :func:`scalar_text`, which is what PyYAML's flow style writes for them
    (a test compares the two); anything else goes through PyYAML.
    """
    if all(v is None or type(v) in (bool, int, float) for v in params.values()) and all(
        type(v) is not float or math.isfinite(v) for v in params.values()
    ):
        items = ", ".join(f"{_flow_key(k)}: {scalar_text(params[k])}" for k in sorted(params))
        return "{" + items + "}\n"
    return yaml.safe_dump(
        {k: params[k] for k in sorted(params)}, sort_keys=True, default_flow_style=True,
        width=10**9, allow_unicode=True,
    )  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _flow_key(key: str) -> str:
    """A key as PyYAML writes it in a flow mapping (quoted when it holds ``[``, ...)."""
    text = yaml.safe_dump({key: 0}, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removeprefix("{").removesuffix(": 0}\n")


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def file_label(text: str) -> str:
    """``text`` (a key path, or a run id's ``key=value`` pairs) as a file name.

    ``[1]`` becomes ``1``; every run of characters other than letters, digits
    and ``._=+-`` becomes ``-``.
    """
    return _SAFE.sub("-", re.sub(r"\[(\d+)\]", r"\1", text))


# -- the plan --------------------------------------------------------------------


@dataclass(frozen=True)
class TablePoint:
    """One point of a run table: its run id and parameters (key column -> value)."""

    run_id: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Point(TablePoint):
    """One point of a plan: its run id, parameters and validated scenario."""

    scenario: Scenario


_P = TypeVar("_P", bound=TablePoint, covariant=True)
_T = TypeVar("_T", bound=TablePoint)


@dataclass(frozen=True)
class RunTable(Generic[_P]):
    """Points x replications, with their seeds: what a sweep folder records.

    A ``RunTable[TablePoint]`` (points without scenarios) is what
    :func:`simulator.sweeps.folder.load_run_table` reads back from a folder's
    ``sweep.json`` and ``runs.csv``: it can be ordered, tabled and plotted,
    not run. A :class:`Plan` is a run table of :class:`Point` values.
    """

    kind: str  # "sweep", "compare" or "sensitivity"
    source: str
    keys: tuple[str, ...]
    points: tuple[_P, ...]
    replications: int
    seed: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.points) * self.replications

    def seeds(self) -> list[int]:
        return [replication_seed(self.seed, r) for r in range(self.replications)]

    def rows(self) -> Iterator[tuple[_P, int, int]]:
        """``(point, replication, seed)`` in run-table order (points, then replications)."""
        seeds = self.seeds()
        for point in self.points:
            for r in range(self.replications):
                yield point, r, seeds[r]

    def table_csv(self) -> str:
        """The run table, ``runs.csv``: run_id, one column per key, replication, seed."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["run_id", *self.keys, "replication", "seed"])
        for point, r, seed in self.rows():
            writer.writerow([point.run_id, *(scalar_text(point.params[k]) for k in self.keys),
                             r, seed])  # fmt: skip
        return buf.getvalue()


@dataclass(frozen=True)
class Plan(RunTable[Point]):
    """A validated run table: points (with their scenarios) x replications, with their seeds."""

    def fingerprint(self) -> str:
        """SHA-256 of the run table and every point's resolved scenario (for --resume).

        The scenarios are hashed as canonical JSON (keys sorted): 30 times faster than
        YAML, which mattered for studies of hundreds of points. Folders written before
        carry :meth:`yaml_fingerprint`, which ``--resume`` still accepts.
        """
        h = hashlib.sha256(b"json:" + self.table_csv().encode("utf-8"))
        for point in self.points:
            text = json.dumps(point.scenario.to_dict(), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False, default=str)  # fmt: skip
            h.update(text.encode("utf-8"))
        return h.hexdigest()

    def yaml_fingerprint(self) -> str:
        """The fingerprint of sweep folders written before 2026-12-05 (scenarios as YAML)."""
        h = hashlib.sha256(self.table_csv().encode("utf-8"))
        for point in self.points:
            h.update(dump_yaml(point.scenario.to_dict()).encode("utf-8"))
        return h.hexdigest()


def plan_sweep(
    scenario: Scenario,
    spec: SweepSpec,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_values: Mapping[str, Sequence[Any]] | None = None,
) -> Plan:
    """Expand ``spec`` over ``scenario`` and validate every point; nothing runs.

    The master seed is ``seed``, else the spec's, else the scenario's. Raises
    :class:`UsageError` (flags) or :class:`ScenarioError` (a ``sweep:`` block)
    with one line per problem, naming the flag or key. ``progress(done,
    total)`` is called as points are validated (about half a millisecond
    each on the baseline, so a sweep of the largest size takes about a minute).

    Every value of every key is first checked alone, so a bad value is named with
    its flag; ``check_values`` (key -> values) checks those instead, for axes whose
    values are many and bounded by a few (a sensitivity design: its ranges' ends).
    """
    master = seed if seed is not None else spec.seed if spec.seed is not None else scenario.seed
    _check_counts(spec.replications, master)
    npoints = math.prod(len(axis) for axis in spec.axes)
    if npoints * spec.replications > MAX_RUNS:
        raise UsageError(f"the sweep has {npoints * spec.replications:,} runs; at most "
                         f"{MAX_RUNS:,} are allowed")  # fmt: skip
    problems: list[str] = []
    error_class: type[CreditsimError] = ScenarioError
    # The scenario of each single override, kept when a point is just that
    # override (a one-key axis), so no point is validated twice.
    single: dict[tuple[str, str, str], Scenario] = {}
    keep_single = len(spec.axes) == 1 and len(spec.axes[0].keys) == 1
    for axis in spec.axes:
        for key, label, values in zip(axis.keys, axis.labels, axis.values, strict=True):
            if check_values is not None:
                values = tuple(check_values.get(key, values))
            if label.startswith("--"):
                error_class = UsageError
                # A flag's value is checked against the scenario: name both.
                label = f"{scenario.source} ({label})"
            for value in values:
                if key == "warmup_days" and value == "auto":
                    problems.append(
                        f"{label}: warmup_days: auto cannot be a sweep value: it is chosen "
                        "once, for the base scenario (set warmup_days: auto there instead)"
                    )
                    continue
                try:
                    built = scenario.with_overrides({key: value}, source=_MARK)
                except CreditsimError as exc:
                    problems.extend(_relabel(exc, key, label))
                    continue
                if keep_single:
                    single[(key, type(value).__name__, repr(value))] = built
    _raise_problems(problems, error_class)
    # warmup_days: auto is resolved once, for the base, so every point shares
    # it; only now, so bad flags cost no pilot.
    scenario, auto = resolve_warmup(scenario)
    if auto is not None:
        single = {}  # built before the warm-up was resolved
    points: list[Point] = []
    ids: dict[str, dict[str, Any]] = {}
    for done, params in enumerate(expand(spec), start=1):
        if progress is not None and (done % 1000 == 0 or done == npoints):
            progress(done, npoints)
        rid = run_id(params)
        if rid in ids:  # pragma: no cover - a SHA-256 prefix collision with equal prefixes
            raise UsageError(f"two sweep points share the run id {rid}: {ids[rid]} and {params}")
        ids[rid] = params
        overrides: dict[str | tuple[str | int, ...], Any] = {k: v for k, v in params.items()}
        known = (
            single.get(next((k, type(v).__name__, repr(v)) for k, v in params.items()))
            if len(params) == 1
            else None
        )
        try:
            point_scenario = (
                known
                if known is not None
                else scenario.with_overrides(overrides, source=_MARK)
                if params
                else scenario
            )
        except CreditsimError as exc:
            where = ", ".join(f"{k}={scalar_text(v)}" for k, v in params.items())
            problems.extend(line.replace(_MARK, f"sweep point {where}") for line in exc.problems)
            continue
        points.append(Point(rid, dict(params), point_scenario))
    _raise_problems(problems, error_class)
    extra = {"warmup_auto": auto} if auto is not None else {}
    return Plan("sweep", scenario.source, spec.keys, tuple(points), spec.replications, master,
                extra)  # fmt: skip


def plan_compare(a: Scenario, b: Scenario, replications: int = 5, seed: int | None = None) -> Plan:
    """Two scenarios, A and B, on the same replication seeds (master: ``seed`` or A's).

    ``warmup_days: auto`` is resolved once, on A (or on B when only B has
    it), and the chosen warm-up given to both sides that asked for ``auto``.
    """
    master = seed if seed is not None else a.seed
    if replications < 2:
        raise UsageError(f"replications must be >= 2 to compare, got {replications}")
    _check_counts(replications, master)
    if 2 * replications > MAX_RUNS:
        raise UsageError(f"replications {replications:,}: the comparison would have "
                         f"{2 * replications:,} runs; at most {MAX_RUNS:,} are "
                         "allowed")  # fmt: skip
    base = a if a.auto_warmup else b
    resolved, auto = resolve_warmup(base)
    if auto is not None:
        chosen: dict[str | tuple[str | int, ...], Any] = {"warmup_days": resolved.warmup_days}
        a = a.with_overrides(chosen, source=a.source) if a.auto_warmup else a
        b = b.with_overrides(chosen, source=b.source) if b.auto_warmup else b
    points = (Point("A", {"scenario": a.source}, a), Point("B", {"scenario": b.source}, b))
    extra: dict[str, Any] = {"a": a.source, "b": b.source}
    if auto is not None:
        extra["warmup_auto"] = auto
    return Plan("compare", f"{a.source} vs {b.source}", ("scenario",), points, replications,
                master, extra)  # fmt: skip


def _check_counts(replications: int, seed: int) -> None:
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise UsageError(f"replications must be >= 1, got {replications}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed}")


def _relabel(exc: CreditsimError, key: str, label: str) -> list[str]:
    out = []
    for line in exc.problems:
        if line.startswith(f"{_MARK}: "):
            rest = line[len(_MARK) + 2 :]
            rest = rest[len(key) + 2 :] if rest.startswith(f"{key}: ") else rest
            out.append(f"{label}: {rest}")
        else:
            out.append(line.replace(_MARK, label))
    return out


def _raise_problems(problems: list[str], error_class: type[CreditsimError]) -> None:
    if not problems:
        return
    unique = list(dict.fromkeys(problems))
    if len(unique) > _MAX_PROBLEMS:
        more = len(unique) - _MAX_PROBLEMS
        unique = [*unique[:_MAX_PROBLEMS], f"... and {more} more problems"]
    raise error_class(*unique)


# -- order by value -------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ordered_points(plan: RunTable[_T]) -> list[_T]:
    """The plan's points sorted by value, key by key in the order of ``plan.keys``.

    A key whose values are all numbers sorts numerically (3, 7, 14); any other
    key keeps the order its values were given in (on the command line or in the
    ``sweep:`` block). Run ids, which name the files, are not changed.
    """
    keys: list[Any] = []
    for key in plan.keys:
        values = [p.params[key] for p in plan.points]
        if all(_is_number(v) for v in values):
            keys.append(None)
        else:
            texts = dict.fromkeys(scalar_text(v) for v in values)  # first-seen order
            keys.append({text: i for i, text in enumerate(texts)})

    def sort_key(point: _T) -> tuple[float, ...]:
        return tuple(
            float(point.params[k]) if order is None else order[scalar_text(point.params[k])]
            for k, order in zip(plan.keys, keys, strict=True)
        )

    return sorted(plan.points, key=sort_key)
