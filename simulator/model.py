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
from typing import Any, NamedTuple

import numpy as np
import simpy

from simulator.behaviour import RESPONSE_KINDS, MemberPlan, PlanSampler
from simulator.engine.core import NEVER, STEP_SEND, STEP_TIER, Account, Engine, gc_paused
from simulator.population import Roster, roster
from simulator.scenario import Cohort, Scenario, normalised
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


class _MonthDecision(NamedTuple):
    """A member's decision of one month: to cancel, or to change to a tier drawn from
    ``targets`` (by ``u_target`` on their cumulative probabilities ``cum``) at ``at``."""

    at: int
    cancels: bool
    targets: list[str]
    cum: np.ndarray
    u_target: float


class _Member:
    """What one member's steps share while its process runs: its plan, account and state."""

    __slots__ = (
        "account", "base_id", "busy", "codes", "cohort", "decisions", "index", "joined",
        "leaves", "left_at", "matrix", "ooc", "plan", "planned", "responses", "retry_seq",
        "subscribed", "tier", "wait_until",
    )  # fmt: skip

    def __init__(
        self, index: int, cohort: Cohort, plan: MemberPlan, decisions: dict[str, _Decisions],
        account: Account,
    ) -> None:  # fmt: skip
        self.index = index
        self.cohort = cohort
        self.plan = plan
        self.decisions = decisions  # on each premium tier, by the member's cohort
        self.account = account
        self.ooc = cohort.sending.out_of_credit
        self.joined = plan.subscribe_at
        self.tier = cohort.tier
        self.subscribed = cohort.tier != "basic"  # while it believes it is
        self.leaves = cohort.after_cancel == "leave"
        self.left_at = NEVER  # with after_cancel: leave, nothing is attempted from here on
        self.wait_until = -1  # planned sends before this instant are not attempted
        self.busy = -1  # upgrading until this instant: a decision waits for it
        self.responses: list[tuple[int, int, str]] = []  # (time, InMail id, kind) due to the engine
        self.base_id = index << SEQ_BITS
        n = len(plan.send_at)
        self.planned = n
        self.codes = array("q", bytes(8 * n)) if n else array("q")
        self.retry_seq = n  # retries take ids after the planned sends'
        # One matrix row per planned send; each month only its own rows become
        # Python lists (_Shard._live_month).
        self.matrix = np.column_stack((plan.send_at, plan.category, plan.subject_chars,
                                       plan.body_chars, plan.free, plan.responds,
                                       plan.response_kind, plan.response_delay)
                                      ).astype(np.int64)  # fmt: skip


def _months(joined: int, end: int, send_at: np.ndarray) -> tuple[list[int], list[int]]:
    """A member's months, [joined, end of the month holding ``end``]: the (exclusive)
    end of each, and the end of its rows of the plan, found in one vectorised search."""
    month_ends: list[int] = []
    month_end = joined
    while month_end <= end:
        month_end = monthly_anniversary(joined, len(month_ends) + 1)  # exclusive
        month_ends.append(month_end)
    bounds = np.searchsorted(send_at, np.minimum(month_ends, end + 1)).tolist()
    return month_ends, bounds


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
        """The SimPy process of one member: it joins, lives its months, and is recorded.

        One SimPy event a month: the member wakes at the start of each of its
        months and does all of that month's work (:meth:`_live_month`) at once,
        each action at its own instant.
        """
        m = self._new_member(index, cohort_index)
        env, end = self.env, self.sc.end
        if m.joined > end:
            # Its subscription would start after the run: it takes no part.
            self.finish(index, m.account, m.plan, m.codes, joined=None)
            return
        if m.joined > env.now:
            yield env.timeout(m.joined - env.now)
        self._join(m)
        month_ends, bounds = _months(m.joined, end, m.plan.send_at)
        month_start, lo = m.joined, 0
        for k, month_end in enumerate(month_ends):
            self._live_month(m, k, month_start, month_end, lo, bounds[k])
            if len(self.engine.ledger) >= LEDGER_CHUNK:
                self.flush()
            if month_end > end:
                break
            self.out.events += 1
            yield env.timeout(month_end - env.now)
            month_start, lo = month_end, bounds[k]
        self._leave_run(m)

    def _new_member(self, index: int, cohort_index: int) -> _Member:
        """A member's plan (drawn from its own generator), account and state, before it joins."""
        plan = self.samplers[cohort_index].plan(
            index, self.roster.key(index), self.roster.join_instant(index)
        )
        return _Member(index, self.sc.population[cohort_index], plan,
                       self.decisions[cohort_index], self.engine.account(index))  # fmt: skip

    def _join(self, m: _Member) -> None:
        """The member joins at its instant: a premium cohort's member subscribes then."""
        if m.subscribed:
            self.act(m.joined, STEP_TIER, m.index, ACT_SUBSCRIBE, m.tier)
            self.engine.subscribe(m.account, m.joined, m.tier)

    def _live_month(
        self, m: _Member, k: int, month_start: int, month_end: int, lo: int, hi: int
    ) -> None:
        """The member's month ``k``: its planned sends (plan rows ``lo`` to ``hi``), each
        at its instant, and the month's decision, if it takes one, at its own instant.

        The hot loop of the model (one pass per planned send): what it uses is bound
        to locals once a month; the rare steps (a decision, out of credit) are methods.
        """
        decision = self._decision_of_month(m, k, month_start, month_end)
        last = min(month_end - 1, self.sc.end)  # the last instant a decision is taken at
        a, codes, responses = m.account, m.codes, m.responses
        send, cats, reasons = self.engine.send, self.categories, REASON_CODES
        retries, end = self.out.retries, self.sc.end
        index, base_id, planned = m.index, m.base_id, m.planned
        # Only this month's rows of the plan become Python lists, so thousands of
        # concurrent members stay small.
        for j, (t, cat, subj, body, free, resp, kind, delay) in enumerate(
            m.matrix[lo:hi].tolist(), lo
        ):
            if decision is not None:
                decision = self._decide_if_due(m, decision, t, last)
            if t < m.wait_until or t >= m.left_at:
                codes[j] = SKIPPED
                continue
            if responses and responses[0][0] <= t:
                self._feed(m, t)
            seq = j + 1
            while True:  # the send, and again after buying or upgrading
                inmail = base_id | seq
                self.order += 1
                reason = send(a, t, inmail, cats[cat], subj, body, free)
                code = self.order << ORDER_SHIFT | a.tcode << TIER_SHIFT | reasons[reason]
                if seq <= planned:
                    codes[j] = code
                else:
                    retries.append((index, j, t, seq, code))
                if reason is None:
                    if resp:
                        rt = t + delay
                        if rt <= end:
                            heapq.heappush(responses, (rt, inmail, RESPONSE_KINDS[kind]))
                    break
                if reason != "no_credit":
                    break
                again = self._out_of_credit(m, j, t, month_end)
                if again is None:
                    break
                t = again
                m.retry_seq += 1
                seq = m.retry_seq
        if decision is not None:
            self._decide_if_due(m, decision, NEVER, last)

    def _feed(self, m: _Member, t: int) -> None:
        """Hand the engine the member's responses due at or before ``t``, in time order,
        before its next action (R10 step 1 comes first within an instant)."""
        responses, respond, a = m.responses, self.engine.respond, m.account
        while responses and responses[0][0] <= t:
            rt, inmail, kind = heapq.heappop(responses)
            respond(a, rt, inmail, kind)

    def _decision_of_month(
        self, m: _Member, k: int, month_start: int, month_end: int
    ) -> _MonthDecision | None:
        """The decision the member takes in month ``k``, if any, by its month's draws on
        the tier it holds at the month's start (only while it believes it is subscribed)."""
        plan = m.plan
        if not m.subscribed or k >= len(plan.month_offset):
            return None
        cancel_p, change_p, change_tiers, change_cum = m.decisions[m.tier]
        cancels = plan.month_cancel[k] < cancel_p
        if not cancels and not plan.month_change[k] < change_p:
            return None
        at = month_start + int(plan.month_offset[k] * (month_end - month_start))
        return _MonthDecision(at, cancels, change_tiers, change_cum, plan.month_target[k])

    def _decide_if_due(
        self, m: _Member, decision: _MonthDecision, t: int, last: int
    ) -> _MonthDecision | None:
        """Take the month's decision if it falls at or before ``t`` (the next planned send)
        and by ``last``; None once taken, else the decision (its instant moved on if the
        member is busy upgrading)."""
        if decision.at <= m.busy:
            # An upgrade moved the member one second ahead of its plan: its
            # decision follows (the engine takes actions in order).
            decision = decision._replace(at=m.busy + 1)
        if decision.at <= t and decision.at <= last:
            # A tier decision (R10 step 4) comes before sends at its instant.
            self._decide(m, decision)
            return None
        return decision

    def _decide(self, m: _Member, decision: _MonthDecision) -> None:
        """The member cancels, or changes to the tier its month's draw picks."""
        at, a, engine = decision.at, m.account, self.engine
        self._feed(m, at)
        if decision.cancels:
            self.act(at, STEP_TIER, m.index, ACT_CANCEL, "")
            engine.cancel(a, at)
            m.subscribed = False
            if m.leaves:
                # Effective at once, or at the end of the paid period.
                m.left_at = at if a.tier.name == "basic" else a.cancel_at
            return
        pick = int(np.searchsorted(decision.cum, decision.u_target, "right"))
        target = decision.targets[pick]
        if target != m.tier:
            self.act(at, STEP_TIER, m.index, ACT_CHANGE, target)
            engine.subscribe(a, at, target)
            m.tier = target
            m.subscribed = target != "basic"
            if m.leaves and not m.subscribed:
                m.left_at = at

    def _out_of_credit(self, m: _Member, j: int, t: int, month_end: int) -> int | None:
        """A send of plan row ``j`` refused for ``no_credit`` at ``t``: the member buys,
        upgrades or waits, by its draw for that send. The instant to send again at, or
        None to give up this message."""
        ooc = m.ooc
        u = m.plan.choice[j]
        if u < ooc.buy_probability:
            return self._buy(m, t)
        upgrade_to = ooc.upgrade_to
        if (u < ooc.buy_probability + ooc.upgrade_probability
                and upgrade_to not in (None, m.tier) and t < self.sc.end):  # fmt: skip
            assert upgrade_to is not None
            return self._upgrade(m, t + 1, upgrade_to)
        self._wait_for_credit(m, month_end)
        return None

    def _buy(self, m: _Member, t: int) -> int | None:
        """Buy ``buy_quantity`` credits at ``t`` and send again then; None if refused."""
        quantity = m.ooc.buy_quantity
        self.act(t, STEP_SEND, m.index, ACT_PURCHASE, "", quantity)
        if self.engine.purchase(m.account, t, quantity) is not None:
            return None  # the purchase was refused: give up this message
        return t

    def _upgrade(self, m: _Member, t: int, tier: str) -> int:
        """Change to ``tier`` at ``t`` (a second after the refused send) and send again then."""
        # Planned sends before this instant are not attempted: the member was
        # busy upgrading.
        m.busy = m.wait_until = max(m.wait_until, t)
        self._feed(m, t)
        self.act(t, STEP_TIER, m.index, ACT_CHANGE, tier)
        self.engine.subscribe(m.account, t, tier)
        m.tier = tier
        m.subscribed = True
        m.left_at = NEVER  # R9 clears a pending cancel: it stays
        return t

    def _wait_for_credit(self, m: _Member, month_end: int) -> None:
        """Attempt nothing until the next grant (the engine's state is exact right after
        a call), or the member's next month if no grant comes before it."""
        a = m.account
        nxt = a.next_grant if a.cancel_at > a.next_grant else NEVER
        m.wait_until = min(nxt, month_end)

    def _leave_run(self, m: _Member) -> None:
        """The run ends: the member's due responses and its account are settled, and it is
        recorded."""
        end = self.sc.end
        self._feed(m, end)
        self.engine.settle(m.account, end)
        left = m.left_at if m.left_at <= end else -1
        joined = m.joined if m.cohort.tier != "basic" else None
        self.finish(m.index, m.account, m.plan, m.codes, joined, left)

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
