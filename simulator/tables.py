"""Columnar run tables: from shard output to Arrow tables, DataFrames and files.

A member batch's simulation hands back compact typed output
(:class:`~simulator.model.ShardResult`: ledger chunks as a numpy record
array, one packed integer per planned send); :func:`shard_columns` flattens
it into numpy columns and :func:`assemble` makes the batch's tables, as Arrow
tables, each in one deterministic order; :func:`concat` joins batches in
batch order, the order of a run directory's parts:

* ``ledger``: RULES.md section 5 columns plus ``tier`` (the member's plan when
  the entry was written), ``lot_source`` and ``lot_issued_at``; sorted by
  time, then member, keeping each member's R10 order;
* ``inmails``: one row per attempted InMail, sorted by time, member, id;
* ``members``; ``billing`` (subscription charges);
* ``history``: every member action in the replay format of RULES.md
  section 8, so ``creditsim replay`` reproduces the ledger.

Text columns with few values are dictionary-encoded; instants are
``timestamp[s, UTC]``. Member ids are ``m000042``; InMail ids are
``m000042-7`` (the member's 7th planned send; retries after buying or
upgrading are numbered after the planned sends). A subscription is billed at
each of the member's grant instants, at its tier's monthly price (a tier
with 0 monthly credits writes no grant and so is not billed).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.behaviour import RESPONSE_KINDS
from simulator.engine.core import KINDS, REASONS
from simulator.model import (
    ACTION_NAMES,
    LEDGER_DTYPE,
    ORDER_SHIFT,
    REASON_CODES,
    SEQ_BITS,
    SKIPPED,
    TIER_SHIFT,
    ShardResult,
)
from simulator.population import Roster
from simulator.scenario import Scenario
from simulator.vocabulary import NO_INSTANT

__all__ = ["HISTORY_ORDER", "SimTables", "assemble", "concat", "plain_table", "shard_columns"]

HISTORY_ORDER = ("time", "member", "action", "tier", "quantity", "inmail", "category",
                 "subject_chars", "body_chars", "free", "response")  # fmt: skip
_SEND_REASONS = tuple(sorted(REASON_CODES, key=lambda r: REASON_CODES[r]))
_GRANT, _PURCHASE, _REFUND = KINDS.index("grant"), KINDS.index("purchase"), KINDS.index("refund")
_UTC = pa.timestamp("s", tz="UTC")
_NONE = NO_INSTANT


def shard_columns(result: ShardResult, scenario: Scenario) -> dict[str, Any]:
    """Flat numpy columns of one shard (run in the worker, so pickling is cheap)."""
    cols: dict[str, Any] = {"tier_names": result.tier_names, "events": result.events}
    chunks = result.ledger_chunks
    cols["ledger"] = np.concatenate(chunks) if chunks else np.zeros(0, LEDGER_DTYPE)
    # Attempted sends: the planned ones with a code, then the retries.
    order = sorted(result.plans)
    plans = [result.plans[i] for i in order]
    sizes = np.array([len(p.send_at) for p in plans], dtype=np.int64)
    member = np.repeat(np.array(order, dtype=np.int64), sizes)
    row = np.concatenate([np.arange(n) for n in sizes]) if len(sizes) else np.zeros(0, np.int64)
    codes = np.concatenate([result.codes[i] for i in order]) if order else np.zeros(0, np.int64)

    def gather(name: str) -> np.ndarray:
        parts = [getattr(p, name) for p in plans]
        return np.concatenate(parts) if parts else np.zeros(0)

    planned = {name: gather(name) for name in ("send_at", "category", "subject_chars",
               "body_chars", "free", "responds", "response_kind", "response_delay")}  # fmt: skip
    tried = codes != SKIPPED
    retries = np.array(result.retries, dtype=np.int64).reshape(-1, 5)
    offset = np.zeros(max(order, default=-1) + 1, dtype=np.int64)
    if order:
        offset[np.array(order)] = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    r_where = offset[retries[:, 0]] + retries[:, 1]
    cols["i_member"] = np.concatenate([member[tried], retries[:, 0]])
    cols["i_seq"] = np.concatenate([row[tried] + 1, retries[:, 3]])
    cols["i_time"] = np.concatenate([planned["send_at"][tried], retries[:, 2]])
    cols["i_code"] = np.concatenate([codes[tried], retries[:, 4]])
    for name in ("category", "subject_chars", "body_chars", "free", "responds", "response_kind",
                 "response_delay"):  # fmt: skip
        cols[f"i_{name}"] = np.concatenate([planned[name][tried], planned[name][r_where]])
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
    cols["m_left_at"] = np.asarray(result.member_left_at, dtype=np.int64)
    return cols


class SimTables:
    """The tables a simulation made (a batch, or a run held in memory): Arrow tables, the
    replay history and the SimPy event count, with pandas views made on first use.

    What the simulator hands on. Everything that reads a run's tables
    (reports, the API, a run directory's parts) reads them as
    :class:`simulator.reports.RunTables`, the one run-table contract, which
    takes these Arrow tables as they are (:meth:`simulator.reports.RunTables.of`).
    """

    def __init__(self, ledger: pa.Table, inmails: pa.Table, members: pa.Table,
                 billing: pa.Table, history: pa.Table, events: int) -> None:  # fmt: skip
        self.arrow = {"ledger": ledger, "inmails": inmails, "members": members,
                      "billing": billing}  # fmt: skip
        self.history = history
        self.events = events

    @cached_property
    def ledger(self) -> pd.DataFrame:
        return _frame(self.arrow["ledger"])

    @cached_property
    def inmails(self) -> pd.DataFrame:
        return _frame(self.arrow["inmails"])

    @cached_property
    def members(self) -> pd.DataFrame:
        return _frame(self.arrow["members"])

    @cached_property
    def billing(self) -> pd.DataFrame:
        return _frame(self.arrow["billing"])


def plain_table(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary columns decoded to plain text (in Arrow, no copy of the rest).

    Files and frames carry plain text, so readers never meet categoricals.
    """
    if not any(pa.types.is_dictionary(t) for t in table.schema.types):
        return table
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols[name] = col
    return pa.table(cols)


def _frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas, dictionary columns decoded to plain text."""
    return plain_table(table).to_pandas()


def _cat(shards: list[dict[str, Any]], name: str) -> Any:
    parts = [s[name] for s in shards]
    if isinstance(parts[0], list):
        return [x for p in parts for x in p]
    return np.concatenate(parts)


def _ts(values: np.ndarray) -> pa.Array:
    """int64 Unix seconds (``_NONE`` for none) as timestamp[s, UTC] with nulls."""
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, pa.int64(), mask=values == _NONE).cast(_UTC)


def _dict(codes: np.ndarray, names: Any) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, dtype=np.int32)), pa.array(list(names), pa.string())
    )


def _join(
    left: pa.Array, numbers: np.ndarray, sep: str, mask: np.ndarray | None = None
) -> pa.Array:
    """``left + sep + str(number)`` element-wise (C++), '' where ``mask`` is False."""
    text = pc.binary_join_element_wise(left, pc.cast(pa.array(numbers), pa.string()), sep)
    if mask is not None:
        text = pc.if_else(pa.array(mask), text, "")
    return text


def assemble(
    shards: list[dict[str, Any]],
    scenario: Scenario,
    members: Roster,
    ids: list[str] | pa.Array,
) -> SimTables:
    """Merge shard columns into the run's tables, in an order independent of sharding.

    ``members`` is the run's roster and ``ids`` its member ids (by global index),
    as a list or an Arrow string array.
    """
    member_text = ids if isinstance(ids, pa.Array) else pa.array(ids, pa.string())
    policy = scenario.policy
    tier_names = shards[0]["tier_names"]
    cohort_names = [c.name for c in scenario.population]
    cohort_idx = members.cohort
    tier_code = {name: i for i, name in enumerate(tier_names)}

    # -- members ------------------------------------------------------------------
    m_index = _cat(shards, "m_index")
    morder = np.argsort(m_index, kind="stable")
    m_index = m_index[morder]
    initial = np.array([tier_code[c.tier] for c in scenario.population])[cohort_idx[m_index]]
    final = np.array([tier_code[t] for t in _cat(shards, "m_final_tier")])[morder]
    subscribed = _cat(shards, "m_subscribed_at")[morder]
    arrived = members.joined[m_index]
    left = _cat(shards, "m_left_at")[morder]
    member_table = pa.table({
        "member": pc.take(member_text, pa.array(m_index)),
        "cohort": _dict(cohort_idx[m_index], cohort_names),
        "initial_tier": _dict(initial, tier_names),
        "final_tier": _dict(final, tier_names),
        "subscribed_at": _ts(np.where(subscribed < 0, _NONE, subscribed)),
        "arrived_at": _ts(np.where(arrived < 0, _NONE, arrived)),
        "left_at": _ts(np.where(left < 0, _NONE, left)),
        "sends_per_month": _cat(shards, "m_rate")[morder],
    })  # fmt: skip

    # -- ledger -----------------------------------------------------------------
    led = np.concatenate([s["ledger"] for s in shards])
    # A member's entries all come from one shard, in R10 order: a stable sort
    # on (time, member) keeps that order and is the same for any sharding.
    if members.size < 1 << 24:
        key = (led["time"] - scenario.sim_start) << 24 | led["member"].astype(np.int64)
        led = led[np.argsort(key, kind="stable")]
    else:
        led = led[np.lexsort((np.arange(len(led)), led["member"], led["time"]))]
    lt, kind = led["time"], led["kind"]
    lm, lot = led["member"].astype(np.int64), led["lot"].astype(np.int64)
    issue = np.isin(kind, (_GRANT, _PURCHASE, _REFUND))
    # Each lot's source and issue instant, from the entry that issued it. The
    # engine numbers a member's lots 1, 2, ... and writes exactly one issuing
    # entry per lot, so (member, lot) maps to a dense slot: no search needed.
    has_lot = lot > 0
    lots_of = np.bincount(lm[issue], minlength=int(lm.max()) + 1 if len(lm) else 0)
    first_slot = np.cumsum(lots_of) - lots_of
    slot = np.where(has_lot, first_slot[lm] + lot - 1, 0) if len(lm) else lm
    src_by_slot = np.full(max(len(slot), 1), -1, dtype=np.int64)
    issued_by_slot = np.full(max(len(slot), 1), _NONE, dtype=np.int64)
    src_by_slot[slot[issue]] = kind[issue]
    issued_by_slot[slot[issue]] = lt[issue]
    lot_source = np.where(has_lot, src_by_slot[slot], -1)
    lot_issued = np.where(has_lot, issued_by_slot[slot], _NONE)
    source_names = ("grant", "purchase", "refund", "")
    source_code = np.select([lot_source == _GRANT, lot_source == _PURCHASE,
                             lot_source == _REFUND], [0, 1, 2], 3)  # fmt: skip
    member_col = pc.take(member_text, pa.array(lm))
    inm = led["inmail"]
    ledger = pa.table({
        "time": _ts(lt),
        "member": member_col,
        "tier": _dict(led["tier"], tier_names),
        "kind": _dict(kind, KINDS),
        "lot": _join(member_col, lot, ":", has_lot),
        "lot_source": _dict(source_code, source_names),
        "lot_issued_at": _ts(lot_issued),
        "quantity": led["quantity"].astype(np.int64),
        "inmail": _inmail_text(member_text, inm),
        "reason": _dict(led["reason"], REASONS),
        "balance_after": led["balance"].astype(np.int64),
    })  # fmt: skip

    # -- InMails ------------------------------------------------------------------
    imem, iseq, it = _cat(shards, "i_member"), _cat(shards, "i_seq"), _cat(shards, "i_time")
    order = np.lexsort((iseq, imem, it))
    imem, iseq, it = imem[order], iseq[order], it[order]
    code = _cat(shards, "i_code")[order]
    col = {name: _cat(shards, f"i_{name}")[order] for name in ("category", "subject_chars",
           "body_chars", "free", "responds", "response_kind", "response_delay")}  # fmt: skip
    ireason = code & ((1 << TIER_SHIFT) - 1)
    itier = (code >> TIER_SHIFT) & ((1 << (ORDER_SHIFT - TIER_SHIFT)) - 1)
    iorder = code >> ORDER_SHIFT
    free = col["free"].astype(bool)
    accepted = ireason == 0
    paid = accepted & ~free
    resp_at = it + col["response_delay"]
    responded = accepted & col["responds"].astype(bool) & (resp_at <= scenario.end)
    iid = imem << SEQ_BITS | iseq
    refunds = kind == _REFUND
    r_ids, r_times = inm[refunds], lt[refunds]
    srt = np.argsort(r_ids)
    hit = np.searchsorted(r_ids[srt], iid)
    hit = np.minimum(hit, max(len(srt) - 1, 0))
    found = (r_ids[srt][hit] == iid) if len(srt) else np.zeros(len(iid), bool)
    refunded_at = np.where(found, r_times[srt][hit] if len(srt) else 0, _NONE)
    has_window = paid & (policy.refund.mode != "none")
    window = policy.refund.window_days * 86_400
    inmail_text = _inmail_text(member_text, iid)
    kinds_idx = col["response_kind"].astype(np.int64)
    inmails = pa.table({
        "inmail": inmail_text,
        "sender": pc.take(member_text, pa.array(imem)),
        "tier": _dict(itier, tier_names),
        "sent_at": _ts(it),
        "category": _dict(col["category"], policy.categories),
        "subject_chars": col["subject_chars"].astype(np.int64),
        "body_chars": col["body_chars"].astype(np.int64),
        "free": free,
        "paid": paid,
        "rejection": _dict(ireason, [r or "" for r in _SEND_REASONS]),
        "response": _dict(np.where(responded, kinds_idx, 3), (*RESPONSE_KINDS, "")),
        "responded_at": _ts(np.where(responded, resp_at, _NONE)),
        "refunded_at": _ts(refunded_at),
        "window_end": _ts(np.where(has_window, it + window, _NONE)),
    })  # fmt: skip

    # -- billing ----------------------------------------------------------------
    grants = kind == _GRANT
    price = np.array([scenario.pricing.monthly_price_cents.get(t, 0) for t in tier_names],
                     dtype=np.int64)  # fmt: skip
    billing = pa.table({
        "member": member_col.filter(pa.array(grants)),
        "tier": _dict(led["tier"][grants], tier_names),
        "time": _ts(lt[grants]),
        "amount_cents": price[led["tier"][grants]],
    })  # fmt: skip

    history = _history(shards, member_text, inmail_text, it, imem, iorder, iseq,
                                     col, ireason, free, responded, resp_at,
                                     policy.categories)  # fmt: skip
    events = sum(int(s["events"]) for s in shards)
    return SimTables(ledger, inmails, member_table, billing, history, events)


def concat(parts: list[SimTables]) -> SimTables:
    """One run's tables from its batches' tables, in batch order.

    The order of the run directory's parts (:mod:`simulator.runformat`): each
    batch's rows sorted by time, then member, one batch after the other, so
    a run in memory and the same run read back have their rows in the same order.
    """
    if len(parts) == 1:
        return parts[0]

    def whole(tables: list[pa.Table]) -> pa.Table:
        return pa.concat_tables(tables).combine_chunks()

    arrow = {name: whole([p.arrow[name] for p in parts]) for name in parts[0].arrow}
    return SimTables(arrow["ledger"], arrow["inmails"], arrow["members"], arrow["billing"],
                     whole([p.history for p in parts]), sum(p.events for p in parts))  # fmt: skip


def _inmail_text(member_text: pa.Array, ids: np.ndarray) -> pa.Array:
    """``m000042-7`` for InMail id ``42 << 24 | 7``; '' for -1."""
    ok = ids >= 0
    member = pc.take(member_text, pa.array(np.where(ok, ids >> SEQ_BITS, 0)))
    return _join(member, ids & ((1 << SEQ_BITS) - 1), "-", ok)


def _iso(times: np.ndarray) -> pa.Array:
    """``2024-01-31T09:00:00Z`` text (a cast and two edits: 3x faster than strftime)."""
    text = pa.array(times, pa.int64()).cast(pa.timestamp("s")).cast(pa.string())
    return pc.utf8_replace_slice(pc.replace_substring(text, " ", "T"), 19, 19, "Z")


def _decode(codes: np.ndarray, names: Any) -> pa.Array:
    """``names[code]`` for each code, as plain text (in C++: no Python objects)."""
    return pa.array(list(names), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int32)))


def _digits(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values.astype(np.int64)), pa.string())


def _history(
    shards: list[dict[str, Any]],
    member_text: pa.Array,
    inmail_text: pa.Array,
    it: np.ndarray,
    imem: np.ndarray,
    iorder: np.ndarray,
    iseq: np.ndarray,
    col: dict[str, np.ndarray],
    ireason: np.ndarray,
    free: np.ndarray,
    responded: np.ndarray,
    resp_at: np.ndarray,
    categories: tuple[str, ...],
) -> pa.Table:
    """Every action as a replay row, sorted by (time, R10 step, member, order applied).

    Responses are ordered by InMail number within a member and instant, which
    is the order the model handed them to the engine.
    """
    at, astep, amem = _cat(shards, "a_time"), _cat(shards, "a_step"), _cat(shards, "a_member")
    aorder, acode, aqty = _cat(shards, "a_order"), _cat(shards, "a_code"), _cat(shards, "a_qty")
    atier = np.asarray(_cat(shards, "a_tier"), dtype=object)
    na, ns, nr = len(at), len(it), int(responded.sum())
    time = np.concatenate([at, it, resp_at[responded]])
    step = np.concatenate([astep, np.full(ns, 7), np.full(nr, 1)])
    member = np.concatenate([amem, imem, imem[responded]])
    order = np.concatenate([aorder, iorder, iseq[responded]])
    sort = np.lexsort((order, member, step, time))

    def text(a_part: Any, s_part: Any, r_part: Any) -> pa.Array:
        # Each part is one text for all its rows, an Arrow array, or (for the
        # few tier actions) a sequence of texts; large parts never become
        # Python objects.
        parts = [pa.repeat(pa.scalar(p, pa.string()), n) if isinstance(p, str)
                 else p if isinstance(p, pa.Array) else pa.array(p, pa.string())
                 for p, n in ((a_part, na), (s_part, ns), (r_part, nr))]  # fmt: skip
        return pa.concat_arrays(parts).take(pa.array(sort))

    sends = pa.array(inmail_text) if not isinstance(inmail_text, pa.Array) else inmail_text
    responded_idx = pa.array(np.flatnonzero(responded))
    table = {
        "time": _iso(time[sort]),
        "member": pc.take(member_text, pa.array(member[sort])),
        "action": text(np.asarray(ACTION_NAMES, dtype=object)[acode], "send", "respond"),
        "tier": text(atier, "", ""),
        "quantity": text(np.where(acode == 3, aqty.astype(str), ""), "", ""),
        "inmail": text("", sends, sends.take(responded_idx)),
        "category": text("", _decode(col["category"], categories), ""),
        "subject_chars": text("", _digits(col["subject_chars"]), ""),
        "body_chars": text("", _digits(col["body_chars"]), ""),
        "free": text("", _decode(free, ("false", "true")), ""),
        "response": text("", "", _decode(col["response_kind"][responded], RESPONSE_KINDS)),
    }  # fmt: skip
    return pa.table({name: table[name] for name in HISTORY_ORDER})
