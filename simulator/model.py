"""The SimPy model: member processes that feed the credit rules engine.

SimPy decides *when*, the engine decides *what* (DESIGN.md). Each member is
one SimPy process. It wakes at the start of each of its months (the monthly
anniversaries of the instant it joined), takes that month's decisions
(cancel, change tier) and sends that month's InMails, each at its exact
instant, through the engine. The engine answers (spent, rejected, no credit)
and the member reacts: with no credit it buys, upgrades or waits for its next
grant (``out_of_credit`` in the scenario).

What needs no decision costs no SimPy event: grants, expiries and refund
deadlines are settled lazily and exactly by the engine; a recipient's
response, drawn when the InMail is sent (:mod:`simulator.behaviour`), is
handed to the engine at its instant, in time order with the member's other
actions, before the member's next action or at the end of the run. So the
event count is one per member-month, not one per InMail.

A shard (:func:`simulate_shard`) runs any subset of members in one process;
members share no credits and each draws from its own generator, so splitting
members over processes changes nothing in the tables (tests prove it).

Where the issue leaves room (documented in scenarios/README.md too):

* A member's decisions are monthly: in each of its months it cancels with
  ``monthly_cancel_probability`` or else changes tier with
  ``monthly_change_probability`` (to a tier drawn from ``change_to``), at a
  uniformly drawn instant of that month, while it believes it is subscribed.
* A send refused for ``no_credit`` is recorded as a rejected InMail; then,
  drawing one uniform: with ``buy_probability`` the member buys
  ``buy_quantity`` credits at the same instant and sends the message again
  (a new InMail id); with ``upgrade_probability`` it changes to ``upgrade_to``
  one second later and sends again then; otherwise it waits, attempting
  nothing until its next grant (a member without a subscription waits until
  its next month).
* Responses after the end of the run are not simulated.
"""

from __future__ import annotations

import heapq
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from simulator.behaviour import RESPONSE_KINDS, MemberPlan, PlanSampler
from simulator.engine.core import NEVER, STEP_SEND, STEP_TIER, Engine, gc_paused
from simulator.population import Roster, roster
from simulator.scenario import Scenario, normalised
from simulator.timeutil import monthly_anniversary
from simulator.vocabulary import SEND_REASONS

__all__ = [
    "ACTION_NAMES",
    "LEDGER_DTYPE",
    "REASON_CODES",
    "ShardResult",
    "simulate_shard",
]

REASON_CODES: dict[str | None, int] = {None: 0, **{r: i for i, r in enumerate(SEND_REASONS, 1)}}
SEQ_BITS = 24  # InMail id = member index << 24 | attempt number within the member (from 1)
SKIPPED = -1  # a planned send the member did not attempt (it was waiting for credit)
# An attempted send is recorded as one integer: order << 11 | tier code << 4 | reason code.
ORDER_SHIFT, TIER_SHIFT = 11, 4
LEDGER_CHUNK = 1 << 18  # entries turned into typed columns at a time (bounds memory)
# 35 bytes an entry; numpy raises OverflowError rather than wrap if a member
# index, lot number, quantity or balance ever exceeded 2**31.
LEDGER_DTYPE = np.dtype([
    ("time", "i8"), ("member", "i4"), ("kind", "i1"), ("lot", "i4"), ("quantity", "i4"),
    ("inmail", "i8"), ("reason", "i1"), ("balance", "i4"), ("tier", "i1"),
])  # fmt: skip

# Codes of the actions in the shard's action log (history rows other than
# sends and responses).
ACT_SUBSCRIBE, ACT_CHANGE, ACT_CANCEL, ACT_PURCHASE = 0, 1, 2, 3
ACTION_NAMES = ("subscribe", "change_tier", "cancel", "purchase")


@dataclass
class ShardResult:
    """The raw output of one shard, compact (see :mod:`simulator.tables`)."""

    ledger_chunks: list[np.ndarray] = field(default_factory=list)  # LEDGER_DTYPE
    # per member index: its plan (the InMails it meant to send) and one code per
    # planned send (SKIPPED, or the packed outcome of the attempt)
    plans: dict[int, MemberPlan] = field(default_factory=dict)
    codes: dict[int, np.ndarray] = field(default_factory=dict)
    # sends tried again after buying or upgrading: (member, plan row, time, seq, code)
    retries: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    # tier actions and purchases: (time, step, member index, order, action code, tier, quantity)
    actions: list[tuple[int, int, int, int, int, str, int]] = field(default_factory=list)
    # per member (in shard order)
    members: list[int] = field(default_factory=list)
    member_rate: list[float] = field(default_factory=list)
    member_subscribed_at: list[int] = field(default_factory=list)
    member_final_tier: list[str] = field(default_factory=list)
    member_left_at: list[int] = field(default_factory=list)  # -1: did not leave
    tier_names: tuple[str, ...] = ()
    events: int = 0


# A member's monthly decisions on one tier: (cancel p, change p, target tiers,
# cumulative target probabilities).
_Decisions = tuple[float, float, list[str], np.ndarray]


class _Shard:
    """One SimPy environment and one engine for a subset of members."""

    def __init__(self, scenario: Scenario, members: Roster) -> None:
        self.sc = scenario
        self.roster = members
        self.engine = Engine(scenario.policy)
        self.env = simpy.Environment(initial_time=scenario.sim_start)
        self.out = ShardResult(tier_names=self.engine.tier_names)
        self.order = 0
        cats = scenario.policy.categories
        self.categories = cats
        self.samplers = [
            PlanSampler(
                c, scenario.recipients, cats, scenario.sim_start, scenario.end, scenario.seed
            )
            for c in scenario.population
        ]
        # Per cohort, the decisions on each premium tier (Scenario.decisions).
        self.decisions: list[dict[str, _Decisions]] = []
        for c in scenario.population:
            table: dict[str, _Decisions] = {}
            for tier in scenario.policy.tiers:
                if tier != "basic":
                    d = scenario.decisions(c, tier)
                    targets, probs = normalised(d.change_to) if d.change_to else ((), (1.0,))
                    cum = np.cumsum(probs)
                    cum[-1] = 1.0
                    table[tier] = (d.monthly_cancel_probability, d.monthly_change_probability,
                                   list(targets), cum)  # fmt: skip
            self.decisions.append(table)

    def flush(self) -> None:
        """Move the engine's ledger tuples into a typed chunk."""
        ledger = self.engine.ledger
        if ledger:
            self.out.ledger_chunks.append(np.fromiter(ledger, LEDGER_DTYPE, len(ledger)))
            ledger.clear()

    def member(self, index: int, cohort_index: int) -> Any:
        """The SimPy process of one member."""
        sc, engine, env, out = self.sc, self.engine, self.env, self.out
        cohort = sc.population[cohort_index]
        plan = self.samplers[cohort_index].plan(
            index, self.roster.key(index), self.roster.join_instant(index)
        )
        decisions = self.decisions[cohort_index]
        a = engine.account(index)
        end = sc.end
        ooc = cohort.sending.out_of_credit
        buy_p, upgrade_p, upgrade_to = ooc.buy_probability, ooc.upgrade_probability, ooc.upgrade_to
        cancel_p = change_p = 0.0
        leaves = cohort.after_cancel == "leave"
        left_at = NEVER  # with after_cancel: leave, nothing is attempted from here on
        change_tiers: list[str] = []
        change_cum = np.ones(1)
        cats = self.categories
        send = engine.send
        respond = engine.respond
        reasons = REASON_CODES
        responses: list[tuple[int, int, str]] = []  # (time, InMail id, kind) due to the engine
        base_id = index << SEQ_BITS
        n = len(plan.send_at)
        codes = array("q", bytes(8 * n)) if n else array("q")
        retry_seq = n  # retries take ids after the planned sends'

        joined = plan.subscribe_at
        if joined > end:
            # Its subscription would start after the run: it takes no part.
            self.finish(index, a, plan, codes, joined=None)
            return
        if joined > env.now:
            yield env.timeout(joined - env.now)
        subscribed = cohort.tier != "basic"
        tier = cohort.tier
        if subscribed:
            self.act(joined, STEP_TIER, index, ACT_SUBSCRIBE, tier)
            engine.subscribe(a, joined, tier)

        def feed(t: int) -> None:
            # Responses due at or before t, in time order, before the member's
            # next action (R10 step 1 comes first within an instant).
            while responses and responses[0][0] <= t:
                rt, inmail, kind = heapq.heappop(responses)
                respond(a, rt, inmail, kind)

        # One matrix row per planned send; each month only its own rows become
        # Python lists, so thousands of concurrent members stay small.
        send_at = plan.send_at
        matrix = np.column_stack((send_at, plan.category, plan.subject_chars, plan.body_chars,
                                  plan.free, plan.responds, plan.response_kind,
                                  plan.response_delay)).astype(np.int64)  # fmt: skip
        choice = plan.choice
        # The member's months, [joined, end of the month holding `end`], and
        # the plan rows each holds, found in one vectorised search.
        month_ends: list[int] = []
        month_end = joined
        while month_end <= end:
            month_end = monthly_anniversary(joined, len(month_ends) + 1)  # exclusive
            month_ends.append(month_end)
        bounds = np.searchsorted(send_at, np.minimum(month_ends, end + 1)).tolist()
        i = 0
        k = 0
        wait_until = busy = -1
        month_end = joined
        while True:
            month_start = month_end
            month_end = month_ends[k]
            decision_at = NEVER
            if subscribed and k < len(plan.month_offset):
                # This month's decisions follow the tier held at its start.
                cancel_p, change_p, change_tiers, change_cum = decisions[tier]
                u_cancel, u_change = plan.month_cancel[k], plan.month_change[k]
                if u_cancel < cancel_p or u_change < change_p:
                    span = month_end - month_start
                    decision_at = month_start + int(plan.month_offset[k] * span)
            hi = bounds[k]
            rows = matrix[i:hi].tolist()
            r = 0
            while True:
                t = rows[r][0] if r < len(rows) else NEVER
                if decision_at <= busy:
                    # An upgrade moved the member one second ahead of its plan:
                    # its decision follows (the engine takes actions in order).
                    decision_at = busy + 1
                if decision_at <= t and decision_at < month_end and decision_at <= end:
                    # A tier decision (R10 step 4) comes before sends at its instant.
                    feed(decision_at)
                    if u_cancel < cancel_p:
                        self.act(decision_at, STEP_TIER, index, ACT_CANCEL, "")
                        engine.cancel(a, decision_at)
                        subscribed = False
                        if leaves:
                            # Effective at once, or at the end of the paid period.
                            left_at = decision_at if a.tier.name == "basic" else a.cancel_at
                    else:
                        u_target = plan.month_target[k]
                        target = change_tiers[int(np.searchsorted(change_cum, u_target, "right"))]
                        if target != tier:
                            self.act(decision_at, STEP_TIER, index, ACT_CHANGE, target)
                            engine.subscribe(a, decision_at, target)
                            tier = target
                            subscribed = target != "basic"
                            if leaves and not subscribed:
                                left_at = decision_at
                    decision_at = NEVER
                    continue
                if r == len(rows):
                    break
                _, cat, subj, body, free, resp, kind, delay = rows[r]
                j = i + r
                r += 1
                if t < wait_until or t >= left_at:
                    codes[j] = SKIPPED
                    continue
                if responses and responses[0][0] <= t:
                    feed(t)
                seq = j + 1
                while True:
                    inmail = base_id | seq
                    self.order += 1
                    reason = send(a, t, inmail, cats[cat], subj, body, free)
                    code = self.order << ORDER_SHIFT | a.tcode << TIER_SHIFT | reasons[reason]
                    if seq <= n:
                        codes[j] = code
                    else:
                        out.retries.append((index, j, t, seq, code))
                    if reason is None:
                        if resp:
                            rt = t + delay
                            if rt <= end:
                                heapq.heappush(responses, (rt, inmail, RESPONSE_KINDS[kind]))
                        break
                    if reason != "no_credit":
                        break
                    u = choice[j]
                    if u < buy_p:
                        self.act(t, STEP_SEND, index, ACT_PURCHASE, "", ooc.buy_quantity)
                        if engine.purchase(a, t, ooc.buy_quantity) is not None:
                            break  # the purchase was refused: give up this message
                    elif u < buy_p + upgrade_p and upgrade_to not in (None, tier) and t < end:
                        assert upgrade_to is not None
                        t += 1
                        # Planned sends before this instant are not attempted:
                        # the member was busy upgrading.
                        busy = wait_until = max(wait_until, t)
                        feed(t)
                        self.act(t, STEP_TIER, index, ACT_CHANGE, upgrade_to)
                        engine.subscribe(a, t, upgrade_to)
                        tier = upgrade_to
                        subscribed = True
                        left_at = NEVER  # R9 clears a pending cancel: it stays
                    else:
                        # Wait for the next grant (the engine's state is exact
                        # right after a call at t), or the next month.
                        nxt = a.next_grant if a.cancel_at > a.next_grant else NEVER
                        wait_until = min(nxt, month_end)
                        break
                    retry_seq += 1
                    seq = retry_seq
            i = hi
            k += 1
            if len(engine.ledger) >= LEDGER_CHUNK:
                self.flush()
            if month_end > end:
                break
            out.events += 1
            yield env.timeout(month_end - env.now)
        feed(end)
        engine.settle(a, end)
        left = left_at if left_at <= end else -1
        self.finish(index, a, plan, codes, joined if cohort.tier != "basic" else None, left)

    def finish(
        self, index: int, a: Any, plan: MemberPlan, codes: array, joined: int | None,
        left: int = -1,
    ) -> None:  # fmt: skip
        """Record a member whose part in the run is over, and free its engine state."""
        out = self.out
        n = len(plan.send_at)
        out.plans[index] = plan.slim()
        out.codes[index] = np.frombuffer(codes, dtype=np.int64) if n else np.zeros(0, np.int64)
        out.members.append(index)
        out.member_rate.append(plan.rate)
        out.member_subscribed_at.append(-1 if joined is None else joined)
        out.member_final_tier.append(a.tier.name)
        out.member_left_at.append(left)
        del self.engine.accounts[index]

    def act(self, t: int, step: int, index: int, code: int, tier: str, qty: int = 0) -> None:
        self.order += 1
        self.out.actions.append((t, step, index, self.order, code, tier, qty))


def simulate_shard(
    scenario: Scenario,
    indices: list[int] | range,
    progress: Any = None,
    members: Roster | None = None,
) -> ShardResult:
    """Simulate the members with the given global indices; return their raw tables.

    ``members`` is the run's roster (computed from the scenario when not
    given). ``progress``, if given, is called with the simulated seconds advanced.
    """
    members = members if members is not None else roster(scenario)
    shard = _Shard(scenario, members)
    cohorts = members.cohort
    for index in indices:
        shard.env.process(shard.member(index, int(cohorts[index])))
    env = shard.env
    with gc_paused():
        if progress is None:
            env.run()
        else:
            # Advance a week of simulated time at a time, reporting each step.
            step = 7 * 86_400
            now = scenario.sim_start
            while now <= scenario.end:
                nxt = min(now + step, scenario.end + 1)
                env.run(until=nxt)
                progress(nxt - now)
                now = nxt
            env.run()
        shard.flush()
    return shard.out
