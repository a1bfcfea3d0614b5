"""Open populations in the model: stationary arrivals, decisions after a change, leaving."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.runner import run
from simulator.scenario import scenario_from_dict
from simulator.timeutil import DAY, MEAN_MONTH_DAYS

MONTH = MEAN_MONTH_DAYS * DAY


def _scenario(*cohorts: dict, days: int, warmup: int = 0, seed: int = 3, **top: object):  # type: ignore[no-untyped-def]
    doc = {"seed": seed, "start": "2020-01-01", "duration_days": days, "warmup_days": warmup,
           "population": list(cohorts)}  # fmt: skip
    doc.update(top)
    return scenario_from_dict(doc)


def _monthly_subscribers(result, months: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Grants (one per subscriber-month) in each average month from sim_start."""
    bill = result.tables.billing
    t = (bill["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    m = ((t - result.scenario.sim_start) // MONTH).astype(int)
    return np.bincount(m[m < months], minlength=months)


def test_replace_churn_keeps_the_cohort_the_same_size() -> None:
    """1,000 subscribers, 5 % cancel a month, who leave: two years of monthly counts stay at
    1,000 in expectation (each month within 8 %, about 2.5 sd of the month's noise, and no
    trend: the second year's mean within 3 % of the first's)."""
    sc = _scenario({
        "name": "subs", "tier": "premium_career", "members": 1000,
        "subscription_spread_days": 30, "monthly_cancel_probability": 0.05,
        "after_cancel": "leave", "arrivals": {"monthly_rate": "replace_churn"},
        "sending": {"inmails_per_month": 0},
    }, days=730)  # fmt: skip
    counts = _monthly_subscribers(run(sc), 23)[1:]  # month 0 is the spread of the first grants
    assert np.all(np.abs(counts / 1000 - 1) < 0.08), counts
    assert abs(counts[11:].mean() / counts[:11].mean() - 1) < 0.03, counts


def test_a_closed_cohort_shrinks() -> None:
    """The same cohort without arrivals loses about 5 % a month (the contrast to the above)."""
    sc = _scenario({
        "name": "subs", "tier": "premium_career", "members": 1000,
        "monthly_cancel_probability": 0.05, "sending": {"inmails_per_month": 0},
    }, days=365)  # fmt: skip
    counts = _monthly_subscribers(run(sc), 12)
    # 0.95 ** 10 = 0.60: month 11 holds about 60 % of month 1's subscribers.
    assert 0.5 < counts[11] / counts[1] < 0.7


def _upgraders(after_change: dict | None, career_cohort: bool) -> pd.DataFrame:
    cohorts = [{
        "name": "free", "tier": "basic", "members": 300,
        "sending": {"inmails_per_month": 4,
                    "out_of_credit": {"upgrade_probability": 1.0, "upgrade_to": "premium_career"}},
    }]  # fmt: skip
    if after_change is not None:
        cohorts[0]["after_change"] = after_change
    if career_cohort:
        cohorts.append({"name": "career", "tier": "premium_career", "members": 10,
                        "monthly_cancel_probability": 0.3,
                        "sending": {"inmails_per_month": 1}})  # fmt: skip
    result = run(_scenario(*cohorts, days=365))
    h = result.tables.history.to_pandas()
    members = result.tables.members
    free = set(members.loc[members["cohort"] == "free", "member"])
    return h[h["member"].isin(free)]


def test_upgraders_take_the_decisions_of_the_cohort_on_their_tier() -> None:
    """Basic members who upgrade to premium_career cancel like the career cohort (30 %)."""
    h = _upgraders(None, career_cohort=True)
    upgrades = int((h["action"] == "change_tier").sum())
    cancels = int((h["action"] == "cancel").sum())
    assert upgrades > 100 and cancels > 0.3 * upgrades * 0.5  # many months of 30 % hazard


def test_after_change_overrides_the_default() -> None:
    """An after_change entry wins over the cohort on that tier: 0 cancels."""
    h = _upgraders({"premium_career": {"monthly_cancel_probability": 0}}, career_cohort=True)
    assert (h["action"] == "change_tier").sum() > 100
    assert (h["action"] == "cancel").sum() == 0


def test_without_a_cohort_on_the_tier_the_cohort_s_own_decisions_apply() -> None:
    """No cohort starts on premium_career and no after_change: a basic cohort's 0 (documented)."""
    h = _upgraders(None, career_cohort=False)
    assert (h["action"] == "change_tier").sum() > 100
    assert (h["action"] == "cancel").sum() == 0


def test_members_who_leave_attempt_nothing_after_their_cancel() -> None:
    """With after_cancel: leave and immediate cancels, no action follows a member's cancel
    but the responses to InMails it sent before; with stay, members keep sending."""

    def history(after_cancel: str) -> pd.DataFrame:
        sc = _scenario({
            "name": "c", "tier": "premium_career", "members": 200,
            "monthly_cancel_probability": 0.2, "after_cancel": after_cancel,
            "sending": {"inmails_per_month": 10,
                        "out_of_credit": {"buy_probability": 0.5, "buy_quantity": 3}},
        }, days=200, policy={"preset": "inmail-2014", "cancel_effective": "immediate"})  # fmt: skip
        return run(sc).tables.history.to_pandas()

    def acts_after_cancel(h: pd.DataFrame) -> int:
        cancel_at = h[h["action"] == "cancel"].groupby("member")["time"].min()
        later = h[h["member"].isin(cancel_at.index) & (h["action"] != "respond")]
        return int((later["time"] > later["member"].map(cancel_at)).sum())

    leave, stay = history("leave"), history("stay")
    assert (leave["action"] == "cancel").sum() > 50
    assert acts_after_cancel(leave) == 0
    assert acts_after_cancel(stay) > 100


def test_compare_says_when_arrivals_differ() -> None:
    """replace_churn follows cancel_effective: comparing the two says so; the shipped
    baseline and policy-2015 (both end_of_period) have the same arrivals and no note."""
    from pathlib import Path

    from simulator.scenario import load_scenario
    from simulator.sweeps import compare_notes

    root = Path(__file__).parents[2] / "scenarios"
    a, b = load_scenario(root / "baseline.yaml"), load_scenario(root / "policy-2015.yaml")
    assert compare_notes(a, b, 1) == []
    immediate = b.with_overrides({"policy.cancel_effective": "immediate"})
    notes = compare_notes(a, immediate, 1)
    assert len(notes) == 1 and "different arrivals" in notes[0]
