"""Expiry waste: credits issued and lost per tier and month, per lot source, and their ages.

Job: :func:`expiry_waste` (per tier and calendar month), :func:`expiry_waste_by_source`
(per tier and lot source, with ``all`` margins) and :func:`credit_age` (how old
credits were when spent or expired), each as the pair ``*_sums`` (what one batch
of members contributes) and ``*_finish`` (rates, percentiles and order, from the
sums of every batch added: :mod:`simulator.reports.sums`).

Boundary: figures over the measured window only; following each lot to its fate
is :mod:`simulator.reports.vintages`'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.reports.groups import (
    KIND_COLUMNS,
    PERCENTILES,
    coded,
    integer_percentiles,
    kind_sums,
    month_key,
    month_labels,
    ordered_tiers,
    ratio,
    sort_rows,
)
from simulator.reports.run_tables import (
    RunMeta,
    RunTables,
    window_months,
    window_of,
    window_rows,
)
from simulator.timeutil import DAY

__all__ = [
    "AgeHistograms",
    "add_age_histograms",
    "credit_age",
    "credit_age_finish",
    "credit_age_sums",
    "expiry_waste",
    "expiry_waste_by_source",
    "expiry_waste_by_source_finish",
    "expiry_waste_by_source_sums",
    "expiry_waste_finish",
    "expiry_waste_sums",
]

_SOURCES = ("grant", "purchase", "refund")  # lot sources in presentation order


def expiry_waste(tables: RunTables) -> pd.DataFrame:
    """Credits issued and lost per tier and calendar month of the ledger entry.

    One row per tier (seen on a credit-moving entry in the window) and per
    month of the window, zeros where nothing happened. Columns: ``tier``,
    ``month``, ``granted``, ``purchased``, ``refunded``, ``credits_issued``
    (their sum), ``spent``, ``credits_expired``, ``capped``, ``forfeited``,
    ``waste_rate`` (credits_expired / credits_issued), ``lost_rate``
    ((expired + capped + forfeited) / credits_issued) and
    ``expired_value_cents`` (expired credits at the purchase price). Both rates
    compare a month's outflow with the same month's inflow, so one month can
    exceed 1; over the whole window they are the waste of the run.
    """
    return expiry_waste_finish(expiry_waste_sums(tables), tables)


def expiry_waste_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`expiry_waste`'s integer sums: credits of each kind per (tier, month code)."""
    led = tables.columns.ledger
    rows = window_of(tables).credit_rows
    return kind_sums(
        {"tier": coded(led.tier, rows), "_month": month_key(led.time[rows])}, led, rows
    )


def expiry_waste_finish(sums: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`expiry_waste` from its sums (merged over batches: :mod:`simulator.reports.sums`)."""
    tiers = ordered_tiers(sums["tier"])
    index = pd.MultiIndex.from_product([tiers, window_months(meta)], names=["tier", "_month"])
    sums = sums.set_index(["tier", "_month"]).reindex(index, fill_value=0)
    out = _waste_columns(sums).reset_index()
    out.insert(1, "month", month_labels(out.pop("_month").to_numpy()))
    return _finish_waste(out, meta.credit_price_cents)


def expiry_waste_by_source(tables: RunTables) -> pd.DataFrame:
    """Expiry waste of the whole window per tier and lot source, with ``all`` margins.

    One row per (tier, lot_source) seen, plus ``tier == "all"`` rows per source,
    ``lot_source == "all"`` rows per tier, and the grand total (``all``, ``all``).
    Columns as :func:`expiry_waste` without ``month``. A lot's source is where
    its credits came from (grant, purchase, refund), so "issued" of a source
    is its own kind of entry.
    """
    return expiry_waste_by_source_finish(expiry_waste_by_source_sums(tables), tables)


def expiry_waste_by_source_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`expiry_waste_by_source`'s sums: credits of each kind per (tier, lot_source)."""
    led = tables.columns.ledger
    rows = window_of(tables).credit_rows
    return kind_sums(
        {"tier": coded(led.tier, rows), "lot_source": coded(led.lot_source, rows)}, led, rows
    )


def expiry_waste_by_source_finish(cells: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`expiry_waste_by_source` from its sums."""
    kinds = list(KIND_COLUMNS)
    parts = [cells]
    for keys in (["lot_source"], ["tier"], []):
        margin = (
            cells.groupby(keys, sort=False)[kinds].sum().reset_index()
            if keys
            else cells[kinds].sum().to_frame().T
        )
        for key in ("tier", "lot_source"):
            if key not in keys:
                margin[key] = "all"
        parts.append(margin)
    out = pd.concat(parts, ignore_index=True)
    out = sort_rows(out, ["tier", "lot_source"]).set_index(["tier", "lot_source"])
    out = _waste_columns(out).reset_index()
    return _finish_waste(out, meta.credit_price_cents)


def credit_age(tables: RunTables) -> pd.DataFrame:
    """Age of credits (days since their lot was issued) when spent and when expired.

    One row per ``event`` (``spent``, ``expired``) and ``lot_source`` (each
    source seen, and ``all``): ``credits``, ``mean_days``, ``p10_days`` ..
    ``p90_days`` and ``max_days``, weighted by credits (an expiry of 3 credits
    counts three times).
    """
    return credit_age_finish(credit_age_sums(tables))


#: Per (event, lot source; None for entries without one): the distinct ages in whole
#: seconds, ascending, and the credits of each. Its size is bounded by the distinct
#: ages (at most the run's length in seconds per key), not by the entries.
AgeHistograms = dict[tuple[str, Any], tuple[np.ndarray, np.ndarray]]


def credit_age_sums(tables: RunTables) -> AgeHistograms:
    """:func:`credit_age`'s sums: integer histograms of credit ages (:data:`AgeHistograms`)."""
    led = tables.columns.ledger
    rows = window_rows(tables, led.kind.mask("spend", "expire"))
    seconds = (led.time[rows] - led.lot_issued_at[rows]).astype(np.int64)  # whole seconds
    spent = led.kind.codes[rows] == led.kind.code("spend")
    sources = led.lot_source.codes[rows]
    credits = led.quantity[rows].astype(np.int64)
    out: AgeHistograms = {}
    for event, in_event in (("spent", spent), ("expired", ~spent)):
        # Every source seen is a key, even one of no credits.
        for code in np.unique(sources[in_event]):
            mine = in_event & (sources == code)
            out[(event, led.lot_source.labels(np.array([code]))[0])] = _histogram(
                seconds[mine], credits[mine]
            )
    return out


#: Ages spanning at most this many seconds (194 days) are added in a dense table of
#: int64 counts (128 MiB at most) instead of sorted: no copy of every part's arrays.
_DENSE_AGES = 1 << 24


def add_age_histograms(parts: Sequence[AgeHistograms]) -> AgeHistograms:
    """:data:`AgeHistograms` added key by key (credits of equal ages summed)."""
    keys: dict[tuple[str, Any], None] = {}
    for part in parts:
        keys.update(dict.fromkeys(part))
    out: AgeHistograms = {}
    for key in keys:
        held = [part[key] for part in parts if key in part and len(part[key][0])]
        if len(held) <= 1:
            out[key] = held[0] if held else next(p[key] for p in parts if key in p)
            continue
        low = min(int(v[0]) for v, _ in held)  # each part's ages are ascending
        high = max(int(v[-1]) for v, _ in held)
        if high - low < _DENSE_AGES:
            counts = np.zeros(high - low + 1, dtype=np.int64)
            for values, weights in held:
                counts[values - low] += weights  # a part's ages are distinct
            ages = np.flatnonzero(counts)
            out[key] = (ages + low, counts[ages])
        else:
            out[key] = _histogram(
                np.concatenate([v for v, _ in held]), np.concatenate([w for _, w in held])
            )
    return out


def _histogram(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``values`` ascending, and the sum of ``weights`` of each (int64)."""
    if len(values) == 0:
        return values.astype(np.int64), weights.astype(np.int64)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return values[starts], np.add.reduceat(weights, starts)


def credit_age_finish(sums: AgeHistograms) -> pd.DataFrame:
    """:func:`credit_age` from its sums (merged over batches: :mod:`simulator.reports.sums`)."""
    rows_out = []
    for event in ("spent", "expired"):
        mine = {source: hist for (e, source), hist in sums.items() if e == event}
        # Sources seen (an entry without one counts only under "all", as a groupby drops it).
        present = {str(s) for s in mine if s is not None}
        ordered = [s for s in _SOURCES if s in present]
        ordered += sorted(s for s in present if s not in _SOURCES)
        for source in [*ordered, "all"]:
            if source == "all":
                every = list(mine.values())
                seconds, weights = _histogram(
                    np.concatenate([np.zeros(0, dtype=np.int64), *(v for v, _ in every)]),
                    np.concatenate([np.zeros(0, dtype=np.int64), *(w for _, w in every)]),
                )
            else:
                seconds, weights = mine[source]
            total = int(weights.sum())
            row: dict[str, Any] = {"event": event, "lot_source": source, "credits": total}
            # Exact: whole seconds times credits summed as integers, one division,
            # so the mean does not depend on the rows' order (the run's batches).
            credit_seconds = int(np.dot(seconds, weights))
            row["mean_days"] = credit_seconds / (total * DAY) if total else math.nan
            *percentiles, top = integer_percentiles(seconds, weights)
            for p, v in zip(PERCENTILES, percentiles, strict=True):
                row[f"p{p}_days"] = v / DAY
            row["max_days"] = top / DAY
            rows_out.append(row)
    columns = ["event", "lot_source", "credits", "mean_days"]
    columns += [f"p{p}_days" for p in PERCENTILES] + ["max_days"]
    return pd.DataFrame(rows_out, columns=columns)


def _waste_columns(sums: pd.DataFrame) -> pd.DataFrame:
    sums = sums.reindex(columns=list(KIND_COLUMNS), fill_value=0).rename(columns=KIND_COLUMNS)
    sums = sums.astype(np.int64)
    sums.insert(3, "credits_issued", sums["granted"] + sums["purchased"] + sums["refunded"])
    return sums


def _finish_waste(out: pd.DataFrame, price_cents: int) -> pd.DataFrame:
    out = out.reset_index(drop=True)
    lost = out["credits_expired"] + out["capped"] + out["forfeited"]
    out["waste_rate"] = ratio(out["credits_expired"], out["credits_issued"])
    out["lost_rate"] = ratio(lost, out["credits_issued"])
    out["expired_value_cents"] = out["credits_expired"].astype(np.int64) * int(price_cents)
    out.columns.name = None
    return out
