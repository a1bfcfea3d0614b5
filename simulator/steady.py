"""Is the measured window steady? Weekly series of the headline rates, truncated by MSER.

A run starts from empty accounts, so its first months are a transient: grants
pile up, the first expiries come 90 days later, refund lots restart the clock.
``warmup_days`` simulates that transient before the measured window; this
module checks, on every run, that it was long enough.

Over the measured window it builds weekly series (full weeks from ``start``;
a last partial week is left out) of four quantities:

* ``expiry_waste_rate``: of the credits whose lots fell due to expire in
  the week, the share never spent (expired then, or capped or forfeited
  before). Each credit is followed to its fate from the issuance it came
  from, because same-week ratios swing with the calendar, and MSER would
  take a swing for a transient: anniversaries on the 29th to 31st fall on
  the last day of shorter months and those grants expire together 90 days
  later (expiries / that week's issuance jumps 40 % in late May after
  February), and under ``inmail-2015`` the February 1st grants of
  ``calendar_month`` tiers are capped at the May 1st grant, the day before
  they would expire (expired / due drops to 2 % for a week). Lots that
  never expire are left out of it;
* ``refund_rate``: of the paid InMails sent in the week whose refund window
  closed by the end, the share refunded;
* ``response_rate``: of the InMails sent (accepted) in the week, the share
  answered within :data:`RESPONSE_HORIZON_DAYS` (7) days of sending; an
  InMail sent less than that before the end of the run is left out (its
  answer may still come), so the last week is empty rather than low, as a
  count of responses by the end of the run would make it;
* ``spend_per_member``: credits spent in the week / members who attempted
  an InMail in the week (a member who cancelled and sends nothing is no
  longer counted, so the series stays level in a stationary population).

On each it finds the truncation point by MSER (the Marginal Standard Error
Rule, White 1997) with batch size 1: the number of leading weeks ``d`` that
minimises ``sum((y[d:] - mean(y[d:]))**2) / (n - d)**2``, the squared
standard error of the mean of what is kept. ``d`` is searched up to half the
series (the usual cap: beyond it MSER chases noise at the end of the series);
a minimum *at* the cap means "not steady; needs more than that". Batches of
one week, not MSER-5: a year is 52 weeks, and 12 monthly points are too few.

MSER alone over-reads noise: on 52 weekly points of a stationary series
its minimum wanders over the whole first half (the SSE of what is kept
fluctuates by about ``sqrt(2 / n)``, more than a few weeks change it). So a
truncation counts only when the weeks it cuts are a real transient that
matters: their mean differs from the mean of the rest by more than
:data:`Z_THRESHOLD` standard errors (:func:`bias_z`, autocorrelation allowed
for), and keeping them moves the mean of the whole window by more than
:data:`BIAS_THRESHOLD` (2.5 %) of the rest's mean (:func:`window_bias`: an
expiry waste of 50 % by more than 1.25 points). The 2.5 % leaves out the
slow drift of an open population's tier mix (upgraders settle over years,
moving credits spent per active member by 1-2 % over a year of the shipped
baseline even after a two-year warm-up), and catches the credit ramp (a
90-day warm-up moves the baseline's weekly expiry waste by about 10 %); otherwise the series'
truncation is 0. Weeks before a series' first data (nothing expires
in the first 90 days of a run without warm-up) always count.

The verdict: the window is **steady** when the largest truncation over the
four series is at most :data:`THRESHOLD_WEEKS` weeks and none reached the
cap. Otherwise the suggested warm-up is ``warmup_days`` plus that
truncation, in days (at the cap: "more than" that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from simulator.timeutil import DAY, format_instant
from simulator.vocabulary import NO_INSTANT

__all__ = [
    "BIAS_THRESHOLD",
    "BINS",
    "METHOD",
    "MIN_WEEKS",
    "NO_RESPONSE",
    "RESPONSE_HORIZON_DAYS",
    "SAFETY_FACTOR",
    "SERIES",
    "THRESHOLD_WEEKS",
    "Z_THRESHOLD",
    "bias_z",
    "merge_bins",
    "mser",
    "recommended_warmup_days",
    "steady_bins",
    "steady_block",
    "verdict",
    "window_bias",
]

WEEK = 7 * DAY
SERIES = ("expiry_waste_rate", "refund_rate", "response_rate", "spend_per_member")
#: The response rate's horizon: answered within this many days of sending (whatever the
#: policy's refund window, so that policies are checked alike).
RESPONSE_HORIZON_DAYS = 7
#: ``responded_at`` of an InMail without a response.
NO_RESPONSE = NO_INSTANT
THRESHOLD_WEEKS = 4
Z_THRESHOLD = 3.0  # a truncation counts when the weeks it cuts differ from the rest by this
BIAS_THRESHOLD = 0.025  # ... and move the whole window's mean by more than this share of it
MIN_WEEKS = 8  # fewer weekly points than this say nothing: no truncation is computed
METHOD = "MSER, batch size 1, on weekly series over the measured window"


def mser(y: np.ndarray) -> int:
    """The MSER truncation of ``y`` (finite values): the ``d`` in ``0..len(y)//2`` minimising
    ``sum((y[d:] - mean(y[d:]))**2) / (len(y) - d)**2``; the first such ``d`` on ties."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n < 2:
        return 0
    cap = n // 2
    # Suffix sums give every candidate's sum of squared deviations at once.
    s1 = np.cumsum(y[::-1])[::-1][: cap + 1]
    s2 = np.cumsum((y * y)[::-1])[::-1][: cap + 1]
    kept = n - np.arange(cap + 1, dtype=np.float64)
    sse = np.maximum(s2 - s1 * s1 / kept, 0.0)
    return int(np.argmin(sse / (kept * kept)))


def weekly(instants: np.ndarray, weights: np.ndarray | None, start: int, weeks: int) -> np.ndarray:
    """Sums of ``weights`` (counts if None) per full week from ``start``; others dropped."""
    w = (np.asarray(instants, dtype=np.int64) - start) // WEEK
    keep = (w >= 0) & (w < weeks)
    values = None if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    return np.bincount(w[keep], weights=values, minlength=weeks).astype(np.float64)[:weeks]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


#: The weekly sums behind the steady-state series, in :func:`steady_bins`' order.
BINS = ("lost", "due", "settled", "refunded", "sent", "responded", "spent", "active",
        "due_after_end")  # fmt: skip


def steady_bins(
    *,
    start: int,
    end: int,
    due: tuple[np.ndarray, np.ndarray],
    lost: tuple[np.ndarray, np.ndarray],
    spent: tuple[np.ndarray, np.ndarray],
    sent_at: np.ndarray,
    responded_at: np.ndarray,
    settled: np.ndarray,
    refunded: np.ndarray,
    attempts: tuple[np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """The weekly sums behind the ``steady_state`` block, one array per :data:`BINS`.

    ``due`` is (expiry instants, credits) of the issuing entries of lots that
    expire, and ``lost`` the same of their expire, cap and forfeit entries
    (at their lot's expiry instant); ``spent`` is (instants, credits) of
    spend entries; ``sent_at`` the instants of accepted InMails with the
    instant of each one's response (``responded_at``, :data:`NO_RESPONSE`
    for none) and boolean ``settled`` (paid, refund window closed by the end)
    and ``refunded``; ``attempts`` (instants, member numbers) of every
    attempted InMail. :func:`steady_block` turns them into the block.

    Every bin is a sum over members (``active`` counts distinct members per
    week), so the bins of disjoint sets of members add up to the bins of
    their union: a run's member batches are reduced to these and merged by
    :func:`merge_bins`. Values are whole numbers held as float64, exact far
    beyond any run's size (2**53). ``due_after_end`` has one value: the
    credits of expiring lots that fall due after the window.
    """
    weeks = max(0, (end + 1 - start) // WEEK)
    sent_at = np.asarray(sent_at, dtype=np.int64)
    responded_at = np.asarray(responded_at, dtype=np.int64)
    horizon = RESPONSE_HORIZON_DAYS * DAY
    answerable = sent_at + horizon <= end + 1
    answered = answerable & (responded_at != NO_RESPONSE) & (responded_at - sent_at <= horizon)
    # Distinct (member, week) pairs of attempts: the week's active members.
    when, who = attempts
    wk = (np.asarray(when, dtype=np.int64) - start) // WEEK
    keep = (wk >= 0) & (wk < weeks)
    pair = np.asarray(who, dtype=np.int64)[keep] * max(weeks, 1) + wk[keep]
    slots = (int(pair.max()) + 1) if len(pair) else 0
    if slots <= 1 << 26:  # a bitmap of (member, week): no sort
        seen = np.zeros(slots, dtype=bool)
        seen[pair] = True
        pairs = np.flatnonzero(seen)
    else:
        pairs = np.unique(pair)
    active = np.bincount(pairs % max(weeks, 1), minlength=weeks)[:weeks].astype(np.float64)
    return {
        "lost": weekly(*lost, start, weeks),
        "due": weekly(*due, start, weeks),
        "settled": weekly(sent_at[settled], None, start, weeks),
        "refunded": weekly(sent_at[settled & refunded], None, start, weeks),
        "sent": weekly(sent_at[answerable], None, start, weeks),
        "responded": weekly(sent_at[answered], None, start, weeks),
        "spent": weekly(*spent, start, weeks),
        "active": active,
        "due_after_end": np.array([float(np.count_nonzero(np.asarray(due[0]) > end))]),
    }


def merge_bins(parts: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The bins of the union of disjoint member sets: the sums of theirs."""
    parts = list(parts)
    return {name: np.sum([p[name] for p in parts], axis=0) for name in BINS}


def steady_block(
    bins: dict[str, np.ndarray], *, start: int, end: int, warmup_days: int
) -> dict[str, Any]:
    """The ``steady_state`` block of ``summary.json`` from (merged) :func:`steady_bins`."""
    weeks = max(0, (end + 1 - start) // WEEK)
    series = {
        "expiry_waste_rate": _ratio(bins["lost"], bins["due"]),
        "refund_rate": _ratio(bins["refunded"], bins["settled"]),
        "response_rate": _ratio(bins["responded"], bins["sent"]),
        "spend_per_member": _ratio(bins["spent"], bins["active"]),
    }
    block: dict[str, Any] = {
        "method": METHOD,
        "week_start": [format_instant(start + i * WEEK)[:10] for i in range(weeks)],
        "series": {k: [None if v != v else float(v) for v in s] for k, s in series.items()},
    }
    # Credits due only after the window: its expiry series is all transient.
    pending = ["expiry_waste_rate"] if bins["due_after_end"][0] > 0 else []
    block.update(verdict(series, warmup_days, pending))
    return block


def bias_z(y: np.ndarray, d: int) -> float:
    """How far the first ``d`` values sit from the rest, in standard errors.

    ``|mean(y[:d]) - mean(y[d:])|`` over ``s * sqrt(1/d + 1/(n-d))``, with
    ``s`` the standard deviation of ``y[d:]`` inflated by its lag-1
    autocorrelation ``rho`` (clipped to [0, 0.9]) as ``sqrt((1 + rho) / (1 - rho))``.
    """
    y = np.asarray(y, dtype=np.float64)
    head, tail = y[:d], y[d:]
    if d == 0 or len(tail) < 2:
        return 0.0
    s = float(tail.std(ddof=1))
    dev = tail - tail.mean()
    denom = float((dev * dev).sum())
    rho = float((dev[1:] * dev[:-1]).sum() / denom) if denom > 0 else 0.0
    rho = min(max(rho, 0.0), 0.9)
    se = s * np.sqrt(1.0 / d + 1.0 / len(tail)) * np.sqrt((1 + rho) / (1 - rho))
    gap = abs(float(head.mean()) - float(tail.mean()))
    if se == 0:
        return 0.0 if gap == 0 else float("inf")
    return gap / se


def window_bias(y: np.ndarray, d: int) -> float:
    """How much the first ``d`` values move the mean of all of ``y``, as a share of the rest's."""
    y = np.asarray(y, dtype=np.float64)
    if d == 0 or d >= len(y):
        return 0.0
    rest = float(y[d:].mean())
    shift = abs(float(y.mean()) - rest)
    if rest == 0:
        return 0.0 if shift == 0 else float("inf")
    return shift / abs(rest)


def verdict(
    series: dict[str, np.ndarray], warmup_days: int, pending: Iterable[str] = ()
) -> dict[str, Any]:
    """MSER truncation of each series, the largest that matters, and whether it is steady.

    Weeks before a series' first data belong to the transient, however few
    weeks follow. A series named in ``pending`` that has no data at all is
    one whose data would come only after the window (credits are due to
    expire, but after its end): the whole window is transient, at the cap.
    """
    mser_weeks: dict[str, int | None] = {}
    z_scores: dict[str, float | None] = {}
    biases: dict[str, float | None] = {}
    truncation: dict[str, int | None] = {}
    capped = False
    cap_weeks = 0
    for name, values in series.items():
        y = np.asarray(values, dtype=np.float64)
        valid = np.flatnonzero(np.isfinite(y))
        mser_weeks[name] = z_scores[name] = biases[name] = truncation[name] = None
        if len(valid) == 0:
            if name in pending and len(y):
                truncation[name] = len(y)
                capped = True
            continue
        # Weeks of the window before the first one with data (nothing expires
        # in the first weeks of a run without a warm-up) belong to the transient.
        lead = int(valid[0])
        if len(valid) < MIN_WEEKS:
            truncation[name] = lead if lead else None
            continue
        d = mser(y[valid])
        z = bias_z(y[valid], d)
        cap = len(valid) // 2
        cap_weeks = max(cap_weeks, int(valid[cap]))
        bias = window_bias(y[valid], d)
        real = z > Z_THRESHOLD and bias > BIAS_THRESHOLD
        capped = capped or bool(real and d == cap)
        # Positions back in weeks of the window (a series may lack some weeks).
        mser_weeks[name] = int(valid[d])
        z_scores[name] = round(z, 2) if np.isfinite(z) else None
        biases[name] = round(bias, 4) if np.isfinite(bias) else None
        truncation[name] = int(valid[d]) if real else lead
    known = [d for d in truncation.values() if d is not None]
    worst = max(known) if known else None
    steady = None if worst is None else bool(worst <= THRESHOLD_WEEKS and not capped)
    suggested = warmup_days + 7 * worst if steady is False and worst is not None else warmup_days
    return {
        "mser_weeks": mser_weeks,
        "bias_z": z_scores,
        "bias": biases,
        "truncation_weeks": truncation,
        "suggested_truncation_weeks": worst,
        "cap_weeks": cap_weeks,
        "threshold_weeks": THRESHOLD_WEEKS,
        "z_threshold": Z_THRESHOLD,
        "bias_threshold": BIAS_THRESHOLD,
        "capped": capped,
        "steady": steady,
        "warmup_days": warmup_days,
        "suggested_warmup_days": suggested,
    }


# MSER on the pilot finds where the credit ramp ends; slower modes (the tier
# mix of members who changed tier, purchased reserves) move the headline by
# a point or two more and cannot be seen in a pilot's noise. Measured on the
# baseline (6 seeds, scenarios/README.md "Warm-up"): the pilot's truncation
# alone (210 days) leaves the mean expiry waste 0.9 points below a two-year
# warm-up; twice it (420 days), 0.2 points above.
SAFETY_FACTOR = 2


def recommended_warmup_days(settled_days: int) -> int:
    """The warm-up to recommend when a run's weekly series settle ``settled_days`` after it
    starts (``suggested_warmup_days`` of its ``steady_state``): :data:`SAFETY_FACTOR` times
    that, as ``warmup_days: auto`` chooses (the detected settling point is itself about a
    point of expiry waste short of steady: scenarios/README.md, "Warm-up")."""
    return SAFETY_FACTOR * settled_days
