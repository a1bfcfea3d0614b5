"""Columnar run tables: from shard output to DataFrames, Parquet and CSV.

A shard hands back plain lists (:class:`~simulator.model.ShardResult`);
:func:`shard_columns` turns them into typed numpy columns *inside the worker*
(cheap to pickle), and :func:`assemble` merges the shards into the run's
tables in one deterministic order, whatever the number of shards:

* ``ledger`` (RULES.md section 5 columns plus ``tier``, ``lot_source``,
  ``lot_issued_at``), sorted by time, then member, keeping each member's
  R10 order;
* ``inmails``: one row per attempted InMail;
* ``members``; ``billing`` (subscription charges);
* ``history``: every member action in the replay format of RULES.md
  section 8, so ``creditsim replay`` reproduces the ledger.

Instants are ``datetime64[s, UTC]`` in the frames. Member ids are
``m000042``; InMail ids are ``m000042-7`` (the member's 7th attempt).
Conventions where the issue is silent: the tier of a ledger entry is the plan
held after every change at that instant; a member's subscription is billed at
each of its grant instants (a tier with 0 monthly credits is therefore not
billed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.behaviour import RESPONSE_KINDS
from simulator.model import ACTION_NAMES, REASON_CODES, ShardResult
from simulator.scenario import Scenario

__all__ = ["HISTORY_ORDER", "RunTables", "assemble", "shard_columns"]

_SEQ_BITS = 24
_KINDS = ("grant", "purchase", "spend", "refund", "expire", "cap", "forfeit", "reject")
_KIND_CODE = {k: i for i, k in enumerate(_KINDS)}
_REASONS = ("", "body_length", "subject_length", "category", "no_credit", "quantity",
            "not_purchasable", "purchased_cap", "allotment_left")  # fmt: skip
_REASON_CODE = {r: i for i, r in enumerate(_REASONS)}
_SEND_REASONS = {code: name or "" for name, code in REASON_CODES.items()}
HISTORY_ORDER = ("time", "member", "action", "tier", "quantity", "inmail", "category",
                 "subject_chars", "body_chars", "free", "response")  # fmt: skip


def shard_columns(result: ShardResult, scenario: Scenario) -> dict[str, Any]:
    """Typed numpy columns of one shard (run in the worker, so pickling is cheap)."""
    led = result.ledger
    n = len(led)
    cols: dict[str, Any] = {}
    if n:
        t, m, kind, lot, qty, inm, reason, bal = zip(*led, strict=True)
        cols["l_time"] = np.fromiter(t, np.int64, n)
        cols["l_member"] = np.fromiter(m, np.int64, n)
        cols["l_kind"] = np.fromiter(map(_KIND_CODE.__getitem__, kind), np.int8, n)
        cols["l_lot"] = np.fromiter(lot, np.int64, n)
        cols["l_qty"] = np.fromiter(qty, np.int64, n)
        cols["l_inmail"] = pa.array(inm, pa.int64()).fill_null(-1).to_numpy()
        cols["l_reason"] = np.fromiter(map(_REASON_CODE.__getitem__, reason), np.int8, n)
        cols["l_balance"] = np.fromiter(bal, np.int64, n)
    else:
        for name, dt in (("l_time", np.int64), ("l_member", np.int64), ("l_kind", np.int8),
                         ("l_lot", np.int64), ("l_qty", np.int64), ("l_inmail", np.int64),
                         ("l_reason", np.int8), ("l_balance", np.int64)):  # fmt: skip
            cols[name] = np.zeros(0, dt)
    cols["l_seq"] = np.arange(n, dtype=np.int64)
    ids = np.asarray(result.inmail_id, dtype=np.int64)
    member = ids >> _SEQ_BITS
    row = np.asarray(result.inmail_plan_row, dtype=np.int64)
    cols["i_id"] = ids
    cols["i_member"] = member
    cols["i_order"] = np.asarray(result.inmail_order, dtype=np.int64)
    cols["i_time"] = np.asarray(result.inmail_time, dtype=np.int64)
    cols["i_reason"] = np.asarray(result.inmail_reason, dtype=np.int8)
    cols["i_responded_at"] = np.asarray(result.inmail_responded_at, dtype=np.int64)
    cols["i_response_order"] = np.asarray(result.inmail_response_order, dtype=np.int64)
    # Attributes from the members' plans, gathered by (member, plan row).
    plans = result.plans
    order = sorted(plans)
    sizes = np.array([len(plans[i].send_at) for i in order], dtype=np.int64)
    offset = np.zeros(max(order, default=-1) + 1, dtype=np.int64)
    if order:
        offset[np.array(order)] = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    where = offset[member] + row if len(ids) else np.zeros(0, np.int64)
    for name in ("category", "subject_chars", "body_chars", "free", "responds", "response_kind"):
        parts = [getattr(plans[i], name) for i in order]
        full = np.concatenate(parts) if parts else np.zeros(0)
        cols[f"i_{name}"] = full[where] if len(ids) else full[:0]
    acts = result.actions
    cols["a_time"] = np.array([x[0] for x in acts], dtype=np.int64)
    cols["a_step"] = np.array([x[1] for x in acts], dtype=np.int64)
    cols["a_member"] = np.array([x[2] for x in acts], dtype=np.int64)
    cols["a_order"] = np.array([x[3] for x in acts], dtype=np.int64)
    cols["a_code"] = np.array([x[4] for x in acts], dtype=np.int8)
    cols["a_tier"] = [x[5] for x in acts]
    cols["a_qty"] = np.array([x[6] for x in acts], dtype=np.int64)
    cols["m_index"] = np.asarray(result.members, dtype=np.int64)
    cols["m_rate"] = np.asarray(result.member_rate, dtype=np.float64)
    cols["m_subscribed_at"] = np.asarray(result.member_subscribed_at, dtype=np.int64)
    cols["m_final_tier"] = list(result.member_final_tier)
    logs = result.tier_logs
    cols["t_member"] = np.repeat(cols["m_index"], [len(x) for x in logs])
    cols["t_time"] = np.array([t for log in logs for t, _ in log], dtype=np.int64)
    cols["t_tier"] = [name for log in logs for _, name in log]
    cols["events"] = result.events
    return cols


def _cat(shards: list[dict[str, Any]], name: str) -> Any:
    parts = [s[name] for s in shards]
    if isinstance(parts[0], list):
        return [x for p in parts for x in p]
    return np.concatenate(parts)


def _ts(values: np.ndarray) -> pd.Series:
    """Unix seconds (-1 for none) -> datetime64[s, UTC] with NaT."""
    arr = np.asarray(values, dtype=np.int64).astype("datetime64[s]")
    arr[np.asarray(values) < 0] = np.datetime64("NaT")
    return pd.Series(pd.DatetimeIndex(arr).tz_localize("UTC"))


class RunTables:
    """The tables of one run as pandas DataFrames, plus what derived them."""

    def __init__(self, ledger: pd.DataFrame, inmails: pd.DataFrame, members: pd.DataFrame,
                 billing: pd.DataFrame, history: pa.Table, events: int) -> None:  # fmt: skip
        self.ledger = ledger
        self.inmails = inmails
        self.members = members
        self.billing = billing
        self.history = history
        self.events = events


def assemble(shards: list[dict[str, Any]], scenario: Scenario, ids: list[str]) -> RunTables:
    """Merge shard columns into the run's tables, in an order independent of sharding."""
    member_text = pa.array(ids, pa.string())
    policy = scenario.policy
    cohort_names = [c.name for c in scenario.population]
    cohort_idx = np.repeat(np.arange(len(cohort_names)), [c.members for c in scenario.population])

    # -- members and their tier timelines -------------------------------------
    m_index = _cat(shards, "m_index")
    morder = np.argsort(m_index, kind="stable")
    m_index = m_index[morder]
    final_tier = np.asarray(_cat(shards, "m_final_tier"), dtype=object)[morder]
    subscribed = _cat(shards, "m_subscribed_at")[morder]
    initial = np.asarray([c.tier for c in scenario.population], dtype=object)
    members = pd.DataFrame({
        "member": np.asarray(ids, dtype=object)[m_index],
        "cohort": np.asarray(cohort_names, dtype=object)[cohort_idx[m_index]],
        "initial_tier": initial[cohort_idx[m_index]],
        "final_tier": final_tier,
        "subscribed_at": _ts(subscribed),
        "sends_per_month": _cat(shards, "m_rate")[morder],
    })  # fmt: skip
    t_member = _cat(shards, "t_member")
    t_time = _cat(shards, "t_time")
    t_tier = np.asarray(_cat(shards, "t_tier"), dtype=object)
    # Everyone starts on basic, before any instant of the run.
    timeline = pd.DataFrame({
        "member": np.concatenate([m_index, t_member]),
        "time": np.concatenate([np.full(len(m_index), np.iinfo(np.int64).min // 2), t_time]),
        "seq": np.concatenate([np.zeros(len(m_index), np.int64), np.arange(1, len(t_time) + 1)]),
        "tier": np.concatenate([np.full(len(m_index), "basic", dtype=object), t_tier]),
    }).sort_values(["time", "seq"], kind="stable")  # fmt: skip
    timeline = timeline.drop_duplicates(["member", "time"], keep="last")

    def tier_at(member: np.ndarray, time: np.ndarray) -> np.ndarray:
        q = pd.DataFrame({"member": member, "time": time, "pos": np.arange(len(time))})
        q = q.sort_values("time", kind="stable")
        got = pd.merge_asof(q, timeline[["member", "time", "tier"]], on="time", by="member",
                            direction="backward", allow_exact_matches=True)  # fmt: skip
        out = np.empty(len(time), dtype=object)
        out[got["pos"].to_numpy()] = got["tier"].to_numpy()
        return out

    # -- ledger -----------------------------------------------------------------
    lt, lm = _cat(shards, "l_time"), _cat(shards, "l_member")
    lseq = np.concatenate([s["l_seq"] for s in shards])
    order = np.lexsort((lseq, lm, lt))  # a member's entries come from one shard, in R10 order
    lt, lm, lseq = lt[order], lm[order], lseq[order]
    kind = _cat(shards, "l_kind")[order]
    lot = _cat(shards, "l_lot")[order]
    qty = _cat(shards, "l_qty")[order]
    linm = _cat(shards, "l_inmail")[order]
    reason = _cat(shards, "l_reason")[order]
    bal = _cat(shards, "l_balance")[order]
    issue = np.isin(kind, [_KIND_CODE["grant"], _KIND_CODE["purchase"], _KIND_CODE["refund"]])
    lots = pd.DataFrame({"member": lm[issue], "lot": lot[issue],
                         "lot_source": np.asarray(_KINDS, dtype=object)[kind[issue]],
                         "lot_issued": lt[issue]})  # fmt: skip
    lots = pd.DataFrame({"member": lm, "lot": lot}).merge(lots, how="left", on=["member", "lot"])
    member_col = pc.take(member_text, pa.array(lm))
    ledger = pd.DataFrame({
        "time": _ts(lt),
        "member": member_col.to_numpy(zero_copy_only=False),
        "tier": tier_at(lm, lt),
        "kind": np.asarray(_KINDS, dtype=object)[kind],
        "lot": _join_ids(member_col, lot, ":", lot > 0),
        "lot_source": lots["lot_source"].fillna("").to_numpy(),
        "lot_issued_at": _ts(lots["lot_issued"].fillna(-1).to_numpy(np.int64)),
        "quantity": qty,
        "inmail": _inmail_text(member_text, linm),
        "reason": np.asarray(_REASONS, dtype=object)[reason],
        "balance_after": bal,
    })  # fmt: skip

    # -- InMails ------------------------------------------------------------------
    it = _cat(shards, "i_time")
    imem = _cat(shards, "i_member")
    iorder_key = _cat(shards, "i_order")
    iid = _cat(shards, "i_id")
    order = np.lexsort((iid, imem, it))
    it, imem, iid = it[order], imem[order], iid[order]
    ireason = _cat(shards, "i_reason")[order]
    resp_at = _cat(shards, "i_responded_at")[order]
    resp_order = _cat(shards, "i_response_order")[order]
    iorder_key = iorder_key[order]
    cat = _cat(shards, "i_category")[order].astype(np.int64)
    subj = _cat(shards, "i_subject_chars")[order]
    body = _cat(shards, "i_body_chars")[order]
    free = _cat(shards, "i_free")[order].astype(bool)
    rkind = _cat(shards, "i_response_kind")[order].astype(np.int64)
    accepted = ireason == 0
    paid = accepted & ~free
    refunded = pd.Series(lt[kind == _KIND_CODE["refund"]], index=linm[kind == _KIND_CODE["refund"]])
    refunded_at = refunded.reindex(iid).fillna(-1).to_numpy(np.int64)
    window = policy.refund.window_days * 86_400
    has_window = paid & (policy.refund.mode != "none")
    inmail_text = _inmail_text(member_text, iid)
    sender = pc.take(member_text, pa.array(imem)).to_numpy(zero_copy_only=False)
    categories = np.asarray(policy.categories, dtype=object)
    kinds = np.asarray(RESPONSE_KINDS, dtype=object)
    responded = resp_at >= 0
    reason_names = np.asarray([_SEND_REASONS[i] for i in range(len(_SEND_REASONS))], dtype=object)
    inmails = pd.DataFrame({
        "inmail": inmail_text,
        "sender": sender,
        "tier": tier_at(imem, it),
        "sent_at": _ts(it),
        "category": categories[cat],
        "subject_chars": subj.astype(np.int64),
        "body_chars": body.astype(np.int64),
        "free": free,
        "paid": paid,
        "rejection": reason_names[ireason],
        "response": np.where(responded, kinds[rkind], ""),
        "responded_at": _ts(resp_at),
        "refunded_at": _ts(refunded_at),
        "window_end": _ts(np.where(has_window, it + window, -1)),
    })  # fmt: skip

    # -- billing ----------------------------------------------------------------
    grants = kind == _KIND_CODE["grant"]
    prices = scenario.pricing.monthly_price_cents
    btier = ledger["tier"].to_numpy()[grants]
    billing = pd.DataFrame({
        "member": ledger["member"].to_numpy()[grants],
        "tier": btier,
        "time": ledger["time"][grants].reset_index(drop=True),
        "amount_cents": np.array([prices.get(t, 0) for t in btier], dtype=np.int64),
    })  # fmt: skip

    # -- history (replay format) ---------------------------------------------------
    history = _history(shards, member_text, inmail_text, it, imem, iorder_key, categories[cat],
                       subj, body, free, ireason, responded, resp_at, resp_order,
                       np.where(responded, kinds[rkind], ""))  # fmt: skip
    events = sum(int(s["events"]) for s in shards)
    return RunTables(ledger, inmails, members, billing, history, events)


def _join_ids(member_col: pa.Array, number: np.ndarray, sep: str, mask: np.ndarray) -> np.ndarray:
    text = pc.binary_join_element_wise(member_col, pc.cast(pa.array(number), pa.string()), sep)
    return np.where(mask, text.to_numpy(zero_copy_only=False), "")


def _inmail_text(member_text: pa.Array, ids: np.ndarray) -> np.ndarray:
    """``m000042-7`` for InMail id ``42 << 24 | 7``; '' for -1."""
    ok = ids >= 0
    member = pc.take(member_text, pa.array(np.where(ok, ids >> _SEQ_BITS, 0)))
    return _join_ids(member, ids & ((1 << _SEQ_BITS) - 1), "-", ok)


def _iso(times: np.ndarray) -> pa.Array:
    ts = pa.array(times.astype("datetime64[s]"), pa.timestamp("s"))
    return pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")


def _history(shards, member_text, inmail_text, it, imem, iorder, category, subj, body, free,
             ireason, responded, resp_at, resp_order, resp_kind) -> pa.Table:  # type: ignore[no-untyped-def]  # fmt: skip
    """Every action as a replay row, sorted by (time, R10 step, member, order applied)."""
    at = _cat(shards, "a_time")
    astep = _cat(shards, "a_step")
    amem = _cat(shards, "a_member")
    aorder = _cat(shards, "a_order")
    acode = _cat(shards, "a_code")
    atier = np.asarray(_cat(shards, "a_tier"), dtype=object)
    aqty = _cat(shards, "a_qty")
    na, ns, nr = len(at), len(it), int(responded.sum())
    empty = np.full(na + ns + nr, "", dtype=object)

    def col(a_part: Any, s_part: Any, r_part: Any) -> np.ndarray:
        out = empty.copy()
        out[:na] = a_part
        out[na : na + ns] = s_part
        out[na + ns :] = r_part
        return out

    time = np.concatenate([at, it, resp_at[responded]])
    step = np.concatenate([astep, np.full(ns, 7), np.full(nr, 1)])
    member = np.concatenate([amem, imem, imem[responded]])
    order = np.concatenate([aorder, iorder, resp_order[responded]])
    action = col(np.asarray(ACTION_NAMES, dtype=object)[acode], "send", "respond")
    quantity = col(np.where(acode == 3, aqty.astype(str), ""), "", "")
    table = {
        "time": time, "member": member, "action": action,
        "tier": col(atier, "", ""),
        "quantity": quantity,
        "inmail": col("", inmail_text, inmail_text[responded]),
        "category": col("", category, ""),
        "subject_chars": col("", subj.astype(str), ""),
        "body_chars": col("", body.astype(str), ""),
        "free": col("", np.where(free, "true", "false"), ""),
        "response": col("", "", resp_kind[responded]),
    }  # fmt: skip
    sort = np.lexsort((order, member, step, time))
    cols = {}
    for name in HISTORY_ORDER:
        values = table[name][sort]
        if name == "time":
            cols[name] = _iso(values)
        elif name == "member":
            cols[name] = pc.take(member_text, pa.array(values))
        else:
            cols[name] = pa.array(values, pa.string())
    return pa.table(cols)
