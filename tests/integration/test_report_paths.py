"""The reports' fast paths give exactly what their general paths give, on real runs.

``simulator.columns`` and ``simulator.reports`` take shortcuts that hold only
for a run's own tables: ledger entries matched to InMails by position (the
simulator's order) instead of by id, and end-of-day balances found without a
sort (a ledger in time order). Each shortcut is checked as it is taken and
falls back to the general path when it does not hold. Here the same run is
reported three ways, which must agree:

- from its Parquet files (``load_run_tables``): every shortcut taken;
- from its Arrow tables in memory (dictionary columns, as ``creditsim run``
  builds them);
- from pandas frames with the rows of every table shuffled (the ledger
  member by member, keeping each member's own order, which R10 fixes): no
  shortcut holds, so every general path runs (id look-up, sorted balances).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import reports

DATA = Path(__file__).parents[1] / "data" / "model"

# Every report of a run that reads the tables (the cuts and totals derive from refund_rates).
FRAMES = (
    "expiry_waste",
    "expiry_waste_by_source",
    "credit_age",
    "refund_rates",
    "response_delays",
    "utilisation_members",
    "balance_distribution",
    "purchases_revenue",
    "rejections",
    "per_tier",
)


def _all_reports(tables: reports.RunTables) -> dict[str, object]:
    out: dict[str, object] = {name: getattr(reports, name)(tables) for name in FRAMES}
    out["headline"] = reports.headline(tables)
    return out


def _shuffled(frame: pd.DataFrame, seed: int, keep_order_of: str | None = None) -> pd.DataFrame:
    """The rows in a random order; with ``keep_order_of``, rows of one value keep theirs.

    A member's ledger entries at one instant are in the engine's order
    (RULES.md R10), which the balance report uses; across members the order
    is free. So the ledger is shuffled member by member.
    """
    rng = np.random.default_rng(seed)
    if keep_order_of is None:
        order = rng.permutation(len(frame))
    else:
        codes, uniques = pd.factorize(frame[keep_order_of])
        order = np.argsort(rng.permutation(len(uniques))[codes], kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    for name in FRAMES:
        # Float sums (mean credit age) may differ in the last bit with the row order.
        pd.testing.assert_frame_equal(a[name], b[name], rtol=1e-12, atol=0, obj=name)  # type: ignore[arg-type]
    ha, hb = a["headline"], b["headline"]
    assert isinstance(ha, dict) and isinstance(hb, dict)
    assert ha.keys() == hb.keys()
    for key in ha:
        assert ha[key] == pytest.approx(hb[key], rel=1e-12, nan_ok=True), key


def test_the_run_s_files_take_the_in_order_match(written) -> None:  # type: ignore[no-untyped-def]
    """On a run's own files, spends and refunds are matched to InMails without a look-up."""
    _, out = written
    cols = reports.load_run_tables(out).columns
    for kind in ("spend", "refund"):
        entries = int((cols.ledger.kind.codes == cols.ledger.kind.code(kind)).sum())
        assert entries > 0, kind  # the run has some of each, or the check proves nothing
        assert cols._in_order(kind) is not None, kind


def test_files_memory_and_shuffled_frames_give_the_same_reports(written) -> None:  # type: ignore[no-untyped-def]
    """Parquet files, Arrow tables in memory and shuffled pandas frames: one set of reports."""
    result, out = written
    from_files = reports.load_run_tables(out)
    arrow = result.tables.arrow
    in_memory = reports.RunTables(
        arrow["ledger"], arrow["inmails"], arrow["members"], arrow["billing"], from_files.meta
    )
    shuffled = reports.RunTables(
        _shuffled(from_files.ledger, 1, keep_order_of="member"),
        _shuffled(from_files.inmails, 2),
        _shuffled(from_files.members, 3),
        _shuffled(from_files.billing, 4),
        from_files.meta,
    )
    # The shuffled tables really are out of order: no in-order match, no sorted ledger.
    assert shuffled.columns._in_order("spend") is None
    assert not (np.diff(shuffled.columns.ledger.time) >= 0).all()

    expected = _all_reports(from_files)
    _same(_all_reports(in_memory), expected)
    _same(_all_reports(shuffled), expected)


def test_reports_agree_with_the_ledger_totals(written) -> None:  # type: ignore[no-untyped-def]
    """Expired credits, refunds and paid InMails of the reports are the ledger's (issue #4)."""
    _, out = written
    tables = reports.load_run_tables(out)
    led = pd.read_parquet(out / "ledger")
    start = pd.Timestamp(tables.meta["measure_start"])
    inside = led[led["time"] >= start]
    total = inside.groupby("kind")["quantity"].sum()
    rates = reports.refund_rates(tables)
    assert reports.expiry_waste(tables)["credits_expired"].sum() == total.get("expire", 0)
    assert rates["refunds"].sum() == total.get("refund", 0)
    assert rates["inmails_paid"].sum() == total.get("spend", 0)


def test_report_cli_names_a_column_of_the_wrong_type(written, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An edited ledger with text quantities: one line, exit 2, no reports written."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from simulator.cli import main

    _, out = written
    run_dir = tmp_path / "edited"
    shutil.copytree(out, run_dir)
    for part in (run_dir / "ledger").iterdir():
        ledger = pq.read_table(part)
        at = ledger.schema.get_field_index("quantity")
        text = ledger.column("quantity").cast(pa.string())
        pq.write_table(ledger.set_column(at, "quantity", text), part)

    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    # The reports read the run one batch at a time: the first part read is named.
    part = run_dir / "ledger" / "part-00000.parquet"
    assert err == f"{part}: column 'quantity' must hold whole numbers"
    assert not (run_dir / "reports").exists() and not (run_dir / "report.html").exists()
