"""Samplers of member and recipient behaviour: all randomness of a run lives here.

Each member draws its whole *plan* up front from its own generator, in fixed
quantities that do not depend on the policy or on the member's balance:
its individual send rate, subscription start, every candidate send (instant,
category, lengths, Open Profile, the recipient's response and delay), one
uniform per send for the out-of-credit choice, and its monthly cancel and
tier-change draws. So

* a member's behaviour does not depend on how members are split over
  processes or machines (its generator comes from ``SeedSequence(seed,
  spawn_key=(member_index,))``), and
* two policies run on the same seed see the same draws for every member
  (common random numbers): only what the *engine* answers differs.

Draws are vectorised with numpy, one batch per member; nothing here touches a
balance. Distributions and their parameters come from the scenario
(``scenarios/README.md`` documents the defaults and their sources).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.scenario import Cohort, DelayDist, LengthDist, Recipients, normalised
from simulator.timeutil import DAY, MEAN_MONTH_DAYS
from simulator.vocabulary import LENGTH_BUCKETS, RESPONSE_KINDS

__all__ = [
    "LENGTH_BUCKETS",
    "MONTH_SECONDS",
    "MemberPlan",
    "PlanSampler",
    "draw_delays",
    "draw_lengths",
    "length_bucket_index",
    "member_rng",
]

MONTH_SECONDS = MEAN_MONTH_DAYS * DAY  # the mean Gregorian month
_BUCKET_EDGES = np.array([400, 800, 1200])


def member_rng(seed: int, key: int | tuple[int, ...]) -> np.random.Generator:
    """The generator of one member: independent of every other member's.

    ``key`` is the member's ``spawn_key`` (:meth:`simulator.population.Roster.key`):
    ``(index,)`` for a member present at the start, ``(cohort, ordinal)`` for an
    arrival; a bare int is ``(int,)``.
    """
    spawn_key = (key,) if isinstance(key, int) else tuple(key)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn_key)))


def length_bucket_index(chars: np.ndarray) -> np.ndarray:
    """0..3 for the buckets 1-400, 401-800, 801-1,200 and 1,201+ characters."""
    return np.searchsorted(_BUCKET_EDGES, chars, side="left")


def draw_lengths(rng: np.random.Generator, dist: LengthDist, n: int) -> np.ndarray:
    """``n`` message lengths in whole characters, clipped to ``[1, clip_max]``."""
    if dist.kind == "fixed":
        x = np.full(n, float(dist.value or 0))
    elif dist.kind == "uniform":
        assert dist.low is not None and dist.high is not None
        x = rng.uniform(dist.low, dist.high, n)
    else:  # lognormal with the given median
        assert dist.median is not None and dist.sigma is not None
        x = rng.lognormal(np.log(dist.median), dist.sigma, n)
    out = np.rint(x).astype(np.int64)
    np.maximum(out, 1, out=out)
    if dist.clip_max is not None:
        np.minimum(out, dist.clip_max, out=out)
    return out


def draw_delays(rng: np.random.Generator, dist: DelayDist, n: int) -> np.ndarray:
    """``n`` response delays in whole seconds, never less than 1."""
    # The scenario validated that each kind has its parameters.
    if dist.kind == "exponential":
        assert dist.mean_days is not None
        x = rng.exponential(dist.mean_days * DAY, n)
    elif dist.kind == "lognormal":
        assert dist.median_days is not None and dist.sigma is not None
        x = rng.lognormal(np.log(dist.median_days * DAY), dist.sigma, n)
    elif dist.kind == "gamma":
        assert dist.shape is not None and dist.mean_days is not None
        x = rng.gamma(dist.shape, dist.mean_days * DAY / dist.shape, n)
    else:
        assert dist.seconds is not None
        seconds = np.asarray(dist.seconds, dtype=np.float64)
        x = seconds[rng.integers(0, len(seconds), n)]
    out = np.rint(x).astype(np.int64)
    np.maximum(out, 1, out=out)
    return out


@dataclass(slots=True)
class MemberPlan:
    """Everything one member will want to do, drawn before the run."""

    index: int
    rate: float  # InMails per month
    subscribe_at: int  # instant the subscription starts (sim_start for basic)
    send_at: np.ndarray  # int64 instants, sorted
    category: np.ndarray  # int16 index into the policy's categories
    subject_chars: np.ndarray
    body_chars: np.ndarray
    free: np.ndarray  # bool
    responds: np.ndarray  # bool: the recipient answers (if it receives it)
    response_kind: np.ndarray  # int8 index into RESPONSE_KINDS
    response_delay: np.ndarray  # int64 seconds >= 1
    choice: np.ndarray  # float64 uniform per send, for the out-of-credit choice
    month_cancel: np.ndarray  # float64 uniform per month
    month_change: np.ndarray  # float64 uniform per month
    month_target: np.ndarray  # float64 uniform per month: picks the target of a tier change
    month_offset: np.ndarray  # float64 in [0, 1): when in the month a decision falls

    def slim(self) -> MemberPlan:
        """The plan without the draws only the run itself needs (kept for the tables)."""
        empty = np.zeros(0)
        return MemberPlan(
            self.index, self.rate, self.subscribe_at, self.send_at, self.category,
            self.subject_chars, self.body_chars, self.free, self.responds, self.response_kind,
            self.response_delay, empty, empty, empty, empty, empty,
        )  # fmt: skip


class PlanSampler:
    """Draws :class:`MemberPlan` for the members of one cohort."""

    def __init__(
        self, cohort: Cohort, recipients: Recipients, categories: tuple[str, ...],
        sim_start: int, end: int, seed: int,
    ) -> None:  # fmt: skip
        self.cohort = cohort
        self.sim_start = sim_start
        self.end = end
        self.seed = seed
        s = cohort.sending
        self.weekday = np.asarray(s.weekday_weights, dtype=np.float64)
        self.accept = self.weekday / self.weekday.max()
        # Thinning: candidates at the peak weekday rate, kept with w/max(w), so
        # the mean rate over a week is the cohort's rate.
        # Weights as extreme as 5e-324 or seven of 1e308 are valid: compute from
        # w/max(w) when max/mean over- or underflows (a rescue only, so ordinary
        # weights keep their exact float arithmetic and their random streams).
        with np.errstate(over="ignore"):
            mean = self.weekday.mean()
        normal = np.isfinite(mean) and mean >= np.finfo(np.float64).tiny
        self.peak = self.weekday.max() / mean if normal else 1.0 / self.accept.mean()
        keys, probs = normalised(s.categories)
        index = {c: i for i, c in enumerate(categories)}
        self.cat_index = np.array([index[k] for k in keys], dtype=np.int16)
        self.cat_cum = np.cumsum(probs)
        self.cat_cum[-1] = 1.0
        # Response probability per (length bucket, category), clipped to [0, 1].
        lm = np.array([recipients.length_multipliers[b] for b in LENGTH_BUCKETS])
        cm = np.array([recipients.category_multipliers.get(c, 1.0) for c in categories])
        self.p_response = np.clip(recipients.response_probability * lm[:, None] * cm[None, :], 0, 1)
        kinds, kprobs = normalised(recipients.response_kinds)
        kind_index = {k: i for i, k in enumerate(RESPONSE_KINDS)}
        self.kind_code = np.array([kind_index[k] for k in kinds], dtype=np.int8)
        self.kind_cum = np.cumsum(kprobs)
        self.kind_cum[-1] = 1.0
        self.recipients = recipients
        self.months = int((end - sim_start) // MONTH_SECONDS) + 3

    def plan(
        self, index: int, key: tuple[int, ...] | None = None, joined: int | None = None
    ) -> MemberPlan:
        """Draw the plan of member ``index`` (a global index over the run).

        ``key`` is its stream's ``spawn_key`` (default ``(index,)``); ``joined``
        is its arrival instant, or None for a member present at the start,
        whose subscription starts at a draw inside ``subscription_spread_days``.
        """
        rng = member_rng(self.seed, (index,) if key is None else key)
        c, s = self.cohort, self.cohort.sending
        rate = s.inmails_per_month
        if s.rate_shape is not None and rate > 0:
            rate = float(rng.gamma(s.rate_shape, rate / s.rate_shape))
        if joined is not None:
            subscribe_at = joined
        else:
            spread = c.subscription_spread_days * DAY
            subscribe_at = self.sim_start + (int(rng.integers(0, spread)) if spread > 0 else 0)
        # A member who joins after the end (a spread longer than the run) sends nothing.
        span = max(0, self.end + 1 - subscribe_at)
        n_cand = int(rng.poisson(rate * self.peak * span / MONTH_SECONDS)) if rate > 0 else 0
        cand = np.sort(rng.integers(subscribe_at, self.end + 1, n_cand, dtype=np.int64))
        weekday = ((cand // DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        keep = rng.random(n_cand) < self.accept[weekday]
        send_at = cand[keep]
        n = len(send_at)
        category = self.cat_index[np.searchsorted(self.cat_cum, rng.random(n), side="right")]
        subject = draw_lengths(rng, s.subject_chars, n)
        body = draw_lengths(rng, s.body_chars, n)
        free = rng.random(n) < s.free_share
        bucket = np.minimum(length_bucket_index(body), 3)
        responds = rng.random(n) < self.p_response[bucket, category]
        kind = self.kind_code[np.searchsorted(self.kind_cum, rng.random(n), side="right")]
        delay = draw_delays(rng, self.recipients.delay, n)
        choice = rng.random(n)
        m = self.months
        month_cancel = rng.random(m)
        month_change = rng.random(m)
        month_target = rng.random(m)
        month_offset = rng.random(m)
        return MemberPlan(
            index, rate, subscribe_at, send_at, category, subject, body, free, responds, kind,
            delay, choice, month_cancel, month_change, month_target, month_offset,
        )  # fmt: skip
