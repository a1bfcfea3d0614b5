"""Sweep specs: what to sweep, from command-line flags or a ``sweep:`` block.

Job: parse ``--grid``/``--zip``/``--range`` flags (:func:`parse_axis_arguments`)
and the ``sweep:`` block of a scenario file (:func:`spec_from_block`,
:func:`load_sweep_scenario`) into a :class:`SweepSpec` of :class:`Axis`
values, with one problem line per bad flag or key; and write a YAML scalar
as text (:func:`scalar_text`), the form run ids hash and ``runs.csv`` and
``summary.csv`` hold. Values are parsed as YAML with the safe loader, never
evaluated.

Boundary: a spec says which keys take which values; it knows nothing of the
scenario's schema. Checking each value against the scenario, expanding the
axes into points and naming them is :mod:`simulator.sweeps.plan`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from simulator.errors import InputError, ScenarioError, UsageError, format_path
from simulator.scenario import Scenario, load_scenario_with_block, parse_key_path
from simulator.yamlio import load_yaml_text

__all__ = [
    "MAX_RANGE_VALUES",
    "Axis",
    "SweepSpec",
    "canonical_key",
    "load_sweep_scenario",
    "parse_axis_arguments",
    "parse_scalar_values",
    "scalar_text",
    "spec_from_block",
    "with_spec",
]

MAX_RANGE_VALUES = 100_000
_AXIS_KINDS = ("grid", "zip", "range")
_BLOCK_KEYS = ("grid", "zip", "range", "replications", "seed")


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
        problems.append(f"{label}: the seed is not swept: set seed and replications")
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


def with_spec(spec: SweepSpec | None, **changes: Any) -> SweepSpec:
    """``spec`` (or an empty one) with some fields replaced (None values are ignored)."""
    base = spec if spec is not None else SweepSpec()
    return replace(base, **{k: v for k, v in changes.items() if v is not None})
