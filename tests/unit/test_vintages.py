"""credit_vintages on a small ledger written by hand, every expected number worked out below.

The run: simulated from 2024-01-01, measured window 2024-02-15T00:00:00Z ..
2024-05-31T23:59:59Z; 90-day grant and refund expiry; the policy lets premium
members buy at any time (``premium_buys_only_when_empty: false``) and spends
``fifo`` (the lot issued first, then the lower lot number). Tiers: pc =
premium_career (5 credits a month), pb = premium_business (15).

- p: premium_career from 2024-01-10 09:00, granted 5 on the 10th at 09:00.
  p:1 (01-10, warm-up) spends 1 on 01-20 and expires 4 on 04-09 09:00
  (Jan 10 + 90 days: 21 + 29 + 31 + 9). p:2 (02-10, warm-up: before 02-15)
  spends 1 on 04-20 (fifo: p:1 has expired) and expires 4 on 05-10 09:00
  (Feb 10 + 90: 19 + 31 + 30 + 10). p:3 (03-10), p:4 (04-10), p:5 (05-10)
  are untouched: they expire after the end.
- q: premium_career from 2024-02-20 12:00 (in the window, in the same month
  as p:2): q:1 spends 1, then q changes to basic on 03-01, forfeiting 4.
- b: basic. Buys 2 on 03-01 10:00 (b:1) and spends 1 at 10:05 (m1, never
  answered). At 03-08 10:05, one instant: m1's refund (b:2, step 2, tier
  basic); b subscribes to premium_business (step 4: b:2 forfeited, entry on
  the old tier); the grant b:3 of 15 (step 5, tier pb); and a purchase of 3
  (b:4, step 6, tier pb). A refund lot and a purchase lot of one member at one
  instant, of different tiers at issue. On 03-09 b spends b:1's last credit
  (fifo) on premium_business: that credit still counts for the basic
  purchase lot of March. On 03-20 b spends 1 from b:3 (b:3 and b:4 were issued
  together; b:3 has the lower number).
- r: basic. Buys 2 on 04-01 08:00 (r:1), spends both at once (z1, z2), both
  refunded at 04-08 08:00: two refund lots (r:2, r:3) of one member, one
  instant, one source (one key). Spends 1 from r:2 on 04-10.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from simulator.reports import RunTables, credit_vintages, vintage_waste_rate, write_tables

PC, PB = "premium_career", "premium_business"

LEDGER = """
time                | member | tier  | kind     | lot | lot_source | lot_issued_at       | quantity | inmail | balance_after
2024-01-10T09:00:00 | p      | pc    | grant    | p:1 | grant      | 2024-01-10T09:00:00 | 5        |        | 5
2024-01-20T10:00:00 | p      | pc    | spend    | p:1 | grant      | 2024-01-10T09:00:00 | 1        | x1     | 4
2024-02-10T09:00:00 | p      | pc    | grant    | p:2 | grant      | 2024-02-10T09:00:00 | 5        |        | 9
2024-02-20T12:00:00 | q      | pc    | grant    | q:1 | grant      | 2024-02-20T12:00:00 | 5        |        | 5
2024-02-21T12:00:00 | q      | pc    | spend    | q:1 | grant      | 2024-02-20T12:00:00 | 1        | y1     | 4
2024-03-01T00:00:00 | q      | pc    | forfeit  | q:1 | grant      | 2024-02-20T12:00:00 | 4        |        | 0
2024-03-01T10:00:00 | b      | basic | purchase | b:1 | purchase   | 2024-03-01T10:00:00 | 2        |        | 2
2024-03-01T10:05:00 | b      | basic | spend    | b:1 | purchase   | 2024-03-01T10:00:00 | 1        | m1     | 1
2024-03-08T10:05:00 | b      | basic | refund   | b:2 | refund     | 2024-03-08T10:05:00 | 1        | m1     | 2
2024-03-08T10:05:00 | b      | basic | forfeit  | b:2 | refund     | 2024-03-08T10:05:00 | 1        |        | 1
2024-03-08T10:05:00 | b      | pb    | grant    | b:3 | grant      | 2024-03-08T10:05:00 | 15       |        | 16
2024-03-08T10:05:00 | b      | pb    | purchase | b:4 | purchase   | 2024-03-08T10:05:00 | 3        |        | 19
2024-03-09T09:00:00 | b      | pb    | spend    | b:1 | purchase   | 2024-03-01T10:00:00 | 1        | m2     | 18
2024-03-10T09:00:00 | p      | pc    | grant    | p:3 | grant      | 2024-03-10T09:00:00 | 5        |        | 14
2024-03-20T09:00:00 | b      | pb    | spend    | b:3 | grant      | 2024-03-08T10:05:00 | 1        | m3     | 17
2024-04-01T08:00:00 | r      | basic | purchase | r:1 | purchase   | 2024-04-01T08:00:00 | 2        |        | 2
2024-04-01T08:00:00 | r      | basic | spend    | r:1 | purchase   | 2024-04-01T08:00:00 | 1        | z1     | 1
2024-04-01T08:00:00 | r      | basic | spend    | r:1 | purchase   | 2024-04-01T08:00:00 | 1        | z2     | 0
2024-04-08T08:00:00 | r      | basic | refund   | r:2 | refund     | 2024-04-08T08:00:00 | 1        | z1     | 1
2024-04-08T08:00:00 | r      | basic | refund   | r:3 | refund     | 2024-04-08T08:00:00 | 1        | z2     | 2
2024-04-09T09:00:00 | p      | pc    | expire   | p:1 | grant      | 2024-01-10T09:00:00 | 4        |        | 10
2024-04-10T08:00:00 | r      | basic | spend    | r:2 | refund     | 2024-04-08T08:00:00 | 1        | z3     | 1
2024-04-10T09:00:00 | p      | pc    | grant    | p:4 | grant      | 2024-04-10T09:00:00 | 5        |        | 15
2024-04-20T10:00:00 | p      | pc    | spend    | p:2 | grant      | 2024-02-10T09:00:00 | 1        | x2     | 14
2024-05-10T09:00:00 | p      | pc    | expire   | p:2 | grant      | 2024-02-10T09:00:00 | 4        |        | 10
2024-05-10T09:00:00 | p      | pc    | grant    | p:5 | grant      | 2024-05-10T09:00:00 | 5        |        | 15
"""  # noqa: E501

COLUMNS = [
    "tier",
    "lot_source",
    "issue_month",
    "warmup",
    "issued",
    "spent",
    "expired",
    "capped",
    "forfeited",
    "live_at_end",
    "waste_rate",
]
NAN = math.nan

# Where each row comes from (lots, then issued / spent / expired / capped / forfeited; live =
# issued - the rest; waste_rate = expired / issued, NaN while live > 0).
EXPECTED = pd.DataFrame(
    [
        # b:1 (2 on basic); 1 spent on basic, 1 on premium_business: still basic's lot.
        ("basic", "purchase", "2024-03", False, 2, 2, 0, 0, 0, 0, 0.0),
        # r:1, both spent at once.
        ("basic", "purchase", "2024-04", False, 2, 2, 0, 0, 0, 0, 0.0),
        # b:2, refunded and forfeited at the same instant.
        ("basic", "refund", "2024-03", False, 1, 0, 0, 0, 1, 0, 0.0),
        # r:2 and r:3 (one key): 1 spent, 1 live.
        ("basic", "refund", "2024-04", False, 2, 1, 0, 0, 0, 1, NAN),
        # p:1: 1 spent, 4 expired.
        (PC, "grant", "2024-01", True, 5, 1, 4, 0, 0, 0, 0.8),
        # q:1, issued 02-20 (after measure_start): 1 spent, 4 forfeited.
        (PC, "grant", "2024-02", False, 5, 1, 0, 0, 4, 0, 0.0),
        # p:2, issued 02-10 (before measure_start): 1 spent, 4 expired.
        (PC, "grant", "2024-02", True, 5, 1, 4, 0, 0, 0, 0.8),
        # p:3, p:4, p:5: untouched, censored.
        (PC, "grant", "2024-03", False, 5, 0, 0, 0, 0, 5, NAN),
        (PC, "grant", "2024-04", False, 5, 0, 0, 0, 0, 5, NAN),
        (PC, "grant", "2024-05", False, 5, 0, 0, 0, 0, 5, NAN),
        # b:3: 1 spent, 14 live.
        (PB, "grant", "2024-03", False, 15, 1, 0, 0, 0, 14, NAN),
        # b:4, bought at the refund's instant after the tier change: 3 live.
        (PB, "purchase", "2024-03", False, 3, 0, 0, 0, 0, 3, NAN),
    ],
    columns=COLUMNS,
)

_TIERS = {"pc": PC, "pb": PB, "basic": "basic"}


def parse_ledger(text: str) -> pd.DataFrame:
    """The ledger written above, with the column types of a run's ledger."""
    header, *lines = text.strip().splitlines()
    names = [cell.strip() for cell in header.split("|")]
    out = pd.DataFrame([[c.strip() for c in line.split("|")] for line in lines], columns=names)
    for name in ("time", "lot_issued_at"):
        out[name] = pd.to_datetime(out[name].replace("", None), utc=True).astype(
            "datetime64[s, UTC]"
        )
    for name in ("quantity", "balance_after"):
        out[name] = out[name].astype(np.int64)
    out["tier"] = out["tier"].map(_TIERS)
    out["reason"] = ""
    return out


def empty(columns: dict[str, str]) -> pd.DataFrame:
    """A table with no rows and the given column dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


INMAILS = {
    "inmail": "object",
    "sender": "object",
    "tier": "object",
    "sent_at": "datetime64[s, UTC]",
    "category": "object",
    "subject_chars": "int64",
    "body_chars": "int64",
    "free": "bool",
    "paid": "bool",
    "rejection": "object",
    "response": "object",
    "responded_at": "datetime64[s, UTC]",
    "refunded_at": "datetime64[s, UTC]",
    "window_end": "datetime64[s, UTC]",
}
MEMBERS = {"member": "object", "initial_tier": "object", "final_tier": "object"}
BILLING = {
    "member": "object",
    "tier": "object",
    "time": "datetime64[s, UTC]",
    "amount_cents": "int64",
}


def tables(
    ledger: pd.DataFrame | pa.Table | None = None,
    measure_start: str = "2024-02-15T00:00:00Z",
) -> RunTables:
    """The run above (credit_vintages reads only the ledger: the other tables are empty)."""
    return RunTables(
        ledger=parse_ledger(LEDGER) if ledger is None else ledger,
        inmails=empty(INMAILS),
        members=empty(MEMBERS),
        billing=empty(BILLING),
        meta={
            "sim_start": "2024-01-01T00:00:00Z",
            "measure_start": measure_start,
            "end": "2024-05-31T23:59:59Z",
            "credit_price_cents": 1000,
        },
    )


def same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal frames, text columns compared as text whatever their pandas dtype."""
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    assert list(actual.columns) == COLUMNS
    for name in ("issued", "spent", "expired", "capped", "forfeited", "live_at_end"):
        assert actual[name].dtype == np.int64, name
    assert actual["warmup"].dtype == bool
    assert actual["waste_rate"].dtype == np.float64


def test_vintages_of_the_hand_written_ledger():
    """Every row as worked out in EXPECTED, in tier, source, month, warm-up order."""
    same(credit_vintages(tables()), EXPECTED)


def test_a_lot_keeps_the_tier_it_was_issued_on():
    """b:1 was bought on basic and finished on premium_business: all of it is basic's."""
    out = credit_vintages(tables()).set_index(["tier", "lot_source", "issue_month"])
    assert out.loc[("basic", "purchase", "2024-03"), "spent"].item() == 2
    # premium_business's March purchase lot (b:4) is untouched, whatever b:1's entries say.
    assert out.loc[(PB, "purchase", "2024-03"), "spent"].item() == 0
    # Keyed by the spend entry's tier instead, basic would have 1 and premium_business 1.
    led = parse_ledger(LEDGER)
    spends = led[(led["kind"] == "spend") & (led["lot"] == "b:1")]
    assert sorted(spends["tier"]) == ["basic", PB]


def test_a_refund_and_a_purchase_at_one_instant():
    """b:2 (refund, step 2, basic) and b:4 (purchase, step 6, premium_business) share an instant."""
    out = credit_vintages(tables())
    at = out[out["issue_month"] == "2024-03"].set_index(["tier", "lot_source"])
    assert at.loc[("basic", "refund"), ["issued", "forfeited", "live_at_end"]].tolist() == [1, 1, 0]
    assert at.loc[(PB, "purchase"), ["issued", "spent", "live_at_end"]].tolist() == [3, 0, 3]
    # The forfeit of b:2 went to the refund lot, not to the purchase lot of the same instant.
    assert at["forfeited"].sum() == 1


def test_two_refund_lots_of_one_key_are_one_vintage():
    """r:2 and r:3 (same member, instant and source) add up; the spend of r:2 counts once."""
    out = credit_vintages(tables())
    row = out[(out["lot_source"] == "refund") & (out["issue_month"] == "2024-04")]
    assert row[["issued", "spent", "live_at_end"]].to_numpy().tolist() == [[2, 1, 1]]


def test_the_month_of_measure_start_gives_two_rows():
    """February 2024 splits at 02-15: p:2 (02-10) is warm-up, q:1 (02-20) is not."""
    out = credit_vintages(tables())
    feb = out[(out["tier"] == PC) & (out["issue_month"] == "2024-02")]
    assert feb[["warmup", "issued", "expired", "forfeited"]].to_numpy().tolist() == [
        [False, 5, 0, 4],
        [True, 5, 4, 0],
    ]
    # With the window starting at the simulation's start, nothing is warm-up: one row a month.
    whole = credit_vintages(tables(measure_start="2024-01-01T00:00:00Z"))
    assert not whole["warmup"].any()
    feb = whole[(whole["tier"] == PC) & (whole["issue_month"] == "2024-02")]
    assert feb[["issued", "spent", "expired", "forfeited"]].to_numpy().tolist() == [[10, 2, 4, 4]]
    # The window starting on the 1st of a month splits nothing either: warm-up up to January.
    march = credit_vintages(tables(measure_start="2024-02-01T00:00:00Z"))
    assert march.groupby("issue_month")["warmup"].nunique().max() == 1
    assert sorted(march.loc[march["warmup"], "issue_month"]) == ["2024-01"]


def test_censored_rows_have_an_empty_waste_rate(tmp_path):
    """waste_rate is NaN exactly where credits are live at the end, an empty cell in the CSV."""
    out = credit_vintages(tables())
    assert (out["waste_rate"].isna() == (out["live_at_end"] > 0)).all()
    (path,) = write_tables({"credit_vintages": out}, tmp_path)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    # Row 4: basic refund lots of April, 1 credit live (r:3).
    assert lines[4] == "basic,refund,2024-04,False,2,1,0,0,0,1,"
    assert lines[5] == "premium_career,grant,2024-01,True,5,1,4,0,0,0,0.8"


def test_row_order_and_table_form_do_not_matter():
    """A shuffled ledger, and the ledger as an Arrow table, give the same frame."""
    led = parse_ledger(LEDGER)
    order = np.random.default_rng(5).permutation(len(led))
    same(credit_vintages(tables(led.iloc[order].reset_index(drop=True))), EXPECTED)
    arrow = pa.Table.from_pandas(led, preserve_index=False)
    same(credit_vintages(tables(arrow)), EXPECTED)


def test_an_empty_ledger_gives_the_columns_and_no_rows():
    """No ledger entry: an empty frame with the report's columns and dtypes."""
    out = credit_vintages(tables(parse_ledger(LEDGER).iloc[:0]))
    assert list(out.columns) == COLUMNS and out.empty
    assert out["issued"].dtype == np.int64 and out["warmup"].dtype == bool
    assert math.isnan(vintage_waste_rate(out, "2024-05-31T23:59:59Z"))


def test_entries_of_a_lot_without_its_issuing_entry_are_left_out():
    """Spends of a lot whose issuing entry is not in the ledger (cut by hand) count nowhere."""
    led = parse_ledger(LEDGER)
    cut = led[led["lot"] != "b:1"].reset_index(drop=True)  # b:1's purchase and spends dropped
    out = credit_vintages(tables(cut))
    expected = EXPECTED[
        ~((EXPECTED["tier"] == "basic") & (EXPECTED["issue_month"] == "2024-03")
          & (EXPECTED["lot_source"] == "purchase"))
    ]  # fmt: skip
    same(out, expected)
    # Only the fate entries: b:1's purchase entry gone, its spends are dropped with it.
    orphans = led[~((led["lot"] == "b:1") & (led["kind"] == "purchase"))].reset_index(drop=True)
    same(credit_vintages(tables(orphans)), expected)


def test_rows_without_a_lot_are_left_out():
    """Rejections (no lot, no lot_issued_at) count nowhere."""
    led = parse_ledger(LEDGER)
    reject = led.iloc[[0]].assign(
        kind="reject", lot="", lot_source=None, lot_issued_at=pd.NaT, quantity=0, reason="quantity"
    )
    same(credit_vintages(tables(pd.concat([led, reject], ignore_index=True))), EXPECTED)


def test_vintage_waste_rate_of_the_hand_written_ledger():
    """Grant and refund vintages of the window whose month ends >= 90 days before the end.

    The end is 05-31T23:59:59; a month qualifies when its last second + 90 days is at or
    before it: only months ending by 03-02T23:59:59, so February 2024 (last second
    02-29T23:59:59 + 90 days = 05-29T23:59:59). Its measured part is q:1 (5 issued, 0
    expired): 0 / 5. With the end one second before that, nothing qualifies.
    """
    out = credit_vintages(tables())
    assert vintage_waste_rate(out, "2024-05-31T23:59:59Z") == 0.0
    assert vintage_waste_rate(out, "2024-05-29T23:59:59Z") == 0.0
    assert math.isnan(vintage_waste_rate(out, "2024-05-29T23:59:58Z"))
    # Counting the warm-up too (measure_start at the simulation's start): p:1 (January,
    # 4 of 5 expired) and p:2 + q:1 (February, 4 of 10): 8 / 15.
    whole = credit_vintages(tables(measure_start="2024-01-01T00:00:00Z"))
    assert vintage_waste_rate(whole, "2024-05-31T23:59:59Z") == pytest.approx(8 / 15)
    # Refund lots only, with a 30-day refund expiry (arithmetic on the frame: the ledger was
    # not written under it): March (b:2) and April (r:2, r:3: 04-30T23:59:59 + 30 days =
    # 05-30T23:59:59 <= end) qualify, 3 credits issued, none expired.
    assert vintage_waste_rate(whole, 1_717_199_999, None, 30) == 0.0  # end in Unix seconds
    assert math.isnan(vintage_waste_rate(whole, "2024-05-31T23:59:59Z", None, None))
