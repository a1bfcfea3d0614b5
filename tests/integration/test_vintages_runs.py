"""credit_vintages on real runs: it accounts for every credit of the ledger, in any row order.

``tests/data/model/small.yaml`` (40 days of warm-up, 150 measured days from
2024-01-01 to 2024-05-29T23:59:59Z, cancels and tier changes) under each preset
(``inmail-2015`` caps allotted balances, so its runs have cap entries).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import reports
from simulator.timeutil import DAY, parse_instant

DATA = Path(__file__).parents[1] / "data" / "model"
FATES = {"spend": "spent", "expire": "expired", "cap": "capped", "forfeit": "forfeited"}


def test_totals_are_the_ledger_s(written) -> None:  # type: ignore[no-untyped-def]
    """Issued and each fate sum to the whole ledger's (warm-up included); live is what is held."""
    _, out = written
    vintages = reports.credit_vintages(reports.load_run_tables(out))
    led = pd.read_parquet(out / "ledger")
    total = led.groupby("kind", observed=True)["quantity"].sum()
    assert vintages["issued"].sum() == sum(total.get(k, 0) for k in ("grant", "purchase", "refund"))
    for kind, column in FATES.items():
        assert vintages[column].sum() == total.get(kind, 0), kind
    # Credits still held at the end: each member's last balance, summed.
    last = led.groupby("member", observed=True)["balance_after"].last()
    assert vintages["live_at_end"].sum() == last.sum()
    assert (vintages["live_at_end"] >= 0).all()
    assert (vintages["issued"] > 0).all()
    # The run reaches back into the warm-up, and its cap entries (inmail-2015) are counted.
    assert vintages["warmup"].any() and (~vintages["warmup"]).any()
    if "cap" in total:
        assert vintages["capped"].sum() > 0


def test_files_memory_and_shuffled_ledger_give_one_frame(written) -> None:  # type: ignore[no-untyped-def]
    """Parquet files, the Arrow tables in memory and a shuffled pandas ledger agree exactly."""
    result, out = written
    from_files = reports.load_run_tables(out)
    arrow = result.tables.arrow
    in_memory = reports.RunTables(
        arrow["ledger"], arrow["inmails"], arrow["members"], arrow["billing"], from_files.meta
    )
    ledger = from_files.ledger
    order = np.random.default_rng(3).permutation(len(ledger))
    shuffled = reports.RunTables(
        ledger.iloc[order].reset_index(drop=True),
        from_files.inmails,
        from_files.members,
        from_files.billing,
        from_files.meta,
    )
    assert not (np.diff(shuffled.columns.ledger.time) >= 0).all()  # really out of order
    expected = reports.credit_vintages(from_files)
    pd.testing.assert_frame_equal(reports.credit_vintages(in_memory), expected)
    pd.testing.assert_frame_equal(reports.credit_vintages(shuffled), expected)


def test_resolved_vintages_have_met_their_fate(written) -> None:  # type: ignore[no-untyped-def]
    """The vintages of vintage_waste_rate hold no live credit at the end.

    Those are the rows with warmup False, lot source grant or refund, and an
    issue month whose last second plus the source's expiry days is at or
    before the end: here January and February 2024 (February's last second
    + 90 days is the end, 2024-05-29T23:59:59Z, exactly).
    """
    result, out = written
    policy = result.scenario.policy
    vintages = reports.credit_vintages(reports.load_run_tables(out))
    end = parse_instant(result.meta["end"])
    months = vintages["issue_month"].to_numpy().astype("datetime64[M]")
    last_second = (months + 1).astype("datetime64[s]").view(np.int64) - 1
    days = vintages["lot_source"].map(
        {"grant": policy.grant_expiry_days, "refund": policy.refund_expiry_days}
    )
    resolved = (
        ~vintages["warmup"].to_numpy()
        & days.notna().to_numpy()
        & (last_second + days.fillna(0).to_numpy(dtype=np.int64) * DAY <= end)
    )
    rows = vintages[resolved]
    assert sorted(set(rows["issue_month"])) == ["2024-01", "2024-02"]
    assert (rows["live_at_end"] == 0).all()
    assert rows["waste_rate"].notna().all()
    rate = rows["expired"].sum() / rows["issued"].sum()
    assert reports.vintage_waste_rate(
        vintages, end, policy.grant_expiry_days, policy.refund_expiry_days
    ) == pytest.approx(rate, rel=1e-15)
    # The simulator's own headline, where it has one, is the same figure.
    if result.summary.get("vintage_waste_rate") is not None:
        assert result.summary["vintage_waste_rate"] == pytest.approx(rate, rel=1e-12)


def test_written_report_and_plot(written, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """write_reports writes credit_vintages.csv (NaN as empty cells) and its plot."""
    import shutil

    _, out = written
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    paths = {p.relative_to(run_dir).as_posix() for p in reports.write_reports(run_dir)}
    assert {"reports/credit_vintages.csv", "plots/credit_vintages.png"} <= paths
    frame = reports.credit_vintages(reports.load_run_tables(run_dir))
    text = (run_dir / "reports" / "credit_vintages.csv").read_text()
    assert text == frame.to_csv(index=False, lineterminator="\n")
    censored = frame["live_at_end"] > 0
    assert censored.any() and not censored.all()
    # A censored row's waste_rate is an empty last cell.
    assert [line.endswith(",") for line in text.splitlines()[1:]] == censored.tolist()
    back = pd.read_csv(run_dir / "reports" / "credit_vintages.csv")
    assert (back["waste_rate"].isna() == censored).all()
