"""Utilisation and balances: what members did with their credits, and what they held.

Job: :func:`utilisation_members` (per member and tier held: credits granted,
bought, refunded and spent, InMails sent), :func:`utilisation` (its
distribution per tier) and :func:`balance_distribution` (end-of-day balances
per day of the window and tier), as ``*_sums`` and ``*_finish``.

Boundary: per member; the balance report replays each member's
``balance_after`` day by day, warm-up entries included, but counts only the
members present in the measured window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.reports.groups import (
    PERCENTILES,
    codes_key,
    empty_sums,
    group_rows,
    kind_sums_by_group,
    names_present,
    ordered_tiers,
    ratio,
    sort_rows,
    weighted_percentiles,
)
from simulator.reports.run_tables import RunMeta, RunTables, present_members, window_of
from simulator.timeutil import DAY

__all__ = [
    "balance_distribution",
    "balance_distribution_finish",
    "balance_distribution_sums",
    "utilisation",
    "utilisation_members",
    "utilisation_members_finish",
    "utilisation_members_sums",
]

_OUTSIDE = -2  # balance_distribution: the state of a member not (yet) present


def utilisation_members(tables: RunTables) -> pd.DataFrame:
    """Per member and tier held: credits granted, purchased, refunded, spent, InMails sent.

    A member appears once per tier on which it has a ledger entry (rejections
    included) or attempted an InMail in the window; a member with neither
    appears once, on its final tier, if it was present in the window (arrived
    by its end, not left before its start). ``inmails_sent`` counts accepted InMails
    (free or paid); ``utilisation`` = spent / granted (NaN without grants,
    e.g. on basic).
    """
    return utilisation_members_finish(utilisation_members_sums(tables))


_MEMBER_COUNTS = ["granted", "purchased", "refunded", "spent", "inmails_sent"]


def utilisation_members_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`utilisation_members`' sums: its counts per (member, tier), in no set order."""
    cols = tables.columns
    led, im, roster = cols.ledger, cols.inmails, cols.members
    rows = window_of(tables).ledger_rows
    sent = np.flatnonzero(window_of(tables).inmails)
    seen = np.zeros(len(led.member.names) + 1, dtype=bool)  # the last slot: no member
    seen[led.member.codes[rows]] = True
    seen[im.sender.codes[sent]] = True
    # Members with neither, among those present in the window (an open population's
    # members who left before it or arrive after it are not members of it).
    quiet = np.flatnonzero(~seen[roster.member.codes] & present_members(tables))
    # Three parts, one key each: window ledger entries, attempted InMails, quiet members.
    member = np.concatenate(
        [led.member.codes[rows], im.sender.codes[sent], roster.member.codes[quiet]]
    )
    tier = np.concatenate(
        [led.tier.codes[rows], im.tier.codes[sent], roster.final_tier.codes[quiet]]
    )
    columns = {"grant": "granted", "purchase": "purchased", "refund": "refunded", "spend": "spent"}
    if len(member) == 0:
        return empty_sums(["member", "tier"], _MEMBER_COUNTS)
    group, labels = group_rows(
        {"member": codes_key(led.member, member), "tier": codes_key(led.tier, tier)}
    )
    n_led, n_im = len(rows), len(sent)
    credits = kind_sums_by_group(group[:n_led], len(labels["member"]), led, rows, columns)
    inmails_sent = np.zeros(len(labels["member"]), dtype=np.int64)
    np.add.at(inmails_sent, group[n_led : n_led + n_im], im.accepted[sent].astype(np.int64))
    return pd.DataFrame({**labels, **credits, "inmails_sent": inmails_sent})


def utilisation_members_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`utilisation_members` from its sums (merged over batches: members never cross)."""
    if sums.empty:
        empty = empty_sums(["member", "tier"], _MEMBER_COUNTS)
        return empty.assign(utilisation=pd.Series(dtype=float))
    out = sort_rows(sums, ["tier", "member"]).reset_index(drop=True)
    out["utilisation"] = ratio(out["spent"], out["granted"])
    return out


def utilisation(
    tables: RunTables | None = None, members: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Distribution of per-member utilisation (spent / granted) per tier.

    Columns: ``tier``, ``members`` (member-tier pairs of
    :func:`utilisation_members`: a member who changed tier in the window counts in
    each tier it held, so the column can sum to more than the members),
    ``never_send_share`` (share of them that sent no accepted InMail),
    ``members_with_grants``, ``mean_utilisation`` and
    ``p10`` .. ``p90`` over the members with grants. Pass ``members`` (the
    frame of :func:`utilisation_members`) to avoid recomputing it; then
    ``tables`` is not needed.
    """
    if members is None:
        if tables is None:
            raise TypeError("utilisation needs tables or members")
        members = utilisation_members(tables)
    rows = []
    for tier in ordered_tiers(members["tier"]):
        sub = members[members["tier"] == tier]
        granted = sub[sub["granted"] > 0]["utilisation"].to_numpy(dtype=float)
        row: dict[str, Any] = {
            "tier": tier,
            "members": len(sub),
            "never_send_share": float((sub["inmails_sent"] == 0).mean()),
            "members_with_grants": len(granted),
            "mean_utilisation": float(granted.mean()) if len(granted) else math.nan,
        }
        weights = np.ones(len(granted), dtype=np.int64)
        for p, v in zip(PERCENTILES, weighted_percentiles(granted, weights), strict=True):
            row[f"p{p}"] = v
        rows.append(row)
    columns = ["tier", "members", "never_send_share", "members_with_grants", "mean_utilisation"]
    return pd.DataFrame(rows, columns=columns + [f"p{p}" for p in PERCENTILES])


def balance_distribution(tables: RunTables) -> pd.DataFrame:
    """Distribution over members of the end-of-day balance, per day of the window and tier.

    A member's balance at the end of a day (UTC) is the ``balance_after`` of
    its last ledger entry up to then (warm-up entries included), 0 before its
    first entry; its tier is that entry's tier, or its initial tier before it.
    Counted are the members present in the window: a member who arrives
    during it enters the count with its first entry, one who left before it
    or arrives after it is in no count, and one who leaves during it stays
    counted, on what it holds then.
    Columns: ``date`` (``YYYY-MM-DD``), ``tier`` (each tier, and ``all`` for
    every member), ``members``, ``mean_balance``, ``p10`` .. ``p90``,
    ``max_balance``. Days run from the date of ``measure_start`` to the date
    of ``end``; tiers with no member on a day have no row.
    """
    return balance_distribution_finish(balance_distribution_sums(tables), tables)


def balance_distribution_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`balance_distribution`'s sums: members per (tier or ``all``, day, balance).

    The cells that are not zero of each tier's day-by-balance histogram
    (``day`` counts from the day of ``measure_start``): counts of members,
    which add over batches of members.
    """
    first_day = tables.measure_start // DAY
    n_days = tables.end // DAY - first_day + 1
    cols = tables.columns
    led, roster = cols.ledger, cols.members
    times = led.time
    present = present_members(tables)
    # Members who left before the window, or arrive after it, are in no day's count.
    absent = np.zeros(len(led.member.names) + 1, dtype=bool)
    absent[roster.member.codes[~present]] = True
    keep = np.flatnonzero((times <= tables.end) & ~absent[led.member.codes])
    # Tiers in presentation order, of those the roster starts on or the ledger shows.
    seen = names_present(led.tier, roster.initial_tier.codes, led.tier.codes)
    tier_names = ordered_tiers(pd.Series(led.tier.names[seen], dtype=object))
    rank = pd.Index(tier_names).get_indexer(led.tier.names_and_empty)
    member_names = led.member.names
    if len(keep) == len(times):  # nothing after the end (every run): no copies
        member, kept_times = led.member.codes, times
    else:
        member, kept_times = led.member.codes[keep], times[keep]
    day = np.maximum(kept_times // DAY - first_day, 0)
    last = _last_of_each_day(member, day, kept_times, len(member_names), n_days)
    # Only each member's last entry of each day is read from here on.
    entries = keep[last]
    member, day = member[last], day[last]
    tier, balance = rank[led.tier.codes[entries]], led.balance_after[entries]

    starts = np.ones(len(member), dtype=bool)
    starts[1:] = member[1:] != member[:-1]
    # Everyone starts on its initial tier at balance 0; a member missing from the
    # members table starts on the tier of its first entry; a member who arrives
    # during the window (or is absent from it) starts outside every count
    # (_OUTSIDE) and enters it with its first entry.
    start_tier = np.full(len(member_names), -1, dtype=np.int64)
    start_tier[roster.member.codes] = rank[roster.initial_tier.codes]
    late = (roster.arrived_at > tables.measure_start) | ~present
    start_tier[roster.member.codes[late]] = _OUTSIDE
    unknown = start_tier[member[starts]] == -1
    start_tier[member[starts][unknown]] = tier[starts][unknown]
    new_tier = tier
    prev_tier = np.roll(new_tier, 1)
    prev_balance = np.roll(balance, 1)
    prev_tier[starts] = start_tier[member[starts]]
    prev_balance[starts] = 0
    initial_tiers = start_tier[start_tier >= 0]
    tier_code = {name: i for i, name in enumerate(tier_names)}

    cells = []
    # Per tier: histogram of (tier, balance) states per day; "all": of balances alone.
    for name, code in [*tier_code.items(), ("all", None)]:
        if code is None:
            new_sel = np.ones(len(member), dtype=bool)
            prev_sel = prev_tier != _OUTSIDE
            n_initial = len(initial_tiers)
        else:
            new_sel = new_tier == code
            prev_sel = prev_tier == code
            n_initial = int((initial_tiers == code).sum())
        new_balance, old_balance = balance[new_sel], prev_balance[prev_sel]
        values, where = _distinct([np.zeros(1, dtype=np.int64), new_balance, old_balance])
        counts = np.zeros((n_days, len(values)), dtype=np.int64)
        counts[0, where[0][0]] = n_initial  # everyone starts at balance 0
        flat_new = day[new_sel] * len(values) + where[1]
        flat_old = day[prev_sel] * len(values) + where[2]
        size = n_days * len(values)
        delta = np.bincount(flat_new, minlength=size) - np.bincount(flat_old, minlength=size)
        counts += delta.reshape(n_days, len(values))
        counts = counts.cumsum(axis=0)
        days, at = np.nonzero(counts)
        cells.append(
            pd.DataFrame(
                {
                    "tier": np.full(len(days), name, dtype=object),
                    "day": days.astype(np.int64),
                    "balance": values[at].astype(np.int64),
                    "members": counts[days, at],
                }
            )
        )
    return pd.concat(cells, ignore_index=True)


def balance_distribution_finish(sums: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`balance_distribution` from its sums (merged over batches)."""
    first_day = meta.measure_start // DAY
    n_days = meta.end // DAY - first_day + 1
    tier_of = sums["tier"].to_numpy()
    names = [t for t in pd.unique(tier_of) if t != "all"]
    rows = []
    for name in [*ordered_tiers(pd.Series(names, dtype=object)), "all"]:
        mine = tier_of == name
        # A balance held by nobody on any day changes no figure, so only cells held count.
        values, at = np.unique(sums["balance"].to_numpy(dtype=np.int64)[mine], return_inverse=True)
        counts = np.zeros((n_days, len(values)), dtype=np.int64)
        np.add.at(counts, (sums["day"].to_numpy(dtype=np.int64)[mine], at),
                  sums["members"].to_numpy(dtype=np.int64)[mine])  # fmt: skip
        if len(values) == 0:
            continue
        n = counts.sum(axis=1)
        cum = counts.cumsum(axis=1)
        frame = pd.DataFrame(
            {
                "date": np.datetime_as_string(
                    (first_day + np.arange(n_days)).astype("datetime64[D]")
                ),
                "tier": name,
                "members": n,
                "mean_balance": (counts @ values) / np.where(n > 0, n, 1),
            }
        )
        for p in PERCENTILES:
            frame[f"p{p}"] = values[np.argmax(cum * 100 >= p * n[:, None], axis=1)]
        nonzero = counts > 0
        frame["max_balance"] = values[len(values) - 1 - np.argmax(nonzero[:, ::-1], axis=1)]
        rows.append(frame[n > 0])
    if not rows:
        return _empty_balances()
    out = pd.concat(rows, ignore_index=True)
    out = out.sort_values("date", kind="stable").reset_index(drop=True)
    return out


def _empty_balances() -> pd.DataFrame:
    """:func:`balance_distribution` with no member on any day: its columns, no rows."""
    columns: dict[str, Any] = {
        "date": pd.Series(dtype=object),
        "tier": pd.Series(dtype=object),
        "members": pd.Series(dtype=np.int64),
        "mean_balance": pd.Series(dtype=np.float64),
    }
    columns.update({f"p{p}": pd.Series(dtype=np.int64) for p in PERCENTILES})
    columns["max_balance"] = pd.Series(dtype=np.int64)
    return pd.DataFrame(columns)


def _distinct(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct integers of ``parts`` (ascending), and each element's position among them.

    Integers in a narrow range (balances) are marked in a table, not sorted.
    """
    every = [np.asarray(p, dtype=np.int64) for p in parts]
    nonempty = [p for p in every if len(p)]
    low = min(int(p.min()) for p in nonempty)
    high = max(int(p.max()) for p in nonempty)
    size = sum(len(p) for p in every)
    if high - low + 1 <= max(4 * size, 1 << 16):
        present = np.zeros(high - low + 1, dtype=bool)
        for p in nonempty:
            present[p - low] = True
        position = np.cumsum(present) - 1
        return np.flatnonzero(present) + low, [position[p - low] for p in every]
    values = np.unique(np.concatenate(every))
    return values, [np.searchsorted(values, p) for p in every]


def _last_of_each_day(
    member: np.ndarray, day: np.ndarray, time: np.ndarray, n_members: int, n_days: int
) -> np.ndarray:
    """Positions of each member's last entry of each day, ordered by member, then day.

    "Last" is by time, then table order (the engine's order within an
    instant). A ledger in time order (every run's) needs no sort: the last
    position of each (member, day) slot is kept in a dense table. Otherwise,
    or when that table would be too large, the entries are sorted.
    """
    n = len(member)
    slots = (n_members + 1) * n_days
    if n and slots <= max(4 * n, 1 << 20) and bool((time[1:] >= time[:-1]).all()):
        slot = np.where(member < 0, n_members, member).astype(np.int64) * n_days + day
        last = np.full(slots, -1, dtype=np.int64)
        np.maximum.at(last, slot, np.arange(n, dtype=np.int64))
        return last[last >= 0]
    order = np.lexsort((np.arange(n), time, member))
    m, d = member[order], day[order]
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = (m[1:] != m[:-1]) | (d[1:] != d[:-1])
    return order[is_last]
