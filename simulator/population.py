"""Who takes part in a run, and when each member joins: the roster, fixed before the run.

A scenario's cohorts have ``members`` at the start and, optionally,
``arrivals`` (an open population: :class:`~simulator.scenario.Arrivals`).
:func:`roster` lays every member of a run out by a *global member index*
before anything is simulated, so member batches, shards and ids are known in
advance and never depend on what happened in the run:

* indices ``0 .. members - 1`` are the members at the start, cohort by cohort
  in file order (as in a closed population);
* then the arrivals: cohort 0's in the order they join, then cohort 1's, ...

Randomness (DESIGN.md, principle 4), every stream a ``numpy.random.SeedSequence``
of the run's seed with its own ``spawn_key``:

* member ``i`` present at the start: ``(i,)`` (its join instant inside
  ``subscription_spread_days`` is drawn from its own stream, as always);
* the ``k``-th arrival (from 0) of cohort ``c``: ``(c, k)``, so changing one
  cohort's arrivals renumbers no other member's draws, and two policies on
  one seed see the same arrivals (common random numbers);
* the arrival instants of cohort ``c``: ``(ARRIVALS_STREAM, c)``, drawn here,
  before the run, as a Poisson process whose rate is constant within each
  average month from ``sim_start`` (:func:`monthly_arrival_rates`). They are
  generated in time order by unit exponential gaps mapped through the
  inverse of the integrated rate, so a longer run keeps every arrival of a
  shorter one.

Keys of length 1 and 2 never collide, and ``ARRIVALS_STREAM`` is larger than
any cohort index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.scenario import Scenario
from simulator.timeutil import DAY, MEAN_MONTH_DAYS

__all__ = [
    "ARRIVALS_STREAM",
    "Roster",
    "arrival_instants",
    "member_ids",
    "monthly_arrival_rates",
    "roster",
]

ARRIVALS_STREAM = 2**32 - 1
_MONTH = MEAN_MONTH_DAYS * DAY
_NOT_DRAWN = -1  # the join instant of a member present at the start comes from its own stream


@dataclass(frozen=True, eq=False)
class Roster:
    """Every member of a run by global index: its cohort, join instant and stream key."""

    initial: int  # members present at the start: indices 0 .. initial - 1
    cohort: np.ndarray  # int64 cohort index of each member
    joined: np.ndarray  # int64 arrival instant, or -1 for members present at the start
    ordinal: np.ndarray  # int64 arrival number within its cohort (from 0), or -1

    @property
    def size(self) -> int:
        """All members of the run: present at the start, plus arrivals."""
        return len(self.cohort)

    @property
    def arrivals(self) -> int:
        return self.size - self.initial

    def key(self, index: int) -> tuple[int, ...]:
        """The ``spawn_key`` of member ``index``'s random stream (module docstring)."""
        if index < self.initial:
            return (index,)
        return (int(self.cohort[index]), int(self.ordinal[index]))

    def join_instant(self, index: int) -> int | None:
        """The arrival instant of member ``index``; None for a member present at the start."""
        t = int(self.joined[index])
        return None if t == _NOT_DRAWN else t


def roster(scenario: Scenario) -> Roster:
    """The members of a run of ``scenario``, fixed by its population, dates and seed."""
    sizes = [c.members for c in scenario.population]
    initial = sum(sizes)
    cohort = [np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)]
    joined = [np.full(initial, _NOT_DRAWN, dtype=np.int64)]
    ordinal = [np.full(initial, -1, dtype=np.int64)]
    for c in range(len(scenario.population)):
        times = arrival_instants(scenario, c)
        cohort.append(np.full(len(times), c, dtype=np.int64))
        joined.append(times)
        ordinal.append(np.arange(len(times), dtype=np.int64))
    return Roster(initial, np.concatenate(cohort), np.concatenate(joined),
                  np.concatenate(ordinal))  # fmt: skip


def monthly_arrival_rates(scenario: Scenario, index: int, months: int) -> np.ndarray:
    """Mean arrivals into cohort ``index`` in each of the first ``months`` average months.

    A numeric ``monthly_rate``: ``members * monthly_rate * (1 + growth) ** m``
    in month ``m``. ``replace_churn``: the expected number of the cohort's
    members (present at the start or arrived) who hold a premium tier follows
    the monthly decisions as a Markov chain over tiers (a cancel or a change
    to ``basic`` leaves; a change moves to the target tier's decisions, as
    :meth:`~simulator.scenario.Scenario.decisions` says); month ``m``'s
    arrivals bring that expectation back to ``members * (1 + growth) **
    (m + 1)``; with ``cancel_effective: end_of_period`` they arrive a month
    later, when those departures take effect. The rates are fixed by the
    scenario alone, before the run, and
    never react to what happened in it. Upgrades when out of credit depend on
    balances and are not in the chain.
    """
    cohort = scenario.population[index]
    a = cohort.arrivals
    if a is None or months <= 0:
        return np.zeros(max(months, 0))
    growth = (1.0 + a.growth_per_month) ** np.arange(1, months + 1, dtype=np.float64)
    if a.monthly_rate is not None:
        return cohort.members * a.monthly_rate * growth / (1.0 + a.growth_per_month)
    tiers = [t for t in scenario.policy.tiers if t != "basic"]
    at = {t: i for i, t in enumerate(tiers)}
    move = np.zeros((len(tiers), len(tiers)))  # month-to-month, among premium tiers
    for t in tiers:
        d = scenario.decisions(cohort, t)
        i = at[t]
        # As the model draws them: a cancel with its probability, else a
        # change with its own (two independent uniforms).
        cancel = d.monthly_cancel_probability
        change = (1.0 - cancel) * d.monthly_change_probability
        total = sum(d.change_to.values())
        move[i, i] = 1.0 - cancel - (change if total > 0 else 0.0)
        for target, weight in d.change_to.items():
            if target != "basic" and total > 0:
                move[i, at[target]] += change * weight / total
    held = np.zeros(len(tiers))
    held[at[cohort.tier]] = cohort.members
    rates = np.zeros(months)
    for m in range(months):
        held = held @ move
        rates[m] = max(0.0, cohort.members * growth[m] - held.sum())
        held[at[cohort.tier]] += rates[m]
    if scenario.policy.cancel_effective == "end_of_period":
        # A cancel decided in a month takes effect at the member's next
        # anniversary: the departures of month m happen in month m + 1.
        rates = np.concatenate(([0.0], rates[:-1]))
    return rates


def arrival_instants(scenario: Scenario, index: int) -> np.ndarray:
    """Sorted int64 instants in ``[sim_start, end]`` at which new members join cohort ``index``."""
    start, end = scenario.sim_start, scenario.end
    months = math.ceil((end + 1 - start) / _MONTH)
    rates = monthly_arrival_rates(scenario, index, months)
    cum = np.concatenate(([0.0], np.cumsum(rates)))  # the integrated rate at month starts
    total = float(cum[-1])
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(scenario.seed, spawn_key=(ARRIVALS_STREAM, index)))
    )
    # Unit-rate Poisson points in integrated-rate time, drawn in blocks until
    # they pass the end: one stream of draws whatever the run's length.
    block = max(16, int(total + 6 * math.sqrt(total) + 16))
    points: list[np.ndarray] = []
    reached = 0.0
    while reached <= total:
        run = reached + np.cumsum(rng.exponential(1.0, block))
        points.append(run)
        reached = float(run[-1])
    lam = np.concatenate(points)
    lam = lam[lam < total]
    # Invert the piecewise-linear integrated rate, month by month.
    m = np.searchsorted(cum, lam, side="right") - 1
    t = m + (lam - cum[m]) / rates[m]
    instants = start + np.floor(t * _MONTH).astype(np.int64)
    return instants[instants <= end]


def member_ids(scenario: Scenario, members: Roster | None = None) -> list[str]:
    """The member id of each global member index: ``m0000042`` (width fits the run)."""
    n = (members or roster(scenario)).size
    width = max(6, len(str(n - 1)))
    return [f"m{i:0{width}d}" for i in range(n)]
