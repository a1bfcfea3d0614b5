"""Validation of a fit: simulate the fitted scenario and compare its headline metrics.

Job: run the fitted scenario ``n`` times over the observed period (seeds
``seed``, ``seed + 1``, ...; ``workers`` processes each), read each run's
history back through the very same reader and engine replay as the observed
history (:mod:`simulator.calibration.reader`, :mod:`simulator.calibration.replayed`), so
both sides' metrics are computed by one definition, and compare: for each
metric the observed value, the simulations' mean, a 95 % prediction
interval for one more simulation (``mean +/- t(n-1) sd sqrt(1 + 1/n)``) and
a verdict (``consistent`` when the observed value is inside it, ``differs``
when not, ``too few simulations`` below 2).

Boundary: simulation through :func:`simulator.runner.run` and comparison;
nothing is written here.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.calibration.reader import read_histories
from simulator.calibration.replayed import replay_observed
from simulator.metrics import rate
from simulator.runformat import history_parts
from simulator.runner import run

if TYPE_CHECKING:
    from simulator.calibration.result import Fit

__all__ = ["METRICS", "headline_metrics", "validate_fit"]

#: The compared metrics: name -> what it is.
METRICS = {
    "response_rate": "responses observed by the end / accepted sends",
    "refund_rate": "refunded / paid sends whose refund window closed by the end",
    "expiry_waste_rate": "credits expired / credits issued (granted + purchased + refunded)",
    "credits_spent": "credits spent on paid sends",
    "credits_purchased": "credits bought",
    "purchases": "purchase actions",
    "rejections": "sends rejected (every reason)",
    "sends": "sends attempted",
}


def headline_metrics(counts: dict[str, int]) -> dict[str, float]:
    """The compared metrics from a replay's counts (:attr:`Replayed.counts`)."""
    issued = counts["credits_granted"] + counts["credits_purchased"] + counts["credits_refunded"]
    return {
        "response_rate": rate(counts["responses"], counts["accepted"]),
        "refund_rate": rate(counts["settled_refunds"], counts["settled"]),
        "expiry_waste_rate": rate(counts["credits_expired"], issued),
        "credits_spent": float(counts["credits_spent"]),
        "credits_purchased": float(counts["credits_purchased"]),
        "purchases": float(counts["purchases"]),
        "rejections": float(counts["rejections"]),
        "sends": float(counts["sends"]),
    }


def _simulate(fit: Fit, seed: int, workers: int) -> dict[str, float]:
    sc = fit.scenario
    with tempfile.TemporaryDirectory(prefix="creditsim-fit-") as tmp:
        # Written as a run's parts, so its history is streamed back part by part
        # like the observed one, never held whole (the run is not published).
        result = run(sc, seed=seed, workers=workers, keep_tables=False, out=Path(tmp) / "run")
        assert result.staged is not None  # run(out=...) writes its parts there
        obs = read_histories(history_parts(result.staged), sc.policy, until=sc.end)
    return headline_metrics(replay_observed(obs, sc.policy).counts)


def validate_fit(fit: Fit, n: int, seed: int | None = None, workers: int = 1) -> pd.DataFrame:
    """Simulate ``fit.scenario`` ``n`` times; set and return ``fit.validation``."""
    first = fit.scenario.seed if seed is None else seed
    runs = [{"seed": first + i, **_simulate(fit, first + i, workers)} for i in range(n)]
    fit.validation_runs = pd.DataFrame(runs)
    observed = headline_metrics(fit.replayed.counts)
    rows: list[dict[str, Any]] = []
    for name, meaning in METRICS.items():
        values = np.array([r[name] for r in runs], dtype=np.float64)
        values = values[np.isfinite(values)]
        mean = float(values.mean()) if len(values) else math.nan
        if len(values) >= 2:
            half = float(stats.t.ppf(0.975, len(values) - 1)) * float(values.std(ddof=1))
            half *= math.sqrt(1 + 1 / len(values))
            low, high = mean - half, mean + half
            obs = observed[name]
            verdict = "consistent" if low <= obs <= high else "differs"
        else:
            low = high = math.nan
            verdict = "too few simulations"
        rows.append({"metric": name, "observed": observed[name], "simulated_mean": mean,
                     "low": low, "high": high, "simulations": len(values), "verdict": verdict,
                     "definition": meaning})  # fmt: skip
    fit.validation = pd.DataFrame(rows)
    return fit.validation
