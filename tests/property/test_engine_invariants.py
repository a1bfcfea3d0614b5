"""Invariants of the credit engine (RULES.md sections 4 and 5), checked by Hypothesis.

The engine is driven directly (not through the CLI) by a stateful machine that
plays a few members over several policies, with time advancing in jumps biased
to the instants where the rules bite: 1 s, exactly onto (and one second either
side of) the next refund deadline, lot expiry, grant or cancel, 7 days, 30/31
days, 90 days and big jumps. After every step :class:`LedgerAudit` re-derives
each member's lots from the ledger alone (a lot's expiry is its issue instant
plus the policy's ``*_expiry_days`` for its source) and checks:

* conservation, entry by entry: granted + purchased + refunded = spent + expired
  + capped + forfeited + balance, ``balance_after`` equal to that running sum and
  never negative, every quantity >= 0 (section 5);
* the account agrees with its ledger: last ``balance_after`` == balance,
  allotted + purchased == balance, and both equal the re-derived lots;
* lot ids are ``member:n`` with n = 1, 2, 3... in issue order (section 2);
* a spend takes 1 credit from the first live lot in R3 spend order; cap and
  forfeit take grant and refund lots in spend order; an expiry removes a whole
  lot at exactly its ``expires_at``; nothing that expired at an earlier instant
  is still held when another entry is written, lazily settled or not (R2, R7);
* one spend and at most one refund per InMail, refunds only for paid InMails,
  at exactly the instant R6 names, and every refund R6 promises is paid;
* the k-th grant since an anchor falls at the anchor's k-th grant instant
  (``simulator.timeutil``, itself checked against ``datetime`` in
  ``tests/unit/test_timeutil.py``), of the tier's size, none after a cancel
  takes effect, none missing at the end (R1, R8, R9); right after a grant the
  allotted balance is min(what it was, the cap) (R7);
* a member's entries are in non-decreasing time and, within one instant, in
  the R10 order of phases.

Two plain ``@given`` tests add determinism (one action list, two engines, one
ledger) and lazy settlement (settling at many intermediate instants, every
ledger instant and deadline among them, gives exactly the ledger of settling
once at the end; the engine's module docstring promises it).

Quick by default (200 examples of up to 40 steps, a few seconds); ``pytest -m
slow`` runs the long variants (2000 examples of up to 100 steps: they also reach
the rarer corners, such as a cap meeting a purchase lot first in spend order).
CI runs Hypothesis derandomized (``tests/conftest.py``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from simulator.engine import NEVER, Engine, Policy, ledger_rows, resolve_policy
from simulator.timeutil import DAY, first_of_month_after, monthly_anniversary, parse_instant

# -- policies --------------------------------------------------------------------

POLICY_BLOCKS: dict[str, dict[str, Any]] = {
    "inmail-2014": {},
    "inmail-2015": {"preset": "inmail-2015"},
    # fifo with short lives so grants, refunds and purchases all expire and collide;
    # a cap below one grant caps at every grant, with purchases often first in line
    "fifo-short-lives": {
        "spend_order": "fifo",
        "grant_expiry_days": 30,
        "refund_expiry_days": 7,
        "purchase_expiry_days": 31,
        "premium_buys_only_when_empty": False,
        "tiers": {"premium_career": {"cap": 3}, "recruiter_lite": {"cap": 40}},
    },
    "response-within-7d-reply-only": {
        "refund": {"mode": "response_within", "window_days": 7, "counts_as_response": ["reply"]},
        "purchase_expiry_days": 30,
    },
    "no-refunds": {"refund": {"mode": "none"}},
    "never-expire": {"grant_expiry_days": None, "refund_expiry_days": None},
    "immediate-cancel": {
        "cancel_effective": "immediate",
        "purchase_expiry_days": 7,
        "refund": {"window_days": 1, "counts_as_response": ["accept", "decline"]},
    },
    # new tiers with caps (one grants nothing, so only its cap acts), a capped
    # calendar-month premium_career, and expiry of 61 days (two grants overlap)
    "custom-capped-tiers": {
        "grant_expiry_days": 61,
        "purchase_expiry_days": 20,  # purchases come first in spend order: caps must skip them
        "max_purchased_balance": 20,
        "premium_buys_only_when_empty": False,
        "tiers": {
            "gold": {"monthly_credits": 7, "cap": 10},
            "zero": {"monthly_credits": 0, "cap": 2},
            "premium_career": {"cap": 6, "grant_schedule": "calendar_month"},
        },
    },
}
POLICIES: dict[str, Policy] = {
    name: resolve_policy(block, f"<{name}>") for name, block in POLICY_BLOCKS.items()
}

MEMBERS = ("ann", "bo", "cy7")
STARTS = tuple(
    parse_instant(s)
    for s in (
        "2024-01-31T09:00:00Z",  # 31st: anniversaries clamp to month ends
        "2024-02-29T12:00:00Z",  # leap day
        "2023-04-30T00:00:00Z",  # a 30-day month: +30 days is the next anniversary
        "2024-12-31T23:59:59Z",  # last second of a year, a 31st
        "2024-03-01T00:00:00Z",  # 00:00 on a 1st (calendar_month boundary)
    )
)

# R10 phase of each entry kind, for the within-instant order check. Refunds come
# in phase 1 (response_within) or 2 (no_response_within); forfeits in 4 (a cancel
# falling due, or a cancel/subscribe action: nothing else is written between the
# two); grants and caps in 6; purchases and sends in 7.
PHASE = {
    "refund": 2,
    "expire": 3,
    "forfeit": 4,
    "grant": 6,
    "cap": 6,
    "purchase": 7,
    "spend": 7,
    "reject": 7,
}
INFLOW = ("grant", "purchase", "refund")
OUTFLOW = ("spend", "expire", "cap", "forfeit")
# Entries written after R10 step 3: no lot expiring at or before their instant may remain.
AFTER_EXPIRIES = ("forfeit", "grant", "cap", "purchase", "spend", "reject")
CANCEL = "(cancel)"


# -- the audit: everything re-derived from the ledger --------------------------------


@dataclass
class _Lot:
    no: int
    source: str
    issued: int
    expires: int | None  # None: never
    remaining: int


@dataclass
class _Member:
    lots: dict[int, _Lot] = field(default_factory=dict)  # held lots (remaining > 0)
    n_lots: int = 0  # lots issued
    net: int = 0  # granted + purchased + refunded - spent - expired - capped - forfeited
    last_time: int | None = None
    last_phase: int = 0
    count: int = 0  # entries seen
    anchor: int = -1  # index in LedgerAudit.plans[member] of the anchor of the last grant
    grants: int = 0  # grants seen since that anchor
    cap_check: tuple[int, int, int] | None = None  # (instant, cap, allotted after the grant)


class LedgerAudit:
    """Replays a ledger entry by entry and asserts the invariants of RULES.md."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.window = policy.refund.window_days * DAY
        self.life = {
            "grant": policy.grant_expiry_days,
            "refund": policy.refund_expiry_days,
            "purchase": policy.purchase_expiry_days,
        }
        self.members: dict[Any, _Member] = defaultdict(_Member)
        self.spent: dict[Any, tuple[Any, int]] = {}  # inmail -> (member, time)
        self.refunded: dict[Any, int] = {}  # inmail -> time
        self.responses: dict[Any, tuple[int, str]] = {}  # filled by the driver
        self.free: set[Any] = set()  # InMails sent free, filled by the driver
        # per member, in call order: (instant, tier) for subscribe/change_tier, or
        # (instant, CANCEL); filled by the driver
        self.plans: dict[Any, list[tuple[int, str]]] = defaultdict(list)
        self.seen = 0

    # spend order (R3), from RULES.md's words rather than the engine's packed key
    def _key(self, lot: _Lot) -> tuple[int, ...]:
        if self.policy.spend_order == "fifo":
            return (lot.issued, lot.no)
        never = lot.expires is None
        return (int(never), lot.expires or 0, lot.issued, lot.no)

    def _first_live(self, m: _Member, t: int, sources: tuple[str, ...]) -> _Lot | None:
        live = [
            lot
            for lot in m.lots.values()
            if lot.remaining > 0
            and lot.source in sources
            and (lot.expires is None or lot.expires > t)
        ]
        return min(live, key=self._key, default=None)

    def feed_engine(self, engine: Engine) -> None:
        """Audit the entries the engine appended since the last call."""
        rows = engine.entries(self.seen)
        for row in rows:
            self.feed(row)
        self.seen += len(rows)

    def feed(self, row: tuple[Any, ...]) -> None:
        t, member, kind, no, qty, inmail, reason, bal = row
        m = self.members[member]
        where = f"entry {m.count} of {member!r}: {row}"
        m.count += 1
        if m.cap_check is not None and (kind, t) != ("cap", m.cap_check[0]):
            self._check_capped(member, m)

        # order: non-decreasing time; R10 phases within one instant
        phase = PHASE[kind]
        if kind == "refund" and self.policy.refund.mode == "response_within":
            phase = 1
        if m.last_time is not None:
            assert t >= m.last_time, f"time goes backwards at {where}"
            if t == m.last_time:
                assert phase >= m.last_phase, (
                    f"R10 order: phase {phase} after {m.last_phase} at {where}"
                )
        m.last_time, m.last_phase = t, phase

        # nothing that expired before t is still held; after step 3, nothing expiring at t
        for lot in m.lots.values():
            if lot.remaining and lot.expires is not None:
                assert lot.expires >= t, f"lot {lot.no} expired at {lot.expires}, held at {where}"
                if kind in AFTER_EXPIRIES:
                    assert lot.expires > t, f"lot {lot.no} due to expire at t, held at {where}"

        assert qty >= 0, f"negative quantity at {where}"
        if kind == "reject":
            assert (no, qty) == (0, 0) and reason, f"malformed reject at {where}"
            if reason == "no_credit":
                assert m.net == 0, f"no_credit with balance {m.net} at {where}"
                assert inmail not in self.free, f"free send rejected for no_credit at {where}"
        else:
            assert qty >= 1 and not reason, f"empty or reasoned movement at {where}"

        if kind in INFLOW:
            m.n_lots += 1
            assert no == m.n_lots, f"lot {no} is not the next lot number at {where}"
            life = self.life[kind]
            m.lots[no] = _Lot(no, kind, t, None if life is None else t + life * DAY, qty)
            m.net += qty
            if kind == "grant":
                self._check_grant(member, m, t, qty, where)
            if kind == "refund":
                self._check_refund(member, t, inmail, where)
        elif kind in OUTFLOW:
            lot = m.lots.get(no)
            assert lot is not None and lot.remaining >= qty, f"lot {no} lacks credits at {where}"
            if kind == "spend":
                assert qty == 1, f"a spend takes exactly 1 credit: {where}"
                first = self._first_live(m, t, INFLOW)
                assert first is lot, (
                    f"spent lot {no}, first live in spend order is {first}: {where}"
                )
                assert inmail not in self.spent, f"second spend for {inmail!r} at {where}"
                assert inmail not in self.free, f"free InMail spent at {where}"
                self.spent[inmail] = (member, t)
            elif kind == "expire":
                assert lot.expires == t, f"expired at {t}, lot expires at {lot.expires}: {where}"
                assert qty == lot.remaining, f"partial expiry at {where}"
            else:  # cap and forfeit: grant and refund lots, in spend order
                assert lot.source in ("grant", "refund"), f"{kind} of a purchase lot at {where}"
                first = self._first_live(m, t, ("grant", "refund"))
                assert first is lot, f"{kind} of lot {no}, first in spend order is {first}: {where}"
                if kind == "forfeit":
                    assert qty == lot.remaining, f"partial forfeit at {where}"
                else:
                    assert any(tier.cap is not None for tier in self.policy.tiers.values())
            lot.remaining -= qty
            m.net -= qty
            if not lot.remaining:
                del m.lots[no]
        else:
            assert kind == "reject", f"unknown kind at {where}"

        assert bal == m.net, f"balance_after {bal} != running sum {m.net} at {where}"
        assert bal >= 0, f"negative balance at {where}"

    def _grant_instant(self, anchor: int, tier: str, k: int) -> int:
        if k == 0:
            return anchor
        if self.policy.tiers[tier].grant_schedule == "calendar_month":
            return first_of_month_after(anchor, k)
        return monthly_anniversary(anchor, k)

    def _anchor(self, member: Any, t: int) -> tuple[int, int | None]:
        """Index of the last subscribe at or before ``t``, and the first cancel after it."""
        plan = self.plans[member]
        idx = max(
            (i for i, (at, what) in enumerate(plan) if at <= t and what != CANCEL), default=-1
        )
        cancels = [at for at, what in plan[idx + 1 :] if what == CANCEL]
        return idx, (cancels[0] if idx >= 0 and cancels else None)

    def _granting(self, t: int, cancel: int | None) -> bool:
        """R8: grants go on up to a cancel's instant (end_of_period), or stop at it (immediate)."""
        if cancel is None:
            return True
        return t < cancel if self.policy.cancel_effective == "immediate" else t <= cancel

    def _check_grant(self, member: Any, m: _Member, t: int, qty: int, where: str) -> None:
        """R1, R8, R9: the k-th grant since the anchor falls at its k-th grant instant."""
        idx, cancel = self._anchor(member, t)
        assert idx >= 0, f"grant without a subscribe at {where}"
        anchor, tier = self.plans[member][idx]
        assert tier != "basic", f"grant after a change to basic at {where}"
        assert qty == self.policy.tiers[tier].monthly_credits, f"grant size at {where}"
        assert self._granting(t, cancel), f"grant after the cancel at {cancel}: {where}"
        if m.anchor != idx:
            m.anchor, m.grants = idx, 0
        expected = self._grant_instant(anchor, tier, m.grants)
        assert t == expected, f"grant {m.grants} of anchor {anchor} due at {expected}: {where}"
        m.grants += 1
        cap = self.policy.tiers[tier].cap
        if cap is not None:
            m.cap_check = (t, cap, self._allotted(m))  # the grant lot is already in

    @staticmethod
    def _allotted(m: _Member) -> int:
        return sum(lot.remaining for lot in m.lots.values() if lot.source != "purchase")

    def _check_capped(self, member: Any, m: _Member) -> None:
        """R7: right after a grant, the allotted balance is min(what it was, the cap)."""
        assert m.cap_check is not None
        t, cap, before = m.cap_check
        m.cap_check = None
        after = self._allotted(m)
        assert after == min(before, cap), f"{member!r} at {t}: allotted {after}, cap {cap}"

    def check_all_grants_paid(self, member: Any, end: int) -> None:
        """Every grant instant of the current subscription up to ``end`` has its grant."""
        idx, cancel = self._anchor(member, end)
        if idx < 0:
            return
        anchor, tier = self.plans[member][idx]
        if self.policy.tiers[tier].monthly_credits == 0:
            return
        due, k = 0, 0
        while (at := self._grant_instant(anchor, tier, k)) <= end and self._granting(at, cancel):
            due, k = due + 1, k + 1
        m = self.members[member]
        paid = m.grants if m.anchor == idx else 0
        assert paid == due, f"{member!r}: {paid} grants since {anchor}, {due} due by {end}"

    def _check_refund(self, member: Any, t: int, inmail: Any, where: str) -> None:
        """R6: one refund per paid InMail, of its sender, at exactly the instant due."""
        assert inmail in self.spent, f"refund for an InMail never spent for at {where}"
        sender, sent_at = self.spent[inmail]
        assert sender == member, f"refund to {member!r}, InMail sent by {sender!r}: {where}"
        assert inmail not in self.refunded, f"second refund for {inmail!r} at {where}"
        self.refunded[inmail] = t
        mode, counts = self.policy.refund.mode, self.policy.refund.counts_as_response
        response = self.responses.get(inmail)
        if mode == "no_response_within":
            assert t == sent_at + self.window, f"refund not at the window's end: {where}"
            assert not (response and response[1] in counts and response[0] <= t), (
                f"refund despite a counted response {response}: {where}"
            )
        elif mode == "response_within":
            assert response is not None and response[1] in counts, f"refund unanswered: {where}"
            assert t == response[0] <= sent_at + self.window, f"refund off the response: {where}"
        else:
            raise AssertionError(f"refund under refund.mode none: {where}")

    def expected_refunds(self) -> set[Any]:
        """The paid InMails R6 refunds, once every window has closed."""
        mode, counts = self.policy.refund.mode, self.policy.refund.counts_as_response
        out = set()
        for inmail, (_, sent_at) in self.spent.items():
            r = self.responses.get(inmail)
            counted = r is not None and r[1] in counts and r[0] <= sent_at + self.window
            if (mode == "no_response_within" and not counted) or (
                mode == "response_within" and counted
            ):
                out.add(inmail)
        return out

    def check_account(self, engine: Engine, member: Any) -> None:
        """The account's totals agree with its ledger and the lots re-derived from it."""
        a = engine.accounts[member]
        m = self.members[member]
        if m.cap_check is not None:  # the engine writes a grant and its caps in one call
            self._check_capped(member, m)
        assert a.balance == m.net, f"{member!r}: balance {a.balance}, ledger says {m.net}"
        assert a.allotted + a.purchased == a.balance, f"{member!r}: allotted+purchased != balance"
        allotted = sum(lot.remaining for lot in m.lots.values() if lot.source != "purchase")
        purchased = sum(lot.remaining for lot in m.lots.values() if lot.source == "purchase")
        assert (a.allotted, a.purchased) == (allotted, purchased), f"{member!r}: lots disagree"
        assert a.allotted >= 0 and a.purchased >= 0


def _check_lot_ids(engine: Engine) -> None:
    """Every lot cell of the written ledger is ``member:n``; rejections have none."""
    for _, member, kind, lot, *_ in ledger_rows(engine):
        if kind == "reject":
            assert lot == "", lot
        else:
            assert re.fullmatch(rf"{re.escape(member)}:[1-9][0-9]*", lot), (member, lot)


# -- the stateful machine ------------------------------------------------------------

STEP_RESPOND, STEP_TIER, STEP_SEND, STEP_SETTLE = 1, 5, 7, 8  # R10 steps a driver may use
BODY = st.sampled_from([350, 1, 2000, 1200, 0, 2001])  # mostly valid, edges of 1..2000
SUBJECT = st.sampled_from([40, 1, 200, 0, 201])
# a send is valid 6 times in 11; otherwise it breaks exactly one R4 check, at its edge
SEND_SHAPE = st.sampled_from(
    ["ok"] * 6 + ["body_zero", "body_over", "subject_zero", "subject_over", "category"]
)
QUANTITY = st.sampled_from([1, 2, 5, 10, 3, 0, 11])
JUMPS = {  # seconds; "boundary" and "random" are drawn from state
    "one": 1,
    "day": DAY,
    "week": 7 * DAY,
    "month30": 30 * DAY,
    "month31": 31 * DAY,
    "quarter": 90 * DAY,
    "big": 400 * DAY,
}


class EngineMachine(RuleBasedStateMachine):
    """A few members acting in non-decreasing time under one policy."""

    def __init__(self) -> None:
        super().__init__()
        self.policy: Policy = POLICIES["inmail-2014"]
        self.engine = Engine(self.policy)
        self.audit = LedgerAudit(self.policy)
        self.now = 0
        self.step: dict[str, int] = {}  # member -> last R10 step used at `now`
        self.sent: dict[str, list[tuple[str, int]]] = defaultdict(list)  # unanswered sends
        self.n_inmails = 0

    @initialize(
        name=st.sampled_from(sorted(POLICIES)), start=st.sampled_from(STARTS), data=st.data()
    )
    def setup(self, name: str, start: int, data: st.DataObject) -> None:
        """Pick the policy and start, and subscribe some members at the start."""
        self.policy = POLICIES[name]
        self.engine = Engine(self.policy)
        self.audit = LedgerAudit(self.policy)
        self.now = start
        premium = sorted(t for t in self.policy.tiers if t != "basic")
        for member in MEMBERS:
            tier = data.draw(st.sampled_from([*premium, None]), label=f"tier of {member}")
            if tier is not None:
                self._enter(member, STEP_TIER)
                self.audit.plans[member].append((start, tier))
                self.engine.subscribe(self.engine.account(member), start, tier)

    def _enter(self, member: str, step: int) -> bool:
        """Claim R10 step ``step`` at ``now`` for ``member``; False if it is already past it."""
        if self.step.get(member, 0) > step:
            return False
        self.step[member] = step
        return True

    # time

    def _boundaries(self) -> list[int]:
        """Instants after now where something falls due: expiries, deadlines, grants, cancels."""
        out = set()
        for m in self.audit.members.values():
            out.update(lot.expires for lot in m.lots.values() if lot.remaining and lot.expires)
        window = self.audit.window
        out.update(t + window for _, t in self.audit.spent.values())
        for a in self.engine.accounts.values():
            out.update(x for x in (a.next_grant, a.cancel_at) if x < NEVER)
        return sorted(x for x in out if x > self.now)

    @rule(
        how=st.sampled_from(["boundary"] * 4 + sorted(JUMPS) + ["random"]),
        pick=st.integers(0, 3),
        nudge=st.sampled_from([0, 0, -1, 1]),
        seconds=st.integers(1, 120 * DAY),
    )
    def advance(self, how: str, pick: int, nudge: int, seconds: int) -> None:
        """Move time forward: onto a boundary (+-1 s), by a fixed jump, or by a random amount."""
        if how == "boundary":
            targets = self._boundaries()
            new = targets[min(pick, len(targets) - 1)] + nudge if targets else self.now + DAY
        elif how == "random":
            new = self.now + seconds
        else:
            new = self.now + JUMPS[how]
        if new > self.now:
            self.now = new
            self.step.clear()

    # actions

    @rule(member=st.sampled_from(MEMBERS), data=st.data())
    def subscribe_or_cancel(self, member: str, data: st.DataObject) -> None:
        """subscribe / change_tier to any tier of the policy (basic included), or cancel (R8)."""
        if self._enter(member, STEP_TIER):
            choice = data.draw(st.sampled_from([*sorted(self.policy.tiers), CANCEL]))
            self.audit.plans[member].append((self.now, choice))
            a = self.engine.account(member)
            if choice == CANCEL:
                self.engine.cancel(a, self.now)
            else:
                self.engine.subscribe(a, self.now, choice)

    @rule(member=st.sampled_from(MEMBERS), quantity=QUANTITY)
    def purchase(self, member: str, quantity: int) -> None:
        """purchase (R5); `quantity` is the reason exactly when n is outside 1..max."""
        if self._enter(member, STEP_SEND):
            reason = self.engine.purchase(self.engine.account(member), self.now, quantity)
            bad_quantity = not 1 <= quantity <= self.policy.max_per_purchase
            assert (reason == "quantity") == bad_quantity, (quantity, reason)

    @rule(member=st.sampled_from(MEMBERS), shape=SEND_SHAPE, free=st.booleans())
    def send(self, member: str, shape: str, free: bool) -> None:
        """send, free or paid (R3, R4)."""
        self._send(member, shape, free)

    @rule(member=st.sampled_from(MEMBERS), shape=SEND_SHAPE)
    def send_paid(self, member: str, shape: str) -> None:
        """send, paid: a second rule so that paid sends are the commonest action."""
        self._send(member, shape, False)

    def _send(self, member: str, shape: str, free: bool) -> None:
        """R4: the reason of an invalid send; a valid free one is free; else spend or no_credit."""
        if not self._enter(member, STEP_SEND):
            return
        self.n_inmails += 1
        inmail = f"i{self.n_inmails}"
        if free:
            self.audit.free.add(inmail)
        p = self.policy
        body = {"body_zero": 0, "body_over": p.max_body_chars + 1}.get(shape, p.max_body_chars)
        subject = {"subject_zero": 0, "subject_over": p.max_subject_chars + 1}.get(shape, 1)
        category = "not-a-category" if shape == "category" else p.categories[-1]
        a = self.engine.account(member)
        reason = self.engine.send(a, self.now, inmail, category, subject, body, free)
        expected = {
            "body_zero": "body_length",
            "body_over": "body_length",
            "subject_zero": "subject_length",
            "subject_over": "subject_length",
            "category": "category",
        }.get(shape)
        if expected is not None or free:
            assert reason == expected, (shape, free, reason)
        else:
            assert reason in (None, "no_credit"), reason
        self.sent[member].append((inmail, self.now))

    @rule(member=st.sampled_from(MEMBERS), data=st.data())
    def respond(self, member: str, data: st.DataObject) -> None:
        """A response to one of the member's unanswered InMails, strictly after its send."""
        choices = [(i, t) for i, t in self.sent[member] if t < self.now]
        if not choices or not self._enter(member, STEP_RESPOND):
            return
        inmail, _ = data.draw(st.sampled_from(choices), label="inmail")
        kind = data.draw(st.sampled_from(["reply", "accept", "decline"]), label="response")
        self.sent[member].remove(next(c for c in choices if c[0] == inmail))
        self.audit.responses[inmail] = (self.now, kind)
        self.engine.respond(self.engine.account(member), self.now, inmail, kind)

    @rule(member=st.sampled_from(MEMBERS))
    def settle(self, member: str) -> None:
        """Settle one member up to now (closes the instant for that member)."""
        if self._enter(member, STEP_SETTLE):
            self.engine.settle(self.engine.account(member), self.now)

    # checks

    @invariant()
    def ledger_is_consistent(self) -> None:
        """Every new ledger entry and every account passes the audit."""
        self.audit.feed_engine(self.engine)
        for member in self.engine.accounts:
            self.audit.check_account(self.engine, member)

    def teardown(self) -> None:
        """Once every window has closed, exactly the refunds R6 promises were paid."""
        end = self.now + self.audit.window + 1
        self.engine.settle_all(end)
        self.audit.feed_engine(self.engine)
        for member in self.engine.accounts:
            self.audit.check_account(self.engine, member)
        _check_lot_ids(self.engine)
        assert set(self.audit.refunded) == self.audit.expected_refunds()
        for member in self.engine.accounts:
            self.audit.check_all_grants_paid(member, end)


QUICK = settings(max_examples=200, stateful_step_count=40)
SLOW = settings(max_examples=2000, stateful_step_count=100)


def test_engine_invariants_stateful() -> None:
    """Random action sequences over all test policies keep every ledger invariant."""
    run_state_machine_as_test(EngineMachine, settings=QUICK)


@pytest.mark.slow
def test_engine_invariants_stateful_long() -> None:
    """The stateful invariants with many more and longer sequences."""
    run_state_machine_as_test(EngineMachine, settings=SLOW)


# -- action lists: determinism and lazy settlement -----------------------------------


@dataclass(frozen=True)
class Act:
    time: int
    member: str
    kind: str  # subscribe, cancel, purchase, send, respond
    arg: Any = None  # tier, quantity, (category, subject, body, free), or (inmail, response)
    inmail: str = ""


_STEP_OF = {
    "respond": STEP_RESPOND,
    "subscribe": STEP_TIER,
    "cancel": STEP_TIER,
    "purchase": STEP_SEND,
    "send": STEP_SEND,
}
DELTAS = st.one_of(
    st.sampled_from(
        [
            *(0, 1, DAY, 7 * DAY - 1, 7 * DAY, 7 * DAY + 1, 30 * DAY, 31 * DAY),
            *(90 * DAY - 1, 90 * DAY, 90 * DAY + 1, 365 * DAY),
        ]
    ),
    st.integers(0, 100 * DAY),
)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[str, list[Act], int]:
    """A policy name, a legal action list (non-decreasing time, R10 steps per instant), an end."""
    name = draw(st.sampled_from(sorted(POLICIES)))
    policy = POLICIES[name]
    t = draw(st.sampled_from(STARTS))
    acts: list[Act] = []
    last_step: dict[str, tuple[int, int]] = {}
    unanswered: list[tuple[str, str, int]] = []  # (inmail, member, sent_at)
    for i in range(draw(st.integers(1, 40))):
        t += draw(DELTAS)
        member = draw(st.sampled_from(MEMBERS))
        kind = draw(st.sampled_from(["send", "send", "subscribe", "purchase", "respond", "cancel"]))
        mine = [u for u in unanswered if u[1] == member and u[2] < t]
        if kind == "respond" and not mine:
            kind = "send"
        prev_t, prev_step = last_step.get(member, (None, 0))
        if prev_t == t and prev_step > _STEP_OF[kind]:
            t += 1  # keep R10 order within the instant by moving on a second
        last_step[member] = (t, _STEP_OF[kind])
        if kind == "subscribe":
            acts.append(Act(t, member, kind, draw(st.sampled_from(sorted(policy.tiers)))))
        elif kind == "purchase":
            acts.append(Act(t, member, kind, draw(QUANTITY)))
        elif kind == "cancel":
            acts.append(Act(t, member, kind))
        elif kind == "send":
            free = draw(st.sampled_from([False, False, True]))
            args = (policy.categories[0], draw(SUBJECT), draw(BODY), free)
            acts.append(Act(t, member, kind, args, inmail=f"i{i}"))
            unanswered.append((f"i{i}", member, t))
        else:
            u = draw(st.sampled_from(mine))
            unanswered.remove(u)
            response = draw(st.sampled_from(["reply", "accept", "decline"]))
            acts.append(Act(t, member, kind, response, inmail=u[0]))
    end = t + draw(st.sampled_from([0, 1, 7 * DAY, 90 * DAY, 400 * DAY]))
    return name, acts, end


def _drive(policy: Policy, acts: list[Act], end: int, settle_at: Sequence[int] = ()) -> Engine:
    """Apply ``acts``; settle every account at each ``settle_at`` instant once past it; end."""
    engine = Engine(policy)
    points = sorted(s for s in set(settle_at) if s <= end)
    k = 0
    for act in acts:
        while k < len(points) and points[k] < act.time:  # all actions at points[k] are done
            for a in list(engine.accounts.values()):
                engine.settle(a, points[k])
            k += 1
        a = engine.account(act.member)
        if act.kind == "subscribe":
            engine.subscribe(a, act.time, act.arg)
        elif act.kind == "cancel":
            engine.cancel(a, act.time)
        elif act.kind == "purchase":
            engine.purchase(a, act.time, act.arg)
        elif act.kind == "send":
            engine.send(a, act.time, act.inmail, *act.arg)
        else:
            engine.respond(a, act.time, act.inmail, act.arg)
    for s in points[k:]:
        for a in list(engine.accounts.values()):
            engine.settle(a, s)
    engine.settle_all(end)
    return engine


def _per_member(engine: Engine) -> dict[Any, list[tuple[Any, ...]]]:
    out: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for row in engine.entries():
        out[row[1]].append(row)
    return dict(out)


@settings(max_examples=150)
@given(scripts())
def test_same_actions_give_the_same_ledger(script: tuple[str, list[Act], int]) -> None:
    """Two engines fed the same action list write identical ledgers (no hidden state)."""
    name, acts, end = script
    first = _drive(POLICIES[name], acts, end)
    second = _drive(POLICIES[name], acts, end)
    assert first.ledger == second.ledger


def _settle_in_small_steps(script: tuple[str, list[Act], int], extra: list[int]) -> None:
    name, acts, end = script
    policy = POLICIES[name]
    once = _drive(policy, acts, end)
    audit = LedgerAudit(policy)
    for act in acts:
        if act.kind in ("subscribe", "cancel"):
            audit.plans[act.member].append((act.time, act.arg or CANCEL))
        if act.kind == "respond":
            audit.responses[act.inmail] = (act.time, act.arg)
        elif act.kind == "send" and act.arg[3]:
            audit.free.add(act.inmail)
    audit.feed_engine(once)
    # every instant the ledger moved at, and the second either side: each deadline
    # that fired (refund, expiry, grant, cancel) is one of them
    points = {row[0] + d for row in once.entries() for d in (-1, 0, 1)}
    points |= {act.time + d for act in acts for d in (0, 1)}
    points |= {acts[0].time + x for x in extra}
    stepped = _drive(policy, acts, end, sorted(points))
    assert _per_member(stepped) == _per_member(once)


@settings(max_examples=150)
@given(scripts(), st.lists(st.integers(0, 800 * DAY), max_size=20))
def test_settling_in_small_steps_gives_the_same_ledger(
    script: tuple[str, list[Act], int], extra: list[int]
) -> None:
    """Settling at many instants (every deadline among them) equals settling once at the end."""
    _settle_in_small_steps(script, extra)


@pytest.mark.slow
@settings(max_examples=2000)
@given(scripts(), st.lists(st.integers(0, 800 * DAY), max_size=40))
def test_settling_in_small_steps_gives_the_same_ledger_long(
    script: tuple[str, list[Act], int], extra: list[int]
) -> None:
    """The small-steps settlement check with many more action lists."""
    _settle_in_small_steps(script, extra)
