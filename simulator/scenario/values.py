"""The parts of a scenario as frozen values: distributions, behaviour, cohorts, prices, recipients.

Each part is an immutable dataclass with every default filled in, built only
by the parsers of this package (which check it first) and read by the model
and the samplers; ``to_dict`` gives it back as plain data that loads back to
an equal part. The whole scenario, :class:`~simulator.scenario.Scenario`, is
in :mod:`simulator.scenario.build`. Weight maps keep the weights as written;
:func:`normalised` turns them into probabilities. Nothing here draws a random
number or checks a value.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.engine.schema import FrozenMap
from simulator.scenario.defaults import DELAY_PARAMS, LENGTH_PARAMS, REPLACE_CHURN

__all__ = [
    "Arrivals",
    "Cohort",
    "Decisions",
    "DelayDist",
    "LengthDist",
    "OutOfCredit",
    "Pricing",
    "Recipients",
    "Sending",
    "format_cents",
    "normalised",
]


def normalised(weights: Mapping[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Keys and probabilities (weights divided by their sum), in the mapping's order.

    Scenario weight maps keep the weights as written (so ``to_dict`` round-trips
    exactly); samplers call this to get probabilities.
    """
    keys = tuple(weights)
    values = [float(weights[k]) for k in keys]
    total = sum(values)
    if not total > 0:
        raise ValueError("weights must have a positive sum")
    if not (math.isfinite(total) and total >= sys.float_info.min):
        # Valid but extreme weights (1e308s whose sum overflows, 5e-324s whose
        # sum is subnormal): scale by the largest first. Ordinary weights keep
        # the plain division, so their probabilities are exactly as before.
        top = max(values)
        values = [v / top for v in values]
        total = sum(values)
    return keys, tuple(v / total for v in values)


# -- the values ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LengthDist:
    """A distribution of message lengths in characters.

    ``fixed`` uses ``value``; ``uniform`` uses ``low`` and ``high``;
    ``lognormal`` uses ``median`` and ``sigma`` (of the log). Draws are rounded
    to whole characters, then clipped to ``[1, clip_max]`` (``clip_max`` None:
    no upper clip, so over-long messages reach the engine and are rejected).
    """

    kind: str
    value: int | None = None
    low: float | None = None
    high: float | None = None
    median: float | None = None
    sigma: float | None = None
    clip_max: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in LENGTH_PARAMS[self.kind]:
            out[name] = getattr(self, name)
        out["clip_max"] = self.clip_max
        return out


@dataclass(frozen=True, slots=True)
class DelayDist:
    """A distribution of response delays (from the send to the response).

    ``exponential``: ``mean_days``; ``lognormal``: ``median_days`` and ``sigma``;
    ``gamma``: ``shape`` and ``mean_days``; ``empirical``: ``seconds``, the
    observed delays in whole seconds, each >= 1 (``file`` says where they
    came from, if from a CSV file, and takes no part in equality).
    """

    kind: str
    mean_days: float | None = None
    median_days: float | None = None
    sigma: float | None = None
    shape: float | None = None
    seconds: tuple[int, ...] | None = None
    file: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "empirical":
            assert self.seconds is not None
            return {"kind": "empirical", "delay_seconds": list(self.seconds)}
        out: dict[str, Any] = {"kind": self.kind}
        for name in DELAY_PARAMS[self.kind]:
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, slots=True)
class OutOfCredit:
    """What a member does when it wants to send and has no credit.

    With probability ``buy_probability`` it buys ``buy_quantity`` credits; with
    ``upgrade_probability`` it changes to ``upgrade_to``; otherwise it waits
    for its next grant.
    """

    buy_probability: float
    buy_quantity: int
    upgrade_probability: float
    upgrade_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "buy_probability": self.buy_probability,
            "buy_quantity": self.buy_quantity,
            "upgrade_probability": self.upgrade_probability,
            "upgrade_to": self.upgrade_to,
        }


@dataclass(frozen=True, slots=True)
class Sending:
    """How the members of one cohort send InMails.

    ``inmails_per_month`` is the mean number of sends a member attempts per
    average month (:data:`simulator.timeutil.MEAN_MONTH_DAYS` days). With ``rate_shape`` set,
    each member's own mean is drawn from a gamma distribution with that shape
    and this mean; with None every member has the same mean.
    ``weekday_weights`` are relative, Monday first. ``categories`` are
    relative weights (see :func:`normalised`).
    """

    inmails_per_month: float
    rate_shape: float | None
    weekday_weights: tuple[float, ...]
    body_chars: LengthDist
    subject_chars: LengthDist
    categories: Mapping[str, float]
    free_share: float
    out_of_credit: OutOfCredit

    def to_dict(self) -> dict[str, Any]:
        return {
            "inmails_per_month": self.inmails_per_month,
            "rate_shape": self.rate_shape,
            "weekday_weights": list(self.weekday_weights),
            "body_chars": self.body_chars.to_dict(),
            "subject_chars": self.subject_chars.to_dict(),
            "categories": dict(self.categories),
            "free_share": self.free_share,
            "out_of_credit": self.out_of_credit.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Decisions:
    """A member's monthly tier decisions while it holds one tier.

    Each month it cancels with ``monthly_cancel_probability`` or else changes
    tier with ``monthly_change_probability`` (to a tier drawn from the
    relative weights ``change_to``); the two are exclusive.
    """

    monthly_cancel_probability: float
    monthly_change_probability: float
    change_to: Mapping[str, float]

    def leave_probability(self) -> float:
        """The monthly chance of leaving premium: a cancel, or a change to ``basic`` (R9)."""
        leave = self.monthly_cancel_probability
        total = sum(self.change_to.values())
        if total > 0 and self.change_to.get("basic", 0) > 0:
            leave += self.monthly_change_probability * self.change_to["basic"] / total
        return leave

    def to_dict(self) -> dict[str, Any]:
        return {
            "monthly_cancel_probability": self.monthly_cancel_probability,
            "monthly_change_probability": self.monthly_change_probability,
            "change_to": dict(self.change_to),
        }


@dataclass(frozen=True, slots=True)
class Arrivals:
    """New members who join a cohort during the run (an open population).

    ``monthly_rate`` is the mean number of new members a month per member of
    the cohort's initial size (0.02: 2 % of ``members`` a month), growing by
    ``growth_per_month`` each month; or None for ``replace_churn``: in each
    month, the expected departures from premium of the cohort's members, so
    that their expected number is ``members``, grown by ``growth_per_month``
    a month. :func:`simulator.population.monthly_arrival_rates` computes both.
    """

    monthly_rate: float | None
    growth_per_month: float

    @property
    def replace_churn(self) -> bool:
        return self.monthly_rate is None

    def to_dict(self) -> dict[str, Any]:
        rate: Any = REPLACE_CHURN if self.monthly_rate is None else self.monthly_rate
        return {"monthly_rate": rate, "growth_per_month": self.growth_per_month}


@dataclass(frozen=True, slots=True)
class Cohort:
    """A group of members who start on one tier and behave alike.

    Subscriptions start uniformly over ``[sim_start, sim_start +
    subscription_spread_days)`` (0: all at ``sim_start``; ignored for
    ``basic``). On the cohort's own tier a member decides each month as
    ``monthly_cancel_probability``, ``monthly_change_probability`` and
    ``change_to`` say; on another tier (after a change or an upgrade) as
    :meth:`~simulator.scenario.Scenario.decisions` resolves. ``arrivals``, if given, brings new
    members over the run. ``after_cancel`` says what a member does once its
    cancel (or change to ``basic``) takes effect: ``stay`` on as a basic
    member (it keeps sending, buying and perhaps upgrading) or ``leave`` (it
    attempts nothing more: a departure, which ``replace_churn`` arrivals
    replace).
    """

    name: str
    tier: str
    members: int
    subscription_spread_days: int
    monthly_cancel_probability: float
    monthly_change_probability: float
    change_to: Mapping[str, float]
    sending: Sending
    after_change: Mapping[str, Decisions] = field(default_factory=FrozenMap)
    arrivals: Arrivals | None = None
    after_cancel: str = "stay"

    @property
    def decisions(self) -> Decisions:
        """The decisions of a member on the cohort's own tier."""
        return Decisions(
            self.monthly_cancel_probability, self.monthly_change_probability, self.change_to
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tier": self.tier,
            "members": self.members,
            "subscription_spread_days": self.subscription_spread_days,
            "monthly_cancel_probability": self.monthly_cancel_probability,
            "monthly_change_probability": self.monthly_change_probability,
            "change_to": dict(self.change_to),
            "after_change": {t: d.to_dict() for t, d in self.after_change.items()},
            "arrivals": None if self.arrivals is None else self.arrivals.to_dict(),
            "after_cancel": self.after_cancel,
            "sending": self.sending.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in whole cents: one purchased credit and each tier's month.

    ``monthly_price_cents`` has an entry for every tier of the policy (basic: 0).
    """

    currency: str
    credit_price_cents: int
    monthly_price_cents: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "credit_price": format_cents(self.credit_price_cents),
            "monthly_price": {t: format_cents(c) for t, c in self.monthly_price_cents.items()},
        }


@dataclass(frozen=True, slots=True)
class Recipients:
    """How recipients answer InMails.

    ``response_probability`` is the average chance that an InMail gets a
    response; a sampler scales it by the body's length bucket and the
    category multiplier (clipping at 1). ``category_multipliers`` has an
    entry for every policy category (1.0 unless given). ``response_kinds``
    are relative weights over accept, decline and reply.
    """

    response_probability: float
    length_multipliers: Mapping[str, float]
    category_multipliers: Mapping[str, float]
    response_kinds: Mapping[str, float]
    delay: DelayDist

    def to_dict(self) -> dict[str, Any]:
        return {
            "response_probability": self.response_probability,
            "length_multipliers": dict(self.length_multipliers),
            "category_multipliers": dict(self.category_multipliers),
            "response_kinds": dict(self.response_kinds),
            "delay": self.delay.to_dict(),
        }


def format_cents(cents: int) -> str:
    """Whole cents as money text with two decimals: ``2999`` -> ``"29.99"``."""
    return f"{cents // 100}.{cents % 100:02d}"
