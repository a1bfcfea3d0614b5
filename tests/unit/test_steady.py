"""MSER truncation and the steady-state verdict (simulator.steady) on series built by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.steady import (
    BIAS_THRESHOLD,
    NO_RESPONSE,
    THRESHOLD_WEEKS,
    Z_THRESHOLD,
    bias_z,
    mser,
    steady_bins,
    steady_block,
    verdict,
    window_bias,
)
from simulator.timeutil import DAY

WEEK = 7 * DAY


def test_mser_cuts_a_step_at_the_step() -> None:
    """Ten weeks at 0 then forty at 1: the kept part has no variance from d = 10 on."""
    y = np.array([0.0] * 10 + [1.0] * 40)
    assert mser(y) == 10


def test_mser_keeps_a_constant_series_whole() -> None:
    """A constant series has zero SSE at every d; the first (0) wins."""
    assert mser(np.full(30, 0.5)) == 0


@settings(max_examples=200)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=80))
def test_mser_equals_its_definition(values: list[float]) -> None:
    """The suffix-sum form minimises White's statistic, evaluated term by term for each d."""
    y = np.asarray(values)
    d = mser(y)
    assert 0 <= d <= len(y) // 2
    n = len(y)
    stat = [float(((y[k:] - y[k:].mean()) ** 2).sum()) / (n - k) ** 2 for k in range(n // 2 + 1)]
    # The minimum, up to rounding (ties may pick another minimiser).
    assert stat[d] <= min(stat) + 1e-9 * max(1.0, max(abs(v) for v in stat))


def test_bias_z_and_window_bias_of_a_step() -> None:
    """A head of 10 weeks at 0.4 before 42 noisy weeks around 0.5 is far off and matters."""
    rng = np.random.default_rng(1)
    tail = 0.5 + rng.normal(0, 0.01, 42)
    y = np.concatenate([np.full(10, 0.4), tail])
    assert bias_z(y, 10) > 10
    # Keeping the head moves the mean by 10/52 * 0.1 of about 0.5: about 3.8 %.
    assert window_bias(y, 10) == pytest.approx(10 / 52 * (tail.mean() - 0.4) / tail.mean())
    assert bias_z(y, 0) == 0 and window_bias(y, 0) == 0


def test_verdict_on_stationary_noise_is_steady() -> None:
    """White noise around a level: whatever MSER picks, nothing it cuts matters."""
    rng = np.random.default_rng(7)
    series = {name: 0.5 + rng.normal(0, 0.02, 52) for name in ("a", "b", "c", "d")}
    v = verdict(series, warmup_days=365)
    assert v["steady"] is True
    assert v["suggested_truncation_weeks"] == 0
    assert v["suggested_warmup_days"] == 365


def test_verdict_on_a_ramp_names_the_warmup() -> None:
    """A ramp over 12 weeks to a level: not steady, warm-up = given + the truncation."""
    rng = np.random.default_rng(3)
    ramp = np.concatenate([np.linspace(0.1, 0.5, 12), np.full(40, 0.5)]) + rng.normal(0, 0.01, 52)
    flat = 0.2 + rng.normal(0, 0.01, 52)
    v = verdict({"ramp": ramp, "flat": flat}, warmup_days=30)
    assert v["steady"] is False
    d = v["truncation_weeks"]["ramp"]
    assert THRESHOLD_WEEKS < d <= 14
    assert v["truncation_weeks"]["flat"] == 0
    assert v["suggested_warmup_days"] == 30 + 7 * d
    assert v["bias_z"]["ramp"] > Z_THRESHOLD and v["bias"]["ramp"] > BIAS_THRESHOLD


def test_leading_weeks_without_data_count_as_transient() -> None:
    """Nothing expires in a run's first 13 weeks without warm-up: those weeks are cut."""
    y = np.concatenate([np.full(13, np.nan), np.full(39, 0.5)])
    v = verdict({"expiry": y}, warmup_days=0)
    assert v["truncation_weeks"]["expiry"] == 13
    assert v["steady"] is False and v["suggested_warmup_days"] == 91


def test_too_few_weeks_give_no_verdict() -> None:
    """Fewer than MIN_WEEKS points: no truncation, and no verdict either way."""
    v = verdict({"a": np.full(5, 0.5)}, warmup_days=0)
    assert v["truncation_weeks"]["a"] is None and v["steady"] is None


def test_steady_state_block_from_events() -> None:
    """Weekly series from hand-made events: the rates of two weeks, worked out by hand."""
    start = 1_388_534_400  # 2014-01-01T00:00:00Z
    end = start + 14 * DAY - 1  # two full weeks
    t0, t1 = start + DAY, start + WEEK + DAY
    bins = steady_bins(
        start=start,
        end=end,
        # 10 credits due to expire in week 0, 4 in week 1; 5 and 1 of them lost.
        due=(np.array([t0, t1]), np.array([10, 4])),
        lost=(np.array([t0, t1]), np.array([5, 1])),
        spent=(np.array([t0, t0, t1]), np.array([1, 1, 1])),
        # Four InMails in week 0: one answered within 7 days, one answered after 8 (not within
        # the horizon), two settled of which one refunded; one in week 1 (answered, not
        # settled), sent 6 days before the end: too late to know (RESPONSE_HORIZON_DAYS).
        sent_at=np.array([t0, t0, t0, t0, t1]),
        responded_at=np.array([t0 + 7 * DAY, NO_RESPONSE, NO_RESPONSE, t0 + 8 * DAY, t1 + 1]),
        settled=np.array([True, True, False, False, False]),
        refunded=np.array([False, True, False, False, False]),
        # Attempts by members 0 and 1 in week 0 (member 0 twice), member 0 in week 1.
        attempts=(np.array([t0, t0, t0, t1]), np.array([0, 0, 1, 0])),
    )
    block = steady_block(bins, start=start, end=end, warmup_days=0)
    assert block["week_start"] == ["2014-01-01", "2014-01-08"]
    s = block["series"]
    assert s["expiry_waste_rate"] == [0.5, 0.25]
    assert s["refund_rate"] == [0.5, None]
    assert s["response_rate"] == [0.25, None]  # 1 of 4 within 7 days; week 1 not yet known
    assert s["spend_per_member"] == [1.0, 1.0]  # 2 credits / 2 members, 1 / 1
    assert block["steady"] is None  # two weeks say nothing


def test_leading_empty_weeks_count_even_when_few_weeks_follow() -> None:
    """17 weeks, nothing expiring in the first 13: those 13 are cut though 4 weeks are too
    few for MSER (a 120-day run without warm-up)."""
    y = np.concatenate([np.full(13, np.nan), np.full(4, 0.5)])
    v = verdict({"expiry": y, "flat": np.full(17, 0.2)}, warmup_days=0)
    assert v["truncation_weeks"] == {"expiry": 13, "flat": 0}
    assert v["steady"] is False and v["suggested_warmup_days"] == 91


def test_a_series_whose_data_comes_after_the_window_is_all_transient() -> None:
    """Eight weeks and nothing due to expire in them (all due later): the whole window is cut,
    at the cap, so the suggestion is a lower bound."""
    v = verdict({"expiry": np.full(8, np.nan)}, warmup_days=0, pending=["expiry"])
    assert v["truncation_weeks"]["expiry"] == 8 and v["capped"] is True
    assert v["steady"] is False and v["suggested_warmup_days"] == 56
    # Without the pending mark an empty series says nothing.
    assert verdict({"expiry": np.full(8, np.nan)}, warmup_days=0)["steady"] is None


def test_truncation_is_counted_in_weeks_of_the_window() -> None:
    """A ramp over 20 weeks with every other week empty: the cut lands on a week of the
    window (about 20), not on the count of weeks with data (about 10)."""
    rng = np.random.default_rng(5)
    y = np.concatenate([np.linspace(0.1, 0.5, 20), np.full(32, 0.5)]) + rng.normal(0, 0.005, 52)
    y[1::2] = np.nan
    v = verdict({"gappy": y}, warmup_days=0)
    assert 16 <= v["truncation_weeks"]["gappy"] <= 22
    assert v["truncation_weeks"]["gappy"] % 2 == 0  # a week that has data
