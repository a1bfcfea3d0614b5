"""Credit vintages: each month's lots followed from their issue to their fate.

Job: :func:`credit_vintages` (credits issued per tier at issue, lot source,
issue month and side of the window's start, and how many were spent, expired,
capped, forfeited or still live at the end), as ``*_sums`` and ``*_finish``,
and :func:`vintage_waste_rate`, the waste of the window's settled vintages.

Boundary: unlike the other reports, a vintage reads the whole run, warm-up
included; a month's outflow against its inflow is :mod:`simulator.reports.waste`'.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.columns import NAT
from simulator.reports.groups import (
    coded,
    div,
    empty_sums,
    group_rows,
    kind_sums_by_group,
    month_key,
    month_labels,
    ratio,
    sort_rows,
)
from simulator.reports.run_tables import RunTables
from simulator.table_columns import LedgerColumns
from simulator.timeutil import DAY, parse_instant

__all__ = [
    "credit_vintages",
    "credit_vintages_finish",
    "credit_vintages_sums",
    "vintage_waste_rate",
]

_ISSUE_KINDS = ("grant", "purchase", "refund")
_FATE_COLUMNS = {"spend": "spent", "expire": "expired", "cap": "capped", "forfeit": "forfeited"}
_VINTAGE_COLUMNS = (
    "tier",
    "lot_source",
    "issue_month",
    "warmup",
    "issued",
    *_FATE_COLUMNS.values(),
    "live_at_end",
    "waste_rate",
)


def credit_vintages(tables: RunTables) -> pd.DataFrame:
    """Credits issued per vintage, and where they went by the end of the run.

    A vintage is the lots of one tier at issue, lot source, calendar month of
    issue (UTC) and side of the measured window's start: one row per
    (``tier``, ``lot_source``, ``issue_month``, ``warmup``) with credits
    issued, over the whole run, warm-up included (every ledger entry). A
    month that straddles ``measure_start`` gives two rows: ``warmup`` is True
    for the lots issued before it.

    - ``tier``: the member's tier on the entry that issued the lot (its
      grant, purchase or refund entry), not on the entry that spent or
      expired it;
    - ``issued``: credits of the grant, purchase and refund entries;
    - ``spent``, ``expired``, ``capped``, ``forfeited``: credits that left
      those lots through such entries, at any time up to the end;
    - ``live_at_end`` = issued - spent - expired - capped - forfeited: the
      credits of those lots still held at the end (>= 0 by the ledger's
      conservation, RULES.md section 5);
    - ``waste_rate`` = expired / issued, NaN (an empty CSV cell) where
      ``live_at_end`` > 0: the fate of those credits is not known yet.

    Unlike :func:`expiry_waste`, which sets a month's expiries against the
    same month's issuance, this follows each month's credits to their fate.
    Rows are sorted by tier (:data:`TIER_ORDER`), lot source (grant,
    purchase, refund), issue month, then ``warmup`` (False first). Entries
    without a lot (no ``lot_issued_at`` or ``lot_source``), and spend,
    expire, cap and forfeit entries whose lot has no issuing entry in the
    ledger (a ledger cut short by hand), belong to no vintage and are left out.
    """
    return credit_vintages_finish(credit_vintages_sums(tables))


_VINTAGE_KEYS = ("tier", "lot_source", "_month", "warmup")


def credit_vintages_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`credit_vintages`' sums: credits issued and of each fate per vintage key.

    A lot and its fates are of one member, so a batch of members holds them all.
    """
    led = tables.columns.ledger
    has_lot = (led.lot_issued_at != NAT) & (led.lot_source.codes >= 0)
    issues = np.flatnonzero(led.kind.mask(*_ISSUE_KINDS) & has_lot)
    if len(issues) == 0:
        return empty_sums(_VINTAGE_KEYS, ["issued", *_FATE_COLUMNS.values()])
    fates = np.flatnonzero(led.kind.mask(*_FATE_COLUMNS) & has_lot)
    # The vintage of each issuing entry; a fate entry's is that of its lot's issuing entry.
    issued_at = led.lot_issued_at[issues]
    group, labels = group_rows(
        {
            "tier": coded(led.tier, issues),
            "lot_source": coded(led.lot_source, issues),
            "_month": month_key(issued_at),
            "warmup": (
                (issued_at < tables.measure_start).astype(np.int64),
                np.array([False, True], dtype=object),
            ),
        }
    )
    n_groups = len(labels["tier"])
    issued = np.zeros(n_groups, dtype=np.int64)
    np.add.at(issued, group, led.quantity[issues])
    fate_group, fate_rows = _fate_vintages(led, issues, group, fates)
    sums = kind_sums_by_group(fate_group, n_groups, led, fate_rows, _FATE_COLUMNS)
    out = pd.DataFrame(labels)
    out["warmup"] = out["warmup"].astype(bool)
    out["issued"] = issued
    for name in _FATE_COLUMNS.values():
        out[name] = sums[name]
    return out


def credit_vintages_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`credit_vintages` from its sums (added over batches: :mod:`simulator.reports.sums`)."""
    if sums.empty:
        return _empty_vintages()
    out = sums[sums["issued"] > 0].copy()
    out["warmup"] = out["warmup"].astype(bool)
    out = sort_rows(out, ["tier", "lot_source", "_month", "warmup"]).reset_index(drop=True)
    out.insert(2, "issue_month", month_labels(out.pop("_month").to_numpy()))
    return _vintage_rates(out)


def vintage_waste_rate(
    vintages: pd.DataFrame,
    end: int | str,
    grant_expiry_days: int | None = 90,
    refund_expiry_days: int | None = 90,
) -> float:
    """Expired / issued credits over the vintages of the window that have all met their fate.

    Sums the rows of :func:`credit_vintages` with ``warmup`` False, lot source
    ``grant`` (or ``refund``) and an issue month whose last second plus
    ``grant_expiry_days`` (or ``refund_expiry_days``) days is at or before
    ``end`` (Unix seconds or ISO 8601), so every lot in them has expired by
    the end if nothing else took its credits. A source whose expiry is
    ``None`` (never) counts nowhere; NaN when no credit qualifies.
    """
    stop = parse_instant(end) if isinstance(end, str) else int(end)
    if vintages.empty:
        return math.nan
    months = vintages["issue_month"].to_numpy().astype("datetime64[M]")
    # The month's last second: the next month's first, less one.
    last_second = (months + 1).astype("datetime64[s]").view(np.int64) - 1
    source = vintages["lot_source"].to_numpy()
    settled = np.zeros(len(vintages), dtype=bool)
    for name, days in (("grant", grant_expiry_days), ("refund", refund_expiry_days)):
        if days is not None:
            settled |= (source == name) & (last_second + int(days) * DAY <= stop)
    settled &= ~vintages["warmup"].to_numpy(dtype=bool)
    issued = int(vintages["issued"].to_numpy()[settled].sum())
    return div(int(vintages["expired"].to_numpy()[settled].sum()), issued)


def _fate_vintages(
    led: LedgerColumns, issues: np.ndarray, issue_group: np.ndarray, fates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The vintage of each of ``fates`` whose lot has an issuing entry, and those fates' rows.

    ``issue_group`` is the vintage of each of ``issues``. A lot is found by
    (member, lot_issued_at, lot_source), not by its id (text, costly to
    read). That key may name several lots, but never lots of different
    vintages: they share the month, the source and, by RULES.md R10, the
    tier at issue. One instant writes at most one grant per member (step 5);
    two refund lots of a member at one instant are both issued in steps 1-2,
    before any tier change (step 4); two purchase lots both in step 6, after
    it. So any issuing entry of the key gives the fate's vintage.
    """
    issue_key, fate_key = _lot_keys(led, issues, fates)
    if len(fate_key) == 0:
        return np.zeros(0, dtype=np.int64), fates
    # A run's issuing entries are nearly in key order already (the ledger is in
    # time order): a stable sort of them is quick. The fate keys are sorted
    # too, so the search walks the issue keys once; sums do not need the order.
    order = np.argsort(issue_key, kind="stable")
    issue_key = issue_key[order]
    fate_order = np.argsort(fate_key)
    wanted = fate_key[fate_order]
    at = np.minimum(np.searchsorted(issue_key, wanted), len(issue_key) - 1)
    found = issue_key[at] == wanted
    return issue_group[order[at[found]]], fates[fate_order[found]]


def _lot_keys(
    led: LedgerColumns, issues: np.ndarray, fates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per row of ``issues`` and of ``fates``: equal when the lots' keys are.

    The key is (member, lot_issued_at, lot_source). Instants are counted
    from the earliest one; when that would overflow (instants centuries
    apart, written by hand), they are numbered instead.
    """
    members = len(led.member.names) + 1  # the last slot: no member
    sources = len(led.lot_source.names) + 1
    at = [led.lot_issued_at[issues], led.lot_issued_at[fates]]
    first = min(int(a.min()) for a in at if len(a))
    last = max(int(a.max()) for a in at if len(a))
    if (last - first + 1) * members * sources >= 2**62:
        numbered = pd.factorize(np.concatenate(at))[0].astype(np.int64)
        instants = [numbered[: len(issues)], numbered[len(issues) :]]
    else:
        instants = [a - first for a in at]
    keys = []
    for rows, instant in zip((issues, fates), instants, strict=True):
        member = led.member.codes[rows].astype(np.int64)
        member[member < 0] = members - 1
        key = instant * members
        key += member
        key *= sources
        key += led.lot_source.codes[rows]
        keys.append(key)
    return keys[0], keys[1]


def _vintage_rates(out: pd.DataFrame) -> pd.DataFrame:
    """Add ``live_at_end`` and ``waste_rate`` (NaN while credits are live) to vintage sums."""
    fates = out[list(_FATE_COLUMNS.values())].sum(axis=1).astype(np.int64)
    out["live_at_end"] = out["issued"] - fates
    rate = ratio(out["expired"], out["issued"])
    out["waste_rate"] = rate.where(out["live_at_end"] == 0)
    for name in ("issued", *_FATE_COLUMNS.values(), "live_at_end"):
        out[name] = out[name].astype(np.int64)
    return out[list(_VINTAGE_COLUMNS)]


def _empty_vintages() -> pd.DataFrame:
    """:func:`credit_vintages` of a ledger with no lot: its columns, no rows."""
    out = pd.DataFrame(
        {
            "tier": pd.Series(dtype=object),
            "lot_source": pd.Series(dtype=object),
            "issue_month": pd.Series(dtype=object),
            "warmup": pd.Series(dtype=bool),
            "issued": pd.Series(dtype=np.int64),
        }
    )
    for name in _FATE_COLUMNS.values():
        out[name] = pd.Series(dtype=np.int64)
    return _vintage_rates(out)
