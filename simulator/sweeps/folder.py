"""A sweep folder's own files: ``sweep.json``, ``runs.csv`` and one record per run.

Job: say what these files hold and where they are, and read them back.
``sweep.json`` (:func:`sweep_meta`) marks a folder as a sweep, compare or
sensitivity study that ``--resume`` can finish; ``runs.csv`` is the run table
(:meth:`~simulator.sweeps.plan.RunTable.table_csv`, key values as
:func:`~simulator.sweeps.spec.scalar_text`); ``runs/<run id>-r<rep>.json``
(:func:`record_path`) is one finished run, ok or failed, written as it
finishes. :func:`load_run_table` turns ``sweep.json`` and ``runs.csv`` back
into a :class:`~simulator.sweeps.plan.RunTable` with typed key values,
without scenarios.

Boundary: no run starts here and nothing is written (writing is
:mod:`simulator.sweeps.execution`; the tables built from the records,
:mod:`simulator.sweeps.collect`). The formats are unchanged since
``FORMAT_VERSION`` 1.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.errors import InputError
from simulator.sweeps.plan import Plan, RunTable, TablePoint
from simulator.yamlio import load_yaml_text

__all__ = [
    "FORMAT_VERSION",
    "is_done",
    "load_run_table",
    "read_record",
    "record_path",
    "sweep_meta",
]

FORMAT_VERSION = 1
# The fields of sweep.json that describe the run table; the rest is the plan's ``extra``.
_META_FIELDS = ("format_version", "kind", "scenario", "keys", "points", "replications", "seed",
                "seeds", "runs", "fingerprint")  # fmt: skip


def sweep_meta(plan: Plan) -> dict[str, Any]:
    """The contents of ``sweep.json`` for ``plan`` (written before any run)."""
    return {
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


def record_path(out: Path, rid: str, replication: int) -> Path:
    """Where the record of replication ``replication`` of point ``rid`` is written."""
    return out / "runs" / f"{rid}-r{replication}.json"


def read_record(path: Path) -> dict[str, Any] | None:
    """A run's record, or None when it is missing or unreadable (a run to do again)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_done(record: Mapping[str, Any] | None, rid: str, replication: int, seed: int) -> bool:
    """Whether ``record`` is a successful run of this point, replication and seed."""
    return (
        record is not None
        and record.get("format_version") == FORMAT_VERSION
        and record.get("run_id") == rid
        and record.get("replication") == replication
        and record.get("seed") == seed
        and record.get("status") == "ok"
        and isinstance(record.get("summary"), dict)
    )


def load_run_table(out: str | Path) -> RunTable[TablePoint]:
    """The run table a sweep folder records: points in the plan's order, typed key values.

    Read from ``sweep.json`` (kind, source, keys, replications, seed; its other
    fields become ``extra``, as JSON gives them) and ``runs.csv``, whose key
    values, written by :func:`~simulator.sweeps.spec.scalar_text`, are read
    back as YAML scalars: the values the plan had (``7`` an int, ``0.1`` a
    float, ``null`` None, ``'7'`` text). Both files are written before any
    run, so an unfinished folder has a run table too. The points have no
    scenarios: the table can be ordered
    (:func:`~simulator.sweeps.plan.ordered_points`) and plotted
    (:func:`simulator.sweeps.figures.plot_sweep_key`), not run. Raises
    :class:`~simulator.errors.InputError` naming the file.
    """
    out = Path(out)
    meta_path, table_path = out / "sweep.json", out / "runs.csv"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        text = table_path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise InputError(f"{out}: not a readable sweep folder ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: expected a JSON object")
    keys = tuple(str(k) for k in meta.get("keys", ()))
    rows = list(csv.reader(text.splitlines(keepends=True)))
    header = ["run_id", *keys, "replication", "seed"]
    if not rows or rows[0] != header:
        raise InputError(f"{table_path}: expected the columns {', '.join(header)}")
    points: dict[str, TablePoint] = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{table_path}: line {n}: expected {len(header)} fields")
        if row[0] not in points:
            values = (load_yaml_text(cell, f"{table_path}: line {n}", InputError)
                      for cell in row[1 : 1 + len(keys)])  # fmt: skip
            points[row[0]] = TablePoint(row[0], dict(zip(keys, values, strict=True)))
    extra = {k: v for k, v in meta.items() if k not in _META_FIELDS}
    return RunTable(
        str(meta.get("kind", "sweep")),
        str(meta.get("scenario", "")),
        keys,
        tuple(points.values()),
        int(meta.get("replications", 1)),
        int(meta.get("seed", 0)),
        extra,
    )
