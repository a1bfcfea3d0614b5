"""The fit's estimators on synthetic samples with known truth (numpy draws, seeds fixed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.calibration.cohorts import change_point
from simulator.calibration.sending import fit_lengths, fit_rates
from simulator.calibration.stats import poisson_interval, wilson
from simulator.timeutil import DAY


def test_wilson_known_values() -> None:
    """5 of 10: Wilson's 95 % interval is (0.2366, 0.7634) (Agresti & Coull 1998, table)."""
    p, se, lo, hi = wilson(5, 10)
    assert p == 0.5
    assert se == pytest.approx(math.sqrt(0.025))
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_wilson_holds_its_end_points() -> None:
    """All or none succeeding: the interval reaches 1 or 0 exactly."""
    assert wilson(0, 40)[2] == 0.0
    assert wilson(40, 40)[3] == 1.0


@pytest.mark.parametrize(("k", "want"), [(0, (0.0, 3.6889)), (10, (4.7954, 18.3904))])
def test_poisson_interval_garwood(k: int, want: tuple[float, float]) -> None:
    """Exact Poisson intervals (Garwood 1936; the values of standard tables)."""
    assert poisson_interval(k) == pytest.approx(want, abs=1e-3)


def _nb_sample(
    rng: np.random.Generator, n: int, mu: float, k: float
) -> tuple[np.ndarray, np.ndarray]:
    exposure = rng.uniform(2, 12, n)  # months
    rates = rng.gamma(k, mu / k, n)
    return rng.poisson(rates * exposure), exposure


def test_negative_binomial_recovers_mean_and_shape() -> None:
    """Counts Poisson(gamma rate x exposure): the MLE's intervals cover mu=4, k=1.5."""
    rng = np.random.default_rng(1)
    y, e = _nb_sample(rng, 3000, 4.0, 1.5)
    r = fit_rates(y, e, truncated=False)
    se_mu, se_k = (math.sqrt(r["cov"][i, i]) for i in range(2))
    assert abs(math.log(r["mu"] / 4.0)) < 1.96 * se_mu
    assert abs(math.log(r["k"] / 1.5)) < 1.96 * se_k


def test_zero_truncated_fit_counts_the_unseen() -> None:
    """Members with no sends are invisible: the truncated fit recovers mu and the size 2,000."""
    rng = np.random.default_rng(2)
    y, e = _nb_sample(rng, 2000, 0.3, 0.8)
    seen = y > 0
    r = fit_rates(y[seen], e[seen], truncated=True)
    assert abs(r["members"] - 2000) < 1.96 * r["members_se"]
    assert abs(math.log(r["mu"] / 0.3)) < 1.96 * math.sqrt(r["cov"][0, 0])


def test_lengths_lognormal_chosen_and_covered() -> None:
    """Rounded lognormal lengths: AIC picks lognormal and the intervals cover median and sigma."""
    rng = np.random.default_rng(3)
    x = np.maximum(np.rint(rng.lognormal(math.log(700), 0.5, 5000)), 1)
    f = fit_lengths(x)
    assert f["kind"] == "lognormal"
    assert f["median"][2] <= 700 <= f["median"][3]
    assert f["sigma"][2] <= 0.5 <= f["sigma"][3]


def test_lengths_uniform_chosen_and_covered() -> None:
    """Rounded uniform lengths on [15, 80]: AIC picks uniform; its intervals cover both ends."""
    rng = np.random.default_rng(4)
    x = np.rint(rng.uniform(15, 80, 3000))
    f = fit_lengths(x)
    assert f["kind"] == "uniform"
    assert f["low"][2] <= 15 <= f["low"][3]
    assert f["high"][2] <= 80 <= f["high"][3]


def test_clipped_lengths_are_censored() -> None:
    """Lengths clipped at 2,000: the censored fit covers sigma 0.6; the plain fit is biased low."""
    rng = np.random.default_rng(5)
    x = np.minimum(np.maximum(np.rint(rng.lognormal(math.log(1200), 0.6, 20000)), 1), 2000)
    censored = fit_lengths(x, clip=2000)
    plain = fit_lengths(x)
    assert censored["sigma"][2] <= 0.6 <= censored["sigma"][3]
    assert plain["sigma"][3] < 0.6


def testchange_point_splits_spread_and_arrivals() -> None:
    """500 subscriptions over 30 days then 10 a month: S near 30 days, about 500 before it."""
    rng = np.random.default_rng(6)
    span = 365 * DAY
    first = rng.uniform(0, 30 * DAY, 500)
    later = rng.uniform(0, span, rng.poisson(120))
    s, k1 = change_point(np.concatenate([first, later]), float(span))
    assert 28 * DAY < s <= 31 * DAY
    assert 500 <= k1 <= 530


def test_rates_without_heterogeneity_are_poisson() -> None:
    """Counts less spread than Poisson: shape at its bound, so rate_shape null, mu still bounded."""
    rng = np.random.default_rng(7)
    e = rng.uniform(2, 12, 2000)
    y = rng.poisson(4 * e) // 2 * 2 + 1  # under-dispersed around 4 a month
    r = fit_rates(y, e, truncated=False)
    assert r["poisson"] and r["k"] == math.inf
    assert 1 < r["k_low"] < 1e4
    assert math.sqrt(r["cov"][0, 0]) > 0
