"""The observed history driven through the credit engine, once, with what each row meant.

Job: replay :class:`~simulator.calibration.reader.Observed` through
:class:`simulator.engine.Engine` (the same engine ``creditsim replay`` and the
simulator use) and record what the estimators need and the history alone
does not say: the engine's answer to every send (``no_credit`` above all),
what the member did right after a ``no_credit`` (bought at the same instant,
upgraded one second later, or waited: the simulator's ``out_of_credit``
behaviour, :mod:`simulator.model`), which sends were such retries (not
planned sends: they do not count towards the sending rate), how long each
member waited for credit (not exposure: planned sends are skipped while
waiting), when each member left (a cancel taking effect), and the headline
counts of the ledger (response, refund and expiry figures) for validation.

Boundary: one pass of the engine; no estimate. The ledger is drained into
counts as it grows, so memory stays bounded by the accounts, not the entries.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from simulator.calibration.reader import (
    ACT_CANCEL,
    ACT_CHANGE,
    ACT_PURCHASE,
    ACT_RESPOND,
    ACT_SEND,
    ACT_SUBSCRIBE,
    Observed,
)
from simulator.engine import NEVER, Engine, Policy
from simulator.engine.core import KINDS
from simulator.timeutil import monthly_anniversary
from simulator.vocabulary import RESPONSE_KINDS, SEND_REASONS

__all__ = ["NC_BUY", "NC_UPGRADE", "NC_WAIT", "Replayed", "month_end_after", "replay_observed"]

NC_WAIT, NC_BUY, NC_UPGRADE = 0, 1, 2
_CHUNK = 1 << 16  # rows turned into Python lists at a time (and ledger drained)
_REASON_CODE: dict[str | None, int] = {None: 0, **{r: i for i, r in enumerate(SEND_REASONS, 1)}}


@dataclass
class Replayed:
    """What the engine said about the observed rows (arrays by row or by member)."""

    reason: np.ndarray  # int8 by row: 0 accepted, 1.. SEND_REASONS (sends only)
    retry: np.ndarray  # bool by row: a send made again after buying or upgrading
    upgrade: np.ndarray  # bool by row: a change_tier that was an out-of-credit upgrade
    # one row per no_credit rejection: member, outcome (NC_*), quantity bought,
    # tier index upgraded to (-1), tier index held, whether an upgrade was possible
    nc_member: np.ndarray
    nc_outcome: np.ndarray
    nc_quantity: np.ndarray
    nc_target: np.ndarray
    nc_tier: np.ndarray
    joined: np.ndarray  # int64 by member: its month anchor (first subscribe, or the start)
    start_tier: np.ndarray  # int8 by member: tier at its first row (basic if no subscribe; -1 none)
    left: np.ndarray  # int64 by member: instant it left premium for good (NEVER if not)
    waited: np.ndarray  # int64 by member: seconds spent waiting for credit
    counts: dict[str, int] = field(default_factory=dict)  # ledger and InMail totals


def month_end_after(joined: int, t: int) -> int:
    """The first monthly anniversary of ``joined`` strictly after ``t``."""
    k = max(1, int((t - joined) // (30.436875 * 86_400)))
    while k > 1 and monthly_anniversary(joined, k - 1) > t:
        k -= 1
    while monthly_anniversary(joined, k) <= t:
        k += 1
    return monthly_anniversary(joined, k)


def replay_observed(obs: Observed, policy: Policy) -> Replayed:
    """Drive the engine over ``obs`` (in its replay order) and settle everything to ``until``."""
    n, m = len(obs), len(obs.members)
    tiers = tuple(policy.tiers)
    basic = tiers.index("basic")
    cats = tuple(policy.categories)
    engine = Engine(policy)
    window = policy.refund.window_days * 86_400 if policy.refund.mode != "none" else None

    # Each member's first row decides its start: a subscribe anchors its months.
    members_sorted, first = np.unique(obs.member, return_index=True)
    joined = np.full(m, obs.start, np.int64)
    # -1: a member named only in rows after ``until`` (it is in no cohort).
    start_tier = np.full(m, -1, np.int8)
    start_tier[members_sorted] = basic
    first_sub = obs.action[first] == ACT_SUBSCRIBE
    joined[members_sorted[first_sub]] = obs.time[first[first_sub]]
    start_tier[members_sorted[first_sub]] = obs.tier[first[first_sub]]

    reason = np.zeros(n, np.int8)
    retry = np.zeros(n, bool)
    upgrade = np.zeros(n, bool)
    left = np.full(m, NEVER, np.int64)
    waited = np.zeros(m, np.int64)
    nc: list[tuple[int, int, int, int, int]] = []
    # member -> (rejection instant, tier index held, wait-until instant)
    pending: dict[int, tuple[int, int, int]] = {}
    expect_retry: dict[int, int] = {}
    kinds = dict.fromkeys(KINDS, 0)
    refunded_rows = array("q")  # InMail (row) of every refund, 8 bytes each
    accounts = [engine.account(i) for i in range(m)]
    kind_names = KINDS

    def drain() -> None:
        for entry in engine.ledger:
            kind = kind_names[entry[2]]
            kinds[kind] += entry[4]
            if kind == "refund":
                refunded_rows.append(entry[5])
        engine.ledger.clear()

    def resolve(mem: int, t: int, action: int, tier: int, qty: int) -> None:
        """The member's first action after a no_credit rejection says what it chose."""
        t0, held, until_wait = pending.pop(mem)
        if action == ACT_PURCHASE and t == t0:
            nc.append((mem, NC_BUY, qty, -1, held))
            expect_retry[mem] = t
        elif action == ACT_CHANGE and t == t0 + 1:
            nc.append((mem, NC_UPGRADE, 0, tier, held))
            expect_retry[mem] = t
        else:
            nc.append((mem, NC_WAIT, 0, -1, held))
            waited[mem] += max(0, min(until_wait, obs.until) - t0)

    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        rows = zip(
            range(lo, hi),
            obs.time[lo:hi].tolist(),
            obs.member[lo:hi].tolist(),
            obs.action[lo:hi].tolist(),
            obs.tier[lo:hi].tolist(),
            obs.quantity[lo:hi].tolist(),
            obs.category[lo:hi].tolist(),
            obs.subject_chars[lo:hi].tolist(),
            obs.body_chars[lo:hi].tolist(),
            obs.free[lo:hi].tolist(),
            obs.response[lo:hi].tolist(),
            strict=True,
        )
        for row, t, mem, act, tier, qty, cat, subj, body, free, resp in rows:
            a = accounts[mem]
            if act != ACT_RESPOND and mem in pending:
                resolve(mem, t, act, tier, qty)
            if act == ACT_SEND:
                if expect_retry.get(mem) == t:
                    retry[row] = True
                    del expect_retry[mem]
                why = engine.send(a, t, row, cats[cat] if cat >= 0 else "", subj, body, free)
                reason[row] = _REASON_CODE[why]
                if why == "no_credit":
                    nxt = a.next_grant if a.cancel_at > a.next_grant else NEVER
                    pending[mem] = (t, a.tcode, min(nxt, month_end_after(int(joined[mem]), t)))
            elif act == ACT_RESPOND:
                engine.respond(a, t, int(obs.link[row]), RESPONSE_KINDS[resp])
            elif act == ACT_PURCHASE:
                engine.purchase(a, t, qty)
            elif act == ACT_CANCEL:
                engine.cancel(a, t)
                if a.tier.is_basic:
                    left[mem] = min(left[mem], t) if left[mem] != NEVER else t
                elif left[mem] == NEVER:
                    left[mem] = a.cancel_at
            else:
                if act == ACT_CHANGE and expect_retry.get(mem) == t and nc and nc[-1][0] == mem:
                    upgrade[row] = nc[-1][1] == NC_UPGRADE
                engine.subscribe(a, t, tiers[tier])
                # R9 clears a pending cancel; a change to basic leaves at once.
                left[mem] = t if tier == basic else NEVER
        drain()
    for mem in list(pending):
        resolve(mem, NEVER, -1, -1, 0)
    engine.settle_all(obs.until)
    drain()

    counts = _counts(obs, reason, kinds, refunded_rows, window)
    nc_arr = np.array(nc, dtype=np.int64).reshape(-1, 5)
    return Replayed(
        reason=reason,
        retry=retry,
        upgrade=upgrade,
        nc_member=nc_arr[:, 0],
        nc_outcome=nc_arr[:, 1],
        nc_quantity=nc_arr[:, 2],
        nc_target=nc_arr[:, 3],
        nc_tier=nc_arr[:, 4],
        joined=joined,
        start_tier=start_tier,
        left=left,
        waited=waited,
        counts=counts,
    )


def _counts(
    obs: Observed,
    reason: np.ndarray,
    kinds: dict[str, int],
    refunded: array,
    window: int | None,
) -> dict[str, int]:
    """The history's headline counts, defined as :func:`headline_metrics` reads them."""
    sends = obs.action == ACT_SEND
    accepted = sends & (reason == 0)
    paid = accepted & ~obs.free
    responds = obs.action == ACT_RESPOND
    answered = responds & accepted[np.maximum(obs.link, 0)]
    if window is None:
        settled = np.zeros(len(obs), bool)
    else:
        settled = paid & (obs.time + window <= obs.until)
    refunded_rows = np.frombuffer(refunded, dtype=np.int64) if len(refunded) else np.zeros(0, int)
    return {
        "members": len(obs.members),
        "sends": int(sends.sum()),
        "accepted": int(accepted.sum()),
        "rejections": int((sends & (reason != 0)).sum()),
        "no_credit": int((reason == _REASON_CODE["no_credit"]).sum()),
        "responses": int(answered.sum()),
        "purchases": int((obs.action == ACT_PURCHASE).sum()),
        "credits_granted": kinds["grant"],
        "credits_purchased": kinds["purchase"],
        "credits_refunded": kinds["refund"],
        "credits_spent": kinds["spend"],
        "credits_expired": kinds["expire"],
        "settled": int(settled.sum()),
        "settled_refunds": int(settled[refunded_rows].sum()),
    }
