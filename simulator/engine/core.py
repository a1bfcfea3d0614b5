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
* **The ledger is a list of flat tuples** ``(time, member, kind, lot_no,
  quantity, inmail, reason, balance_after)``, appended in R10 order; one
  ``zip(*ledger)`` turns it into columns. ``lot_no`` is the member's lot
  number (0 for rejections); the lot id is ``f"{member}:{lot_no}"``.

Where RULES.md leaves room, the choice is written next to the code.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from typing import Any

from simulator.engine.policy import Policy, Tier
from simulator.timeutil import DAY, first_of_month_after, monthly_anniversary

__all__ = [
    "NEVER",
    "STEP_RESPOND",
    "STEP_SEND",
    "STEP_TIER",
    "Account",
    "Engine",
    "EngineOrderError",
    "LedgerRow",
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

LedgerRow = tuple[int, Any, str, int, int, Any, str, int]


class EngineOrderError(RuntimeError):
    """A driver handed the engine an action earlier than one already applied."""


class Lot:
    """Credits that entered an account together (RULES.md section 2)."""

    __slots__ = ("expires", "issued", "key", "no", "remaining", "source")

    def __init__(self, no: int, source: str, issued: int, expires: int, remaining: int,
                 fifo: bool) -> None:
        self.no = no
        self.source = source
        self.issued = issued
        self.expires = expires
        self.remaining = remaining
        # Spend order (R3). Lot numbers grow with issue time, so "issued first,
        # then lower number" is simply "lower number".
        self.key: int | tuple[int, int] = no if fifo else (expires, no)


class _Pending:
    """A paid InMail whose refund window is still open."""

    __slots__ = ("account", "alive", "deadline", "inmail")

    def __init__(self, account: Account, inmail: Any, deadline: int) -> None:
        self.account = account
        self.inmail = inmail
        self.deadline = deadline
        self.alive = True


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
        "tier",
    )

    def __init__(self, member_id: Any, basic: Tier) -> None:
        self.id = member_id
        self.tier = basic
        self.lots: list[Lot] = []
        self.n_lots = 0
        self.balance = 0
        self.allotted = 0  # credits in grant and refund lots
        self.purchased = 0  # credits in purchase lots
        self.anchor = 0
        self.grant_k = 0
        self.next_grant = NEVER
        self.cancel_at = NEVER
        self.pending: deque[_Pending] = deque()
        self.due = NEVER  # lower bound on the next automatic event
        self.clock = -1  # t * _TICK + phase of the last action, to refuse time travel

    def __repr__(self) -> str:
        return f"Account({self.id!r}, tier={self.tier.name}, balance={self.balance})"


class Engine:
    """Applies RULES.md to accounts and appends the ledger.

    Drive it with :meth:`subscribe`, :meth:`cancel`, :meth:`purchase`,
    :meth:`send` and :meth:`respond`, in non-decreasing time per account and,
    within one instant, in R10 step order; then :meth:`settle` (one account)
    or :meth:`settle_all` (every account) up to the end instant.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.ledger: list[LedgerRow] = []
        self.accounts: dict[Any, Account] = {}
        self._basic = policy.tiers["basic"]
        self._fifo = policy.spend_order == "fifo"
        days = policy.grant_expiry_days
        self._grant_life = NEVER if days is None else days * DAY
        days = policy.refund_expiry_days
        self._refund_life = NEVER if days is None else days * DAY
        days = policy.purchase_expiry_days
        self._purchase_life = NEVER if days is None else days * DAY
        self._refund_mode = policy.refund.mode
        self._window = policy.refund.window_days * DAY
        self._counts = frozenset(policy.refund.counts_as_response)
        self._categories = frozenset(policy.categories)
        self._max_body = policy.max_body_chars
        self._max_subject = policy.max_subject_chars
        # InMails inside their refund window, by id, for responses.
        self._open: dict[Any, _Pending] = {}

    # -- accounts -------------------------------------------------------------

    def account(self, member_id: Any) -> Account:
        """The account of ``member_id``, created on ``basic`` at first use."""
        acct = self.accounts.get(member_id)
        if acct is None:
            acct = self.accounts[member_id] = Account(member_id, self._basic)
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
            self.ledger.append((t, a.id, "reject", 0, 0, None, reason, a.balance))
            return reason
        life = self._purchase_life
        lot = self._new_lot(a, "purchase", t, NEVER if life == NEVER else t + life, quantity)
        a.purchased += quantity
        a.balance += quantity
        self.ledger.append((t, a.id, "purchase", lot.no, quantity, None, "", a.balance))
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
        if a.due <= t or a.clock > t * _TICK + STEP_SEND:
            self._enter(a, t, STEP_SEND)
        else:
            a.clock = t * _TICK + STEP_SEND
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
            lot.remaining -= 1
            if lot.remaining == 0:
                del lots[0]
            if lot.source == "purchase":
                a.purchased -= 1
            else:
                a.allotted -= 1
            a.balance -= 1
            self.ledger.append((t, a.id, "spend", lot.no, 1, inmail, "", a.balance))
            if self._refund_mode != "none":
                pend = _Pending(a, inmail, t + self._window)
                a.pending.append(pend)
                self._open[inmail] = pend
                if self._refund_mode == "no_response_within" and pend.deadline < a.due:
                    a.due = pend.deadline
            return None
        self.ledger.append((t, a.id, "reject", 0, 0, inmail, reason, a.balance))
        return reason

    def respond(self, a: Account, t: int, inmail: Any, response: str) -> None:
        """A response to ``inmail`` (sent by ``a``) at ``t`` (R6).

        A response to an InMail that was free, rejected, or whose window has
        closed changes nothing.
        """
        self._enter(a, t, STEP_RESPOND)
        pend = self._open.get(inmail)
        if pend is None or pend.account is not a or pend.deadline < t:
            return
        if response not in self._counts:
            return  # as if no response: a later refund (no_response_within) still comes
        del self._open[inmail]
        pend.alive = False
        if self._refund_mode == "response_within":
            self._refund(a, t, inmail)

    def settle(self, a: Account, t: int) -> None:
        """Settle everything due to ``a`` at instants ``<= t``."""
        self._enter(a, t, _ALL)

    def settle_all(self, t: int) -> None:
        """Settle every account up to and including ``t``."""
        for a in self.accounts.values():
            self._enter(a, t, _ALL)

    # -- balances -------------------------------------------------------------

    @staticmethod
    def balances(a: Account) -> tuple[int, int, int]:
        """(balance, allotted, purchased) of ``a`` as settled so far."""
        return a.balance, a.allotted, a.purchased

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
        elif self._refund_mode == "response_within" and a.pending:
            self._drop_closed(a, t)

    def _drop_closed(self, a: Account, t: int) -> None:
        # response_within: windows that closed before t can no longer refund
        # anything; forget them so memory stays bounded.
        pending, open_ = a.pending, self._open
        while pending and pending[0].deadline < t:
            pend = pending.popleft()
            if pend.alive:
                open_.pop(pend.inmail, None)

    def _next_event(self, a: Account) -> int:
        nxt = a.next_grant
        if a.cancel_at < nxt:
            nxt = a.cancel_at
        if a.lots:
            exp = a.lots[0].expires if not self._fifo else min(lot.expires for lot in a.lots)
            if exp < nxt:
                nxt = exp
        if a.pending and self._refund_mode == "no_response_within":
            dl = a.pending[0].deadline
            if dl < nxt:
                nxt = dl
        return nxt

    def _settle(self, a: Account, t: int, step: int) -> None:
        """Process automatic events (R10 steps 2-5) due before ``(t, step)``."""
        if self._refund_mode == "response_within" and a.pending:
            self._drop_closed(a, t)
        while True:
            tau = self._next_event(a)
            a.due = tau
            if tau > t:
                return
            upto = step if tau == t else _ALL
            if upto > _REFUNDS and a.pending and self._refund_mode == "no_response_within":
                self._refunds_due(a, tau)
            if upto > _EXPIRIES and a.lots:
                self._expire(a, tau)
            if upto > _CANCEL_DUE and a.cancel_at == tau:
                self._end_subscription(a, tau)
            if upto > _GRANTS and a.next_grant == tau:
                self._grant(a, tau)
            if tau == t:
                a.due = self._next_event(a)
                return

    def _refunds_due(self, a: Account, tau: int) -> None:
        pending, open_ = a.pending, self._open
        while pending and pending[0].deadline == tau:
            pend = pending.popleft()
            if pend.alive:
                del open_[pend.inmail]
                pend.alive = False
                self._refund(a, tau, pend.inmail)

    def _refund(self, a: Account, t: int, inmail: Any) -> None:
        # R8 (chosen): a refund due while the member holds no premium plan is
        # still paid into a refund lot.
        life = self._refund_life
        lot = self._new_lot(a, "refund", t, NEVER if life == NEVER else t + life, 1)
        a.allotted += 1
        a.balance += 1
        self.ledger.append((t, a.id, "refund", lot.no, 1, inmail, "", a.balance))

    def _expire(self, a: Account, tau: int) -> None:
        lots = a.lots
        if self._fifo:
            dead = [lot for lot in lots if lot.expires == tau]
            if not dead:
                return
            lots[:] = [lot for lot in lots if lot.expires != tau]
        else:
            n = 0
            while n < len(lots) and lots[n].expires == tau:
                n += 1
            if n == 0:
                return
            dead = lots[:n]
            del lots[:n]
        ledger = self.ledger
        for lot in dead:
            q = lot.remaining
            if lot.source == "purchase":
                a.purchased -= q
            else:
                a.allotted -= q
            a.balance -= q
            ledger.append((tau, a.id, "expire", lot.no, q, None, "", a.balance))

    def _remove_allotted(self, a: Account, t: int, kind: str, limit: int) -> None:
        """Remove up to ``limit`` credits from grant and refund lots, in spend order."""
        keep: list[Lot] = []
        ledger = self.ledger
        for lot in a.lots:
            if limit <= 0 or lot.source == "purchase":
                keep.append(lot)
                continue
            q = lot.remaining if lot.remaining <= limit else limit
            lot.remaining -= q
            limit -= q
            a.allotted -= q
            a.balance -= q
            ledger.append((t, a.id, kind, lot.no, q, None, "", a.balance))
            if lot.remaining:
                keep.append(lot)
        a.lots = keep

    def _forfeit(self, a: Account, t: int) -> None:
        if a.allotted:
            self._remove_allotted(a, t, "forfeit", a.allotted)

    def _end_subscription(self, a: Account, t: int) -> None:
        """R8: a cancel takes effect; grant and refund credits are forfeit."""
        self._forfeit(a, t)
        a.tier = self._basic
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
        if n:
            life = self._grant_life
            lot = self._new_lot(a, "grant", tau, NEVER if life == NEVER else tau + life, n)
            a.allotted += n
            a.balance += n
            self.ledger.append((tau, a.id, "grant", lot.no, n, None, "", a.balance))
        if tier.cap is not None and a.allotted > tier.cap:
            self._remove_allotted(a, tau, "cap", a.allotted - tier.cap)
        a.grant_k += 1
        a.next_grant = self._grant_instant(a, a.grant_k)

    def _new_lot(self, a: Account, source: str, t: int, expires: int, n: int) -> Lot:
        a.n_lots += 1
        lot = Lot(a.n_lots, source, t, expires, n, self._fifo)
        lots = a.lots
        if not lots or lots[-1].key < lot.key:  # type: ignore[operator]
            lots.append(lot)
        else:
            insort(lots, lot, key=lambda x: x.key)
        if expires < a.due:
            a.due = expires
        return lot
