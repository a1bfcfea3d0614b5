"""simulator.stats: replications, t quantiles, Wilson intervals, against closed forms and
published tables."""

from __future__ import annotations

import math

import pytest

from simulator.stats import replications, t_quantile, wilson_interval


def test_replications_mean_std_and_interval():
    """Replications give the sample mean, std and 95 % t-interval of each metric."""
    out = replications([{"x": 1, "y": 2.0}, {"x": 3, "y": 2.0}, {"x": 5}]).set_index("metric")
    # x: mean 3, std sqrt((4 + 0 + 4) / 2) = 2, half-width t(0.975, 2) * 2 / sqrt(3)
    # with t(0.975, 2) = 4.302652729749464 (closed form 0.95 * sqrt(2 / (1 - 0.95**2)))
    half = 4.302652729749464 * 2 / math.sqrt(3)
    assert out.loc["x"].tolist() == pytest.approx([3, 3.0, 2.0, 3 - half, 3 + half])
    # y: two equal values: std 0, the interval collapses on the mean
    assert out.loc["y"].tolist() == pytest.approx([2, 2.0, 0.0, 2.0, 2.0])


def test_replications_single_run_has_no_interval():
    """With one run a metric has a mean but no std or interval."""
    out = replications([{"x": 4}])
    assert out.iloc[0]["n"] == 1 and out.iloc[0]["mean"] == 4.0
    assert out[["std", "ci_low", "ci_high"]].isna().all(axis=None)


def test_replications_flatten_and_skip_non_numbers():
    """Nested metrics are flattened with dots; booleans, text and NaN are skipped."""
    out = replications(
        [{"a": {"b": 1}, "flag": True, "name": "s", "c": float("nan")}, {"a": {"b": 3}}]
    )
    assert out["metric"].tolist() == ["a.b"]


@pytest.mark.parametrize(
    ("df", "expected", "tol"),
    [
        (1, math.tan(0.475 * math.pi), 1e-9),  # closed form for df = 1: tan(pi (p - 1/2))
        (2, 0.95 * math.sqrt(2 / (1 - 0.95**2)), 1e-9),  # closed form for df = 2
        # NIST/SEMATECH e-Handbook 1.3.6.7.2, upper critical values, alpha = 0.025
        (5, 2.571, 5e-4),
        (10, 2.228, 5e-4),
        (30, 2.042, 5e-4),
        (100, 1.984, 5e-4),
        (1000, 1.962, 5e-4),
        (10**6, 1.959966, 1e-6),  # A&S 26.7.5: z + (z^3 + z) / 4 / df, z = 1.959964 (normal)
    ],
)
def test_t_quantile(df, expected, tol):
    """The t quantile matches closed forms and the published table."""
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=tol)


def test_t_quantile_is_symmetric():
    """The lower quantile is minus the upper one."""
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7), rel=1e-12)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718)],
)  # fmt: skip
def test_wilson_interval_matches_published_values(k, n, low, high):
    """wilson_interval reproduces Newcombe (1998), Stat. Med. 17:857, Table I, method 3."""
    got = wilson_interval(k / n, n)
    assert (float(got[0]), float(got[1])) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_without_trials_is_nan():
    """No trials, no interval: NaN rather than a division error."""
    low, high = wilson_interval([0.5, math.nan], [10, 0])
    assert 0 < low[0] < 0.5 < high[0] < 1
    assert math.isnan(low[1]) and math.isnan(high[1])


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.975, 0), (0.975, 2.5), (0.975, True)])
def test_t_quantile_rejects_what_has_no_quantile(p, df):
    """p outside (0, 1) and df not a whole number >= 1 are errors, not NaN."""
    with pytest.raises(ValueError):
        t_quantile(p, df)
