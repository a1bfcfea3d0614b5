"""The roster (simulator.population): arrivals, their rates and instants, and stream keys."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulator.behaviour import PlanSampler
from simulator.population import ARRIVALS_STREAM, arrival_instants, monthly_arrival_rates, roster
from simulator.scenario import load_scenario, scenario_from_dict
from simulator.timeutil import DAY, MEAN_MONTH_DAYS

DATA = Path(__file__).parents[1] / "data" / "model"
MONTH = MEAN_MONTH_DAYS * DAY


def _scenario(
    *cohorts: dict,
    days: int = 365,
    warmup: int = 0,
    seed: int = 5,  # type: ignore[no-untyped-def]
    cancel_effective: str = "end_of_period",
):
    return scenario_from_dict({
        "seed": seed, "start": "2020-01-01", "duration_days": days, "warmup_days": warmup,
        "population": list(cohorts), "policy": {"cancel_effective": cancel_effective},
    })  # fmt: skip


def _cohort(name: str, **extra: object) -> dict:
    base = {"name": name, "tier": "premium_career", "members": 100,
            "sending": {"inmails_per_month": 0}}  # fmt: skip
    base.update(extra)
    return base


def test_a_closed_population_is_its_members() -> None:
    """Without arrivals the roster is the cohorts' members, keyed (i,) as always."""
    sc = load_scenario(DATA / "small.yaml")
    r = roster(sc)
    assert r.size == r.initial == sc.members
    assert r.arrivals == 0
    assert [r.key(i) for i in (0, sc.members - 1)] == [(0,), (sc.members - 1,)]
    assert r.join_instant(0) is None
    # Cohort of each index: the cohorts in file order.
    sizes = [c.members for c in sc.population]
    assert np.array_equal(r.cohort, np.repeat(np.arange(len(sizes)), sizes))


def test_arrivals_follow_the_members_cohort_by_cohort() -> None:
    """Arrivals get indices after every member present at the start, keyed (cohort, ordinal)."""
    sc = load_scenario(DATA / "open.yaml")
    r = roster(sc)
    assert r.initial == sc.members and r.size > r.initial
    arrived = np.arange(r.initial, r.size)
    assert np.all(np.diff(r.cohort[arrived]) >= 0)  # cohort by cohort
    for c in np.unique(r.cohort[arrived]):
        mine = arrived[r.cohort[arrived] == c]
        assert [r.key(int(i)) for i in mine] == [(int(c), k) for k in range(len(mine))]
        times = r.joined[mine]
        assert np.all(np.diff(times) >= 0)  # in the order they join
        assert times.min() >= sc.sim_start and times.max() <= sc.end


def test_numeric_rate_grows_each_month() -> None:
    """monthly_rate 0.1 of 100 members growing 5 % a month: 10, 10.5, 11.025, ..."""
    sc = _scenario(_cohort("a", arrivals={"monthly_rate": 0.1, "growth_per_month": 0.05}))
    rates = monthly_arrival_rates(sc, 0, 4)
    assert rates == pytest.approx([10 * 1.05**m for m in range(4)])


def test_replace_churn_without_changes_replaces_the_cancels() -> None:
    """Cancel q a month and no changes: q * members arrive each month (the chain stays at N)."""
    sc = _scenario(_cohort("a", monthly_cancel_probability=0.04,
                           arrivals={"monthly_rate": "replace_churn"}),
                   cancel_effective="immediate")  # fmt: skip
    assert monthly_arrival_rates(sc, 0, 24) == pytest.approx([4.0] * 24)


def test_replace_churn_waits_for_cancels_at_the_end_of_the_period() -> None:
    """With end_of_period cancels, month m's departures take effect, and arrive, in m + 1."""
    sc = _scenario(_cohort("a", monthly_cancel_probability=0.04,
                           arrivals={"monthly_rate": "replace_churn"}))  # fmt: skip
    assert monthly_arrival_rates(sc, 0, 5) == pytest.approx([0.0, 4.0, 4.0, 4.0, 4.0])


def test_replace_churn_with_growth() -> None:
    """Growth g: month m brings N (1+g)^m (q + g), so the expected size is N (1+g)^(m+1)."""
    sc = _scenario(_cohort("a", monthly_cancel_probability=0.04,
                           arrivals={"monthly_rate": "replace_churn", "growth_per_month": 0.02}),
                   cancel_effective="immediate")  # fmt: skip
    expected = [100 * 1.02**m * (0.04 + 0.02) for m in range(6)]
    assert monthly_arrival_rates(sc, 0, 6) == pytest.approx(expected)


def test_replace_churn_follows_members_to_their_new_tier() -> None:
    """Changers leave at their new tier's rate: the chain, worked out by hand for two months.

    On premium_career: cancel 0.1, else change 0.5 to premium_business (so 0.9 * 0.5 = 0.45
    move); on premium_business (after_change): cancel 0.2, no change.
    Month 0: 100 on career -> 45 business, 100 - 10 - 45 = 45 career: 90 held, 10 arrive
    (on career: 55 career, 45 business).
    Month 1: career 55 -> 55 * 0.45 = 24.75 move, 55 * 0.45 = 24.75 stay; business
    45 * 0.8 = 36 stay + 24.75 = 60.75; held 85.5, so 14.5 arrive.
    """
    sc = _scenario(_cohort(
        "a", monthly_cancel_probability=0.1, monthly_change_probability=0.5,
        change_to={"premium_business": 1},
        after_change={"premium_business": {"monthly_cancel_probability": 0.2}},
        arrivals={"monthly_rate": "replace_churn"},
    ), cancel_effective="immediate")  # fmt: skip
    assert monthly_arrival_rates(sc, 0, 2) == pytest.approx([10.0, 14.5])


def test_arrival_count_is_poisson_with_the_integrated_rate() -> None:
    """1,000 members at 0.5 a month for 12 months: 6,000 expected, within 4 sd (sd 77)."""
    sc = _scenario(_cohort("a", members=1000, arrivals={"monthly_rate": 0.5}),
                   days=math.floor(12 * MEAN_MONTH_DAYS))  # fmt: skip
    months = (sc.end + 1 - sc.sim_start) / MONTH
    expected = 500 * months
    n = len(arrival_instants(sc, 0))
    assert abs(n - expected) < 4 * math.sqrt(expected)


def test_a_longer_run_keeps_every_arrival_of_a_shorter_one() -> None:
    """Arrival instants come in time order from sim_start: the run's length only cuts them."""
    cohort = _cohort("a", arrivals={"monthly_rate": 0.3, "growth_per_month": 0.1})
    short = arrival_instants(_scenario(cohort, days=100), 0)
    long = arrival_instants(_scenario(cohort, days=300), 0)
    assert len(long) > len(short) > 0
    assert np.array_equal(long[: len(short)], short)


def test_one_cohort_s_arrivals_do_not_move_another_s() -> None:
    """Changing cohort 0's arrivals leaves cohort 1's instants and draws as they were."""
    b = _cohort("b", tier="premium_business", arrivals={"monthly_rate": 0.2})
    one = _scenario(_cohort("a", arrivals={"monthly_rate": 0.1}), b)
    two = _scenario(_cohort("a", arrivals={"monthly_rate": 0.4}), b)
    assert np.array_equal(arrival_instants(one, 1), arrival_instants(two, 1))
    r1, r2 = roster(one), roster(two)
    last1, last2 = r1.size - 1, r2.size - 1  # both cohort 1's last arrival
    assert r1.key(last1) == r2.key(last2) and r1.key(last1)[0] == 1
    sampler = PlanSampler(one.population[1], one.recipients, one.policy.categories,
                          one.sim_start, one.end, one.seed)  # fmt: skip
    p1 = sampler.plan(last1, r1.key(last1), r1.join_instant(last1))
    p2 = sampler.plan(last2, r2.key(last2), r2.join_instant(last2))
    assert np.array_equal(p1.send_at, p2.send_at) and p1.rate == p2.rate


def test_the_arrival_stream_is_its_own() -> None:
    """The schedule's key (ARRIVALS_STREAM, c) is no member's key."""
    r = roster(load_scenario(DATA / "open.yaml"))
    keys = {r.key(i) for i in range(r.size)}
    assert all((ARRIVALS_STREAM, c) not in keys for c in range(3))
    assert len(keys) == r.size


def test_the_policy_does_not_change_the_roster() -> None:
    """Two policies on one seed see the same members and arrivals (common random numbers)."""
    sc = load_scenario(DATA / "open.yaml")
    other = sc.with_overrides({"policy.preset": "inmail-2015"})
    a, b = roster(sc), roster(other)
    assert np.array_equal(a.joined, b.joined) and np.array_equal(a.cohort, b.cohort)
