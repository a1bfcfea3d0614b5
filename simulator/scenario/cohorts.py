"""The ``population`` block: cohorts of members, their tier decisions and their arrivals.

A cohort starts on one tier and behaves alike: each month a member may cancel
or change tier (:class:`~simulator.scenario.values.Decisions`, on the cohort's
own tier or, through ``after_change``, on another), and ``arrivals`` may bring
new members over the run. How a cohort's members send is checked by
:mod:`simulator.scenario.sending`. :func:`arrival_totals` is the one check
that needs the run's length, so the caller runs it once the window is known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.engine.policy import Policy
from simulator.engine.schema import MISSING, Checker, FrozenMap, Path, show
from simulator.scenario.checks import (
    known_name,
    name_text,
    opt,
    policy_tiers,
    suggestion,
    weight_map,
)
from simulator.scenario.defaults import (
    AFTER_CANCEL,
    DEFAULT_SPREAD_DAYS,
    MAX_ARRIVAL_RATE,
    MAX_DAYS,
    MAX_GROWTH_PER_MONTH,
    MAX_MEMBERS_PER_COHORT,
    MIN_GROWTH_PER_MONTH,
    REPLACE_CHURN,
)
from simulator.scenario.sending import parse_sending
from simulator.scenario.values import Arrivals, Cohort, Decisions
from simulator.timeutil import DAY, MEAN_MONTH_DAYS

__all__ = ["arrival_totals", "parse_population"]

_KEYS = (
    "name",
    "tier",
    "members",
    "subscription_spread_days",
    "monthly_cancel_probability",
    "monthly_change_probability",
    "change_to",
    "after_change",
    "after_cancel",
    "arrivals",
    "sending",
)
_DECISION_KEYS = ("monthly_cancel_probability", "monthly_change_probability", "change_to")
_ARRIVAL_KEYS = ("monthly_rate", "growth_per_month")


def parse_population(
    check: Checker, value: Any, policy: Policy | None
) -> tuple[Cohort, ...] | None:
    """The ``population`` list: at least one cohort, each with its own name."""
    path: Path = ("population",)
    if value is MISSING:
        check.fail(path, "is required")
        return None
    if not isinstance(value, list):
        check.bad(path, "a list of cohorts", value)
        return None
    if not value:
        check.fail(path, "must have at least one cohort")
        return None
    cohorts: list[Cohort] = []
    seen: dict[str, int] = {}
    ok = True
    for i, item in enumerate(value):
        cohort = _cohort(check, (*path, i), item, policy)
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in seen:
            check.fail(
                (*path, i, "name"),
                f"duplicate cohort name {show(name)} (also population[{seen[name]}])",
            )
            ok = False
        elif isinstance(name, str):
            seen[name] = i
        if cohort is None:
            ok = False
        else:
            cohorts.append(cohort)
    return tuple(cohorts) if ok else None


def _cohort(check: Checker, path: Path, value: Any, policy: Policy | None) -> Cohort | None:
    """One cohort: its tier, size, decisions, arrivals and sending."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _KEYS)
    before = len(check.problems)
    check.required(path, raw, ("name", "tier", "members", "sending"))
    name = name_text(check, (*path, "name"), raw["name"]) if "name" in raw else None
    tier = None
    if "tier" in raw:
        tier = known_name(check, (*path, "tier"), raw["tier"], policy_tiers(policy), "tier")
    members = None
    if "members" in raw:
        members = check.integer(
            (*path, "members"), raw["members"], minimum=1, maximum=MAX_MEMBERS_PER_COHORT
        )
    spread = check.integer(
        (*path, "subscription_spread_days"),
        opt(raw, "subscription_spread_days", DEFAULT_SPREAD_DAYS),
        minimum=0,
        maximum=MAX_DAYS,
    )
    decisions = _decisions(check, path, raw, tier, policy)
    if tier == "basic" and decisions is not None and decisions.monthly_cancel_probability:
        check.fail(
            (*path, "monthly_cancel_probability"),
            "must be 0 for a basic cohort (basic has no subscription to cancel),"
            f" got {show(decisions.monthly_cancel_probability)}",
        )
    after_change = _after_change(check, (*path, "after_change"), raw.get("after_change"), tier,
                                 policy)  # fmt: skip
    arrivals = _arrivals(check, (*path, "arrivals"), raw.get("arrivals"), tier, decisions)
    after_cancel = check.choice((*path, "after_cancel"), opt(raw, "after_cancel", "stay"),
                                AFTER_CANCEL)  # fmt: skip
    sending = None
    if "sending" in raw:
        sending = parse_sending(check, (*path, "sending"), raw["sending"], policy, tier)
    if len(check.problems) > before:
        return None
    assert name is not None and tier is not None and members is not None and spread is not None
    assert decisions is not None and after_change is not None and sending is not None
    assert after_cancel is not None
    return Cohort(
        name, tier, members, spread, decisions.monthly_cancel_probability,
        decisions.monthly_change_probability, decisions.change_to, sending, after_change, arrivals,
        after_cancel,
    )  # fmt: skip


def _decisions(
    check: Checker,
    path: Path,
    raw: Mapping[str, Any],
    tier: str | None,
    policy: Policy | None,
    own: str = "the cohort's own tier",
) -> Decisions | None:
    """The monthly decision keys of ``raw`` (a cohort, or an ``after_change`` entry) on ``tier``."""
    before = len(check.problems)
    cancel = check.number(
        (*path, "monthly_cancel_probability"),
        opt(raw, "monthly_cancel_probability", 0.0),
        minimum=0,
        maximum=1,
    )
    change = check.number(
        (*path, "monthly_change_probability"),
        opt(raw, "monthly_change_probability", 0.0),
        minimum=0,
        maximum=1,
    )
    if cancel is not None and change is not None and cancel + change > 1:
        check.fail(
            (*path, "monthly_change_probability"),
            f"monthly_cancel_probability + monthly_change_probability must be <= 1,"
            f" got {show(cancel)} + {show(change)}",
        )
    change_to = weight_map(
        check, (*path, "change_to"), opt(raw, "change_to", {}), policy_tiers(policy), "tier"
    )
    if change_to is not None and tier is not None and tier in change_to:
        check.fail((*path, "change_to", tier), f"must not be {own}")
    if change_to is not None and change and not any(change_to.values()):
        check.fail(
            (*path, "change_to"),
            "must give some tier a weight > 0 when monthly_change_probability > 0",
        )
    if len(check.problems) > before:
        return None
    assert cancel is not None and change is not None and change_to is not None
    return Decisions(cancel, change, change_to)


def _after_change(
    check: Checker, path: Path, value: Any, tier: str | None, policy: Policy | None
) -> FrozenMap[Decisions] | None:
    """``after_change``: premium tier -> the decisions a member takes while it holds that tier."""
    if value is None:
        return FrozenMap()
    raw = check.mapping(path, value)
    if raw is None:
        return None
    tiers = policy_tiers(policy)
    out: dict[str, Decisions] = {}
    ok = True
    for key, item in raw.items():
        if tiers is not None and key not in tiers:
            check.fail((*path, key), f"unknown tier{suggestion(key, list(tiers), 'tier')}")
            ok = False
            continue
        if key == "basic" or key == tier:
            why = "basic takes no decisions" if key == "basic" else "the cohort's own keys say it"
            check.fail((*path, key), f"must be a tier other than basic and the cohort's ({why})")
            ok = False
            continue
        entry = check.mapping((*path, key), item)
        if entry is None:
            ok = False
            continue
        check.known_keys((*path, key), entry, _DECISION_KEYS)
        decisions = _decisions(check, (*path, key), entry, key, policy, "the tier it is on")
        if decisions is None:
            ok = False
        else:
            out[key] = decisions
    return FrozenMap(out) if ok else None


def _arrivals(
    check: Checker, path: Path, value: Any, tier: str | None, decisions: Decisions | None
) -> Arrivals | None:
    """``arrivals``: None (a closed cohort) or the rate and growth of new members."""
    if value is None:
        return None
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _ARRIVAL_KEYS)
    if not check.required(path, raw, ("monthly_rate",)):
        return None
    rate_value = raw["monthly_rate"]
    rate: float | None = None
    before = len(check.problems)
    if rate_value == REPLACE_CHURN:
        if decisions is not None and decisions.leave_probability() == 0:
            why = (
                "basic has no subscription to leave"
                if tier == "basic"
                else ("its members never cancel or change to basic")
            )
            check.fail(
                (*path, "monthly_rate"),
                f"{REPLACE_CHURN} has no departures to replace ({why}); give a number",
            )
    elif isinstance(rate_value, str):
        check.bad((*path, "monthly_rate"),
                  f"a number from 0 to {_num_text(MAX_ARRIVAL_RATE)} or {REPLACE_CHURN}",
                  rate_value)  # fmt: skip
    else:
        rate = check.number((*path, "monthly_rate"), rate_value, minimum=0,
                            maximum=MAX_ARRIVAL_RATE)  # fmt: skip
    growth = check.number(
        (*path, "growth_per_month"),
        opt(raw, "growth_per_month", 0.0),
        minimum=MIN_GROWTH_PER_MONTH,
        maximum=MAX_GROWTH_PER_MONTH,
    )
    if len(check.problems) > before or growth is None:
        return None
    return Arrivals(rate, growth)


def arrival_totals(check: Checker, population: Sequence[Cohort], seconds: int) -> None:
    """Refuse arrivals whose count over the run no table could hold (a typo guard).

    A bound, not the expectation: ``replace_churn`` replaces at most every
    member each month, and the rate grows by ``growth_per_month``.
    """
    months = seconds / (MEAN_MONTH_DAYS * DAY)
    for i, cohort in enumerate(population):
        a = cohort.arrivals
        if a is None:
            continue
        rate = 1.0 if a.monthly_rate is None else a.monthly_rate
        r = math.log1p(a.growth_per_month)
        span = months if abs(r) < 1e-12 else math.expm1(min(r * months, 700.0)) / r
        expected = cohort.members * rate * span
        if expected > MAX_MEMBERS_PER_COHORT:
            check.fail(
                ("population", i, "arrivals"),
                f"may bring up to {expected:,.0f} arrivals over the run, more than "
                f"{MAX_MEMBERS_PER_COHORT:,} (lower monthly_rate or growth_per_month)",
            )


def _num_text(x: float) -> str:
    """A bound as written in a message: ``10`` rather than ``10.0``."""
    return str(int(x)) if float(x).is_integer() else str(x)
