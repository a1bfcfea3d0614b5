"""Estimators of members' monthly decisions: cancel, change tier, and change targets.

Job: the simulator (:mod:`simulator.model`) gives each subscribed member one
decision draw per month of its own (the monthly anniversaries of the instant
it joined): it cancels with ``monthly_cancel_probability``, or else changes
tier with ``monthly_change_probability`` to a tier drawn from ``change_to``,
at a uniform instant of that month, following the tier it held when the
month began. So the estimate is per member-month at risk: months that began
with the member subscribed (and not yet cancelled), counted in full, or by
the share observed when ``until`` cuts the month (the person-time
estimator); ``p_cancel = cancels / months``; ``p_change = changes / (months -
cancels)`` (a change is drawn only when no cancel is). Out-of-credit
upgrades are not decisions and are left out. Each tier a cohort's members
held gives its own estimate: the cohort's own tier is the cohort's, the
others its ``after_change`` entries.

Boundary: numbers from arrays; :mod:`simulator.calibration.result` assembles them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from simulator.calibration.cohorts import CohortView
from simulator.calibration.reader import ACT_CANCEL, ACT_CHANGE, ACT_SUBSCRIBE, Observed
from simulator.calibration.replayed import Replayed
from simulator.calibration.stats import Estimate, wilson
from simulator.engine import Policy
from simulator.timeutil import monthly_anniversary

__all__ = ["MIN_MONTHS", "fit_decisions"]

MIN_MONTHS = 12  # fewer member-months on a tier other than the cohort's: no after_change entry


def _tier_events(obs: Observed, rep: Replayed) -> dict[int, list[tuple[int, int, int, bool]]]:
    """Per member: (instant, action, tier, is an out-of-credit upgrade), after its first row."""
    tiered = np.flatnonzero(np.isin(obs.action, (ACT_SUBSCRIBE, ACT_CHANGE, ACT_CANCEL)))
    out: dict[int, list[tuple[int, int, int, bool]]] = defaultdict(list)
    for row, t, mem, act, tier, up in zip(
        tiered.tolist(),
        obs.time[tiered].tolist(),
        obs.member[tiered].tolist(),
        obs.action[tiered].tolist(),
        obs.tier[tiered].tolist(),
        rep.upgrade[tiered].tolist(),
        strict=True,
    ):
        out[mem].append((t, act, tier, bool(up)))
        del row
    return out


def fit_decisions(
    view: CohortView, obs: Observed, rep: Replayed, policy: Policy
) -> tuple[dict[str, Any], list[Estimate]]:
    """The cohort's decision keys (own tier and ``after_change``) and their fit.csv rows."""
    tiers = tuple(policy.tiers)
    basic = tiers.index("basic")
    events = _tier_events(obs, rep)
    months: dict[int, float] = defaultdict(float)
    cancels: dict[int, int] = defaultdict(int)
    changes: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    until = obs.until
    for mem in view.members.tolist():
        joined = int(rep.joined[mem])
        evs = events.get(mem, [])
        first_sub = rep.start_tier[mem] != basic
        if first_sub and evs and evs[0][1] == ACT_SUBSCRIBE and evs[0][0] == joined:
            evs = evs[1:]
        tier = int(rep.start_tier[mem])
        subscribed = tier != basic
        e = 0
        k = 0
        month_start = joined
        while month_start <= until:
            month_end = monthly_anniversary(joined, k + 1)
            at_risk, held = subscribed, tier
            if at_risk:
                months[held] += min(1.0, (until + 1 - month_start) / (month_end - month_start))
            while e < len(evs) and evs[e][0] < month_end:
                t, act, to, up = evs[e]
                e += 1
                if act == ACT_CANCEL:
                    if at_risk and not up:
                        cancels[held] += 1
                        at_risk = False
                    subscribed = False
                elif to == tier and subscribed:
                    continue  # a "change" to the tier held changes nothing (R9 anchors aside)
                else:
                    if at_risk and not up:
                        changes[held][to] += 1
                        at_risk = False
                    tier, subscribed = to, to != basic
            month_start = month_end
            k += 1
    own = tiers.index(view.tier)
    key = f"population[{view.name}]"
    rows: list[Estimate] = []
    block: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for held in sorted(months):
        n = months[held]
        if held != own and n < MIN_MONTHS:
            continue
        k_c = cancels[held]
        k_ch = sum(changes[held].values())
        where = key if held == own else f"{key}.after_change.{tiers[held]}"
        method = "per member-month at risk (partial last month by its observed share); Wilson"
        pc, se, lo, hi = wilson(k_c, n)
        rows.append(
            Estimate(
                "decisions",
                view.name,
                f"{where}.monthly_cancel_probability",
                pc,
                se,
                lo,
                hi,
                round(n),
                "member-months",
                method,
            )
        )
        pch, se, lo, hi = wilson(k_ch, max(n - k_c, 0.0))
        rows.append(
            Estimate(
                "decisions",
                view.name,
                f"{where}.monthly_change_probability",
                pch,
                se,
                lo,
                hi,
                round(n - k_c),
                "member-months without a cancel",
                method,
            )
        )
        targets = {tiers[t]: c / k_ch for t, c in sorted(changes[held].items())} if k_ch else {}
        for t, c in sorted(changes[held].items()):
            p, se, lo, hi = wilson(c, k_ch)
            rows.append(
                Estimate(
                    "decisions",
                    view.name,
                    f"{where}.change_to.{tiers[t]}",
                    p,
                    se,
                    lo,
                    hi,
                    k_ch,
                    "changes",
                    "share of tier changes; Wilson",
                )
            )
        entry = {
            "monthly_cancel_probability": pc,
            "monthly_change_probability": pch if k_ch else 0.0,
            "change_to": targets,
        }
        if held == own:
            block.update(entry)
        else:
            after[tiers[held]] = entry
    if view.tier == "basic":
        block = {}
    if after:
        block["after_change"] = after
    return block, rows
