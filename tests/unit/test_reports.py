"""Reports on a tiny run written by hand, with every expected number worked out below.

The run (``small_run``): warm-up from 2023-10-01, measured window 2024-01-01 ..
2024-02-29T23:59:59Z (months 2024-01 and 2024-02), refunds ``no_response_within``
7 days, credits at 1000 cents, 90-day grant expiry.

- a: premium_career ("pc") since 2023-10-15 09:00, 5 credits on the 15th at
  09:00. Lot a:1 (10-15) expires 2024-01-13 09:00 (Oct 15 + 16 + 30 + 31 + 13
  days = 90), a:2 (11-15) on 2024-02-13 09:00. InMails: m1 (warm-up, 12-28,
  no response, refunded 01-04 in the window), m2 (01-10, reply after 1 day),
  m3 (01-20, refunded 01-27), m4 (02-25, window ends 03-03: unsettled).
- b: basic. 01-05 10:00 send m5 rejected no_credit; buys 3 at 10:05; m6 at
  10:10 (accept after 10 days: late, refunded 01-12); a purchase of 11
  rejected (quantity) 02-02; m7 02-03 from the refund lot (decline after 1 day);
  m8 02-10 free (Open Profile, no ledger entry).
- c: subscribes to sales_navigator at 2024-01-01 00:00 (50 credits), changes to
  premium_business at 02-01 00:00 (forfeits 50, is granted 15). Never sends.
- d: basic, does nothing.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from simulator import reports
from simulator.errors import InputError
from simulator.reports import (
    HEADLINE_DEFINITIONS,
    PLOT_NAMES,
    REPORT_NAMES,
    REPORTS,
    RunTables,
    balance_distribution,
    credit_age,
    credit_vintages,
    display,
    expiry_waste,
    expiry_waste_by_source,
    files,
    headline,
    length_bucket,
    load_run_tables,
    purchases_revenue,
    refund_cuts,
    refund_rates,
    refund_totals,
    rejections,
    response_delays,
    utilisation,
    utilisation_members,
    vintage_waste_rate,
    write_replications,
    write_reports,
    write_tables,
)

NAN = math.nan
PC, PB, SN = "premium_career", "premium_business", "sales_navigator"

# The run's tables as text: "|" separates cells, an empty cell is "" (or NaT for an
# instant), times are UTC to the second (ISO 8601 without the "Z"), and tiers are
# abbreviated: pc = premium_career, pb = premium_business, sn = sales_navigator.
LEDGER = """
time                | member | tier  | kind     | lot | lot_source | lot_issued_at       | quantity | inmail | reason    | balance_after
2023-10-15T09:00:00 | a      | pc    | grant    | a:1 | grant      | 2023-10-15T09:00:00 | 5        |        |           | 5
2023-11-15T09:00:00 | a      | pc    | grant    | a:2 | grant      | 2023-11-15T09:00:00 | 5        |        |           | 10
2023-12-15T09:00:00 | a      | pc    | grant    | a:3 | grant      | 2023-12-15T09:00:00 | 5        |        |           | 15
2023-12-28T10:00:00 | a      | pc    | spend    | a:1 | grant      | 2023-10-15T09:00:00 | 1        | m1     |           | 14
2024-01-01T00:00:00 | c      | sn    | grant    | c:1 | grant      | 2024-01-01T00:00:00 | 50       |        |           | 50
2024-01-04T10:00:00 | a      | pc    | refund   | a:4 | refund     | 2024-01-04T10:00:00 | 1        | m1     |           | 15
2024-01-05T10:00:00 | b      | basic | reject   |     |            |                     | 0        | m5     | no_credit | 0
2024-01-05T10:05:00 | b      | basic | purchase | b:1 | purchase   | 2024-01-05T10:05:00 | 3        |        |           | 3
2024-01-05T10:10:00 | b      | basic | spend    | b:1 | purchase   | 2024-01-05T10:05:00 | 1        | m6     |           | 2
2024-01-10T08:00:00 | a      | pc    | spend    | a:1 | grant      | 2023-10-15T09:00:00 | 1        | m2     |           | 14
2024-01-12T10:10:00 | b      | basic | refund   | b:2 | refund     | 2024-01-12T10:10:00 | 1        | m6     |           | 3
2024-01-13T09:00:00 | a      | pc    | expire   | a:1 | grant      | 2023-10-15T09:00:00 | 3        |        |           | 11
2024-01-15T09:00:00 | a      | pc    | grant    | a:5 | grant      | 2024-01-15T09:00:00 | 5        |        |           | 16
2024-01-20T12:00:00 | a      | pc    | spend    | a:2 | grant      | 2023-11-15T09:00:00 | 1        | m3     |           | 15
2024-01-27T12:00:00 | a      | pc    | refund   | a:6 | refund     | 2024-01-27T12:00:00 | 1        | m3     |           | 16
2024-02-01T00:00:00 | c      | sn    | forfeit  | c:1 | grant      | 2024-01-01T00:00:00 | 50       |        |           | 0
2024-02-01T00:00:00 | c      | pb    | grant    | c:2 | grant      | 2024-02-01T00:00:00 | 15       |        |           | 15
2024-02-02T09:00:00 | b      | basic | reject   |     |            |                     | 0        |        | quantity  | 3
2024-02-03T09:00:00 | b      | basic | spend    | b:2 | refund     | 2024-01-12T10:10:00 | 1        | m7     |           | 2
2024-02-13T09:00:00 | a      | pc    | expire   | a:2 | grant      | 2023-11-15T09:00:00 | 4        |        |           | 12
2024-02-15T09:00:00 | a      | pc    | grant    | a:7 | grant      | 2024-02-15T09:00:00 | 5        |        |           | 17
2024-02-25T10:00:00 | a      | pc    | spend    | a:3 | grant      | 2023-12-15T09:00:00 | 1        | m4     |           | 16
"""  # noqa: E501

INMAILS = """
inmail | sender | tier  | sent_at             | category           | subject_chars | body_chars | free  | paid  | rejection | response | responded_at        | refunded_at         | window_end
m1     | a      | pc    | 2023-12-28T10:00:00 | job_inquiry        | 40            | 300        | False | True  |           |          |                     | 2024-01-04T10:00:00 | 2024-01-04T10:00:00
m2     | a      | pc    | 2024-01-10T08:00:00 | career_opportunity | 50            | 350        | False | True  |           | reply    | 2024-01-11T08:00:00 |                     | 2024-01-17T08:00:00
m3     | a      | pc    | 2024-01-20T12:00:00 | career_opportunity | 60            | 900        | False | True  |           |          |                     | 2024-01-27T12:00:00 | 2024-01-27T12:00:00
m4     | a      | pc    | 2024-02-25T10:00:00 | job_inquiry        | 30            | 1500       | False | True  |           |          |                     |                     | 2024-03-03T10:00:00
m5     | b      | basic | 2024-01-05T10:00:00 | career_opportunity | 20            | 200        | False | False | no_credit |          |                     |                     |
m6     | b      | basic | 2024-01-05T10:10:00 | business_deal      | 25            | 600        | False | True  |           | accept   | 2024-01-15T10:10:00 | 2024-01-12T10:10:00 | 2024-01-12T10:10:00
m7     | b      | basic | 2024-02-03T09:00:00 | business_deal      | 25            | 600        | False | True  |           | decline  | 2024-02-04T09:00:00 |                     | 2024-02-10T09:00:00
m8     | b      | basic | 2024-02-10T12:00:00 | get_back_in_touch  | 10            | 100        | True  | False |           | reply    | 2024-02-11T12:00:00 |                     |
"""  # noqa: E501

MEMBERS = """
member | cohort | initial_tier | final_tier | subscribed_at       | sends_per_month
a      | c1     | pc           | pc         | 2023-10-15T09:00:00 | 3.0
b      | c2     | basic        | basic      |                     | 2.0
c      | c1     | basic        | pb         | 2024-01-01T00:00:00 | 0.0
d      | c2     | basic        | basic      |                     | 0.0
"""

BILLING = """
member | tier | time                | amount_cents
a      | pc   | 2023-10-15T09:00:00 | 2999
a      | pc   | 2023-11-15T09:00:00 | 2999
a      | pc   | 2023-12-15T09:00:00 | 2999
a      | pc   | 2024-01-15T09:00:00 | 2999
a      | pc   | 2024-02-15T09:00:00 | 2999
c      | sn   | 2024-01-01T00:00:00 | 9999
c      | pb   | 2024-02-01T00:00:00 | 5999
"""

_TIERS = {"pc": PC, "pb": PB, "sn": SN, "basic": "basic"}
_INSTANTS = {
    "time",
    "lot_issued_at",
    "sent_at",
    "responded_at",
    "refunded_at",
    "window_end",
    "subscribed_at",
}
_INTS = {"quantity", "balance_after", "subject_chars", "body_chars", "amount_cents"}


def parse_table(text: str) -> pd.DataFrame:
    """A table written as "|"-separated text, with the column types of the run tables."""
    header, *lines = [line for line in text.strip().splitlines()]
    names = [cell.strip() for cell in header.split("|")]
    rows = [[cell.strip() for cell in line.split("|")] for line in lines]
    out = pd.DataFrame(rows, columns=names)
    for name in names:
        column = out[name]
        if name in _INSTANTS:
            out[name] = pd.to_datetime(column.replace("", None), utc=True).astype(
                "datetime64[s, UTC]"
            )
        elif name in _INTS:
            out[name] = column.astype(np.int64)
        elif name in ("free", "paid"):
            out[name] = column == "True"
        elif name == "sends_per_month":
            out[name] = column.astype(float)
        elif "tier" in name:
            out[name] = column.map(_TIERS)
    return out


def small_run(measure_start: str = "2024-01-01T00:00:00Z", **meta) -> RunTables:
    """The hand-written run of the module docstring, as the simulator's tables."""
    run = {
        "format_version": 2,
        "sim_start": "2023-10-01T00:00:00Z",
        "measure_start": measure_start,
        "end": "2024-02-29T23:59:59Z",
        "seed": 7,
        "scenario": "hand",
        "refund_mode": "no_response_within",
        "refund_window_days": 7,
        "credit_price_cents": 1000,
        "currency": "USD",
        **meta,
    }
    return RunTables(
        ledger=parse_table(LEDGER),
        inmails=parse_table(INMAILS),
        members=parse_table(MEMBERS),
        billing=parse_table(BILLING),
        meta=run,
    )


def write_run(tables: RunTables, root: Path, summary: dict | None = None) -> Path:
    """Write ``tables`` as a run directory (format 2: one part per table, one batch, listed
    in run.json with its row counts; an empty history part, which no report reads)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in ("ledger", "inmails", "members", "billing"):
        (root / name).mkdir(exist_ok=True)
        frame = getattr(tables, name)
        frame.to_parquet(root / name / "part-00000.parquet")
        rows[name] = len(frame)
    (root / "history").mkdir(exist_ok=True)
    (root / "history" / "part-00000.csv").write_text("time,member,action\n")
    rows["history"] = 0
    batches = [{"index": 0, "members": [0, len(tables.members)], "rows": rows}]
    (root / "run.json").write_text(json.dumps({**tables.meta, "batches": batches}))
    (root / "summary.json").write_text(json.dumps(summary or {"refund_rate": 0.5}))
    return root


def columns(text: str) -> list[str]:
    """Column names written as one space-separated string."""
    return text.split()


def frame(rows, names) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=names)


def check(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected, check_dtype=False, rtol=1e-9, atol=1e-9
    )


WASTE = columns(
    "granted purchased refunded credits_issued spent credits_expired capped "
    "forfeited waste_rate lost_rate expired_value_cents"
)


# -- expiry waste -----------------------------------------------------------


def test_expiry_waste_per_tier_and_month():
    """Expiry waste has one row per tier and window month with hand-computed flows."""
    expected = frame(
        [
            # b bought 3 and got m6's refund (issued 4), spent m6; nothing expired.
            ("basic", "2024-01", 0, 3, 1, 4, 1, 0, 0, 0, 0 / 4, 0 / 4, 0),
            # b spent m7 only: nothing issued, so the rates are undefined.
            ("basic", "2024-02", 0, 0, 0, 0, 1, 0, 0, 0, NAN, NAN, 0),
            # a: grant 01-15 (5) + refunds of m1, m3 (2) = 7; spent m2, m3; a:1 expired 3;
            # 3 x 1000 cents.
            (PC, "2024-01", 5, 0, 2, 7, 2, 3, 0, 0, 3 / 7, 3 / 7, 3000),
            # a: grant 02-15 (5); spent m4; a:2 expired 4 (5 - m3).
            (PC, "2024-02", 5, 0, 0, 5, 1, 4, 0, 0, 4 / 5, 4 / 5, 4000),
            (PB, "2024-01", 0, 0, 0, 0, 0, 0, 0, 0, NAN, NAN, 0),
            (PB, "2024-02", 15, 0, 0, 15, 0, 0, 0, 0, 0.0, 0.0, 0),
            (SN, "2024-01", 50, 0, 0, 50, 0, 0, 0, 0, 0.0, 0.0, 0),
            # c's 50 forfeited at the tier change, on the old tier.
            (SN, "2024-02", 0, 0, 0, 0, 0, 0, 0, 50, NAN, NAN, 0),
        ],
        ["tier", "month", *WASTE],
    )
    check(expiry_waste(small_run()), expected)


def test_expiry_waste_counts_are_int64():
    """Credit counts and cents in the expiry waste report are exact int64."""
    out = expiry_waste(small_run())
    ints = [c for c in WASTE if not c.endswith("_rate")]
    assert all(out[c].dtype == np.int64 for c in ints)


def test_expiry_waste_by_source_with_margins():
    """Waste per tier and lot source, with 'all' margins, matches the hand totals."""
    expected = frame(
        [
            ("basic", "purchase", 0, 3, 0, 3, 1, 0, 0, 0, 0.0, 0.0, 0),  # m6 from b:1
            ("basic", "refund", 0, 0, 1, 1, 1, 0, 0, 0, 0.0, 0.0, 0),  # m7 from b:2
            ("basic", "all", 0, 3, 1, 4, 2, 0, 0, 0, 0.0, 0.0, 0),
            # grants 01-15, 02-15; spends m2 (a:1), m3 (a:2), m4 (a:3); expired 3 + 4.
            (PC, "grant", 10, 0, 0, 10, 3, 7, 0, 0, 0.7, 0.7, 7000),
            (PC, "refund", 0, 0, 2, 2, 0, 0, 0, 0, 0.0, 0.0, 0),
            (PC, "all", 10, 0, 2, 12, 3, 7, 0, 0, 7 / 12, 7 / 12, 7000),
            (PB, "grant", 15, 0, 0, 15, 0, 0, 0, 0, 0.0, 0.0, 0),
            (PB, "all", 15, 0, 0, 15, 0, 0, 0, 0, 0.0, 0.0, 0),
            (SN, "grant", 50, 0, 0, 50, 0, 0, 0, 50, 0.0, 1.0, 0),
            (SN, "all", 50, 0, 0, 50, 0, 0, 0, 50, 0.0, 1.0, 0),
            # 10 + 15 + 50 granted; lost 7 expired + 50 forfeited.
            ("all", "grant", 75, 0, 0, 75, 3, 7, 0, 50, 7 / 75, 57 / 75, 7000),
            ("all", "purchase", 0, 3, 0, 3, 1, 0, 0, 0, 0.0, 0.0, 0),
            ("all", "refund", 0, 0, 3, 3, 1, 0, 0, 0, 0.0, 0.0, 0),
            ("all", "all", 75, 3, 3, 81, 5, 7, 0, 50, 7 / 81, 57 / 81, 7000),
        ],
        ["tier", "lot_source", *WASTE],
    )
    check(expiry_waste_by_source(small_run()), expected)


def test_credit_age_when_spent_and_expired():
    """Credit ages are weighted inverted-CDF percentiles of (entry time - lot issue) in days."""
    m2 = 86 + 23 / 24  # 2024-01-10 08:00 - 2023-10-15 09:00: 87 days less 1 hour
    m3 = 66 + 3 / 24  # 2024-01-20 12:00 - 2023-11-15 09:00
    m4 = 72 + 1 / 24  # 2024-02-25 10:00 - 2023-12-15 09:00
    m6 = 5 / 1440  # 10:10 - 10:05, bought 5 minutes before
    m7 = 22 - 70 / 1440  # 2024-02-03 09:00 - 2024-01-12 10:10
    cols = columns(
        "event lot_source credits mean_days p10_days p25_days p50_days p75_days p90_days max_days"
    )
    expected = frame(
        [
            # sorted m3 < m4 < m2; p10, p25 need 0.3, 0.75 credits; p50 1.5; p75, p90 2.25, 2.7
            ("spent", "grant", 3, (m2 + m3 + m4) / 3, m3, m3, m4, m2, m2, m2),
            ("spent", "purchase", 1, m6, m6, m6, m6, m6, m6, m6),
            ("spent", "refund", 1, m7, m7, m7, m7, m7, m7, m7),
            # sorted m6 < m7 < m3 < m4 < m2; cumulative 1..5 against 0.5, 1.25, 2.5, 3.75, 4.5
            ("spent", "all", 5, (m2 + m3 + m4 + m6 + m7) / 5, m6, m7, m3, m4, m2, m2),
            # a:1 (3 credits) and a:2 (4 credits) both expired at exactly 90 days
            ("expired", "grant", 7, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0),
            ("expired", "all", 7, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0),
        ],
        cols,
    )
    check(credit_age(small_run()), expected)


VINTAGES = columns(
    "tier lot_source issue_month warmup issued spent expired capped forfeited live_at_end "
    "waste_rate"
)


def test_credit_vintages_follow_each_lot_over_the_whole_run():
    """Per tier at issue, source, issue month and warm-up: where the credits went by the end.

    The warm-up months 2023-10 .. 2023-12 are in (warmup True); rows:
    b:1 (3 bought, m6 spent 1, 2 live); b:2 (m6's refund, spent on m7);
    a:1 (m1 and m2 spent, 3 expired on 01-13); a:2 (m3 spent, 4 expired on 02-13);
    a:3 (m4 spent, 4 live); a:5 and a:7 untouched; a:4 and a:6 (refunds of m1, m3)
    untouched; c:2 (15, premium_business) untouched; c:1 (50, sales_navigator)
    forfeited at the tier change. waste_rate is empty where credits are live.
    """
    check(
        credit_vintages(small_run()),
        frame(
            [
                ["basic", "purchase", "2024-01", False, 3, 1, 0, 0, 0, 2, NAN],
                ["basic", "refund", "2024-01", False, 1, 1, 0, 0, 0, 0, 0.0],
                [PC, "grant", "2023-10", True, 5, 2, 3, 0, 0, 0, 0.6],
                [PC, "grant", "2023-11", True, 5, 1, 4, 0, 0, 0, 0.8],
                [PC, "grant", "2023-12", True, 5, 1, 0, 0, 0, 4, NAN],
                [PC, "grant", "2024-01", False, 5, 0, 0, 0, 0, 5, NAN],
                [PC, "grant", "2024-02", False, 5, 0, 0, 0, 0, 5, NAN],
                [PC, "refund", "2024-01", False, 2, 0, 0, 0, 0, 2, NAN],
                [PB, "grant", "2024-02", False, 15, 0, 0, 0, 0, 15, NAN],
                [SN, "grant", "2024-01", False, 50, 0, 0, 0, 50, 0, 0.0],
            ],
            VINTAGES,
        ),
    )
    # Resolved vintages (grant or refund, measured, month end + 90 days <= 02-29): none.
    assert math.isnan(vintage_waste_rate(credit_vintages(small_run()), "2024-02-29T23:59:59Z"))


def test_credit_vintages_ignore_the_window_but_for_the_warmup_flag():
    """Moving measure_start changes only the warmup column: the lots are the whole ledger's."""
    base = credit_vintages(small_run())
    later = credit_vintages(small_run("2024-01-20T00:00:00Z"))
    # January 2024 now straddles the start: a:4 (01-04), b:1 and b:2 (01-05, 01-12),
    # c:1 (01-01) and a:5 (01-15) are warm-up; a:6 (01-27) is not.
    key = ["tier", "lot_source", "issue_month"]
    numbers = columns("issued spent expired capped forfeited live_at_end")
    assert later.groupby(key)[numbers].sum().equals(base.groupby(key)[numbers].sum())
    jan = later[(later["tier"] == PC) & (later["lot_source"] == "refund")]
    assert jan[["warmup", "issued"]].to_numpy().tolist() == [[False, 1], [True, 1]]


# -- refunds ----------------------------------------------------------------

REFUND_COLS = columns(
    "tier month category length_bucket inmails_paid responses_within_window "
    "late_responses refunds settled settled_refunds refund_rate"
)


def test_refund_rates_per_tier_month_category_bucket():
    """Refund rates are keyed by the InMail's tier, month sent, category and body bucket."""
    expected = frame(
        [
            # m6: accepted after 10 days (late), refunded at day 7, window closed 01-12
            ("basic", "2024-01", "business_deal", "401-800", 1, 0, 1, 1, 1, 1, 1.0),
            # m7: declined after 1 day, window closed 02-10
            ("basic", "2024-02", "business_deal", "401-800", 1, 1, 0, 0, 1, 0, 0.0),
            # m1: sent in the warm-up, refunded 01-04 in the window: a refund, no paid InMail
            (PC, "2023-12", "job_inquiry", "1-400", 0, 0, 0, 1, 0, 0, NAN),
            # m2: replied after 1 day (350 chars)
            (PC, "2024-01", "career_opportunity", "1-400", 1, 1, 0, 0, 1, 0, 0.0),
            # m3: no response, refunded 01-27 (900 chars)
            (PC, "2024-01", "career_opportunity", "801-1200", 1, 0, 0, 1, 1, 1, 1.0),
            # m4: window ends 2024-03-03, after the end: not settled (1500 chars)
            (PC, "2024-02", "job_inquiry", "1201-2000", 1, 0, 0, 0, 0, 0, NAN),
        ],
        REFUND_COLS,
    )
    check(refund_rates(small_run()), expected)


def test_refund_cuts_by_tier_and_category():
    """Refund cuts sum the counts and recompute both rates."""
    out = refund_cuts(refund_rates(small_run()), ["tier", "category"])
    assert out[
        ["tier", "category", "inmails_paid", "refunds", "settled", "settled_refunds"]
    ].values.tolist() == [
        ["basic", "business_deal", 2, 1, 2, 1],  # m6 + m7
        [PC, "career_opportunity", 2, 1, 2, 1],  # m2 + m3
        [PC, "job_inquiry", 1, 1, 0, 0],  # m4 paid; m1's refund
    ]
    assert out["refund_rate"].tolist()[:2] == [0.5, 0.5]  # 1 / 2 settled each
    assert math.isnan(out["refund_rate"].iloc[2])
    assert out["refund_share"].tolist() == [0.5, 0.5, 1.0]  # refunds / paid


def test_refund_totals_per_tier_and_overall():
    """Refund totals give each tier and 'all', with the share of spending refunded."""
    out = refund_totals(refund_rates(small_run()))
    got = out[["tier", "inmails_paid", "refunds", "settled", "settled_refunds"]].values.tolist()
    # basic: m6, m7 paid and settled, m6 refunded; pc: m2, m3, m4 paid, m2, m3 settled,
    # refunds of m1 and m3.
    assert got == [["basic", 2, 1, 2, 1], [PC, 3, 2, 2, 1], ["all", 5, 3, 4, 2]]
    assert out["refund_rate"].tolist() == [0.5, 0.5, 0.5]
    assert out["refund_share"].tolist() == pytest.approx([1 / 2, 2 / 3, 3 / 5])


def test_refund_mode_none_settles_every_paid_inmail():
    """With refund mode none, every paid InMail is settled (there is no window)."""
    tables = small_run(refund_mode="none")
    tables.inmails["window_end"] = pd.NaT
    # Keep the ledger's refunds: the report must not depend on the window to count them.
    out = refund_rates(tables)
    assert out["settled"].sum() == 5  # m2, m3, m4, m6, m7


def test_response_delays_histogram():
    """Response delays of paid InMails fall in right-closed half-day bins up to 14 days."""
    out = response_delays(small_run())
    assert len(out) == 29  # 28 bins of 7/14 = 0.5 day up to 2 windows, then one open bin
    # m2 and m7 after exactly 1 day: bin (0.5, 1.0]; m6 after 10 days: bin (9.5, 10.0]
    assert out.loc[out["responses"] > 0, ["bin_start_days", "responses"]].values.tolist() == [
        [0.5, 2],
        [9.5, 1],
    ]
    assert out["within_window"].sum() == 14  # the bins ending at or before day 7


def test_response_at_window_end_is_within():
    """A response exactly at the end of the refund window falls in a bin within it."""
    tables = small_run()
    tables.inmails.loc[tables.inmails["inmail"] == "m6", "responded_at"] = pd.Timestamp(
        "2024-01-12T10:10:00Z"
    )
    out = response_delays(tables)
    assert out.loc[
        out["bin_start_days"] == 6.5, ["responses", "within_window"]
    ].values.tolist() == [[1, True]]


# -- utilisation and balances -------------------------------------------------


def test_utilisation_members():
    """Each member appears per tier held in the window, quiet members on their final tier."""
    expected = frame(
        [
            ("b", "basic", 0, 3, 1, 2, 3, NAN),  # bought 3, m6 refunded; sent m6, m7, m8
            ("d", "basic", 0, 0, 0, 0, 0, NAN),  # no entries: final tier
            ("a", PC, 10, 0, 2, 3, 3, 3 / 10),  # grants 01-15, 02-15; m2, m3, m4
            ("c", PB, 15, 0, 0, 0, 0, 0.0),
            ("c", SN, 50, 0, 0, 0, 0, 0.0),
        ],
        columns("member tier granted purchased refunded spent inmails_sent utilisation"),
    )
    check(utilisation_members(small_run()), expected)


def test_utilisation_distribution_per_tier():
    """Utilisation percentiles are over members with grants; never-send over all."""
    expected = frame(
        [
            ("basic", 2, 1 / 2, 0, NAN, NAN, NAN, NAN, NAN, NAN),  # d never sent
            (PC, 1, 0.0, 1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3),
            (PB, 1, 1.0, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            (SN, 1, 1.0, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        ],
        columns(
            "tier members never_send_share members_with_grants mean_utilisation p10 p25 p50 p75 p90"
        ),
    )
    check(utilisation(small_run()), expected)


BALANCE_COLS = columns("date tier members mean_balance p10 p25 p50 p75 p90 max_balance")


def test_balance_distribution_first_day():
    """On 2024-01-01 balances carry over from the warm-up: a 14, b 0, c 50, d 0."""
    out = balance_distribution(small_run())
    expected = frame(
        [
            # sorted 0, 0, 14, 50; mean 64 / 4; p75 needs 3 members, p90 3.6
            ("2024-01-01", "all", 4, 16.0, 0, 0, 0, 14, 50, 50),
            ("2024-01-01", "basic", 2, 0.0, 0, 0, 0, 0, 0, 0),  # b, d
            ("2024-01-01", PC, 1, 14.0, 14, 14, 14, 14, 14, 14),  # a after m1's spend
            ("2024-01-01", SN, 1, 50.0, 50, 50, 50, 50, 50, 50),  # c's grant at 00:00
        ],
        BALANCE_COLS,
    )
    got = out[out["date"] == "2024-01-01"]
    check(got.set_index("tier").loc[["all", "basic", PC, SN]].reset_index()[BALANCE_COLS], expected)


def test_balance_distribution_after_tier_change():
    """On 2024-02-01 c is on premium_business (15): a 16, b 3, c 15, d 0."""
    out = balance_distribution(small_run())
    got = out[(out["date"] == "2024-02-01") & (out["tier"] == "all")]
    # sorted 0, 3, 15, 16; mean 34 / 4; p10 0.4, p25 1, p50 2, p75 3, p90 3.6 members
    check(got, frame([("2024-02-01", "all", 4, 8.5, 0, 0, 3, 15, 16, 16)], BALANCE_COLS))


def test_balance_distribution_days_per_tier():
    """Every window day has a row per tier held that day (60 days in Jan-Feb 2024)."""
    out = balance_distribution(small_run())
    # c: sales_navigator in January (31 days), premium_business in February (29 days)
    assert out.groupby("tier").size().to_dict() == {"all": 60, "basic": 60, PC: 60, SN: 31, PB: 29}


# -- purchases, revenue and rejections ---------------------------------------


def test_purchases_revenue_per_tier_and_month():
    """Purchases at 1000 cents a credit, subscription charges and no-credit failures."""
    expected = frame(
        [
            # b bought 3 credits (3 x 1000 cents); m5 failed for lack of credit
            ("basic", "2024-01", 1, 3, 3000, 0, 0, 3000, 1),
            ("basic", "2024-02", 0, 0, 0, 0, 0, 0, 0),
            (PC, "2024-01", 0, 0, 0, 1, 2999, 2999, 0),
            (PC, "2024-02", 0, 0, 0, 1, 2999, 2999, 0),
            (PB, "2024-01", 0, 0, 0, 0, 0, 0, 0),
            (PB, "2024-02", 0, 0, 0, 1, 5999, 5999, 0),
            (SN, "2024-01", 0, 0, 0, 1, 9999, 9999, 0),
            (SN, "2024-02", 0, 0, 0, 0, 0, 0, 0),
        ],
        columns(
            "tier month purchases credits_bought purchase_revenue_cents "
            "subscription_charges subscription_revenue_cents revenue_cents "
            "inmails_rejected_no_credit"
        ),
    )
    check(purchases_revenue(small_run()), expected)


def test_rejections_by_reason():
    """Rejections split into sends (naming an InMail) and purchases, by reason."""
    expected = frame(
        [
            ("basic", "2024-01", "send", "no_credit", 1),
            ("basic", "2024-02", "purchase", "quantity", 1),
        ],
        ["tier", "month", "action", "reason", "rejections"],
    )
    check(rejections(small_run()), expected)


def test_headline_metrics():
    """Headline metrics of the window match the hand totals."""
    got = headline(small_run())
    assert got == pytest.approx(
        {
            "members": 4,
            "inmails_attempted": 7,  # m2, m3, m4, m5, m6, m7, m8
            "inmails_sent": 6,  # less m5
            "inmails_paid": 5,  # less m8 (free)
            "inmails_free": 1,
            "inmails_rejected": 1,
            "inmails_rejected_no_credit": 1,
            "purchases_rejected": 1,
            "credits_granted": 75,  # a 5 + 5, c 50 + 15
            "credits_purchased": 3,
            "credits_refunded": 3,  # m1, m3, m6
            "credits_issued": 81,
            "credits_spent": 5,
            "credits_expired": 7,  # 3 + 4
            "credits_capped": 0,
            "credits_forfeited": 50,
            "expiry_waste_rate": 7 / 81,
            "expired_value_cents": 7000,
            "refunds": 3,
            "refund_share": 3 / 5,
            "settled": 4,  # m2, m3, m6, m7
            "settled_refunds": 2,  # m3, m6
            "refund_rate": 2 / 4,
            "late_responses": 1,  # m6
            "purchases": 1,
            "purchase_revenue_cents": 3000,
            "subscription_revenue_cents": 2 * 2999 + 9999 + 5999,
            "never_send_share": 2 / 4,  # c, d
            "median_utilisation": 0.0,  # 0.0 (c, pb), 0.0 (c, sn), 0.3 (a)
        }
    )


# -- the totals agree with the ledger ------------------------------------------

STARTS = [
    "2023-10-01T00:00:00Z",  # the whole run
    "2024-01-01T00:00:00Z",
    "2024-01-13T09:00:00Z",  # exactly at a:1's expiry: it is in the window
    "2024-01-13T09:00:01Z",
    "2024-02-26T00:00:00Z",  # nothing happens after
]


def _ledger_total(tables: RunTables, kind: str, start: str) -> int:
    led = tables.ledger
    mask = (led["kind"] == kind) & (led["time"] >= pd.Timestamp(start))
    return int(led.loc[mask, "quantity"].sum())


@pytest.mark.parametrize("start", STARTS)
def test_expired_total_matches_ledger(start):
    """Credits expired summed over expiry_waste equal the ledger's expiries in the window."""
    tables = small_run(start)
    assert expiry_waste(tables)["credits_expired"].sum() == _ledger_total(tables, "expire", start)


@pytest.mark.parametrize("start", STARTS)
def test_refund_total_matches_ledger(start):
    """Refunds summed over refund_rates equal the ledger's refunds in the window."""
    tables = small_run(start)
    assert refund_rates(tables)["refunds"].sum() == _ledger_total(tables, "refund", start)


@pytest.mark.parametrize("start", STARTS)
def test_paid_total_matches_ledger(start):
    """Paid InMails summed over refund_rates equal the ledger's spends in the window."""
    tables = small_run(start)
    assert refund_rates(tables)["inmails_paid"].sum() == _ledger_total(tables, "spend", start)


@pytest.mark.parametrize("start", STARTS)
def test_issued_total_matches_ledger(start):
    """Credits issued summed over expiry_waste equal grants + purchases + refunds in the window."""
    tables = small_run(start)
    want = sum(_ledger_total(tables, k, start) for k in ("grant", "purchase", "refund"))
    assert expiry_waste(tables)["credits_issued"].sum() == want


@pytest.mark.parametrize("start", STARTS)
def test_purchased_total_matches_ledger(start):
    """Credits bought summed over purchases_revenue equal the ledger's purchases in the window."""
    tables = small_run(start)
    want = _ledger_total(tables, "purchase", start)
    assert purchases_revenue(tables)["credits_bought"].sum() == want


@pytest.mark.parametrize("start", STARTS)
def test_member_spends_match_ledger(start):
    """Credits spent summed over utilisation_members equal the ledger's spends in the window."""
    tables = small_run(start)
    assert utilisation_members(tables)["spent"].sum() == _ledger_total(tables, "spend", start)


def test_warm_up_is_excluded():
    """Moving measure_start past an expiry removes it from the report."""
    tables = small_run("2024-01-13T09:00:01Z")
    # only a:2's 4 credits on 02-13 remain
    assert expiry_waste(tables)["credits_expired"].sum() == 4


def test_refund_of_unknown_inmail_is_an_error():
    """A refund naming an InMail missing from the inmails table is reported by id."""
    tables = small_run()
    tables.ledger.loc[tables.ledger["inmail"] == "m3", "inmail"] = "zz"
    with pytest.raises(InputError) as err:
        refund_rates(tables)
    assert (
        str(err.value)
        == "ledger: 2 spend and refund entries name InMails missing from inmails: 'zz'"
    )


@pytest.mark.parametrize("kind", ["int", "null"])
def test_inmail_ids_of_other_types_and_a_missing_id_still_key_refunds(kind):
    """Integer ids, or one InMail row without an id, give the same refund table."""
    tables = small_run()
    expected = refund_rates(tables)
    tables = small_run()
    im, led = tables.inmails, tables.ledger
    if kind == "int":
        codes = {v: i for i, v in enumerate(im["inmail"])}
        im["inmail"] = im["inmail"].map(codes)
        led["inmail"] = led["inmail"].map(codes).astype("Int64")
    else:
        named = set(led["inmail"])
        spare = [i for i, v in zip(im.index, im["inmail"], strict=True) if v not in named]
        im.loc[spare[0], "inmail"] = None
    pd.testing.assert_frame_equal(refund_rates(tables), expected)


def test_duplicate_inmail_ids_are_an_error():
    """Two inmails rows with one id make refund keys ambiguous: reported by id."""
    tables = small_run()
    im = tables.inmails
    im.loc[im.index[1], "inmail"] = im.loc[im.index[0], "inmail"]
    dupe = im.loc[im.index[0], "inmail"]
    with pytest.raises(InputError) as err:
        refund_rates(tables)
    assert str(err.value) == f"inmails: duplicate InMail ids: {dupe}"


def test_missing_columns_are_named():
    """Building RunTables without a required column names the table and the column."""
    tables = small_run()
    with pytest.raises(InputError) as err:
        RunTables(
            ledger=tables.ledger.drop(columns=["lot_source"]),
            inmails=tables.inmails,
            members=tables.members,
            billing=tables.billing,
            meta=tables.meta,
        )
    assert str(err.value) == "ledger: missing columns: lot_source"


@pytest.mark.parametrize(
    ("body", "bucket"),
    [
        (0, "0"),
        (1, "1-400"),
        (400, "1-400"),
        (401, "401-800"),
        (800, "401-800"),
        (801, "801-1200"),
        (1200, "801-1200"),
        (1201, "1201-2000"),
        (2000, "1201-2000"),
        (2001, "over-2000"),
    ],
)
def test_length_bucket_edges(body, bucket):
    """Body lengths fall in the buckets of CALIBRATION.md, edges included."""
    assert length_bucket([body]).tolist() == [bucket]


# -- files ------------------------------------------------------------------------


def test_load_run_tables_round_trip(tmp_path):
    """A run written to Parquet and read back gives the same report."""
    tables = small_run()
    loaded = load_run_tables(write_run(tables, tmp_path / "run"))
    check(expiry_waste(loaded), expiry_waste(tables))
    check(refund_rates(loaded), refund_rates(tables))


def test_load_run_tables_names_missing_file(tmp_path):
    """A run directory without its ledger part, or its ledger folder, is an error naming
    the part, or the folder."""
    root = write_run(small_run(), tmp_path / "run")
    (root / "ledger" / "part-00000.parquet").unlink()
    with pytest.raises(InputError) as err:
        load_run_tables(root)
    assert str(err.value) == (f"{root / 'ledger' / 'part-00000.parquet'}: missing (run.json "
                              "lists 1 batch)")  # fmt: skip
    (root / "ledger").rmdir()
    with pytest.raises(InputError) as err:
        load_run_tables(root)
    assert str(err.value) == (f"{root / 'ledger'}: missing (a run directory has one folder "
                              "of parts per table)")  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A hand-written run directory after write_reports (CSV)."""
    root = write_run(small_run(), tmp_path_factory.mktemp("reports") / "run")
    return root, write_reports(root)


def test_write_reports_required_files(written):
    """write_reports writes the two checked tables, at least four plots and the page."""
    root, paths = written
    names = {p.relative_to(root).as_posix() for p in paths}
    assert {"reports/expiry_waste.csv", "reports/refund_rates.csv", "report.html"} <= names
    assert len(list((root / "plots").glob("*.png"))) >= 4
    assert all(p.exists() for p in paths)


def test_written_expiry_waste_matches_ledger(written):
    """expiry_waste.csv has the required columns, no margins, and the ledger's expiries."""
    root, _ = written
    csv = pd.read_csv(root / "reports" / "expiry_waste.csv")
    assert {"tier", "month", "credits_issued", "credits_expired", "waste_rate"} <= set(csv)
    assert not (csv["tier"] == "all").any()
    assert not csv.duplicated(["tier", "month"]).any()
    assert csv["credits_expired"].sum() == 7  # 3 + 4 in the window


def test_written_refund_rates_match_ledger(written):
    """refund_rates.csv has the required columns and the ledger's refunds and spends."""
    root, _ = written
    csv = pd.read_csv(root / "reports" / "refund_rates.csv")
    required = columns(
        "tier month category length_bucket inmails_paid refunds settled settled_refunds refund_rate"
    )
    assert set(required) <= set(csv)
    assert not csv.duplicated(["tier", "month", "category", "length_bucket"]).any()
    assert (csv["refunds"].sum(), csv["inmails_paid"].sum()) == (3, 5)  # m1, m3, m6; 5 spends


def test_report_html_is_self_contained(written):
    """report.html embeds its images and fetches nothing."""
    root, _ = written
    page = (root / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 4
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page


def test_write_reports_writes_credit_vintages(written):
    """credit_vintages.csv and its plot are written; censored waste rates are empty cells."""
    root, _ = written
    text = (root / "reports" / "credit_vintages.csv").read_text().splitlines()
    assert text[0] == ",".join(VINTAGES)
    assert text[1] == "basic,purchase,2024-01,False,3,1,0,0,0,2,"
    assert (root / "plots" / "credit_vintages.png").read_bytes()[:4] == b"\x89PNG"


def test_every_registered_report_is_written_drawn_and_shown(written):
    """The registry is what write_reports does: each report written to reports/ unless marked
    not written, its plot in plots/ when it has one, and a section of report.html; nothing
    in reports/ or plots/ that the registry does not name."""
    root, _ = written
    page = (root / "report.html").read_text()
    for entry in REPORTS:
        path = root / "reports" / f"{entry.stem}.csv"
        assert path.is_file() == entry.written, entry.name
        if entry.written:
            assert f'href="reports/{entry.stem}.csv"' in page, entry.name
            if entry.name != "headline":  # the headline is the "All metrics" section
                assert f'<h3 id="{entry.name}">' in page, entry.name
        if entry.plot is not None:
            assert (root / "plots" / f"{entry.name}.png").read_bytes()[:4] == b"\x89PNG"
            assert f'<h3 id="plot-{entry.name}">' in page, entry.name
    assert {p.stem for p in (root / "reports").iterdir()} == {r.stem for r in REPORTS if r.written}
    drawn = [p.stem for p in sorted((root / "plots").iterdir())]
    assert sorted(set(drawn) - {"steady_state"}) == sorted(PLOT_NAMES)
    # report.html shows the plots in PLOT_NAMES' order and the tables in the registry's.
    at = [page.index(f'<h3 id="plot-{name}">') for name in PLOT_NAMES]
    assert at == sorted(at)
    tables = [r.name for r in REPORTS if r.written and r.name != "headline"]
    at = [page.index(f'<h3 id="{name}">') for name in tables]
    assert at == sorted(at)


def test_the_registry_is_the_list_of_reports_everywhere():
    """One list: the sums merged, the frames finished, the page's titles and notes, and the
    API's names all follow the registry."""
    from simulator import api
    from simulator.reports import page_tables, sums

    assert REPORT_NAMES == api.REPORTS  # api.py will read REPORT_NAMES itself
    assert PLOT_NAMES == api.PLOTS
    assert list(sums.SUMS) == [r.name for r in REPORTS if r.sums is not None]
    assert not reports.registry.report("per_tier").written  # an API-only view
    assert list(reports.report_frames(small_run())) == [r.name for r in REPORTS if r.written]
    named = set(REPORT_NAMES) | {"steady_state"}
    assert set(page_tables.TITLES) == named
    assert set(page_tables._TABLE_NOTES) <= named and set(page_tables.PLOT_NOTES) <= named
    assert set(page_tables._SUMMARISERS) <= set(REPORT_NAMES)
    with pytest.raises(KeyError, match="no report 'nope'; the reports are: headline, "):
        reports.registry.report("nope")


def test_headline_definitions_cover_the_headline_rates():
    """Every headline rate has a one-sentence definition saying what it divides."""
    for key in (
        "response_rate",
        "refund_rate",
        "expiry_waste_rate",
        "grant_expiry_rate",
        "vintage_waste_rate",
        "expiry_waste.waste_rate",
    ):
        text = HEADLINE_DEFINITIONS[key]
        assert "/" in text and text.endswith("."), key
        assert text.count(". ") == 0, key  # one sentence
    assert "warm-up" in HEADLINE_DEFINITIONS["expiry_waste_rate"]
    assert "credit_vintages" in HEADLINE_DEFINITIONS["expiry_waste.waste_rate"]


def test_report_html_explains_the_rates(written):
    """Definitions stand next to the key findings; expiry_waste says what it divides."""
    root, _ = written
    page = (root / "report.html").read_text()
    findings = page[page.index('<h2 id="findings">') : page.index('<h2 id="plots">')]
    assert "<th>definition</th>" in findings
    assert HEADLINE_DEFINITIONS["expiry_waste_rate"] in html.unescape(findings)
    # summary.json's {"refund_rate": 0.5} agrees with the tables' 2 / 4: one row, defined.
    every = page[page.index('<h2 id="metrics">') : page.index('<h2 id="metadata">')]
    assert every.count("<code>refund_rate</code>") == 1
    assert "summary.refund_rate" not in every
    assert HEADLINE_DEFINITIONS["refund_rate"] in html.unescape(every)
    waste = page[page.index('<h3 id="expiry_waste">') : page.index('<h3 id="expiry_waste_by')]
    assert "the same month's credits issued" in html.unescape(waste)
    assert "credit_vintages" in waste
    # No steady_state block in this run's summary.json: no section, no plot.
    assert "Is the measured window steady?" not in page
    assert not (root / "plots" / "steady_state.png").exists()


STEADY = {
    "method": "MSER, batch size 1, on weekly series over the measured window",
    "week_start": ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29"],
    "series": {
        "expiry_waste_rate": [0.1, 0.2, 0.3, 0.3, None],
        "refund_rate": [0.8, 0.8, 0.9, 0.8, 0.8],
        "response_rate": [0.2, 0.2, 0.2, 0.2, 0.2],
        "spend_per_member": [1.0, 2.0, 2.0, 2.0, 2.0],
    },
    "truncation_weeks": {
        "expiry_waste_rate": 2,
        "refund_rate": 0,
        "response_rate": 0,
        "spend_per_member": 1,
    },
    "suggested_truncation_weeks": 2,
    "cap_weeks": 2,
    "threshold_weeks": 4,
    "steady": True,
    "warmup_days": 92,
    "suggested_warmup_days": 92,
    "auto": None,
}


@pytest.mark.parametrize("steady", [True, False])
def test_report_html_shows_the_steady_state_block(tmp_path, steady):
    """A summary.json with steady_state: plots/steady_state.png and its section, with a verdict."""
    block = dict(STEADY, steady=steady, suggested_warmup_days=92 if steady else 106)
    root = write_run(small_run(), tmp_path / "run", {"refund_rate": 0.5, "steady_state": block})
    paths = {p.relative_to(root).as_posix() for p in write_reports(root)}
    assert "plots/steady_state.png" in paths
    page = (root / "report.html").read_text()
    start = page.index('<h2 id="steady_state">Is the measured window steady?</h2>')
    section = page[start : page.index('<h2 id="plots">')]
    if steady:
        assert "measured window steady: MSER truncation 2 weeks &lt;= threshold 4" in section
    else:
        assert "NOT steady: suggested warm-up 106 days" in section
    assert "squared standard error of the mean of the remaining" in section
    assert section.count('src="data:image/png;base64,') == 1
    assert "<td>spend_per_member</td>" in section
    # The lists are drawn, not printed in the summary.json table; the scalars are listed.
    assert "steady_state.week_start" not in page
    assert "<code>steady_state.suggested_truncation_weeks</code>" in section


@pytest.mark.parametrize("block", [None, "steady", {"week_start": "2024-01-01"}, {"series": {}}])
def test_report_html_skips_a_missing_or_unusable_steady_state_block(tmp_path, block):
    """A block that is null, not an object or lacks its weeks and series: no section, no error."""
    root = write_run(small_run(), tmp_path / "run", {"refund_rate": 0.5, "steady_state": block})
    write_reports(root)
    assert "Is the measured window steady?" not in (root / "report.html").read_text()
    assert not (root / "plots" / "steady_state.png").exists()


def test_write_reports_leaves_no_temporary_files(written):
    """Atomic writes leave no temporary files behind."""
    root, _ = written
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_write_tables_parquet(tmp_path):
    """Tables written as Parquet read back equal."""
    out = expiry_waste(small_run())
    (path,) = write_tables({"expiry_waste": out}, tmp_path, fmt="parquet")
    assert path.name == "expiry_waste.parquet"
    check(pd.read_parquet(path), out)


def test_write_tables_markdown(tmp_path):
    """Tables written as Markdown have a header, a rule and one line per row; NaN is empty."""
    out = pd.DataFrame({"tier": ["basic", "a|b"], "n": [1, 2], "rate": [0.5, NAN]})
    (path,) = write_tables({"t": out}, tmp_path, fmt="markdown")
    assert path.read_text().splitlines() == [
        "| tier | n | rate |",
        "|:---|---:|---:|",
        "| basic | 1 | 0.5 |",
        "| a\\|b | 2 |  |",
    ]


def test_write_reports_rejects_unknown_format(tmp_path):
    """An unknown format is an error that lists the known ones."""
    with pytest.raises(InputError) as err:
        write_reports(tmp_path, fmt="xlsx")
    assert str(err.value) == "unknown report format 'xlsx': use one of csv, parquet, markdown"


def test_write_replications(tmp_path):
    """Replicated runs of one scenario give a table, a plot and a page."""
    roots = []
    for seed, rate in ((1, 0.4), (2, 0.5), (3, 0.6)):
        root = tmp_path / f"run{seed}"
        root.mkdir()
        (root / "run.json").write_text(json.dumps({"scenario": "s", "seed": seed}))
        (root / "summary.json").write_text(json.dumps({"refund_rate": rate}))
        roots.append(root)
    paths = write_replications(roots, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "reports" / "replications.csv")
    assert table.loc[0, "mean"] == pytest.approx(0.5)  # (0.4 + 0.5 + 0.6) / 3
    assert {p.name for p in paths} == {"replications.csv", "replications.png", "replications.html"}


def test_write_replications_refuses_mixed_scenarios(tmp_path):
    """Runs of different scenarios are not replications."""
    roots = []
    for seed, name in ((1, "a"), (2, "b")):
        root = tmp_path / f"run{seed}"
        root.mkdir()
        (root / "run.json").write_text(json.dumps({"scenario": name, "seed": seed}))
        (root / "summary.json").write_text("{}")
        roots.append(root)
    with pytest.raises(InputError) as err:
        write_replications(roots, tmp_path / "out")
    assert str(err.value) == "replications: runs of different scenarios: a, b"


def test_write_replications_names_a_folder_that_is_not_a_run(tmp_path):
    """The run directories are read as every reader of one does (simulator.runformat)."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as err:
        write_replications([tmp_path / "empty"], tmp_path / "out")
    assert str(err.value) == f"{tmp_path / 'empty'}: not a creditsim run directory (no run.json)"
    (tmp_path / "empty" / "run.json").write_text("[1]")
    with pytest.raises(InputError) as err:
        write_replications([tmp_path / "empty"], tmp_path / "out")
    assert str(err.value) == f"{tmp_path / 'empty' / 'run.json'}: expected a JSON object"


# -- unusual and bad input to the typed columns (simulator.columns) ----------------


def _as_arrow(tables: RunTables, **columns_of: dict) -> RunTables:
    """The tables as Arrow tables, with some columns replaced (table -> {column: array})."""
    out = {}
    for name in ("ledger", "inmails", "members", "billing"):
        table = pa.Table.from_pandas(getattr(tables, name), preserve_index=False)
        for column, values in columns_of.get(name, {}).items():
            table = table.set_column(table.schema.get_field_index(column), column, values)
        out[name] = table
    return RunTables(**out, meta=tables.meta)


def test_dictionary_inmail_ids_in_arrow_count_purchases_as_purchases():
    """A reject entry with an empty dictionary-coded InMail id is a purchase, as in pandas."""
    tables = small_run()
    ids = pa.array(tables.ledger["inmail"].tolist()).dictionary_encode()
    coded = _as_arrow(small_run(), ledger={"inmail": ids})
    check(rejections(coded), rejections(tables))
    assert headline(coded)["purchases_rejected"] == headline(tables)["purchases_rejected"] == 1


def test_an_inmail_without_sent_at_is_named():
    """sent_at is required: an empty one is one clear error, not a wrong month."""
    tables = small_run()
    tables.inmails.loc[tables.inmails.index[3], "sent_at"] = pd.NaT
    with pytest.raises(InputError) as err:
        refund_rates(tables)
    assert str(err.value) == "inmails: column 'sent_at' has 1 empty cells"


@pytest.mark.parametrize("form", ["pandas", "arrow"])
def test_duplicate_inmail_ids_are_an_error_in_every_form(form):
    """Arrow tables in the simulator's order take the in-order match, and still check ids."""
    tables = small_run()
    im = tables.inmails
    im.loc[im.index[7], "inmail"] = "m5"  # the free m8 (no ledger entry) takes m5's id
    if form == "arrow":
        tables = _as_arrow(tables)
    with pytest.raises(InputError) as err:
        refund_rates(tables)
    assert str(err.value) == "inmails: duplicate InMail ids: m5"


def test_an_empty_billing_table_of_null_columns_is_no_charges():
    """Zero rows whose Arrow columns have the null type (an empty object frame) are accepted."""
    tables = small_run()
    empty = pa.table({c: pa.nulls(0) for c in tables.billing.columns})
    arrow = _as_arrow(tables)
    no_billing = RunTables(arrow._sources["ledger"], arrow._sources["inmails"],
                           arrow._sources["members"], empty, tables.meta)  # fmt: skip
    revenue = purchases_revenue(no_billing)
    assert revenue["subscription_revenue_cents"].sum() == 0
    assert revenue["credits_bought"].sum() == 3  # b's purchase of 3 on 2024-01-05


def test_credit_age_of_an_entry_without_lot_source_counts_only_under_all():
    """An empty lot_source adds no row of its own (no "None" source)."""
    tables = small_run()
    led = tables.ledger
    led.loc[(led["kind"] == "spend") & (led["inmail"] == "m2"), "lot_source"] = None
    ages = credit_age(tables)
    spent = ages[ages["event"] == "spent"]
    assert spent["lot_source"].tolist() == ["grant", "purchase", "refund", "all"]
    # Window spends (module docstring): m2, m3, m4 from grant lots, m6 purchase, m7 refund.
    # Without m2's source, grant has 2 of them; "all" keeps all 5.
    by_source = spent.set_index("lot_source")["credits"]
    assert by_source["grant"] == 2
    assert by_source["all"] == 5


@pytest.mark.parametrize(
    ("table", "column", "values", "message"),
    [
        ("ledger", "time", ["not a time"] * 22, "ledger: column 'time' must hold instants: "),
        (
            "ledger",
            "time",
            list(range(22)),
            "ledger: column 'time' must hold instants, not numbers",
        ),
        ("ledger", "tier", [["pc"]] * 22, "ledger: column 'tier' must hold text"),
        ("ledger", "quantity", ["1"] * 22, "ledger: column 'quantity' must hold whole numbers"),
        ("inmails", "paid", ["yes"] * 8, "inmails: column 'paid' must hold true or false"),
    ],
)
def test_columns_of_the_wrong_kind_are_one_clear_error(table, column, values, message):
    """Wrong types name the table and the column: an InputError, not a numpy traceback."""
    tables = small_run()
    frame = getattr(tables, table)
    frame[column] = pd.Series(values, index=frame.index, dtype=object)
    with pytest.raises(InputError) as err:
        expiry_waste(tables) if table == "ledger" else refund_rates(tables)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "value"), [("credit_price_cents", "abc"), ("refund_window_days", "x")]
)
def test_run_json_values_of_the_wrong_kind_are_one_clear_error(key, value):
    """run.json's numbers are checked when the tables are built, before any report."""
    with pytest.raises(InputError) as err:
        small_run(**{key: value})
    assert str(err.value) == f"run.json: {key}: must be a whole number, not {value!r}"


def _with_members(extra: list[dict]) -> RunTables:
    """small_run with members added (arrived_at / left_at given; everyone else NaT)."""
    base = small_run()
    members = base.members.copy()
    for column in ("arrived_at", "left_at"):
        members[column] = pd.Series(pd.NaT, index=members.index, dtype="datetime64[s, UTC]")
    added = pd.DataFrame(extra)
    for column in ("arrived_at", "left_at", "subscribed_at"):
        values = added[column] if column in added else pd.Series([None] * len(added))
        added[column] = pd.to_datetime(values, utc=True).astype("datetime64[s, UTC]")
    members = pd.concat([members, added], ignore_index=True)
    return RunTables(base.ledger, base.inmails, members, base.billing, meta=base.meta)


def test_members_absent_from_the_window_are_in_no_member_count() -> None:
    """An open population's member who left before the window ("gone", on pc) changes no
    report; one who arrives in it and never acts ("late", basic) adds one basic member to
    per_tier and one quiet member to utilisation, and nothing to the daily balances (it
    enters those with its first entry)."""
    base = small_run()
    gone = {"member": "gone", "cohort": "c1", "initial_tier": PC, "final_tier": "basic",
            "sends_per_month": 1.0, "left_at": "2023-12-01T00:00:00"}  # fmt: skip
    late = {"member": "late", "cohort": "c2", "initial_tier": "basic", "final_tier": "basic",
            "sends_per_month": 1.0, "arrived_at": "2024-02-10T00:00:00"}  # fmt: skip
    with_gone = _with_members([gone])
    for report in (reports.per_tier, reports.balance_distribution, reports.utilisation_members):
        pd.testing.assert_frame_equal(report(with_gone), report(base))
    assert reports.headline(with_gone) == reports.headline(base)

    with_late = _with_members([late])
    before, after = reports.per_tier(base), reports.per_tier(with_late)
    basic = after["tier"] == "basic"
    assert int(after.loc[basic, "members"].iloc[0]) == int(before.loc[basic, "members"].iloc[0]) + 1
    quiet = reports.utilisation_members(with_late)
    assert len(quiet) == len(reports.utilisation_members(base)) + 1
    assert quiet.loc[quiet["member"] == "late", "inmails_sent"].tolist() == [0]
    pd.testing.assert_frame_equal(
        reports.balance_distribution(with_late), reports.balance_distribution(base)
    )


def test_markdown_and_html_numbers_never_use_scientific_notation():
    """Issue 13: headline.md printed ``2.56814e+08`` for revenue in cents.

    The values are the issue's own: 256814000 cents (shown as 2.56814e+08) and the refund rate
    0.19268556429475864 from summary.json; 12345.6 is an arbitrary non-whole number that ``.4g``
    wrote as ``1.235e+04``.
    """
    frame = pd.DataFrame(
        {"metric": ["revenue", "rate"], "value": [256814000.0, 0.19268556429475864]}
    )
    text = files._markdown(frame)
    assert "e+" not in text and "e-" not in text
    assert "| 256814000 |" in text
    assert "| 0.192686 |" in text  # six significant digits, as before the change
    # report.html writes numbers through simulator.reports.display (tests/unit/test_report_html.py).
    assert display.number(256814000.0) == "256,814,000"
    assert display.number(12345.6) == "12,345.60"
    assert "e" not in display.number(0.00001234, 8)
