"""Notebook plumbing of the API: progress bars and Figures that draw themselves inline.

Job: the presentation helpers every part of :mod:`simulator.api` shares --
the tqdm bar that fits where Python runs (a widget in Jupyter when
``ipywidgets`` is installed, text otherwise, never a warning), and handing
out matplotlib Figures so IPython shows them as PNG.

Boundary: no simulation, no statistics, no files; nothing here knows a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator import plots
from simulator.sweeps import TqdmProgress

__all__: list[str] = []


def _figure(fig: Any) -> Any:
    plots.enable_inline_figures()
    return fig


def _frame_repr(name: str, items: Iterable[str]) -> str:
    return f"{name}({', '.join(items)})"


def _progress(progress: bool, desc: str) -> Any:
    return TqdmProgress(desc) if progress else None
