"""Statistics over runs: replications, t-intervals, paired comparisons, Wilson intervals.

Job: the few interval estimates creditsim reports, each on ``scipy.stats``
(the field's standard) and each saying its formula:

- :func:`replications`: each metric's mean, sample standard deviation and
  95 % Student-t interval over runs of one scenario that differ in seed;
- :func:`paired_comparison`: B - A over paired replications (common random
  numbers), with the paired interval and the unpaired one the same runs
  would give, clipped to the range the difference can take
  (:func:`metric_bounds`);
- :func:`t_half_width`: the half-width of a 95 % t-interval of a mean;
- :func:`wilson_interval`: the Wilson score interval of proportions.

Boundary: numbers and summary dicts in, numbers and DataFrames out; no
files, no plots (the figures of these are in :mod:`simulator.plots`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

__all__ = [
    "flatten",
    "metric_bounds",
    "paired_comparison",
    "replications",
    "t_half_width",
    "t_quantile",
    "wilson_interval",
]

#: The two-sided 95 % standard normal quantile (1.959963984540054).
Z95 = float(_scipy_stats.norm.ppf(0.975))


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t distribution with ``df`` (>= 1) degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1, got {p}")
    if isinstance(df, bool) or not isinstance(df, int | np.integer) or df < 1:
        raise ValueError(f"df must be a whole number >= 1, got {df!r}")
    return float(_scipy_stats.t.ppf(p, int(df)))


def t_half_width(std: float, n: int, df: int | None = None) -> float:
    """Half-width of the 95 % t-interval of a mean of ``n`` values with sample std ``std``:
    ``t(0.975, df) * std / sqrt(n)``, with ``df = n - 1`` unless given."""
    return t_quantile(0.975, n - 1 if df is None else df) * std / math.sqrt(n)


def sample_std(xs: Sequence[float], mean: float) -> float:
    """The sample standard deviation (n - 1) of ``xs`` around their ``mean``."""
    return math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """The leaves of nested mappings as ``(dotted.name, value)`` pairs, in order."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, name + ".")
        else:
            yield name, value


def replications(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Mean, standard deviation and 95 % t-interval of every numeric metric over runs.

    ``summaries`` are the ``summary.json`` dicts of runs of one scenario with
    different seeds; nested dicts are flattened with dots (``a.b``), booleans
    and non-numbers are ignored, and a metric counts the runs where it is a
    finite number. Columns: ``metric``, ``n``, ``mean``, ``std`` (sample,
    n - 1), ``ci_low``, ``ci_high`` (mean -/+ t(0.975, n - 1) * std / sqrt(n));
    NaN where n < 2.
    """
    values: dict[str, list[float]] = {}
    for summary in summaries:
        for key, value in flatten(summary):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                values.setdefault(key, []).append(value)
    rows = []
    for metric, xs in values.items():
        n = len(xs)
        mean = math.fsum(xs) / n
        if n >= 2:
            std = sample_std(xs, mean)
            half = t_half_width(std, n)
        else:
            std = half = math.nan
        rows.append(
            {
                "metric": metric,
                "n": n,
                "mean": mean,
                "std": std,
                "ci_low": mean - half,
                "ci_high": mean + half,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "n", "mean", "std", "ci_low", "ci_high"])


def paired_comparison(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Per metric, A's and B's means and the paired difference B - A with its 95 % interval.

    ``a[i]`` and ``b[i]`` are the summaries of replication i (same seed).
    Replications where either value is missing or not a finite number are
    left out; ``n`` counts the pairs used. Columns: ``metric, n, mean_a,
    mean_b, diff`` (mean of B - A), ``diff_std`` (sample std of the
    differences), ``ci_low, ci_high`` (diff -/+ t(0.975, n-1) diff_std /
    sqrt(n)), ``relative_diff`` (diff / mean_a; NaN when mean_a is 0) and
    ``unpaired_ci_low, unpaired_ci_high``: the interval the same runs would
    give if A and B were independent (diff -/+ t(0.975, 2n-2)
    sqrt(s_a^2/n + s_b^2/n)), to show what common random numbers buy.

    ``narrower`` says which of the two intervals is narrower (``paired``,
    ``unpaired`` or ``equal``; before clipping). Both intervals are clipped
    to the range the difference can take (:func:`metric_bounds`: a rate's
    B lies in [0, 1], so B - A lies in [-A, 1 - A]; a count or an amount of
    money is >= 0, so B - A >= -A and (B - A) / A >= -100 %); ``clipped``
    names the clipped intervals (``paired``, ``unpaired``, ``both`` or
    ``none``; empty when there is no interval, with fewer than 2 pairs).
    """
    if len(a) != len(b):
        raise ValueError(f"a and b need one summary per replication each, got {len(a)} "
                         f"and {len(b)}")  # fmt: skip
    metrics: dict[str, None] = {}
    for summary in (*a, *b):
        for key, value in summary.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics.setdefault(key, None)
    rows = []
    for metric in metrics:
        pairs = [(float(x[metric]), float(y[metric])) for x, y in zip(a, b, strict=True)
                 if _finite(x.get(metric)) and _finite(y.get(metric))]  # fmt: skip
        n = len(pairs)
        nan = math.nan
        row = {"metric": metric, "n": n, "mean_a": nan, "mean_b": nan, "diff": nan,
               "diff_std": nan, "ci_low": nan, "ci_high": nan, "relative_diff": nan,
               "unpaired_ci_low": nan, "unpaired_ci_high": nan, "narrower": "",
               "clipped": ""}  # fmt: skip
        if n:
            xa = [p[0] for p in pairs]
            xb = [p[1] for p in pairs]
            d = [y - x for x, y in pairs]
            mean_a, mean_b, diff = (math.fsum(v) / n for v in (xa, xb, d))
            row.update(mean_a=mean_a, mean_b=mean_b, diff=diff)
            row["relative_diff"] = diff / mean_a if mean_a != 0 else nan
            if n >= 2:
                sd = sample_std(d, diff)
                half = t_half_width(sd, n)
                sa, sb = sample_std(xa, mean_a), sample_std(xb, mean_b)
                uhalf = t_quantile(0.975, 2 * n - 2) * math.sqrt((sa**2 + sb**2) / n)
                row["narrower"] = ("paired" if half < uhalf else "unpaired" if uhalf < half
                                   else "equal")  # fmt: skip
                low, high = metric_bounds(metric, xa + xb)
                dlow, dhigh = low - mean_a, high - mean_a
                clipped = []
                for name, lo_, hi_ in (("paired", diff - half, diff + half),
                                       ("unpaired", diff - uhalf, diff + uhalf)):  # fmt: skip
                    if lo_ < dlow or hi_ > dhigh:
                        clipped.append(name)
                    prefix = "" if name == "paired" else "unpaired_"
                    row[f"{prefix}ci_low"] = max(lo_, dlow)
                    row[f"{prefix}ci_high"] = min(hi_, dhigh)
                row.update(diff_std=sd, clipped=("both" if len(clipped) == 2 else
                                                 clipped[0] if clipped else "none"))  # fmt: skip
        rows.append(row)
    columns = ["metric", "n", "mean_a", "mean_b", "diff", "diff_std", "ci_low", "ci_high",
               "relative_diff", "unpaired_ci_low", "unpaired_ci_high", "narrower",
               "clipped"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def metric_bounds(metric: str, values: Sequence[float]) -> tuple[float, float]:
    """The range a metric's value can take: [0, 1] for a rate (a name ending in
    ``_rate``); [0, inf) for a count or an amount of money (every other metric whose
    observed ``values`` are all >= 0); otherwise unbounded."""
    if metric.endswith("_rate"):
        return 0.0, 1.0
    if all(v >= 0 for v in values):
        return 0.0, math.inf
    return -math.inf, math.inf


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def wilson_interval(rate: Any, n: Any, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (95 % by default) of proportions ``rate`` out of ``n`` trials.

    ``lower, upper = (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``
    (Wilson 1927; Newcombe 1998, method 3). NaN where ``n`` is 0.
    """
    p = np.asarray(rate, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z * np.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
        # At p = 0 (p = 1) the lower (upper) bound is exactly 0 (1); rounding aside.
        lower = np.where(n > 0, np.where(p <= 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
        upper = np.where(n > 0, np.where(p >= 1, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    return lower, upper
