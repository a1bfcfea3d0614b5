"""``warmup_days: auto``: choose the warm-up from a short pilot run, by the steady-state method.

The pilot simulates a sample of the scenario's members (each cohort scaled
to about :data:`PILOT_MEMBERS` in all, at least one member each, arrival
rates scaled with them) from empty accounts, with no warm-up, over
:func:`pilot_days` days, and reads the truncation that :mod:`simulator.steady`
finds on its weekly series (MSER, kept only when it cuts a real transient).
Twice that truncation (:data:`simulator.steady.SAFETY_FACTOR`), in days, is the warm-up.
When it reaches the cap (half the pilot), the warm-up is twice the cap.

Callers resolve ``auto`` once, before anything runs: ``creditsim run`` and
:func:`simulator.run` for one run; sweeps and comparisons for their base
scenario, before the points are expanded, so every point and both sides of
a comparison share one warm-up (common random numbers). The pilot uses the
scenario's own seed, so the choice is reproducible.
"""

from __future__ import annotations

from typing import Any

from simulator.runner import run
from simulator.scenario import MAX_DAYS, Scenario
from simulator.steady import SAFETY_FACTOR

__all__ = [
    "PILOT_MEMBERS",
    "pilot_days",
    "resolve_warmup",
]

PILOT_MEMBERS = 1500
MIN_PILOT_DAYS = 730
MAX_PILOT_DAYS = 3650  # a longer ramp is reported at the cap ("twice" ten years' half)


def pilot_days(scenario: Scenario) -> int:
    """The pilot's length: four times two credit lifetimes plus the refund window, >= 2 years.

    A credit lifetime is the longest finite expiry of the policy's lots; the
    ramp from empty accounts takes about two of them plus the refund window
    (refund lots restart the clock), and MSER searches only the first half
    of a series, so the pilot is four times that, at least two years and at
    most ten (policies whose lots live for years get the capped choice).
    """
    p = scenario.policy
    lives = [d for d in (p.grant_expiry_days, p.refund_expiry_days, p.purchase_expiry_days) if d]
    window = p.refund.window_days if p.refund.mode != "none" else 0
    ramp = 2 * max(lives, default=0) + (window or 0)
    return min(MAX_PILOT_DAYS, max(MIN_PILOT_DAYS, 4 * ramp))


def resolve_warmup(scenario: Scenario) -> tuple[Scenario, dict[str, Any] | None]:
    """``scenario`` with ``warmup_days: auto`` replaced by the pilot's choice, and the record of it.

    A scenario whose warm-up is a number comes back unchanged, with None.
    The record (``summary.json``'s ``steady_state.auto``) says what was
    chosen and why: the pilot's members, length, seed, truncation and cap.
    """
    if not scenario.auto_warmup:
        return scenario, None
    days = pilot_days(scenario)
    fraction = min(1.0, PILOT_MEMBERS / max(1, scenario.members))
    overrides: dict[str | tuple[str | int, ...], Any] = {
        f"population[{i}].members": max(1, round(c.members * fraction))
        for i, c in enumerate(scenario.population)
    }
    overrides.update({"warmup_days": 0, "duration_days": days, "end": None})
    pilot = scenario.with_overrides(overrides, source=f"{scenario.source} (warm-up pilot)")
    result = run(pilot, keep_tables=False)  # only its summary is read
    block = result.summary["steady_state"]
    weeks = block["suggested_truncation_weeks"] or 0
    capped = bool(block["capped"])
    chosen = min(MAX_DAYS, SAFETY_FACTOR * 7 * max(weeks, block["cap_weeks"] if capped else 0))
    resolved = scenario.with_overrides({"warmup_days": chosen}, source=scenario.source)
    record = {
        "requested": "auto",
        "chosen_days": chosen,
        "reason": (
            f"twice the {weeks} weeks after which the pilot's weekly series settle (MSER)"
            if not capped
            else f"the pilot did not settle within {days // 2} days: twice that"
        ),
        "pilot_members": pilot.members,
        "pilot_days": days,
        "pilot_seed": pilot.seed,
        "pilot_truncation_weeks": block["truncation_weeks"],
        "capped": capped,
    }
    return resolved, record
