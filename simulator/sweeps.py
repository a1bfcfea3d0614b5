"""Sweeps and compares: many runs of one scenario, streamed to disk, resumable.

Job: turn a sweep spec (``--grid``/``--zip``/``--range`` flags or a
``sweep:`` block in a scenario file) into an explicit run table, validate
every point before anything runs, hand the runs to an executor
(:mod:`simulator.executors`), write each finished run at once to its own
file, and at the end build the tables (``results.parquet``,
``summary.csv``, ``timings.csv``) and plots from those files. ``compare``
is the same machinery over two scenarios, plus the paired differences.

Determinism, which tests pin:

- Replication ``r`` (0, 1, ...) of *every* point runs with the seed
  :func:`replication_seed` ``(master, r)``: the first 32-bit word of
  ``numpy.random.SeedSequence(master, spawn_key=(r,))``. Each member draws
  only from ``SeedSequence(seed, spawn_key=(member,))``, so all points of a
  replication see the same random streams (common random numbers).
- A run id is :func:`run_id` of the point's parameters: a readable prefix
  (``window_days=7__grant_expiry_days=60``) and the first 8 hex digits of
  the SHA-256 of the parameters dumped as canonical YAML (keys sorted).
- Result tables are sorted by point value (:func:`ordered_points`: numbers
  numerically, other values in the order given) and replication, and built
  only from the run files, never from the order runs finished in, so any executor and any
  number of workers, interrupted and resumed or not, give the same tables.

Boundary: this module plans, runs and collects; the simulation is
:func:`simulator.runner.run`, statistics are :mod:`simulator.reports`,
executors are :mod:`simulator.executors`. Values are parsed as YAML with the
safe loader, never evaluated.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import itertools
import json
import math
import os
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from simulator.errors import CreditsimError, InputError, ScenarioError, UsageError, format_path
from simulator.executors import Executor, SerialExecutor
from simulator.outputs import atomic_write_bytes, atomic_write_text, cannot_write
from simulator.population import roster
from simulator.runner import run, write_run
from simulator.scenario import Scenario, load_scenario_with_block, parse_key_path
from simulator.stats import metric_bounds, paired_comparison, replications
from simulator.warmup import resolve_warmup
from simulator.yamlio import dump_yaml, load_yaml_text

__all__ = [
    "DEFAULT_PLOT_METRICS",
    "FORMAT_VERSION",
    "MAX_RUNS",
    "Axis",
    "Plan",
    "Point",
    "SweepResult",
    "SweepSpec",
    "TqdmProgress",
    "canonical_key",
    "canonical_params",
    "check_out",
    "compare_notes",
    "comparison_inputs",
    "execute",
    "expand",
    "load_sweep_scenario",
    "one_money_version",
    "ordered_points",
    "parse_axis_arguments",
    "parse_scalar_values",
    "plan_compare",
    "plan_sweep",
    "plot_comparison",
    "plot_sweep_key",
    "replication_seed",
    "run_id",
    "scalar_text",
    "spec_from_block",
    "with_spec",
    "write_comparison",
]

FORMAT_VERSION = 1
# At most this many runs in a sweep or a comparison: every point is validated
# before anything runs (about 0.8 ms a point on the baseline, so a minute or two
# at the cap) and every run is a row of results.parquet; a larger study is better
# split into sweeps (or sampled; the issue on sensitivity analysis).
MAX_RUNS = 100_000
MAX_RANGE_VALUES = 100_000
_AXIS_KINDS = ("grid", "zip", "range")
_BLOCK_KEYS = ("grid", "zip", "range", "replications", "seed")
_MARK = "\x00sweep"  # the source name of trial overrides, replaced in messages
_MAX_PROBLEMS = 30
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


# -- the spec -------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One dimension of a sweep: a grid key, a range, or keys zipped together.

    ``keys`` are canonical dotted paths; ``values[j]`` holds the values of
    ``keys[j]`` (all of one length); ``labels[j]`` says where ``keys[j]``
    was given (``--grid k=1,2`` or ``x.yaml: sweep.grid.k``), for messages.
    """

    kind: str
    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.values[0]) if self.values else 0

    def points(self) -> list[dict[str, Any]]:
        """The axis's values, one ``{key: value}`` per position."""
        return [
            {k: vals[i] for k, vals in zip(self.keys, self.values, strict=True)}
            for i in range(len(self))
        ]


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: axes (their cartesian product), replications and master seed.

    ``seed`` None means the scenario's own seed.
    """

    axes: tuple[Axis, ...] = ()
    replications: int = 1
    seed: int | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for axis in self.axes for k in axis.keys)


def scalar_text(value: Any) -> str:
    """A scalar as YAML text (``7``, ``0.1``, ``null``, ``true``, ``inmail-2015``).

    Numbers, booleans and null are written as PyYAML writes them, without the
    emitter (run ids hash this text, so it must not change; a test compares the
    two on many values): a sensitivity design names hundreds of floats.
    """
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return scalar_text(value)


def canonical_key(label: str, text: str, problems: list[str]) -> str | None:
    """``text`` as a canonical dotted key path, or None after a problem naming ``label``."""
    text = text.strip()
    if not text:
        problems.append(f"{label}: expected KEY=VALUES with KEY a dotted path into the scenario")
        return None
    try:
        path = parse_key_path(text)
    except ValueError as exc:
        problems.append(f"{label}: {exc}")
        return None
    if path[0] == "seed" and len(path) == 1:
        problems.append(f"{label}: the seed is not swept: set --seed and --replications")
        return None
    return format_path(path)


def _check_scalars(label: str, values: list[Any], problems: list[str]) -> bool:
    ok = True
    if not values:
        problems.append(f"{label}: no values (an empty grid)")
        return False
    seen: set[str] = set()
    for value in values:
        if isinstance(value, dict | list):
            problems.append(f"{label}: {scalar_text(value)}: a value must be a YAML scalar "
                            "(a number, text, true, false or null)")  # fmt: skip
            ok = False
            continue
        text = scalar_text(value)
        if text in seen:
            problems.append(f"{label}: the value {text} is given twice")
            ok = False
        seen.add(text)
    return ok


def parse_scalar_values(label: str, text: str, problems: list[str]) -> list[Any] | None:
    """Comma-separated YAML scalars (``7, 14, null``), distinct, or None after a problem."""
    try:
        values = load_yaml_text(f"[{text}]", label, InputError)
    except InputError as exc:
        detail = exc.problems[0].removeprefix(f"{label}: ")
        problems.append(f"{label}: cannot read the values as comma-separated YAML scalars "
                        f"({detail})")  # fmt: skip
        return None
    if not isinstance(values, list):  # pragma: no cover - a flow sequence is a list
        problems.append(f"{label}: expected comma-separated values")
        return None
    return values if _check_scalars(label, values, problems) else None


def _number(label: str, what: str, value: Any, problems: list[str]) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{label}: {what} must be a number, got {scalar_text(value)}")
        return None
    return value


def _range_values(
    label: str, start: Any, stop: Any, step: Any, problems: list[str]
) -> list[Any] | None:
    """``start, start + step, ...`` up to and including ``stop`` when it falls on the grid."""
    a = _number(label, "start", start, problems)
    b = _number(label, "stop", stop, problems)
    s = _number(label, "step", step, problems)
    if a is None or b is None or s is None:
        return None
    if s == 0:
        problems.append(f"{label}: step must not be 0")
        return None
    integral = all(isinstance(x, int) for x in (a, b, s))
    # Decimal arithmetic on the numbers as written: 0.1:0.3:0.1 gives 0.1, 0.2, 0.3.
    da, db, ds = (Decimal(repr(x)) for x in (a, b, s))
    count = int((db - da) / ds) + 1 if (db - da) / ds >= 0 else 0
    if count <= 0:
        problems.append(f"{label}: empty range (stop {scalar_text(b)} is never reached from "
                        f"start {scalar_text(a)} by step {scalar_text(s)})")  # fmt: skip
        return None
    if count > MAX_RANGE_VALUES:
        problems.append(f"{label}: {count:,} values; at most {MAX_RANGE_VALUES:,} per range")
        return None
    if integral:
        return [int(da + i * ds) for i in range(count)]
    return [float(da + i * ds) for i in range(count)]


def _parse_range_text(label: str, text: str, problems: list[str]) -> list[Any] | None:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        problems.append(f"{label}: expected START:STOP:STEP (STEP defaults to 1), got {text!r}")
        return None
    nums = []
    for part in parts:
        try:
            nums.append(load_yaml_text(part, label, InputError))
        except InputError:
            problems.append(f"{label}: {part!r} is not a number")
            return None
    if len(nums) == 2:
        nums.append(1)
    return _range_values(label, nums[0], nums[1], nums[2], problems)


def parse_axis_arguments(arguments: Sequence[tuple[str, str]]) -> tuple[Axis, ...]:
    """Axes from command-line flags, in order: ``[("--grid", "k=1,2"), ("--zip", ...)]``.

    Every ``--zip`` flag joins one zipped axis, placed where the first one is.
    Raises :class:`UsageError` with one line per problem, each naming its flag.
    """
    problems: list[str] = []
    axes: list[Axis | None] = []
    zipped: list[tuple[str, str, list[Any]]] = []
    zip_at: int | None = None
    for flag, text in arguments:
        kind = flag.lstrip("-")
        if kind not in _AXIS_KINDS:
            raise ValueError(f"unknown axis flag {flag!r}")
        label = f"{flag} {text}"
        key_text, sep, rest = text.partition("=")
        if not sep:
            problems.append(f"{label}: expected KEY=" + ("START:STOP:STEP" if kind == "range"
                                                          else "V1,V2,..."))  # fmt: skip
            continue
        key = canonical_key(label, key_text, problems)
        if kind == "range":
            values = _parse_range_text(label, rest.strip(), problems)
        else:
            values = parse_scalar_values(label, rest, problems)
        if key is None or values is None:
            continue
        if kind == "zip":
            if zip_at is None:
                zip_at = len(axes)
                axes.append(None)
            zipped.append((key, label, values))
        else:
            axes.append(Axis(kind, (key,), (tuple(values),), (label,)))
    if zipped:
        axes[zip_at or 0] = _zip_axis(zipped, problems)
    result = tuple(a for a in axes if a is not None)
    _check_distinct(result, problems)
    if problems:
        raise UsageError(*problems)
    return result


def _zip_axis(zipped: list[tuple[str, str, list[Any]]], problems: list[str]) -> Axis | None:
    lengths = {len(v) for _, _, v in zipped}
    if len(lengths) > 1:
        listing = ", ".join(f"{label} ({len(v)})" for _, label, v in zipped)
        problems.append(f"zipped keys need the same number of values: {listing}")
        return None
    return Axis(
        "zip",
        tuple(k for k, _, _ in zipped),
        tuple(tuple(v) for _, _, v in zipped),
        tuple(label for _, label, _ in zipped),
    )


def _check_distinct(axes: Iterable[Axis], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for axis in axes:
        for key, label in zip(axis.keys, axis.labels, strict=True):
            if key in seen:
                problems.append(f"{label}: {key} is swept twice (also by {seen[key]})")
            else:
                seen[key] = label


def spec_from_block(block: Any, source: str) -> SweepSpec:
    """A :class:`SweepSpec` from the ``sweep:`` block of the scenario file ``source``.

    The block has ``grid`` (key: list of values), ``zip`` (key: list, all of
    one length; or a list of such mappings, one zipped axis each), ``range``
    (key: ``"START:STOP:STEP"`` or ``{start, stop, step}``), ``replications``
    and ``seed``. Axes come in that order: grid keys, zips, ranges. Raises
    :class:`ScenarioError` naming ``source`` and the key path.
    """
    problems: list[str] = []
    where = f"{source}: sweep"
    if not isinstance(block, Mapping):
        raise ScenarioError(f"{where}: must be a mapping with grid, zip, range, replications "
                            f"or seed, got {_show(block)}")  # fmt: skip
    for key in block:
        if key not in _BLOCK_KEYS:
            import difflib

            hint = difflib.get_close_matches(str(key), _BLOCK_KEYS, n=1)
            problems.append(f"{where}.{key}: unknown key"
                            + (f" (did you mean {hint[0]!r}?)" if hint else
                               f" (known keys: {', '.join(_BLOCK_KEYS)})"))  # fmt: skip
    axes: list[Axis | None] = []
    for key, values in _block_mapping(block, "grid", where, problems):
        label = f"{where}.grid.{key}"
        canon = canonical_key(label, str(key), problems)
        vals = _block_list(label, values, problems)
        if canon is not None and vals is not None:
            axes.append(Axis("grid", (canon,), (tuple(vals),), (label,)))
    groups = block.get("zip")
    if groups is not None:
        group_list = groups if isinstance(groups, list) else [groups]
        for g, group in enumerate(group_list):
            gwhere = f"{where}.zip" + (f"[{g}]" if isinstance(groups, list) else "")
            if not isinstance(group, Mapping) or not group:
                problems.append(f"{gwhere}: must be a mapping of keys to lists of values")
                continue
            zipped = []
            for key, values in group.items():
                label = f"{gwhere}.{key}"
                canon = canonical_key(label, str(key), problems)
                vals = _block_list(label, values, problems)
                if canon is not None and vals is not None:
                    zipped.append((canon, label, vals))
            if zipped:
                axes.append(_zip_axis(zipped, problems))
    for key, spec in _block_mapping(block, "range", where, problems):
        label = f"{where}.range.{key}"
        canon = canonical_key(label, str(key), problems)
        if isinstance(spec, str):
            vals = _parse_range_text(label, spec, problems)
        elif isinstance(spec, Mapping):
            extra = [k for k in spec if k not in ("start", "stop", "step")]
            if extra or "start" not in spec or "stop" not in spec:
                problems.append(f"{label}: expected {{start, stop, step}} (step defaults to 1)")
                continue
            vals = _range_values(label, spec["start"], spec["stop"], spec.get("step", 1), problems)
        else:
            problems.append(f'{label}: expected "START:STOP:STEP" or {{start, stop, step}}')
            continue
        if canon is not None and vals is not None:
            axes.append(Axis("range", (canon,), (tuple(vals),), (label,)))
    replications = _block_int(block, "replications", where, 1, problems)
    seed = _block_int(block, "seed", where, 0, problems)
    result = tuple(a for a in axes if a is not None)
    _check_distinct(result, problems)
    if problems:
        raise ScenarioError(*problems)
    return SweepSpec(result, replications if replications is not None else 1, seed)


def _block_mapping(
    block: Mapping[str, Any], name: str, where: str, problems: list[str]
) -> list[tuple[Any, Any]]:
    value = block.get(name)
    if value is None:
        return []
    if not isinstance(value, Mapping):
        problems.append(f"{where}.{name}: must be a mapping of keys to values")
        return []
    return list(value.items())


def _block_list(label: str, values: Any, problems: list[str]) -> list[Any] | None:
    if not isinstance(values, list):
        problems.append(f"{label}: must be a list of values, got {_show(values)}")
        return None
    return values if _check_scalars(label, values, problems) else None


def _block_int(
    block: Mapping[str, Any], name: str, where: str, minimum: int, problems: list[str]
) -> int | None:
    if name not in block:
        return None
    value = block[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{where}.{name}: must be a whole number >= {minimum}, got {_show(value)}")
        return None
    return value


def load_sweep_scenario(path: str | Path) -> tuple[Scenario, SweepSpec | None]:
    """A scenario file and the :class:`SweepSpec` of its ``sweep:`` block (None without one).

    The block is taken out before the scenario is validated, so the scenario
    schema never sees it.
    """
    return load_scenario_with_block(path, "sweep", lambda block: spec_from_block(block, str(path)))


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
    prefix = _SAFE.sub("-", re.sub(r"\[(\d+)\]", r"\1", "__".join(parts)))[:60] or "base"
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


def _file_label(key: str) -> str:
    return _SAFE.sub("-", re.sub(r"\[(\d+)\]", r"\1", key))


# -- the plan --------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its run id, parameters (key column -> value) and scenario."""

    run_id: str
    params: Mapping[str, Any]
    scenario: Scenario


@dataclass(frozen=True)
class Plan:
    """A validated run table: points x replications, with their seeds."""

    kind: str  # "sweep" or "compare"
    source: str
    keys: tuple[str, ...]
    points: tuple[Point, ...]
    replications: int
    seed: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.points) * self.replications

    def seeds(self) -> list[int]:
        return [replication_seed(self.seed, r) for r in range(self.replications)]

    def rows(self) -> Iterator[tuple[Point, int, int]]:
        """``(point, replication, seed)`` in run-table order (points, then replications)."""
        seeds = self.seeds()
        for point in self.points:
            for r in range(self.replications):
                yield point, r, seeds[r]

    def table_csv(self) -> str:
        """The run table, ``runs.csv``: run_id, one column per key, replication, seed."""
        buf = io.StringIO()
        import csv

        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["run_id", *self.keys, "replication", "seed"])
        for point, r, seed in self.rows():
            writer.writerow([point.run_id, *(scalar_text(point.params[k]) for k in self.keys),
                             r, seed])  # fmt: skip
        return buf.getvalue()

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
        raise UsageError(f"--replications must be >= 2 to compare, got {replications}")
    _check_counts(replications, master)
    if 2 * replications > MAX_RUNS:
        raise UsageError(f"--replications {replications:,}: the comparison would have "
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
        raise UsageError(f"--replications must be >= 1, got {replications}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"--seed must be a whole number >= 0, got {seed}")


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


# -- running ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    run_id: str
    replication: int
    seed: int
    scenario: Scenario
    keep_dir: str | None


def _execute(task: _Task) -> dict[str, Any]:
    """Run one replication of one point (in a worker); return its summary or its error."""
    started = time.time()
    t0 = time.perf_counter()
    c0 = time.thread_time()
    summary = error = trace = None
    simulate_s = None
    try:
        result = run(task.scenario, seed=task.seed, keep_tables=task.keep_dir is not None)
        summary = _flat_summary(result.summary)
        simulate_s = result.meta.get("timings", {}).get("simulate_s")
        if task.keep_dir is not None:
            write_run(result, task.keep_dir)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        trace = traceback.format_exc(limit=-10)
    return {
        "summary": summary,
        "error": error,
        "traceback": trace,
        "timings": {
            "started_at": _iso(started),
            "wall_s": round(time.perf_counter() - t0, 4),
            "cpu_s": round(time.thread_time() - c0, 4),
            "simulate_s": simulate_s,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        },
    }


def _flat_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run's summary as one row of metrics: the ``steady_state`` block becomes two columns.

    ``steady`` (the verdict, None when too short to say) and
    ``suggested_warmup_days``; the weekly series stay in the run's own
    ``summary.json`` (``--keep-runs``).
    """
    out = {k: v for k, v in summary.items() if k != "steady_state"}
    block = summary.get("steady_state")
    if isinstance(block, Mapping):
        out["steady"] = block.get("steady")
        out["suggested_warmup_days"] = block.get("suggested_warmup_days")
    return out


def _iso(epoch: float) -> str:
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Progress(Protocol):
    """Told when a sweep starts (runs in all, runs already done) and after every run."""

    def start(self, total: int, done: int) -> None: ...

    def update(self, record: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


class TqdmProgress:
    """A tqdm bar over runs, with rate and ETA."""

    def __init__(self, desc: str = "runs", **kwargs: Any) -> None:
        self.desc = desc
        self.kwargs = kwargs
        self.bar: Any = None
        self.failed = 0

    def start(self, total: int, done: int) -> None:
        try:  # a widget in Jupyter when ipywidgets is there, else text
            import ipywidgets  # noqa: F401
            from tqdm.auto import tqdm
        except ImportError:
            from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="run", desc=self.desc, **self.kwargs)

    def update(self, record: Mapping[str, Any]) -> None:
        if record.get("error"):
            self.failed += 1
            self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class SweepResult:
    """What a sweep (or compare) did and where its files are.

    ``complete`` is False when some runs did not finish (a worker died or
    the pool broke): ``lost`` lists them, and the tables were not built; run
    again with ``resume=True``. ``failed`` lists runs that raised, as
    ``(run_id, replication, error)``.
    """

    out: Path
    plan: Plan
    ran: int
    skipped: int
    failed: list[tuple[str, int, str]]
    lost: list[tuple[str, int, str]]
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.lost

    @property
    def ok(self) -> bool:
        return self.complete and not self.failed

    def results(self) -> pd.DataFrame:
        """``results.parquet`` as a DataFrame."""
        return pd.read_parquet(self.out / "results.parquet")

    def summary(self) -> pd.DataFrame:
        """``summary.csv`` as a DataFrame."""
        return pd.read_csv(self.out / "summary.csv")


def check_out(out: str | Path, plan: Plan, resume: bool) -> None:
    """Refuse an ``out`` that is a file, someone else's folder, or (without ``resume``,
    or with another plan) an earlier sweep. Writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    problem = cannot_write(out)
    if problem is not None:
        raise UsageError(f"--out {out}: {problem}")
    if not out.is_dir() or not any(out.iterdir()):
        return
    marker = out / "sweep.json"
    if not marker.is_file():
        raise UsageError(f"--out {out}: not empty and not a creditsim sweep; "
                         "choose another directory")  # fmt: skip
    try:
        earlier = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--out {out}: cannot read sweep.json: {exc}") from None
    if not resume:
        raise UsageError(f"--out {out}: holds an earlier {earlier.get('kind', 'sweep')}; "
                         "pass --resume to finish it, or choose another directory")  # fmt: skip
    known = earlier.get("fingerprint")
    if earlier.get("kind") != plan.kind or (
        known != plan.fingerprint() and known != plan.yaml_fingerprint()
    ):
        raise UsageError(f"--resume: {out} holds a different {earlier.get('kind', 'sweep')} "
                         "(its scenario, keys, values, replications or seed differ); "
                         "choose another --out")  # fmt: skip


def _record_path(out: Path, rid: str, replication: int) -> Path:
    return out / "runs" / f"{rid}-r{replication}.json"


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_done(record: dict[str, Any] | None, rid: str, replication: int, seed: int) -> bool:
    return (
        record is not None
        and record.get("format_version") == FORMAT_VERSION
        and record.get("run_id") == rid
        and record.get("replication") == replication
        and record.get("seed") == seed
        and record.get("status") == "ok"
        and isinstance(record.get("summary"), dict)
    )


def execute(
    plan: Plan,
    out: str | Path,
    executor: Executor | None = None,
    *,
    resume: bool = False,
    keep_runs: bool = False,
    progress: Progress | None = None,
    plots: bool = True,
    plot_metrics: str | Sequence[str] | None = None,
    files: Mapping[str, str] | None = None,
) -> SweepResult:
    """Run ``plan`` on ``executor`` (default: this process), streaming results to ``out``.

    ``plot_metrics`` chooses the metrics of the sweep plots (see :func:`plot_sweep_key`).
    ``files`` (name -> text) are written with ``runs.csv``, before any run (a
    sensitivity study's design).

    Writes ``runs.csv`` and ``sweep.json`` first, then ``runs/<run id>-r<rep>.json``
    as each run finishes (atomically), then the tables and plots. With
    ``resume``, runs whose file exists and records success are not run again
    (failed runs are). With ``keep_runs`` every run also writes its full run
    directory to ``runs/<run id>-r<rep>/`` (from the worker: on a remote
    cluster ``out`` must be on a shared file system).
    """
    started = time.perf_counter()
    out = Path(out)
    check_out(out, plan, resume)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    if not (out / "sweep.json").is_file():
        atomic_write_text(out / "runs.csv", plan.table_csv())
        for name, text in (files or {}).items():
            atomic_write_text(out / name, text)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": plan.kind,
            "scenario": plan.source,
            "keys": list(plan.keys),
            "points": len(plan.points),
            "replications": plan.replications,
            "seed": plan.seed,
            "seeds": plan.seeds(),
            "runs": plan.runs,
            "fingerprint": plan.fingerprint(),
            **dict(plan.extra),
        }
        # sweep.json last: it marks the folder as a sweep that can be resumed.
        atomic_write_text(out / "sweep.json", json.dumps(meta, indent=2) + "\n")
    _remove_leftovers(runs_dir)

    tasks: list[_Task] = []
    params: list[Mapping[str, Any]] = []
    skipped = 0
    for point, r, seed in plan.rows():
        if resume and _is_done(_read_record(_record_path(out, point.run_id, r)), point.run_id,
                               r, seed):  # fmt: skip
            skipped += 1
            continue
        keep = str((runs_dir / f"{point.run_id}-r{r}").resolve()) if keep_runs else None
        tasks.append(_Task(point.run_id, r, seed, point.scenario, keep))
        params.append(point.params)

    lost: list[tuple[str, int, str]] = []
    pool: Any = executor if executor is not None else SerialExecutor()
    if progress is not None:
        progress.start(plan.runs, skipped)
    try:
        for done in pool.unordered(_execute, tasks):
            task = tasks[done.index]
            if done.error is not None:
                lost.append((task.run_id, task.replication,
                             f"{type(done.error).__name__}: {done.error}"))  # fmt: skip
                continue
            outcome = done.value
            record = {
                "format_version": FORMAT_VERSION,
                "run_id": task.run_id,
                "replication": task.replication,
                "seed": task.seed,
                "params": dict(params[done.index]),
                "status": "ok" if outcome["error"] is None else "error",
                "error": outcome["error"],
                "traceback": outcome["traceback"],
                "summary": outcome["summary"],
                "timings": outcome["timings"],
            }
            text = json.dumps(record, indent=1, default=_json_default) + "\n"
            atomic_write_text(_record_path(out, task.run_id, task.replication), text)
            if progress is not None:
                progress.update(record)
    finally:
        if progress is not None:
            progress.close()

    result = SweepResult(out, plan, len(tasks) - len(lost), skipped, [], lost, 0.0)
    if not lost:
        result.files, result.failed = _collect(out, plan, plots, plot_metrics)
    result.seconds = time.perf_counter() - started
    return result


def _remove_leftovers(runs_dir: Path) -> None:
    """Temporary files of a process killed mid-write (never a finished file)."""
    for path in runs_dir.glob(".*"):
        if path.is_file() and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
        elif path.is_dir() and path.name.endswith(".partial"):
            import shutil

            shutil.rmtree(path, ignore_errors=True)


# -- collecting ------------------------------------------------------------------


def _column(values: list[Any], empty: pa.DataType | None = None) -> pa.Array:
    """A typed column from YAML scalars: bool, int64, float64 or (otherwise) text.

    A column of nothing but nulls is ``empty`` when given (a metric no run
    defined is a float column of nulls, not text), else text.
    """
    present = [v for v in values if v is not None]
    if not present and empty is not None:
        return pa.array(values, empty)
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.int64())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(
        [None if v is None else v if isinstance(v, str) else scalar_text(v) for v in values],
        pa.string(),
    )


def _collect(
    out: Path, plan: Plan, plots: bool, plot_metrics: str | Sequence[str] | None = None
) -> tuple[list[Path], list[tuple[str, int, str]]]:
    """Build results.parquet, timings.csv, summary.csv (and plots) from the run files."""
    rank = {p.run_id: i for i, p in enumerate(ordered_points(plan))}
    rows = sorted(plan.rows(), key=lambda row: (rank[row[0].run_id], row[1]))
    key_values: dict[str, list[Any]] = {k: [] for k in plan.keys}
    run_ids: list[str] = []
    reps: list[int] = []
    seeds: list[int] = []
    errors: list[str | None] = []
    metrics: dict[str, list[Any]] = {}
    timing_rows: list[list[Any]] = []
    failed: list[tuple[str, int, str]] = []
    per_point: dict[str, list[Mapping[str, Any]]] = {}
    for n, (point, r, seed) in enumerate(rows):
        record = _read_record(_record_path(out, point.run_id, r)) or {}
        run_ids.append(point.run_id)
        reps.append(r)
        seeds.append(seed)
        for k in plan.keys:
            key_values[k].append(point.params[k])
        summary = record.get("summary") if record.get("status") == "ok" else None
        error = None if summary is not None else str(record.get("error") or "no result")
        errors.append(error)
        if error is not None:
            failed.append((point.run_id, r, error))
        summary = summary or {}
        per_point.setdefault(point.run_id, [])
        if error is None:
            per_point[point.run_id].append(summary)
        for metric in summary:
            metrics.setdefault(metric, [None] * n)
        for metric, column in metrics.items():
            value = summary.get(metric)
            column.append(None if isinstance(value, dict | list) else value)
        t = record.get("timings") or {}
        timing_rows.append([point.run_id, r, seed, t.get("worker"), t.get("started_at"),
                            t.get("wall_s"), t.get("cpu_s"), t.get("simulate_s")])  # fmt: skip

    names = ["run_id", *plan.keys, "replication", "seed", *metrics, "error"]
    arrays = [
        pa.array(run_ids, pa.string()),
        *(_column(key_values[k]) for k in plan.keys),
        pa.array(reps, pa.int64()),
        pa.array(seeds, pa.int64()),
        *(_column(col, empty=pa.float64()) for col in metrics.values()),
        pa.array(errors, pa.string()),
    ]
    table = pa.Table.from_arrays(arrays, names=names)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    written = [out / "results.parquet"]
    atomic_write_bytes(written[0], sink.getvalue().to_pybytes())

    timings = pd.DataFrame(timing_rows, columns=["run_id", "replication", "seed", "worker",
                                                 "started_at", "wall_s", "cpu_s",
                                                 "simulate_s"])  # fmt: skip
    atomic_write_text(out / "timings.csv", timings.to_csv(index=False))
    written.append(out / "timings.csv")

    summary_frame = _summary_frame(plan, per_point)
    atomic_write_text(out / "summary.csv", summary_frame.to_csv(index=False))
    written.append(out / "summary.csv")
    if plots and plan.kind == "sweep" and plan.keys:
        written.extend(_write_sweep_plots(out, plan, summary_frame, plot_metrics))
    return written, failed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ordered_points(plan: Plan) -> list[Point]:
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

    def sort_key(point: Point) -> tuple[float, ...]:
        return tuple(
            float(point.params[k]) if order is None else order[scalar_text(point.params[k])]
            for k, order in zip(plan.keys, keys, strict=True)
        )

    return sorted(plan.points, key=sort_key)


def _summary_frame(plan: Plan, per_point: Mapping[str, list[Mapping[str, Any]]]) -> pd.DataFrame:
    """Mean, std and 95 % t-interval per point and metric (failed runs left out)."""
    frames = []
    for point in ordered_points(plan):
        reps = replications(per_point.get(point.run_id, []))
        head = pd.DataFrame({"run_id": [point.run_id] * len(reps)})
        for k in plan.keys:
            head[k] = [scalar_text(point.params[k])] * len(reps)
        frames.append(pd.concat([head, reps.reset_index(drop=True)], axis=1))
    columns = ["run_id", *plan.keys, "metric", "n", "mean", "std", "ci_low", "ci_high"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# -- plots -------------------------------------------------------------------------

_MAX_LINES = 8


def _new_figure(width: float, height: float, layout: Any = "constrained") -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


#: The metrics a sweep plots unless told otherwise (``metrics="all"``: every one).
DEFAULT_PLOT_METRICS = (
    "response_rate",
    "refund_rate",
    "expiry_waste_rate",
    "credits_spent",
    "credits_expired",
    "credits_capped",
    "credits_forfeited",
    "purchase_revenue",
    "subscription_revenue",
    "net_revenue",
    "cancellations",
)


def plot_sweep_key(
    plan: Plan, summary: pd.DataFrame, key: str, metrics: str | Sequence[str] | None = None
) -> Any:
    """Varying metrics against ``key``: mean with its 95 % band, one line per
    combination of the other swept keys (points only when there are many).

    ``metrics``: None for :data:`DEFAULT_PLOT_METRICS`, ``"all"`` for every
    metric, or a list of names (in that order). Money is shown once, in
    currency units (a ``_cents`` metric only when asked for by name).
    """
    points = ordered_points(plan)
    params = {p.run_id: p.params for p in points}
    others = [k for k in plan.keys if k != key]
    xs_all = list(dict.fromkeys(p.params[key] for p in points))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_all)
    order = sorted(xs_all) if numeric else xs_all
    pos = {scalar_text(v): (float(v) if numeric else i) for i, v in enumerate(order)}
    groups: dict[tuple[str, ...], list[str]] = {}
    for p in points:
        groups.setdefault(tuple(scalar_text(p.params[k]) for k in others), []).append(p.run_id)
    # A point where a metric was never a number (a rate with no denominator) has no row.
    stats = {
        (m, rid): (mean, lo, hi)
        for m, rid, mean, lo, hi in zip(
            summary["metric"], summary["run_id"], summary["mean"].astype(float),
            summary["ci_low"].astype(float), summary["ci_high"].astype(float), strict=True,
        )
    }  # fmt: skip
    nan = (math.nan, math.nan, math.nan)
    known = list(dict.fromkeys(summary["metric"]))
    if metrics is None:
        wanted = [m for m in DEFAULT_PLOT_METRICS if m in known]
    elif isinstance(metrics, str) and metrics == "all":
        wanted = one_money_version(known)
    else:
        wanted = [m for m in ([metrics] if isinstance(metrics, str) else metrics) if m in known]
    shown = []
    constant = 0
    for metric in wanted:
        means = summary.loc[summary["metric"] == metric, "mean"].to_numpy(dtype=float)
        if not np.isfinite(means).any():
            continue
        if np.nanmax(means) == np.nanmin(means):
            constant += 1
            continue
        shown.append(metric)
    ncols = min(4, max(1, len(shown)))
    nrows = max(1, -(-len(shown) // ncols))
    # Many panels: a fixed layout (constrained layout would double the drawing time).
    height = 2.6 * nrows + 1.6
    width = 3.8 * ncols
    fig = _new_figure(width, height, layout=None)
    fig.subplots_adjust(left=0.95 / width, right=1 - 0.15 / width, top=1 - 1.0 / height,
                        bottom=1.1 / height, hspace=0.85, wspace=0.45)  # fmt: skip
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    plural = "s" if constant != 1 else ""
    note = f"; {constant} constant metric{plural} left out" if constant else ""
    fig.suptitle(f"Metrics against {key}\nmean and 95 % t-interval over "
                 f"{plan.replications} replication{'s' if plan.replications != 1 else ''}"
                 f"{note}", fontsize=10 if ncols > 1 else 8)  # fmt: skip
    if not shown:
        axes[0].text(0.5, 0.5, "no varying metric", ha="center", va="center",
                     transform=axes[0].transAxes, color="grey")  # fmt: skip
    # A plan rebuilt from a sweep folder (simulator.api) has no scenarios.
    currencies = {p.scenario.pricing.currency for p in plan.points if p.scenario is not None}
    currency = currencies.pop() if len(currencies) == 1 else None
    lines = len(groups) <= _MAX_LINES
    handles: list[Any] = []
    labels: list[str] = []
    for ax, metric in zip(axes, shown, strict=False):
        for g, (combo, rids) in enumerate(groups.items()):
            pts = []
            for rid in rids:
                pts.append((pos[scalar_text(params[rid][key])], *stats.get((metric, rid), nan)))
            pts.sort()
            x, mean, lo, hi = (np.array(col, dtype=float) for col in zip(*pts, strict=True))
            # A band never leaves the metric's range (a rate's t-interval can pass 1).
            floor, ceiling = metric_bounds(metric, mean[np.isfinite(mean)].tolist())
            lo, hi = np.clip(lo, floor, ceiling), np.clip(hi, floor, ceiling)
            if lines:
                (handle,) = ax.plot(x, mean, marker="o", ms=3, color=f"C{g % 10}")
                ax.fill_between(x, lo, hi, alpha=0.2, color=f"C{g % 10}", linewidth=0)
                if ax is axes[0]:
                    handles.append(handle)
                    labels.append(", ".join(f"{k}={v}" for k, v in zip(others, combo,
                                                                        strict=True)))  # fmt: skip
            else:
                err = np.vstack([mean - lo, hi - mean])
                ax.errorbar(x, mean, yerr=np.where(np.isfinite(err), err, 0), fmt=".",
                            color="tab:blue", alpha=0.4, capsize=2)  # fmt: skip
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(metric_unit(metric, currency), fontsize=8)
        ax.tick_params(labelsize=7)
        _plain_ticks(ax)
        ax.grid(alpha=0.3)
        if not numeric:
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels([scalar_text(v) for v in order], rotation=30, ha="right")
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    if lines and others and handles:
        fig.legend(handles, labels, loc="lower center", ncols=min(4, len(labels)),
                   fontsize=8, frameon=False)  # fmt: skip
    return fig


def metric_unit(metric: str, currency: str | None = None) -> str:
    """The y-axis label of a metric: its unit, from its name (money in ``currency``)."""
    if metric.endswith("_rate"):
        return "share (0-1)"
    if metric.endswith("_cents"):
        return f"{currency} cents" if currency else "cents"
    if metric.endswith("_revenue"):
        return currency or "currency units"
    if metric.startswith("credits_"):
        return "credits"
    if metric.endswith("_days"):
        return "days"
    if (metric.startswith("inmails_") or metric.endswith("_inmails")
            or metric in ("responses", "late_responses", "refunds")):  # fmt: skip
        return "InMails"
    if metric in ("cancellations", "tier_changes"):
        return "events"
    if metric in ("members", "members_initial", "arrivals", "members_present"):
        return "members"
    return "count"


def _plain_ticks(ax: Any) -> None:
    """Tick labels with thousands separators, never an offset or ``1e6`` label."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))


def _tick(value: float) -> str:
    """A tick label: separators, no scientific notation (1,350,000 rather than 1.35e+06)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.6g}"


def _write_sweep_plots(
    out: Path, plan: Plan, summary: pd.DataFrame, metrics: str | Sequence[str] | None
) -> list[Path]:
    from simulator.plots import save_figure

    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    written = []
    for key in plan.keys:
        fig = plot_sweep_key(plan, summary, key, metrics)
        written.append(save_figure(fig, folder / f"{_file_label(key)}.png"))
    return written


# -- the API -----------------------------------------------------------------------


def comparison_inputs(
    out: str | Path, plan: Plan
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The summaries of A and B, replication by replication, where both succeeded."""
    rows_a, rows_b = [], []
    for r in range(plan.replications):
        ra = _read_record(_record_path(Path(out), "A", r)) or {}
        rb = _read_record(_record_path(Path(out), "B", r)) or {}
        if ra.get("status") == "ok" and rb.get("status") == "ok":
            rows_a.append(ra["summary"])
            rows_b.append(rb["summary"])
    return rows_a, rows_b


def write_comparison(result: SweepResult, name_a: str = "A", name_b: str = "B") -> pd.DataFrame:
    """Write ``comparison.csv`` and ``comparison.png`` of a finished compare; return the table."""
    from simulator.plots import save_figure

    comparison = paired_comparison(*comparison_inputs(result.out, result.plan))
    atomic_write_text(result.out / "comparison.csv", comparison.to_csv(index=False))
    result.files.append(result.out / "comparison.csv")
    fig = plot_comparison(comparison, name_a, name_b)
    result.files.append(save_figure(fig, result.out / "comparison.png"))
    return comparison


def compare_notes(a: Scenario, b: Scenario, master: int) -> list[str]:
    """What the user should know about how A and B were paired."""
    notes = []
    if a.members != b.members:
        notes.append(f"A has {a.members:,} members and B {b.members:,}: only members with the "
                     "same index share random streams")  # fmt: skip
    if a.seed != b.seed:
        notes.append(f"the scenarios' own seeds ({a.seed}, {b.seed}) are not used: both run "
                     f"on the seeds of master seed {master}")  # fmt: skip
    if a.is_open or b.is_open:
        # Arrivals are fixed by the population, dates and seed, and replace_churn
        # by the tier decisions and cancel_effective: a policy may change them.
        ra, rb = roster(a.with_overrides({"seed": master})), roster(b.with_overrides(
            {"seed": master}))  # fmt: skip
        if len(ra.joined) != len(rb.joined) or not np.array_equal(ra.joined, rb.joined):
            notes.append(f"A and B have different arrivals ({ra.arrivals:,} and "
                         f"{rb.arrivals:,} on master seed {master}; replace_churn follows each "
                         "side's cancel_effective and tier decisions): members present at the "
                         "start share random streams, arrivals only where they match")  # fmt: skip
    return notes


def one_money_version(metrics: Iterable[str]) -> list[str]:
    """``metrics`` without each ``X_cents`` whose currency version ``X`` is also there."""
    names = list(metrics)
    present = set(names)
    return [m for m in names if not (m.endswith("_cents") and m[: -len("_cents")] in present)]


def plot_comparison(comparison: pd.DataFrame, name_a: str = "A", name_b: str = "B") -> Any:
    """B - A per metric with its paired 95 % interval, and the unpaired one faint.

    Relative to A (%) where A's mean is not 0; in the metric's own units, in a
    second panel, where it is (so a metric that is 0 under A, such as
    ``credits_capped`` without caps, is still shown; one that is 0 under both
    is left out). Money appears once, in
    currency units (the ``_cents`` twins are left out).
    """
    from matplotlib.ticker import FuncFormatter

    keep = one_money_version(comparison["metric"])
    frame = comparison[comparison["metric"].isin(keep)]
    finite = np.isfinite(frame["diff"].to_numpy(dtype=float))
    zero_a = frame["mean_a"].to_numpy(dtype=float) == 0
    rel_frame = frame[finite & ~zero_a]
    # A metric that is 0 under both A and B has nothing to show.
    abs_frame = frame[finite & zero_a & (frame["mean_b"].to_numpy(dtype=float) != 0)]
    heights = [max(len(rel_frame), 1)] + ([len(abs_frame) + 1] if len(abs_frame) else [])
    fig = _new_figure(9, 0.28 * sum(heights) + 1.6 + 0.9 * (len(heights) - 1))
    axes = np.atleast_1d(fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False))
    axes = axes.ravel()
    runs = int(comparison["n"].max()) if len(comparison) else 0
    fig.suptitle(f"{name_b} against {name_a} over {runs} paired replications, "
                 "95 % intervals", fontsize=11)  # fmt: skip
    ax = axes[0]
    if rel_frame.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        scale = 100 / rel_frame["mean_a"].to_numpy(dtype=float)
        _interval_rows(ax, rel_frame, scale)
        ax.set_xlabel("difference B - A, % of A's mean")
    if len(axes) > 1:
        _interval_rows(axes[1], abs_frame, np.ones(len(abs_frame)), legend=False)
        axes[1].set_xlabel("difference B - A, in the metric's units (A's mean is 0)")
        axes[1].xaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))
        for y, d in zip(np.arange(len(abs_frame))[::-1], abs_frame["diff"], strict=True):
            text = f"{d:,.0f}" if abs(d) >= 100 else f"{d:,.4g}"
            axes[1].annotate(text, (d, y), xytext=(4, 4), textcoords="offset points",
                             fontsize=7)  # fmt: skip
    return fig


def _interval_rows(ax: Any, frame: pd.DataFrame, scale: np.ndarray, legend: bool = True) -> None:
    """One row per metric: the difference, its paired and (faint) unpaired intervals."""
    y = np.arange(len(frame))[::-1]
    mid = frame["diff"].to_numpy(dtype=float) * scale
    lo = frame["ci_low"].to_numpy(dtype=float) * scale
    hi = frame["ci_high"].to_numpy(dtype=float) * scale
    ulo = frame["unpaired_ci_low"].to_numpy(dtype=float) * scale
    uhi = frame["unpaired_ci_high"].to_numpy(dtype=float) * scale
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)  # a negative mean_a flips the ends
    ulo, uhi = np.minimum(ulo, uhi), np.maximum(ulo, uhi)
    ax.hlines(y, ulo, uhi, color="lightgrey", linewidth=6, label="unpaired 95 % interval")
    ax.hlines(y, lo, hi, color="tab:blue", linewidth=2, label="paired 95 % interval (CRN)")
    ax.plot(mid, y, "o", color="tab:blue", ms=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(frame["metric"], fontsize=8)
    ax.set_ylim(-0.7, len(frame) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)


def with_spec(spec: SweepSpec | None, **changes: Any) -> SweepSpec:
    """``spec`` (or an empty one) with some fields replaced (None values are ignored)."""
    base = spec if spec is not None else SweepSpec()
    return replace(base, **{k: v for k, v in changes.items() if v is not None})
