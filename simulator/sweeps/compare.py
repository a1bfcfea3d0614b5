"""Comparing two scenarios: the paired inputs, ``comparison.csv`` and the notes on pairing.

Job: a compare is a plan of two points, A and B, on the same replication
seeds (:func:`simulator.sweeps.plan.plan_compare`), run by
:func:`simulator.sweeps.execution.execute`. Here: the summaries of A and B
replication by replication where both succeeded (:func:`comparison_inputs`),
the paired differences written as ``comparison.csv`` and drawn as
``comparison.png`` (:func:`write_comparison`), and what the user should know
about how A and B were paired (:func:`compare_notes`).

Boundary: the statistics are :func:`simulator.stats.paired_comparison`; the
figure is :func:`simulator.plots.plot_comparison`, imported only when drawn
(it loads matplotlib).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.outputs import atomic_write_text
from simulator.population import roster
from simulator.scenario import Scenario
from simulator.stats import paired_comparison
from simulator.sweeps.execution import SweepResult
from simulator.sweeps.folder import read_record, record_path
from simulator.sweeps.plan import RunTable, TablePoint

__all__ = ["compare_notes", "comparison_inputs", "write_comparison"]


def comparison_inputs(
    out: str | Path, plan: RunTable[TablePoint]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The summaries of A and B, replication by replication, where both succeeded."""
    rows_a, rows_b = [], []
    for r in range(plan.replications):
        ra = read_record(record_path(Path(out), "A", r)) or {}
        rb = read_record(record_path(Path(out), "B", r)) or {}
        if ra.get("status") == "ok" and rb.get("status") == "ok":
            rows_a.append(ra["summary"])
            rows_b.append(rb["summary"])
    return rows_a, rows_b


def write_comparison(result: SweepResult, name_a: str = "A", name_b: str = "B") -> pd.DataFrame:
    """Write ``comparison.csv`` and ``comparison.png`` of a finished compare; return the table."""
    # matplotlib is loaded only when a comparison is drawn, not by every sweep.
    from simulator.plots import plot_comparison, save_figure

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
