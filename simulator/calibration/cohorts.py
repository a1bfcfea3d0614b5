"""Members grouped into cohorts, their exposure, subscription spread and arrivals.

Job: from the replayed history (:class:`~simulator.calibration.replayed.Replayed`),
put each member in a cohort (its starting tier, or its starting tier and
activity level), decide whether the cohort's members leave after cancelling
(``after_cancel``), measure each member's exposure (the time it could send:
from its start to ``until`` or its leaving, less the time it waited for
credit) and planned sends (retries after buying or upgrading excluded), and
split the subscriptions into members present at the start (spread over
``subscription_spread_days``) and arrivals (``arrivals.monthly_rate``).

Spread and arrivals: a cohort's first subscriptions form a point process
whose intensity is piecewise constant: high over ``[start, start + S)``
(initial members plus arrivals), then the arrival rate alone. ``S`` is the
maximum-likelihood change point over the observed offsets (the standard
two-rate Poisson change-point MLE); the initial members are the count in
``[start, start + S)`` less the arrivals expected there.

Boundary: grouping and counting; the sending and decision estimators use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.calibration.reader import ACT_RESPOND, ACT_SEND, Observed
from simulator.calibration.replayed import Replayed
from simulator.calibration.stats import Estimate, poisson_interval
from simulator.engine import Policy
from simulator.timeutil import DAY, MEAN_MONTH_DAYS
from simulator.vocabulary import NO_INSTANT

__all__ = ["MONTH", "CohortView", "build_cohorts", "change_point"]

MONTH = MEAN_MONTH_DAYS * DAY  # the simulator's average month, in seconds
LEAVE_SHARE = 0.01  # at most this share of leavers acting again: the cohort leaves


@dataclass
class CohortView:
    """One fitted cohort: its members and what was measured of them."""

    name: str
    tier: str
    members: np.ndarray  # member indices (initial members and arrivals)
    exposure: np.ndarray  # months each member could send (aligned with members)
    sends: np.ndarray  # planned sends of each member
    after_cancel: str
    initial: float  # members present at the start (estimated)
    spread_days: int
    arrival_rate: float | None  # arrivals a month per initial member, None for none
    arrivals: int
    visible_only_when_active: bool  # basic: a member who never acts is not in the history
    # first subscriptions after the change point, by average month since the start
    arrivals_by_month: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def change_point(offsets: np.ndarray, span: float) -> tuple[float, int]:
    """The MLE change point S of a two-rate Poisson process on [0, span]; and the count before."""
    x = np.sort(offsets.astype(np.float64))
    n = len(x)
    if n == 0:
        return 0.0, 0
    k1 = np.arange(1, n + 1, dtype=np.float64)  # S just after the k-th offset
    s = np.minimum(x + 1.0, span)
    k2 = n - k1
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = k1 * np.log(k1 / s) + np.where(
            k2 > 0, k2 * np.log(k2 / np.maximum(span - s, 1.0)), 0.0
        )
        # Only change points where the rate drops (a > b) describe a burst of initial members.
        drop = k1 / s > np.where(k2 > 0, k2 / np.maximum(span - s, 1.0), 0.0)
    ll = np.where(drop & (s < span), ll, -np.inf)
    if not np.isfinite(ll).any():
        return float(span), n
    i = int(np.argmax(ll))
    return float(s[i]), i + 1


def build_cohorts(
    obs: Observed, rep: Replayed, policy: Policy, mode: str
) -> tuple[list[CohortView], list[Estimate]]:
    """Group members (``mode`` ``tier`` or ``tier-activity``); the cohort rows of fit.csv."""
    tiers = tuple(policy.tiers)
    m = len(obs.members)
    planned = (obs.action == ACT_SEND) & ~rep.retry
    sends = np.bincount(obs.member[planned], minlength=m)
    acting = obs.action != ACT_RESPOND
    last_act = np.full(m, NO_INSTANT, np.int64)
    np.maximum.at(last_act, obs.member[acting], obs.time[acting])
    start = np.where(rep.start_tier == tiers.index("basic"), obs.start, rep.joined)
    rows: list[Estimate] = []
    views: list[CohortView] = []
    span = obs.until - obs.start
    for ti, tier in enumerate(tiers):
        idx = np.flatnonzero(rep.start_tier == ti)
        if len(idx) == 0:
            continue
        left = rep.left[idx]
        leavers = left < obs.until
        again = leavers & (last_act[idx] > left)
        leave = bool(leavers.any()) and again.sum() <= LEAVE_SHARE * leavers.sum()
        end = np.where(leave & leavers, left, obs.until) if leave else np.full(len(idx), obs.until)
        exposure = np.maximum(0, end - start[idx] - rep.waited[idx]) / MONTH
        groups = [(tier, idx, exposure)]
        if mode == "tier-activity" and len(idx) >= 2:
            rate = sends[idx] / np.maximum(exposure, 1e-9)
            cut = float(np.median(rate))
            low = rate <= cut
            groups = [
                (f"{tier}-low", idx[low], exposure[low]),
                (f"{tier}-high", idx[~low], exposure[~low]),
            ]
            for name, side in ((f"{tier}-low", "at or below"), (f"{tier}-high", "above")):
                rows.append(
                    Estimate("cohorts", name, f"population[{name}].activity_split", cut,
                             math.nan, math.nan, math.nan, len(idx), "members",
                             f"members whose planned sends a month are {side} the median of "
                             f"{tier} (this estimate); each half's rates are cut there, so its "
                             "rate_shape describes the half, not the tier")
                )  # fmt: skip
        for name, members, expo in groups:
            if len(members) == 0:
                continue
            basic = tier == "basic"
            if basic:
                spread, k1, rate_b, n_arr = 0.0, len(members), None, 0
                by_month = np.zeros(0, np.int64)
                initial = float(len(members))
            else:
                offsets = rep.joined[members] - obs.start
                spread, k1 = change_point(offsets, float(span))
                k2 = len(members) - k1
                b = k2 / max(span - spread, 1.0)
                initial = max(1.0, k1 - b * spread)
                rate_b = b * MONTH / initial if k2 > 0 else None
                n_arr = k2
                later = offsets[offsets >= spread]
                months = int(span // MONTH) + 1
                by_month = np.bincount((later // MONTH).astype(np.int64), minlength=months)
            view = CohortView(
                name=name,
                tier=tier,
                members=members,
                exposure=expo,
                sends=sends[members],
                after_cancel="leave" if leave else "stay",
                initial=initial,
                spread_days=max(1, math.ceil(spread / DAY)) if not basic else 0,
                arrival_rate=rate_b,
                arrivals=n_arr,
                visible_only_when_active=basic,
                arrivals_by_month=by_month,
            )
            views.append(view)
            if not basic:
                lo, hi = poisson_interval(k1)
                rows.append(
                    Estimate(
                        "cohorts",
                        name,
                        f"population[{name}].members",
                        initial,
                        math.sqrt(k1),
                        max(1.0, lo - (k1 - initial)),
                        hi - (k1 - initial),
                        k1,
                        "first subscriptions before the change point",
                        "count less the arrivals expected before the change point; "
                        "exact Poisson interval",
                    )
                )
                # Uniform spread: the MLE is the last initial offset; (k+1)/k corrects its bias.
                est = spread * (k1 + 1) / max(k1, 1) / DAY
                rows.append(
                    Estimate(
                        "cohorts",
                        name,
                        f"population[{name}].subscription_spread_days",
                        est,
                        math.nan,
                        spread / DAY,
                        spread / DAY / 0.05 ** (1 / max(k1, 1)),
                        k1,
                        "members",
                        "uniform maximum (change point of first subscriptions), "
                        "exact interval of the maximum",
                    )
                )
                lo, hi = poisson_interval(n_arr)
                scale = MONTH / max(span - spread, 1.0) / initial
                rows.append(
                    Estimate(
                        "arrivals",
                        name,
                        f"population[{name}].arrivals.monthly_rate",
                        rate_b or 0.0,
                        math.sqrt(n_arr) * scale,
                        lo * scale,
                        hi * scale,
                        n_arr,
                        "arrivals",
                        "Poisson rate after the change point, exact "
                        "(Garwood) interval; growth_per_month not estimated (0)",
                    )
                )
            if basic:
                continue  # basic has no subscription to cancel
            rows.append(
                Estimate(
                    "cohorts",
                    name,
                    f"population[{name}].after_cancel",
                    float(leave),
                    math.nan,
                    math.nan,
                    math.nan,
                    int(leavers.sum()),
                    "members who left",
                    f"leave when at most {LEAVE_SHARE:.0%} of "
                    "leavers act again (1 = leave, 0 = stay)",
                )
            )
    return views, rows
