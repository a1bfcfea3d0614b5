"""Running a scenario: shard members over workers, assemble tables, summarise, write.

:func:`run` is what ``creditsim run`` and the Python API call. Members are
split round-robin over ``workers`` local processes (or run in this process
for ``workers=1``); every member draws from its own generator, so the tables
are identical for any number of workers. :func:`write_run` writes a
self-describing run directory (see README) atomically: files go to a
temporary folder beside it that is renamed into place at the end, so an
interrupted run never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from simulator.errors import InvariantError
from simulator.invariants import check_run
from simulator.model import simulate_shard
from simulator.outputs import atomic_write_text, current_umask
from simulator.population import Roster, member_ids, roster
from simulator.scenario import Scenario
from simulator.steady import NO_RESPONSE, steady_state
from simulator.tables import RunTables, assemble, merge, plain_table, shard_columns
from simulator.timeutil import DAY, format_instant
from simulator.yamlio import dump_yaml

__all__ = [
    "FORMAT_VERSION",
    "SUMMARY_METRICS",
    "RunResult",
    "ShardExecutor",
    "run",
    "run_shard",
    "summarise",
    "write_run",
]

FORMAT_VERSION = 1
SEND_REASONS = ("body_length", "subject_length", "category", "no_credit")

#: The numbers of ``summary.json`` (:func:`summarise`), in its order: the metrics a
#: sweep's results.parquet and a sensitivity study carry (a test keeps this in step).
SUMMARY_METRICS: tuple[str, ...] = (
    "members", "members_initial", "arrivals", "members_present",
    "inmails_attempted", "inmails_sent", "inmails_paid", "inmails_free", "inmails_rejected",
    *(f"inmails_rejected_{reason}" for reason in SEND_REASONS),
    "responses", "response_rate", "refunds", "refund_rate", "refund_rate_settled_inmails",
    "late_responses", "credits_granted", "credits_purchased", "credits_refunded",
    "credits_spent", "credits_expired", "credits_capped", "credits_forfeited",
    "credits_expired_issued_before_window", "expiry_waste_rate", "grant_expiry_rate",
    "vintage_waste_rate", "purchase_revenue_cents", "purchase_revenue",
    "subscription_revenue_cents", "subscription_revenue", "net_revenue_cents", "net_revenue",
    "cancellations", "tier_changes",
)  # fmt: skip


@dataclass
class RunResult:
    """A finished run: its scenario, tables, summary and metadata."""

    scenario: Scenario
    seed: int
    tables: RunTables
    summary: dict[str, Any]
    meta: dict[str, Any]


def run_shard(args: tuple[Scenario, int, int]) -> RunTables:
    """Shard ``k`` of ``n`` of a run's members, as finished tables in shard order.

    Everything per row (text ids, lookups, formatting) happens here, in the
    worker, so the parent only merges sorted tables. The worker lays out the
    roster itself (it is fixed by the scenario and seed).
    """
    scenario, k, n = args
    members = roster(scenario)
    indices = range(k, members.size, n)
    columns = shard_columns(simulate_shard(scenario, indices, members=members), scenario)
    return assemble([columns], scenario, members, member_ids(scenario, members))


class ShardExecutor(Protocol):
    """Anything that maps a picklable function over items, results in order."""

    def map(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterable[Any]: ...


def run(
    scenario: Scenario,
    seed: int | None = None,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    executor: ShardExecutor | None = None,
    warmup_record: dict[str, Any] | None = None,
) -> RunResult:
    """Simulate ``scenario`` (with ``seed`` instead of its own, if given).

    Members are split round-robin into ``workers`` shards, run on local
    processes, or on ``executor`` (for example a Dask cluster) when given.
    ``progress``, if given, is called with simulated seconds as they pass.
    ``warmup_record`` says how ``warmup_days: auto`` was resolved
    (:func:`simulator.warmup.resolve_warmup`, which must run first); it is
    kept in ``summary.json`` as ``steady_state.auto``.
    """
    if seed is not None and seed != scenario.seed:
        scenario = scenario.with_overrides({"seed": seed})
    if scenario.auto_warmup:
        raise ValueError(
            f"{scenario.source}: warmup_days is auto; resolve it first "
            "(simulator.warmup.resolve_warmup)"
        )
    started = time.perf_counter()
    members = roster(scenario)
    if executor is not None:
        jobs = [(scenario, k, workers) for k in range(max(1, workers))]
        shards = list(executor.map(run_shard, jobs))
        if progress is not None:
            progress(scenario.end + 1 - scenario.sim_start)
    elif workers <= 1:
        columns = shard_columns(
            simulate_shard(scenario, range(members.size), progress, members), scenario
        )
        shards = [assemble([columns], scenario, members, member_ids(scenario, members))]
    else:
        ctx = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            shards = list(pool.map(run_shard, [(scenario, k, workers) for k in range(workers)]))
        if progress is not None:
            progress(scenario.end + 1 - scenario.sim_start)
    simulated = time.perf_counter() - started
    tables = merge(shards)
    summary = summarise(tables, scenario, members)
    summary["steady_state"]["auto"] = warmup_record
    # Cheap checks of the whole run (conservation, signs, counts that must
    # agree); a run that breaks one is an error, never a result.
    problems = check_run(tables, summary, scenario)
    if problems:
        raise InvariantError(
            f"{scenario.source}: the run broke {len(problems)} invariant(s); not a result:",
            *problems,
            tables=tables,
            scenario=scenario,
        )
    wall = time.perf_counter() - started
    meta = {
        "format_version": FORMAT_VERSION,
        "scenario": scenario.name,
        "sim_start": format_instant(scenario.sim_start),
        "measure_start": format_instant(scenario.start),
        "end": format_instant(scenario.end),
        "seed": scenario.seed,
        "workers": workers,
        "refund_mode": scenario.policy.refund.mode,
        "refund_window_days": scenario.policy.refund.window_days,
        "credit_price_cents": scenario.pricing.credit_price_cents,
        "currency": scenario.pricing.currency,
        "versions": _versions(),
        "timings": {"simulate_s": round(simulated, 3), "total_s": round(wall, 3)},
        "counts": {
            "members": members.size,
            "members_initial": members.initial,
            "ledger_entries": tables.arrow["ledger"].num_rows,
            "inmails_attempted": tables.arrow["inmails"].num_rows,
            "history_rows": tables.history.num_rows,
            "simpy_events": tables.events,
        },
    }
    return RunResult(scenario, scenario.seed, tables, summary, meta)


def _versions() -> dict[str, str]:
    import simpy

    from simulator import __version__

    return {
        "creditsim": __version__, "python": platform.python_version(), "simpy": simpy.__version__,
        "numpy": np.__version__, "pandas": pd.__version__, "pyarrow": pa.__version__,
    }  # fmt: skip


def summarise(tables: RunTables, scenario: Scenario, members: Roster) -> dict[str, Any]:
    """Headline metrics over the measured window ``[start, end]`` (warm-up excluded).

    Computed on the Arrow columns with numpy (no per-row Python), so it stays
    cheap for tens of millions of ledger entries. README's table of
    ``summary.json`` says what each rate divides by what.
    """
    start, end = scenario.start, scenario.end
    led, inm = tables.arrow["ledger"], tables.arrow["inmails"]
    lt = _seconds(led.column("time"))
    in_window = lt >= start
    kind = _codes(led.column("kind"))
    kind_names = _names(led.column("kind"))
    qty = led.column("quantity").to_numpy()

    def credits(name: str) -> int:
        code = kind_names.index(name)
        return int(qty[in_window & (kind == code)].sum())

    # Of the window's expiries, the credits issued before it (in the warm-up).
    issued_before = _seconds(led.column("lot_issued_at")) < start
    expire_code = kind_names.index("expire")
    expired_before = int(qty[in_window & (kind == expire_code) & issued_before].sum())

    sent_at = _seconds(inm.column("sent_at"))
    w = sent_at >= start
    rejection = _text(inm.column("rejection"))[w]
    accepted = rejection == ""
    free = inm.column("free").to_numpy(zero_copy_only=False)[w]
    paid = inm.column("paid").to_numpy(zero_copy_only=False)[w]
    response = _text(inm.column("response"))[w]
    responded_at = _seconds(inm.column("responded_at"))[w]
    refunded_at = _seconds(inm.column("refunded_at"))[w]
    window_end = _seconds(inm.column("window_end"))[w]
    settled = paid & (window_end != _NONE) & (window_end <= end)
    responded = accepted & (response != "")
    late = paid & (responded_at != _NONE) & (window_end != _NONE) & (responded_at > window_end)
    issued = credits("grant") + credits("purchase") + credits("refund")
    # Lot sources as codes (comparing millions of texts is slow); -2: absent.
    src_codes = _codes(led.column("lot_source"))
    src_names = _names(led.column("lot_source"))

    def source_is(name: str) -> np.ndarray:
        code = src_names.index(name) if name in src_names else -2
        return src_codes == code

    is_expire = kind == kind_names.index("expire")
    expired_grants = int(qty[in_window & is_expire & source_is("grant")].sum())
    lot_issued_at = _seconds(led.column("lot_issued_at"))
    vintage_expired, vintage_issued = _vintage_waste(
        kind, kind_names, qty, source_is, lot_issued_at, scenario
    )
    purchase_cents = credits("purchase") * scenario.pricing.credit_price_cents
    bill = tables.arrow["billing"]
    subscription_cents = int(
        bill.column("amount_cents").to_numpy()[_seconds(bill.column("time")) >= start].sum()
    )
    hist = tables.history
    actions = _text(hist.column("action"))
    htime = _parse_iso(hist.column("time"))
    h_window = htime >= start
    sent = int(accepted.sum())
    arrived = members.joined[members.initial :]
    mem = tables.arrow["members"]
    m_arrived, m_left = _seconds(mem.column("arrived_at")), _seconds(mem.column("left_at"))
    # Present at some instant of [start, end]: arrived by its end, not left by its start.
    present = ((m_arrived == _NONE) | (m_arrived <= end)) & ((m_left == _NONE) | (m_left > start))
    out: dict[str, Any] = {
        "members": members.size,
        "members_initial": members.initial,
        "arrivals": int(((arrived >= start) & (arrived <= end)).sum()),
        "members_present": int(present.sum()),
        "inmails_attempted": int(w.sum()),
        "inmails_sent": sent,
        "inmails_paid": int(paid.sum()),
        "inmails_free": int((accepted & free).sum()),
        "inmails_rejected": int((~accepted).sum()),
    }
    for reason in SEND_REASONS:
        out[f"inmails_rejected_{reason}"] = int((rejection == reason).sum())
    refunds = int((in_window & (kind == kind_names.index("refund"))).sum())
    out.update({
        "responses": int(responded.sum()),
        "response_rate": _ratio(int(responded.sum()), sent),
        "refunds": refunds,
        "refund_rate": _ratio(int((settled & (refunded_at != _NONE)).sum()), int(settled.sum())),
        "refund_rate_settled_inmails": int(settled.sum()),
        "late_responses": int(late.sum()),
        "credits_granted": credits("grant"),
        "credits_purchased": credits("purchase"),
        "credits_refunded": credits("refund"),
        "credits_spent": credits("spend"),
        "credits_expired": credits("expire"),
        "credits_capped": credits("cap"),
        "credits_forfeited": credits("forfeit"),
        "credits_expired_issued_before_window": expired_before,
        "expiry_waste_rate": _ratio(credits("expire"), issued),
        "grant_expiry_rate": _ratio(expired_grants, credits("grant")),
        "vintage_waste_rate": _ratio(vintage_expired, vintage_issued),
        "purchase_revenue_cents": purchase_cents,
        "purchase_revenue": purchase_cents / 100,
        "subscription_revenue_cents": subscription_cents,
        "subscription_revenue": subscription_cents / 100,
        "net_revenue_cents": subscription_cents + purchase_cents,
        "net_revenue": (subscription_cents + purchase_cents) / 100,
        "cancellations": int(((actions == "cancel") & h_window).sum()),
        "tier_changes": int(((actions == "change_tier") & h_window).sum()),
    })  # fmt: skip

    def entries(name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = kind == kind_names.index(name)
        return lt[rows], qty[rows]

    # Each credit of a lot that expires, by the instant its lot fell due (its
    # issue plus its source's expiry): issued, and lost (expired, or capped or
    # forfeited before that).
    policy = scenario.policy
    due_t: list[np.ndarray] = []
    due_q: list[np.ndarray] = []
    lost_t: list[np.ndarray] = []
    lost_q: list[np.ndarray] = []
    lost = np.isin(kind, [kind_names.index(k) for k in ("expire", "cap", "forfeit")])
    expiries = {"grant": policy.grant_expiry_days, "purchase": policy.purchase_expiry_days,
                "refund": policy.refund_expiry_days}  # fmt: skip
    for name, days in expiries.items():
        if days is not None:
            t, q = entries(name)
            due_t.append(t + days * DAY)
            due_q.append(q)
            rows = lost & source_is(name)
            lost_t.append(lot_issued_at[rows] + days * DAY)
            lost_q.append(qty[rows])
    none = np.zeros(0, np.int64)
    senders = inm.column("sender").dictionary_encode().combine_chunks().indices.to_numpy()
    out["steady_state"] = steady_state(
        start=start,
        end=end,
        warmup_days=scenario.warmup_days,
        due=(np.concatenate([none, *due_t]), np.concatenate([none, *due_q])),
        lost=(np.concatenate([none, *lost_t]), np.concatenate([none, *lost_q])),
        spent=entries("spend"),
        sent_at=sent_at[w][accepted],
        responded_at=np.where(responded, responded_at, NO_RESPONSE)[accepted],
        settled=settled[accepted],
        refunded=(refunded_at != _NONE)[accepted],
        attempts=(sent_at, senders),
    )
    return out


def _vintage_waste(
    kind: np.ndarray,
    kind_names: list[str],
    qty: np.ndarray,
    source_is: Callable[[str], np.ndarray],
    issued_at: np.ndarray,
    scenario: Scenario,
) -> tuple[int, int]:
    """Credits expired and issued, over the *resolved vintages* of the measured window.

    A vintage is the credits of one lot source issued in one calendar month
    (``reports/credit_vintages.csv``). Counted: grant and refund lots issued
    in the measured window in months that end at least the source's expiry
    (``grant_expiry_days``, ``refund_expiry_days``) before the run's end, so
    every such credit has met its fate (spent, expired, capped or forfeited)
    by the end. A source that never expires has no resolved vintage.
    """
    policy = scenario.policy
    expired = issued = 0
    for name, days in (("grant", policy.grant_expiry_days),
                       ("refund", policy.refund_expiry_days)):  # fmt: skip
        if days is None:
            continue
        rows = np.flatnonzero(source_is(name) & (issued_at >= scenario.start))
        # Of those, the entries of lots whose months end early enough.
        rows = rows[_month_end(issued_at[rows]) + days * DAY <= scenario.end + 1]
        issued += int(qty[rows[kind[rows] == kind_names.index(name)]].sum())
        expired += int(qty[rows[kind[rows] == kind_names.index("expire")]].sum())
    return expired, issued


def _month_end(instants: np.ndarray) -> np.ndarray:
    """The first instant of the calendar month after each instant (UTC).

    A search in the few month starts the instants span, not a datetime
    conversion of every instant.
    """
    if len(instants) == 0:
        return instants.copy()
    lo, hi = (np.array([instants.min(), instants.max()]).astype("datetime64[s]")
              .astype("datetime64[M]"))  # fmt: skip
    starts = np.arange(lo, hi + 2).astype("datetime64[s]").astype(np.int64)
    return starts[np.searchsorted(starts, instants, side="right")]


_NONE = np.iinfo(np.int64).min


def _seconds(col: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 Unix seconds, nulls as _NONE."""
    return col.cast(pa.int64()).fill_null(_NONE).to_numpy()


def _codes(col: pa.ChunkedArray) -> np.ndarray:
    return col.combine_chunks().indices.to_numpy()


def _names(col: pa.ChunkedArray) -> list[str]:
    return col.combine_chunks().dictionary.to_pylist()


def _text(col: pa.ChunkedArray) -> np.ndarray:
    """A text column (plain or dictionary) as a numpy array of str."""
    arr = col.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        names = np.asarray(arr.dictionary.to_pylist(), dtype=object)
        return names[arr.indices.to_numpy()]
    return np.asarray(arr.to_pylist(), dtype=object)


def _parse_iso(col: pa.ChunkedArray) -> np.ndarray:
    ts = pc.strptime(col, format="%Y-%m-%dT%H:%M:%SZ", unit="s")
    return ts.cast(pa.int64()).to_numpy()


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def write_run(
    result: RunResult, out: str | Path, before_publish: Callable[[Path], Any] | None = None
) -> Path:
    """Write the run directory ``out`` (created; its parent must exist or is made).

    Everything is written into a hidden ``.NAME.*.partial`` folder beside
    ``out`` that is renamed into place at the end, so an interrupted write
    leaves no folder that looks complete. ``before_publish``, if given, is
    called with that folder once the tables and ``run.json`` are in it (the
    reports are written there), before the rename.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~current_umask())
        t = result.tables
        atomic_write_text(tmp / "scenario.yaml", dump_yaml(result.scenario.to_dict()))
        # Straight from Arrow (dictionary columns decoded): no pandas copy of
        # tables with tens of millions of rows.
        for name in ("ledger", "inmails", "members", "billing"):
            pq.write_table(plain_table(t.arrow[name]), tmp / f"{name}.parquet")
        pacsv.write_csv(t.history, tmp / "history.csv",
                        pacsv.WriteOptions(quoting_style="needed"))  # fmt: skip
        atomic_write_text(tmp / "summary.json", json.dumps(result.summary, indent=2) + "\n")
        # run.json last: its presence marks a complete run directory.
        atomic_write_text(tmp / "run.json", json.dumps(result.meta, indent=2) + "\n")
        if before_publish is not None:
            before_publish(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
