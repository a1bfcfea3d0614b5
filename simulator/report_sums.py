"""Compatibility alias of :mod:`simulator.reports.sums`, for ``simulator.runner`` only.

``simulator/runner.py`` (rewritten elsewhere at the same time) still does
``from simulator import report_sums``; this module goes when that import
becomes ``from simulator.reports import sums``. New code imports
:mod:`simulator.reports.sums`.
"""

from simulator.reports.sums import (
    SUMS,
    Finished,
    Merged,
    Sums,
    batch_sums,
    frames,
    merge,
    part_sums,
    run_sums,
)

__all__ = [
    "SUMS",
    "Finished",
    "Merged",
    "Sums",
    "batch_sums",
    "frames",
    "merge",
    "part_sums",
    "run_sums",
]
