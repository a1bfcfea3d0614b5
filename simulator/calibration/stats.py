"""Small statistical tools the estimators share: one estimate row, intervals, MLE.

Job: the :class:`Estimate` row (one line of ``fit.csv``), Wilson intervals for
proportions, exact Poisson intervals for counts, and :func:`mle` (minimise a
negative log-likelihood with scipy, then the covariance from the inverse of
a central-difference Hessian: the standard Wald approach).

Boundary: pure numerics on arrays; nothing about histories or scenarios.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

__all__ = ["Estimate", "hessian", "mle", "poisson_interval", "wilson"]

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Estimate:
    """One estimated parameter: a row of ``fit.csv``.

    ``parameter`` is its key path in the scenario (``population[sales].sending.
    inmails_per_month``); ``low``/``high`` its 95 % interval; ``se`` its standard
    error where the method gives one (else NaN); ``n`` the observations behind it
    and ``unit`` what they count; ``source`` is ``fit``, ``base`` (the base
    scenario's value, used because the history is too small: ``note`` says why)
    or ``fixed`` (not estimated: ``note`` says why).
    """

    group: str
    cohort: str
    parameter: str
    estimate: float
    se: float
    low: float
    high: float
    n: int
    unit: str
    method: str
    source: str = "fit"
    note: str = ""


def wilson(k: float, n: float) -> tuple[float, float, float, float]:
    """Proportion ``k/n``, its binomial SE and Wilson 95 % interval (NaN when n is 0)."""
    if n <= 0:
        return math.nan, math.nan, math.nan, math.nan
    p = k / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    se = math.sqrt(max(p * (1 - p), 0.0) / n)
    # The interval holds its end point exactly when every (or no) trial succeeded.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return p, se, low, high


def poisson_interval(k: int) -> tuple[float, float]:
    """Exact (Garwood) 95 % interval of a Poisson mean from one count ``k``."""
    low = 0.0 if k == 0 else float(stats.chi2.ppf(0.025, 2 * k) / 2)
    high = float(stats.chi2.ppf(0.975, 2 * k + 2) / 2)
    return low, high


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x`` (steps relative to ``max(1, |x|)``)."""
    x = np.asarray(x, dtype=np.float64)
    k = len(x)
    h = step * np.maximum(1.0, np.abs(x))
    out = np.zeros((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        out[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / (h[i] * h[i])
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h[i] * h[j]
            )
            out[i, j] = out[j, i] = v
    return out


def mle(
    nll: Callable[[np.ndarray], float],
    x0: np.ndarray,
    bounds: list[tuple[float, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``nll`` from ``x0``; return the estimate and its covariance (NaN if singular)."""
    # Tight tolerances: the Hessian below is taken at the optimum, so it must be one.
    options = {"ftol": 1e-14, "gtol": 1e-9, "maxiter": 5000}
    res = optimize.minimize(nll, np.asarray(x0, float), method="L-BFGS-B", bounds=bounds,
                            options=options)  # fmt: skip
    x = res.x
    try:
        cov = np.linalg.inv(hessian(nll, x))
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full((len(x), len(x)), np.nan)
    return x, cov
