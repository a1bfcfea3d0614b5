"""Tests of simulator.invariants: end-of-run checks on hand-built tables, and real runs.

The hand-built run (:func:`_clean`) has two members over a 31-day window after a
10-day warm-up; every number in it and in its summary is derived by hand in the
comments. Each test corrupts one thing and pins the exact lines reported.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from simulator.cli import main
from simulator.engine.history import HISTORY_COLUMNS
from simulator.invariant_failures import FAILURES_DIR, write_failures
from simulator.invariants import check_run
from simulator.scenario import load_scenario, scenario_from_dict
from simulator.violations import MAX_MEMBER_LINES, Violation, offending_members

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "tests" / "data" / "model" / "small.yaml"

SCENARIO = scenario_from_dict(
    {
        "seed": 1,
        "start": "2024-01-01",
        "duration_days": 31,  # measured window: 2024-01-01T00:00:00Z .. 2024-01-31T23:59:59Z
        "warmup_days": 10,  # simulation starts 2023-12-22
        "population": [
            {"name": "a", "tier": "premium_career", "members": 1,
             "sending": {"inmails_per_month": 1}},
            {"name": "b", "tier": "basic", "members": 1, "sending": {"inmails_per_month": 1}},
        ],
    },
    "hand.yaml",
)  # fmt: skip

_LEDGER = [  # time, member, kind, lot, quantity, inmail, reason, balance_after
    ("2023-12-22T00:00:00", "m000000", "grant", "m000000:1", 5, "", "", 5),  # warm-up
    ("2023-12-28T09:00:00", "m000000", "spend", "m000000:1", 1, "m000000-1", "", 4),  # warm-up
    ("2024-01-04T09:00:00", "m000000", "refund", "m000000:2", 1, "m000000-1", "", 5),
    ("2024-01-05T10:00:00", "m000001", "reject", "", 0, "m000001-1", "no_credit", 0),
    ("2024-01-05T10:00:00", "m000001", "purchase", "m000001:1", 3, "", "", 3),
    ("2024-01-05T10:00:00", "m000001", "spend", "m000001:1", 1, "m000001-2", "", 2),
    ("2024-01-08T09:00:00", "m000000", "reject", "", 0, "m000000-2", "body_length", 5),
    ("2024-01-10T09:00:00", "m000000", "spend", "m000000:1", 1, "m000000-3", "", 4),
    ("2024-01-12T10:00:00", "m000001", "refund", "m000001:2", 1, "m000001-2", "", 3),
    ("2024-01-15T00:00:00", "m000000", "forfeit", "m000000:1", 3, "", "", 1),
    ("2024-01-15T00:00:00", "m000000", "forfeit", "m000000:2", 1, "", "", 0),
    ("2024-01-20T08:00:00", "m000001", "expire", "m000001:2", 1, "", "", 2),
    ("2024-01-22T00:00:00", "m000000", "grant", "m000000:3", 15, "", "", 15),
    ("2024-01-22T00:00:00", "m000000", "cap", "m000000:3", 5, "", "", 10),
]
_INMAILS = [  # inmail, sender, sent_at, free, paid, rejection, response, responded_at,
    # refunded_at, window_end
    ("m000000-1", "m000000", "2023-12-28T09:00:00", False, True, "", "", None,
     "2024-01-04T09:00:00", "2024-01-04T09:00:00"),  # warm-up send, refunded in the window
    ("m000001-1", "m000001", "2024-01-05T10:00:00", False, False, "no_credit", "", None,
     None, None),
    ("m000001-2", "m000001", "2024-01-05T10:00:00", False, True, "", "", None,
     "2024-01-12T10:00:00", "2024-01-12T10:00:00"),
    ("m000000-2", "m000000", "2024-01-08T09:00:00", False, False, "body_length", "", None,
     None, None),
    ("m000000-3", "m000000", "2024-01-10T09:00:00", False, True, "", "accept",
     "2024-01-11T09:00:00", None, "2024-01-17T09:00:00"),
    ("m000000-4", "m000000", "2024-01-16T09:00:00", True, False, "", "reply",
     "2024-01-18T09:00:00", None, None),
]  # fmt: skip

# Counted by hand over the window (ledger rows 2-13, InMails 2-6 above):
SUMMARY: dict[str, Any] = {
    "members": 2,
    "inmails_attempted": 5,  # all but m000000-1 (warm-up)
    "inmails_sent": 3,  # m000001-2, m000000-3, m000000-4
    "inmails_paid": 2,  # m000001-2, m000000-3
    "inmails_free": 1,  # m000000-4
    "inmails_rejected": 2,
    "inmails_rejected_body_length": 1,
    "inmails_rejected_subject_length": 0,
    "inmails_rejected_category": 0,
    "inmails_rejected_no_credit": 1,
    "responses": 2,  # m000000-3 (accept), m000000-4 (reply)
    "refunds": 2,  # rows 2 and 8
    "refund_rate_settled_inmails": 2,  # windows end 01-12 and 01-17, before 01-31
    "credits_granted": 15,  # row 12 (row 0 is in the warm-up)
    "credits_purchased": 3,
    "credits_refunded": 2,
    "credits_spent": 2,  # rows 5 and 7
    "credits_expired": 1,
    "credits_capped": 5,
    "credits_forfeited": 4,  # 3 + 1
    "purchase_revenue_cents": 3000,  # 3 credits at the default 10.00
    "subscription_revenue_cents": 5999,  # the 2024-01-22 charge; 2023-12-22 is warm-up
}


def _ts(values: list[Any]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True)).astype("datetime64[s, UTC]")


def _clean() -> SimpleNamespace:
    """The hand-built tables as DataFrames (the columns simulator.tables documents)."""
    led = pd.DataFrame(_LEDGER, columns=["time", "member", "kind", "lot", "quantity", "inmail",
                                         "reason", "balance_after"])  # fmt: skip
    led["time"] = _ts(led["time"].tolist())
    inm = pd.DataFrame(_INMAILS, columns=["inmail", "sender", "sent_at", "free", "paid",
                                          "rejection", "response", "responded_at",
                                          "refunded_at", "window_end"])  # fmt: skip
    for col in ("sent_at", "responded_at", "refunded_at", "window_end"):
        inm[col] = _ts(inm[col].tolist())
    members = pd.DataFrame({"member": ["m000000", "m000001"]})
    billing = pd.DataFrame({
        "member": ["m000000", "m000000"],
        "tier": ["premium_career", "premium_business"],
        "time": _ts(["2023-12-22T00:00:00", "2024-01-22T00:00:00"]),
        "amount_cents": [2999, 5999],
    })  # fmt: skip
    rows = [
        ("2023-12-22T00:00:00Z", "m000000", "subscribe", "premium_career"),
        ("2023-12-28T09:00:00Z", "m000000", "send", ""),
        ("2024-01-05T10:00:00Z", "m000001", "send", ""),
        ("2024-01-05T10:00:00Z", "m000001", "purchase", ""),
    ]
    given = {name: [r[i] for r in rows] for i, name in enumerate(HISTORY_COLUMNS[:4])}
    blank = {name: [""] * len(rows) for name in HISTORY_COLUMNS[4:]}
    history = pa.table(given | blank)
    return SimpleNamespace(ledger=led, inmails=inm, members=members, billing=billing,
                           history=history)  # fmt: skip


def _check(tables: SimpleNamespace, **summary_changes: Any) -> list[str]:
    return check_run(tables, {**SUMMARY, **summary_changes}, SCENARIO)


# -- the clean tables -----------------------------------------------------------------


def test_clean_tables_pass() -> None:
    """The hand-built run breaks no invariant."""
    assert _check(_clean()) == []


def test_clean_tables_pass_as_arrow() -> None:
    """The same tables given as Arrow tables (SimTables.arrow) also pass."""
    t = _clean()
    t.arrow = {name: pa.Table.from_pandas(getattr(t, name), preserve_index=False)
               for name in ("ledger", "inmails", "members", "billing")}  # fmt: skip
    t.ledger = t.inmails = t.members = t.billing = None  # must not be used
    assert _check(t) == []


def test_arrow_dictionary_columns_are_read() -> None:
    """Dictionary-encoded text columns (as simulator.tables writes them) are decoded."""
    t = _clean()
    arrow = {name: pa.Table.from_pandas(getattr(t, name), preserve_index=False)
             for name in ("ledger", "inmails", "members", "billing")}  # fmt: skip
    led = arrow["ledger"]
    for col in ("kind", "reason"):
        led = led.set_column(led.schema.get_field_index(col), col,
                             led.column(col).dictionary_encode())  # fmt: skip
    arrow["ledger"] = led
    assert check_run(SimpleNamespace(arrow=arrow, history=t.history), SUMMARY, SCENARIO) == []


# -- one corruption at a time ----------------------------------------------------------


def test_negative_balance_is_named() -> None:
    """A negative balance_after is named with its member, row, kind and instant."""
    t = _clean()
    t.ledger.loc[10, "balance_after"] = -1  # the last forfeit of m000000: should be 0
    assert _check(t) == [
        "m000000: ledger row 10 (forfeit at 2024-01-15T00:00:00Z): negative balance_after -1",
        "m000000: ledger row 10 (forfeit at 2024-01-15T00:00:00Z): balance_after -1, expected 0"
        " (previous balance 1 - forfeit 1)",
    ]


def test_negative_quantity_is_named() -> None:
    """A negative quantity is named, and the balance it breaks and the recount follow."""
    t = _clean()
    t.ledger.loc[11, "quantity"] = -1  # m000001's expire of 1
    assert _check(t) == [
        "m000001: ledger row 11 (expire at 2024-01-20T08:00:00Z): negative quantity -1",
        "m000001: ledger row 11 (expire at 2024-01-20T08:00:00Z): balance_after 2, expected 4"
        " (previous balance 3 + expire -1)",
        "m000001: credits not conserved: granted 0 + purchased 3 + refunded 1 = 4, but spent 1"
        " + expired -1 + capped 0 + forfeited 0 + final balance 2 = 2",
        "summary: credits_expired is 1 but a recount from the tables gives -1",
    ]


def test_reject_with_a_quantity_is_named() -> None:
    """A reject that moves credits is a problem even when the balance is unchanged."""
    t = _clean()
    t.ledger.loc[6, "quantity"] = 2
    assert _check(t) == [
        "m000000: ledger row 6 (reject at 2024-01-08T09:00:00Z): a reject moves no credits,"
        " got quantity 2",
    ]


def test_unknown_kind_is_named() -> None:
    """A kind outside RULES.md section 5 is named, with the kinds expected."""
    t = _clean()
    t.ledger.loc[4, "kind"] = "gift"  # m000001's purchase of 3
    lines = _check(t)
    assert lines[0] == (
        "m000001: ledger row 4 (gift at 2024-01-05T10:00:00Z): unknown kind (expected one of"
        " grant, purchase, spend, refund, expire, cap, forfeit, reject)"
    )
    assert "summary: credits_purchased is 3 but a recount from the tables gives 0" in lines


def test_broken_running_balance_is_named_once_per_member() -> None:
    """A wrong balance_after mid-ledger is reported at the member's first wrong entry only."""
    t = _clean()
    t.ledger.loc[7, "balance_after"] = 7  # m000000's spend: 5 - 1 = 4, and row 9 follows it
    assert _check(t) == [
        "m000000: ledger row 7 (spend at 2024-01-10T09:00:00Z): balance_after 7, expected 4"
        " (previous balance 5 - spend 1)",
    ]


def test_wrong_final_balance_breaks_conservation() -> None:
    """A final balance that does not close the books is named with every term."""
    t = _clean()
    t.ledger.loc[13, "balance_after"] = 11  # m000000's last entry: 10
    assert _check(t) == [
        "m000000: ledger row 13 (cap at 2024-01-22T00:00:00Z): balance_after 11, expected 10"
        " (previous balance 15 - cap 5)",
        "m000000: credits not conserved: granted 20 + purchased 0 + refunded 1 = 21, but spent 2"
        " + expired 0 + capped 5 + forfeited 4 + final balance 11 = 22",
    ]


def test_ledger_member_missing_from_members_table_is_named() -> None:
    """A member in the ledger but not in the members table is named."""
    t = _clean()
    t.members = t.members[t.members["member"] != "m000001"]
    assert _check(t) == [
        "m000001: in the ledger but not in the members table",
        "summary: members is 2 but a recount from the tables gives 1",
        "members table: 1 members, but the scenario has 2 (present at the start and arrivals)",
    ]


def test_spend_moved_to_another_inmail_is_named() -> None:
    """A spend naming the wrong InMail: one paid InMail has two spends, the other none."""
    t = _clean()
    t.ledger.loc[7, "inmail"] = "m000001-2"
    assert _check(t) == [
        "m000001: paid InMail 'm000001-2' has 2 spend entries, expected 1",
        "m000000: paid InMail 'm000000-3' has 0 spend entries, expected 1",
    ]


def test_spend_on_a_free_inmail_is_named() -> None:
    """A spend entry for a free InMail is named (a free send costs nothing, R3)."""
    t = _clean()
    t.ledger.loc[7, "inmail"] = "m000000-4"
    assert _check(t) == [
        "m000000: paid InMail 'm000000-3' has 0 spend entries, expected 1",
        "m000000: free InMail 'm000000-4' has 1 spend entries, expected 0",
    ]


def test_spend_naming_an_unknown_inmail_is_named() -> None:
    """A spend entry whose InMail is not in the InMails table is named."""
    t = _clean()
    t.ledger.loc[5, "inmail"] = "m000001-99"
    assert _check(t) == [
        "m000001: ledger row 5 (spend at 2024-01-05T10:00:00Z): names InMail 'm000001-99',"
        " which is not in the InMails table",
        "m000001: paid InMail 'm000001-2' has 0 spend entries, expected 1",
    ]


def test_second_refund_is_named() -> None:
    """Two refund entries for one InMail are named; the InMail robbed of its refund too."""
    t = _clean()
    t.ledger.loc[2, "inmail"] = "m000001-2"  # m000000's refund now names m000001's InMail
    assert _check(t) == [
        "m000001: paid InMail 'm000001-2' has 2 refund entries, expected at most 1",
        "m000000: InMail 'm000000-1' has refunded_at 2024-01-04T09:00:00Z but no refund entry",
    ]


def test_refund_at_another_instant_than_refunded_at_is_named() -> None:
    """The InMails table's refunded_at must be the refund entry's instant."""
    t = _clean()
    t.inmails.loc[2, "refunded_at"] = pd.Timestamp("2024-01-12T10:00:01Z")
    assert _check(t) == [
        "m000001: InMail 'm000001-2' is refunded in the ledger at 2024-01-12T10:00:00Z but its"
        " refunded_at is 2024-01-12T10:00:01Z",
    ]


def test_refund_of_a_rejected_inmail_is_named() -> None:
    """A refund entry for a rejected InMail is named (rejected sends are never refunded)."""
    t = _clean()
    t.ledger.loc[8, "inmail"] = "m000001-1"
    t.inmails.loc[2, "refunded_at"] = pd.NaT  # keep refunded_at out of it
    t.inmails.loc[1, "refunded_at"] = pd.Timestamp("2024-01-12T10:00:00Z")
    assert _check(t) == [
        "m000001: rejected InMail 'm000001-1' has 1 refund entries, expected 0",
    ]


def test_reject_reason_disagreeing_with_the_inmail_is_named() -> None:
    """A reject entry's reason must be the rejection the InMails table records."""
    t = _clean()
    t.ledger.loc[6, "reason"] = "subject_length"
    assert _check(t) == [
        "m000000: ledger row 6 (reject at 2024-01-08T09:00:00Z): reason 'subject_length' but"
        " InMail 'm000000-2' records rejection 'body_length'",
    ]


def test_reject_moved_to_another_inmail_is_named() -> None:
    """A rejected InMail needs exactly one reject entry; an accepted one none."""
    t = _clean()
    t.ledger.loc[6, "inmail"] = "m000000-3"
    assert _check(t) == [
        "m000000: rejected InMail 'm000000-2' (body_length) has 0 reject entries, expected 1",
        "m000000: accepted InMail 'm000000-3' has 1 reject entries, expected 0",
    ]


def test_paid_flag_disagreeing_with_free_and_rejection_is_named() -> None:
    """``paid`` must be: accepted and not free."""
    t = _clean()
    t.inmails.loc[5, "paid"] = True  # m000000-4 is free
    lines = _check(t)
    assert lines[0] == (
        "m000000: InMail 'm000000-4': paid is true but free is true and rejection is ''"
    )
    assert "m000000: paid InMail 'm000000-4' has 0 spend entries, expected 1" in lines


def test_duplicate_inmail_id_is_named() -> None:
    """An InMail id twice in the InMails table is named (and only its first row is used)."""
    t = _clean()
    t.inmails = pd.concat([t.inmails, t.inmails.iloc[[5]]], ignore_index=True)
    # Counts are taken over distinct InMails, so the summary still agrees.
    assert _check(t) == ["m000000: InMail 'm000000-4' appears more than once in the InMails table"]


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("credits_spent", 3, "summary: credits_spent is 3 but a recount from the tables gives 2"),
        ("inmails_paid", 1, "summary: inmails_paid is 1 but a recount from the tables gives 2"),
        ("refunds", 3, "summary: refunds is 3 but a recount from the tables gives 2"),
        ("inmails_rejected_no_credit", 0,
         "summary: inmails_rejected_no_credit is 0 but a recount from the tables gives 1"),
        ("credits_granted", 20,  # the warm-up grant counted by mistake
         "summary: credits_granted is 20 but a recount from the tables gives 15"),
        ("subscription_revenue_cents", 8998,
         "summary: subscription_revenue_cents is 8,998 but a recount from the tables gives 5,999"),
        ("inmails_sent", "3", "summary: inmails_sent is '3' but a recount from the tables gives 3"),
    ],
)  # fmt: skip
def test_summary_count_disagreeing_with_the_tables_is_named(
    key: str, value: Any, line: str
) -> None:
    """A summary count that a recount over the measured window does not give is named."""
    assert _check(_clean(), **{key: value}) == [line]


def test_missing_summary_count_is_named() -> None:
    """A count the summary should hold but lacks is named with the recount."""
    summary = {k: v for k, v in SUMMARY.items() if k != "credits_capped"}
    assert check_run(_clean(), summary, SCENARIO) == [
        "summary: credits_capped is missing (a recount from the tables gives 5)"
    ]


def test_inmail_missing_from_inmails_table_breaks_the_cross_count() -> None:
    """A paid InMail lost from the InMails table: its spend is orphaned, the counts disagree."""
    t = _clean()
    t.inmails = t.inmails.drop(index=4).reset_index(drop=True)  # m000000-3, paid, in window
    assert _check(t) == [
        "m000000: ledger row 7 (spend at 2024-01-10T09:00:00Z): names InMail 'm000000-3', which"
        " is not in the InMails table",
        "summary: inmails_attempted is 5 but a recount from the tables gives 4",
        "summary: inmails_sent is 3 but a recount from the tables gives 2",
        "summary: inmails_paid is 2 but a recount from the tables gives 1",
        "summary: responses is 2 but a recount from the tables gives 1",
        "summary: refund_rate_settled_inmails is 2 but a recount from the tables gives 1",
        "ledger: 2 spend entries in the measured window, but the InMails table has 1 paid InMails",
    ]


def test_many_offenders_are_summarised_after_the_first_lines() -> None:
    """Past MAX_MEMBER_LINES lines of one kind, one line counts the rest and keeps their members."""
    rows = [("2024-01-02T00:00:00", f"m{i:06d}", "grant", f"m{i:06d}:1", 5, "", "", -5)
            for i in range(MAX_MEMBER_LINES + 3)]  # fmt: skip
    t = _clean()
    extra = pd.DataFrame(rows, columns=t.ledger.columns)
    extra["time"] = _ts(extra["time"].tolist())
    t.ledger = extra  # only these members, all with a negative balance
    t.members = pd.DataFrame({"member": [r[1] for r in rows]})
    lines = [p for p in check_run(t, SUMMARY, SCENARIO) if "negative balance_after" in p
             or "more entries with a negative balance" in p]  # fmt: skip
    assert len(lines) == MAX_MEMBER_LINES + 1
    assert lines[-1] == "... and 3 more entries with a negative balance"
    assert lines[-1].members == ("m000010", "m000011", "m000012")


def test_violations_know_their_members() -> None:
    """Each line carries the members it implicates; totals lines carry none."""
    t = _clean()
    t.ledger.loc[7, "inmail"] = "m000001-2"
    problems = check_run(t, {**SUMMARY, "credits_spent": 9}, SCENARIO)
    assert [p.members for p in problems if isinstance(p, Violation)] == [
        ("m000001",), ("m000000",), (),
    ]  # fmt: skip
    assert offending_members(problems) == ["m000000", "m000001"]


# -- real runs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run():  # type: ignore[no-untyped-def]
    from simulator.runner import run

    return run(load_scenario(SMALL))


@pytest.mark.parametrize("preset", ["inmail-2014", "inmail-2015"])
def test_a_real_small_run_passes(preset: str) -> None:
    """tests/data/model/small.yaml (every behaviour, a warm-up) breaks no invariant."""
    from simulator.runner import run

    scenario = load_scenario(SMALL).with_overrides({"policy.preset": preset})
    result = run(scenario)
    assert check_run(result.tables, result.summary, scenario) == []


# -- writing the failures -------------------------------------------------------------------


def test_write_failures_writes_one_history_per_member(tmp_path: Path) -> None:
    """Each offending member gets <member>.csv with exactly its history rows, in replay columns."""
    t = _clean()
    folder = write_failures(tmp_path / "out", t.history, ["m000001", "m000000"])
    assert folder == tmp_path / "out" / FAILURES_DIR
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "m000000.csv", "m000001.csv"]
    with (folder / "m000001.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(HISTORY_COLUMNS)
    assert [r[:3] for r in rows[1:]] == [
        ["2024-01-05T10:00:00Z", "m000001", "send"],
        ["2024-01-05T10:00:00Z", "m000001", "purchase"],
    ]


def test_write_failures_readme_says_how_to_replay(tmp_path: Path) -> None:
    """README.txt lists the problems and one replay command per member."""
    out = tmp_path / "out"
    folder = write_failures(out, _clean().history, ["m000000"],
                            problems=["m000000: something broke"], scenario=SCENARIO)  # fmt: skip
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "  m000000: something broke" in readme
    assert (f"  creditsim replay {folder}/m000000.csv --scenario {folder}/scenario.yaml"
            f" --until 2024-01-31T23:59:59Z --out {folder}/replay-m000000") in readme  # fmt: skip
    assert (folder / "scenario.yaml").is_file()


def test_write_failures_replaces_an_earlier_folder_and_leaves_no_partial(tmp_path: Path) -> None:
    """A second call replaces the folder whole; no temporary folder is left beside it."""
    out = tmp_path / "out"
    write_failures(out, _clean().history, ["m000000", "m000001"])
    write_failures(out, _clean().history, ["m000001"])
    assert sorted(p.name for p in out.iterdir()) == [FAILURES_DIR]
    assert sorted(p.name for p in (out / FAILURES_DIR).iterdir()) == ["README.txt", "m000001.csv"]


def test_write_failures_caps_the_number_of_members(tmp_path: Path) -> None:
    """Only ``limit`` members are written, the first by id; the README counts the rest."""
    folder = write_failures(tmp_path, _clean().history, ["m000001", "m000000"], limit=1)
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "m000000.csv"]
    assert "1 more offending members were not written" in (folder / "README.txt").read_text()


def test_written_history_replays_to_the_members_ledger(small_run, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """A member's written history, replayed as README.txt says, gives that member's ledger."""
    member = "m000000"  # a premium_career member of small.yaml with cancels and changes
    folder = write_failures(tmp_path, small_run.tables.history, [member],
                            scenario=small_run.scenario)  # fmt: skip
    code = main(["replay", str(folder / f"{member}.csv"), "--scenario",
                 str(folder / "scenario.yaml"), "--until", small_run.meta["end"],
                 "--out", str(tmp_path / "replay")])  # fmt: skip
    capsys.readouterr()
    assert code == 0
    replayed = pd.read_csv(tmp_path / "replay" / "ledger.csv", dtype=str, keep_default_na=False)
    ours = small_run.tables.ledger
    ours = ours[ours["member"] == member]
    assert replayed["kind"].tolist() == ours["kind"].tolist()
    assert replayed["balance_after"].astype(int).tolist() == ours["balance_after"].tolist()
    assert len(replayed) > 20  # enough entries to mean something (small.yaml runs 190 days)


def test_unsafe_member_ids_get_numbered_file_names(tmp_path: Path) -> None:
    """A member id that is not a safe file name is written as member-N.csv, never a path."""
    history = pa.table({name: ["../evil" if name == "member" else ""] for name in HISTORY_COLUMNS})
    folder = write_failures(tmp_path / "out", history, ["../evil"])
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "member-1.csv"]
    assert not (tmp_path / "evil").exists()
