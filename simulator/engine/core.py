"""The credit rules engine: lots, ledger and rules R1-R10 of RULES.md, exactly.

The engine is pure: it imports only the standard library and knows nothing of
SimPy, pandas or randomness. Drivers (``creditsim replay`` and the SimPy
model) hand it one member action at a time; it answers with ledger entries.

How it stays exact and cheap for hundreds of thousands of members
------------------------------------------------------------------
* **Per-member state is small.** An :class:`Account` holds only its *live*
  lots with credits left (a lot that reaches 0 is dropped: it can never write
  another entry, RULES.md R2), three running totals (balance, allotted,
  purchased), its plan and grant schedule, and a queue of InMails whose refund
  window is still open.
* **No timer per deadline: lazy, exact settlement.** Every deadline is known
  in advance and due in a known order: refund deadlines in send order (a
  FIFO queue), expiries in spend order (the lot list is kept sorted by spend
  key, so under ``earliest_expiry`` the next expiry is ``lots[0]``), the next
  grant and a pending cancel. ``Account.due`` is a lower bound on the earliest
  of them. Before an action at ``(t, step)`` the engine settles everything due
  before it (RULES.md R10): every event at instants ``< t``, in time order, and
  at ``t`` the automatic steps that precede ``step``. When nothing is due the
  cost is one integer comparison. Settling once or in many small steps gives
  the same ledger (a property test checks it).
* **Spending is O(1)**: the first lot of the sorted list; inserting a lot is
  an append in the usual case (new lots expire last) and a bisect otherwise.
* **No garbage-collector churn.** The engine's structures hold no reference
  cycles, so reference counting frees everything; a long drive creates
  millions of small tuples, and the cyclic collector would scan them over and
  over. Drivers run their loop inside :func:`gc_paused` (measured in
  ``benchmarks/RESULTS.md``).
* **The ledger is a list of flat tuples** ``(time, member, kind, lot_no,
  quantity, inmail, reason, balance_after)``, appended in R10 order; one
  ``zip(*ledger)`` turns it into columns. ``lot_no`` is the member's lot
  number (0 for rejections); the lot id is ``f"{member}:{lot_no}"``.

Where RULES.md leaves room, the choice is written next to the code.
"""

from __future__ import annotations

import gc
from bisect import insort
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from simulator.engine.policy import Policy, Tier
from simulator.timeutil import DAY, first_of_month_after, monthly_anniversary
from simulator.vocabulary import LEDGER_KINDS, LEDGER_REASONS

__all__ = [
    "KINDS",
    "NEVER",
    "NO_INMAIL",
    "REASONS",
    "STEP_RESPOND",
    "STEP_SEND",
    "STEP_TIER",
    "Account",
    "Engine",
    "EngineOrderError",
    "Entry",
    "LedgerRow",
    "gc_paused",
]

NEVER = 1 << 62
"""An instant later than any real one: "never expires", "no grant due"."""

# Phases of one instant (RULES.md R10). Actions enter at STEP_*; automatic
# events run at the phases between: refunds due (2), expiries (3), a cancel
# falling due (4, before the cancel/subscribe/change_tier actions of step 4,
# which enter at 5), grants and caps (6). Purchases and sends enter at 7.
STEP_RESPOND = 1
_REFUNDS, _EXPIRIES, _CANCEL_DUE = 2, 3, 4
STEP_TIER = 5
_GRANTS = 6
STEP_SEND = 7
_ALL = 8  # settle every phase of an instant
_TICK = 16  # clock = t * _TICK + phase

# Ledger entries are flat tuples of numbers (plus the driver's member and
# InMail ids): (time, member, kind, lot_no, quantity, inmail, reason,
# balance_after, tier), with kind, reason and tier as small codes, so a
# driver can turn millions of them into typed columns in one numpy call.
# :meth:`Engine.entries` decodes them.
KINDS = LEDGER_KINDS
GRANT, PURCHASE, SPEND, REFUND, EXPIRE, CAP, FORFEIT, REJECT = range(8)
REASONS = LEDGER_REASONS
_REASON = {r: i for i, r in enumerate(REASONS)}
NO_INMAIL = -1
LedgerRow = tuple[int, Any, int, int, int, Any, int, int, int]
Entry = tuple[int, Any, str, int, int, Any, str, int]


class EngineOrderError(RuntimeError):
    """A driver handed the engine an action earlier than one already applied."""


# A lot is a small list, not an object: the engine makes one per refund, so
# creating lots is on the hot path and a list literal costs a fraction of an
# instance. Layout (indices):
_KEY = 0  # spend-order key (R3): lot number under fifo, (expires_at << 32) | number otherwise
_REM = 1  # credits remaining (> 0 while the lot is held)
_NO = 2  # lot number within the member, from 1
_EXP = 3  # expires_at (NEVER for "never")
_SRC = 4  # "grant", "purchase" or "refund"
# Lot numbers grow with issue time, so R3's "issued first, then the lower lot
# number" tie-break is simply "lower number", and (expires_at, number) packs
# into one integer (a member would need 2**32 lots to break it).
Lot = list


class Account:
    """One member's credit state. Create through :meth:`Engine.account`."""

    __slots__ = (
        "allotted",
        "anchor",
        "balance",
        "cancel_at",
        "clock",
        "due",
        "grant_k",
        "id",
        "lots",
        "n_lots",
        "next_grant",
        "pending",
        "purchased",
        "tcode",
        "tier",
        "tier_log",
    )

    def __init__(self, member_id: Any, basic: Tier, basic_code: int) -> None:
        self.id = member_id
        self.tier = basic
        self.tcode = basic_code  # the tier's index in Engine.tier_names
        # (instant, tier name) at each change of plan, for reports: which tier
        # a ledger entry belongs to. Rare, so cheap.
        self.tier_log: list[tuple[int, str]] = []
        self.lots: list[Lot] = []
        self.n_lots = 0
        self.balance = 0
        self.allotted = 0  # credits in grant and refund lots
        self.purchased = 0  # credits in purchase lots
        self.anchor = 0
        self.grant_k = 0
        self.next_grant = NEVER
        self.cancel_at = NEVER
        # (deadline, inmail) of paid InMails whose refund window is open, in send order
        self.pending: deque[tuple[int, Any]] = deque()
        self.due = NEVER  # lower bound on the next automatic event
        # t * _TICK + phase of the last action, to refuse time travel; starts
        # below any instant (instants before 1970 are negative).
        self.clock = -(1 << 80)

    def __repr__(self) -> str:
        return f"Account({self.id!r}, tier={self.tier.name}, balance={self.balance})"


class Engine:
    """Applies RULES.md to accounts and appends the ledger.

    Drive it with :meth:`subscribe`, :meth:`cancel`, :meth:`purchase`,
    :meth:`send` and :meth:`respond`, in non-decreasing time per account and,
    within one instant, in R10 step order; then :meth:`settle` (one account)
    or :meth:`settle_all` (every account) up to the end instant. InMail ids
    must be unique within one engine.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.ledger: list[LedgerRow] = []
        self.accounts: dict[Any, Account] = {}
        self._basic = policy.tiers["basic"]
        self.tier_names: tuple[str, ...] = tuple(policy.tiers)
        self._tier_code = {name: i for i, name in enumerate(self.tier_names)}
        self._fifo = policy.spend_order == "fifo"
        self._grant_life = _life(policy.grant_expiry_days)
        self._refund_life = _life(policy.refund_expiry_days)
        self._purchase_life = _life(policy.purchase_expiry_days)
        mode = policy.refund.mode
        self._refunds = mode != "none"
        self._no_response = mode == "no_response_within"
        self._response_within = mode == "response_within"
        self._window = policy.refund.window_days * DAY
        self._counts = frozenset(policy.refund.counts_as_response)
        self._categories = frozenset(policy.categories)
        self._max_body = policy.max_body_chars
        self._max_subject = policy.max_subject_chars
        # Deadline of each paid InMail whose refund window is open, by id: a
        # response looks its InMail up here, and removes it when it counts.
        self._open: dict[Any, int] = {}

    # -- accounts -------------------------------------------------------------

    def account(self, member_id: Any) -> Account:
        """The account of ``member_id``, created on ``basic`` at first use."""
        acct = self.accounts.get(member_id)
        if acct is None:
            acct = self.accounts[member_id] = Account(
                member_id, self._basic, self._tier_code["basic"]
            )
        return acct

    # -- actions --------------------------------------------------------------

    def subscribe(self, a: Account, t: int, tier_name: str) -> None:
        """``subscribe`` / ``change_tier`` at ``t`` (R9); to ``basic`` it is a cancel at once."""
        self._enter(a, t, STEP_TIER)
        tier = self.policy.tiers[tier_name]
        if tier.is_basic:
            if not a.tier.is_basic:
                self._end_subscription(a, t)
            return
        self._forfeit(a, t)
        a.cancel_at = NEVER
        a.tier = tier
        a.tcode = self._tier_code[tier.name]
        a.tier_log.append((t, tier.name))
        a.anchor = t
        a.grant_k = 0
        a.next_grant = t  # written in step 5, once, for the tier held then
        if t < a.due:
            a.due = t

    def cancel(self, a: Account, t: int) -> None:
        """``cancel`` at ``t`` (R8)."""
        self._enter(a, t, STEP_TIER)
        if a.tier.is_basic:
            return
        if self.policy.cancel_effective == "immediate":
            self._end_subscription(a, t)
            return
        # The first grant instant strictly after t. After settling to step 4
        # of t, next_grant >= t; if it is t, that grant is kept (step 5).
        nxt = a.next_grant
        if nxt <= t:
            nxt = self._grant_instant(a, a.grant_k + 1)
        a.cancel_at = nxt
        if nxt < a.due:
            a.due = nxt

    def purchase(self, a: Account, t: int, quantity: int) -> str | None:
        """A purchase of ``quantity`` credits (R5); returns the rejection reason or None."""
        self._enter(a, t, STEP_SEND)
        p = self.policy
        reason = None
        if not 1 <= quantity <= p.max_per_purchase:
            reason = "quantity"
        elif not a.tier.purchasable:
            reason = "not_purchasable"
        elif a.purchased + quantity > p.max_purchased_balance:
            reason = "purchased_cap"
        elif p.premium_buys_only_when_empty and not a.tier.is_basic and a.allotted != 0:
            reason = "allotment_left"
        if reason is not None:
            entry = (t, a.id, REJECT, 0, 0, NO_INMAIL, _REASON[reason], a.balance, a.tcode)
            self.ledger.append(entry)
            return reason
        no = self._new_lot(a, "purchase", t, self._purchase_life, quantity)
        a.purchased += quantity
        a.balance += quantity
        self.ledger.append((t, a.id, PURCHASE, no, quantity, NO_INMAIL, 0, a.balance, a.tcode))
        return None

    def send(
        self,
        a: Account,
        t: int,
        inmail: Any,
        category: str,
        subject_chars: int,
        body_chars: int,
        free: bool,
    ) -> str | None:
        """Send an InMail (R3, R4); returns the rejection reason or None."""
        clock = t * _TICK + STEP_SEND
        if a.due <= t or a.clock > clock:
            self._enter(a, t, STEP_SEND)
        else:
            a.clock = clock
        if not 1 <= body_chars <= self._max_body:
            reason = "body_length"
        elif not 1 <= subject_chars <= self._max_subject:
            reason = "subject_length"
        elif category not in self._categories:
            reason = "category"
        elif free:
            return None
        elif a.balance == 0:
            reason = "no_credit"
        else:
            lots = a.lots
            lot = lots[0]
            lot[_REM] -= 1
            if not lot[_REM]:
                del lots[0]
            if lot[_SRC] == "purchase":
                a.purchased -= 1
            else:
                a.allotted -= 1
            a.balance -= 1
            self.ledger.append((t, a.id, SPEND, lot[_NO], 1, inmail, 0, a.balance, a.tcode))
            if self._refunds:
                deadline = t + self._window
                a.pending.append((deadline, inmail))
                self._open[inmail] = deadline
                if deadline < a.due and self._no_response:
                    a.due = deadline
            return None
        self.ledger.append((t, a.id, REJECT, 0, 0, inmail, _REASON[reason], a.balance, a.tcode))
        return reason

    def respond(self, a: Account, t: int, inmail: Any, response: str) -> None:
        """A response to ``inmail`` (sent by ``a``) at ``t`` (R6).

        A response to an InMail that was free, rejected, or whose window has
        closed changes nothing; so does one of a kind that does not count
        (``counts_as_response``): under ``no_response_within`` its refund
        still comes at the deadline.
        """
        self._enter(a, t, STEP_RESPOND)
        deadline = self._open.get(inmail)
        if deadline is None or deadline < t or response not in self._counts:
            return
        del self._open[inmail]
        if self._response_within:
            self._refund(a, t, inmail)

    def settle(self, a: Account, t: int) -> None:
        """Settle everything due to ``a`` at instants ``<= t``."""
        self._enter(a, t, _ALL)

    def settle_all(self, t: int) -> None:
        """Settle every account up to and including ``t``."""
        for a in self.accounts.values():
            self._enter(a, t, _ALL)

    def entries(self, start: int = 0) -> list[Entry]:
        """The ledger from entry ``start`` on, decoded: ``(time, member, kind,
        lot_no, quantity, inmail or None, reason, balance_after)`` with text
        kinds and reasons (RULES.md section 5)."""
        return [
            (t, m, KINDS[k], lot, q, None if i == NO_INMAIL else i,
             REASONS[r], bal)
            for t, m, k, lot, q, i, r, bal, _ in self.ledger[start:]
        ]  # fmt: skip

    # -- internals ------------------------------------------------------------

    def _enter(self, a: Account, t: int, step: int) -> None:
        clock = t * _TICK + step
        if clock < a.clock:
            raise EngineOrderError(
                f"account {a.id!r}: action at {t} step {step} after one at "
                f"{a.clock // _TICK} step {a.clock % _TICK}"
            )
        a.clock = clock
        if a.due <= t:
            self._settle(a, t, step)
        elif self._response_within and a.pending:
            self._drop_closed(a, t)

    def _drop_closed(self, a: Account, t: int) -> None:
        # response_within: windows that closed before t can refund nothing any
        # more; forget them so memory stays bounded.
        pending, open_ = a.pending, self._open
        while pending and pending[0][0] < t:
            open_.pop(pending.popleft()[1], None)

    def _next_event(self, a: Account) -> int:
        nxt = a.next_grant
        if a.cancel_at < nxt:
            nxt = a.cancel_at
        lots = a.lots
        if lots:
            exp = min(lot[_EXP] for lot in lots) if self._fifo else lots[0][_EXP]
            if exp < nxt:
                nxt = exp
        if self._no_response and a.pending:
            deadline = a.pending[0][0]
            if deadline < nxt:
                nxt = deadline
        return nxt

    def _settle(self, a: Account, t: int, step: int) -> None:
        """Process the automatic events (R10 steps 2-5) due before ``(t, step)``."""
        if self._response_within and a.pending:
            self._drop_closed(a, t)
        no_response, fifo, pending = self._no_response, self._fifo, a.pending
        # Refund deadlines may be settled at instants < t, and at t itself when
        # the caller's step comes after refunds.
        refund_bound = t if step > _REFUNDS else t - 1
        while True:
            # The earliest event other than a refund deadline (inlined
            # _next_event: this loop is the hot path).
            tau = a.next_grant
            if a.cancel_at < tau:
                tau = a.cancel_at
            lots = a.lots
            if lots:
                exp = min(lot[_EXP] for lot in lots) if fifo else lots[0][_EXP]
                if exp < tau:
                    tau = exp
            if no_response and pending and pending[0][0] <= tau:
                if pending[0][0] <= refund_bound:
                    # Refunds come first at any instant (R10 step 2), so every
                    # deadline up to the next other event is settled in one sweep.
                    self._refund_sweep(a, tau if tau < refund_bound else refund_bound)
                    continue
                tau = pending[0][0]
            if tau > t:
                a.due = tau
                return
            upto = step if tau == t else _ALL
            if upto > _EXPIRIES and a.lots and (fifo or a.lots[0][_EXP] == tau):
                self._expire(a, tau)
            if upto > _CANCEL_DUE and a.cancel_at == tau:
                self._end_subscription(a, tau)
            if upto > _GRANTS and a.next_grant == tau:
                self._grant(a, tau)
            if tau == t:
                a.due = self._next_event(a)
                return

    def _refund_sweep(self, a: Account, limit: int) -> None:
        """R6 ``no_response_within``: refund every InMail whose window closes at or
        before ``limit`` with no counted response, in send order.

        The caller guarantees no other event falls before ``limit``; a refund lot
        that would expire within the sweep lowers the limit, so the sweep stops
        before any instant where something else happens.
        """
        pending, open_, ledger = a.pending, self._open, self.ledger
        life, fifo = self._refund_life, self._fifo
        lots = a.lots
        while pending and pending[0][0] <= limit:
            tau, inmail = pending.popleft()
            if inmail not in open_:
                continue  # a counted response came in time
            del open_[inmail]
            no = a.n_lots = a.n_lots + 1
            expires = NEVER if life == NEVER else tau + life
            key = no if fifo else (expires << 32) | no
            if not lots or lots[-1][0] < key:  # 0 is _KEY
                lots.append([key, 1, no, expires, "refund"])
            else:
                insort(lots, [key, 1, no, expires, "refund"])
            if expires < limit:
                limit = expires
            a.allotted += 1
            a.balance += 1
            ledger.append((tau, a.id, REFUND, no, 1, inmail, 0, a.balance, a.tcode))

    def _refund(self, a: Account, t: int, inmail: Any) -> None:
        # R8 (chosen): a refund due while the member holds no premium plan is
        # still paid into a refund lot.
        no = self._new_lot(a, "refund", t, self._refund_life, 1)
        a.allotted += 1
        a.balance += 1
        self.ledger.append((t, a.id, REFUND, no, 1, inmail, 0, a.balance, a.tcode))

    def _expire(self, a: Account, tau: int) -> None:
        lots = a.lots
        if self._fifo:
            dead = [lot for lot in lots if lot[_EXP] == tau]
            if not dead:
                return
            a.lots = [lot for lot in lots if lot[_EXP] != tau]
        else:
            n = 1  # the caller saw lots[0] expire at tau
            while n < len(lots) and lots[n][_EXP] == tau:
                n += 1
            dead = lots[:n]
            del lots[:n]
        ledger = self.ledger
        for lot in dead:
            q = lot[_REM]
            if lot[_SRC] == "purchase":
                a.purchased -= q
            else:
                a.allotted -= q
            a.balance -= q
            ledger.append((tau, a.id, EXPIRE, lot[_NO], q, NO_INMAIL, 0, a.balance, a.tcode))

    def _remove_allotted(self, a: Account, t: int, kind: int, limit: int) -> None:
        """Remove up to ``limit`` credits from grant and refund lots, in spend order."""
        keep: list[Lot] = []
        ledger = self.ledger
        for lot in a.lots:
            if limit <= 0 or lot[_SRC] == "purchase":
                keep.append(lot)
                continue
            q = lot[_REM] if lot[_REM] <= limit else limit
            lot[_REM] -= q
            limit -= q
            a.allotted -= q
            a.balance -= q
            ledger.append((t, a.id, kind, lot[_NO], q, NO_INMAIL, 0, a.balance, a.tcode))
            if lot[_REM]:
                keep.append(lot)
        a.lots = keep

    def _forfeit(self, a: Account, t: int) -> None:
        if a.allotted:
            self._remove_allotted(a, t, FORFEIT, a.allotted)

    def _end_subscription(self, a: Account, t: int) -> None:
        """R8: a cancel takes effect; grant and refund credits are forfeit."""
        self._forfeit(a, t)
        a.tier = self._basic
        a.tcode = self._tier_code["basic"]
        a.tier_log.append((t, "basic"))
        a.next_grant = NEVER
        a.cancel_at = NEVER

    def _grant_instant(self, a: Account, k: int) -> int:
        if k == 0:
            return a.anchor
        if a.tier.grant_schedule == "calendar_month":
            return first_of_month_after(a.anchor, k)
        return monthly_anniversary(a.anchor, k)

    def _grant(self, a: Account, tau: int) -> None:
        tier = a.tier
        n = tier.monthly_credits
        if n:  # R1: a grant of 0 credits writes nothing and creates no lot
            no = self._new_lot(a, "grant", tau, self._grant_life, n)
            a.allotted += n
            a.balance += n
            self.ledger.append((tau, a.id, GRANT, no, n, NO_INMAIL, 0, a.balance, a.tcode))
        if tier.cap is not None and a.allotted > tier.cap:  # R7, even after a 0 grant
            self._remove_allotted(a, tau, CAP, a.allotted - tier.cap)
        a.grant_k += 1
        a.next_grant = self._grant_instant(a, a.grant_k)

    def _new_lot(self, a: Account, source: str, t: int, life: int, n: int) -> int:
        """Add a lot of ``n`` credits issued at ``t``; return its number."""
        no = a.n_lots = a.n_lots + 1
        expires = NEVER if life == NEVER else t + life
        key = no if self._fifo else (expires << 32) | no
        lots = a.lots
        if not lots or lots[-1][0] < key:  # 0 is _KEY
            lots.append([key, n, no, expires, source])  # the usual case: spent last
        else:
            insort(lots, [key, n, no, expires, source])
        if expires < a.due:
            a.due = expires
        return no


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a drive.

    Safe for the engine (it makes no reference cycles; reference counting
    still frees memory as usual) and it restores the collector's previous
    state, even on error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _life(days: int | None) -> int:
    return NEVER if days is None else days * DAY
