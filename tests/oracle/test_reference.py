"""Hand-checked cases for the reference implementation (the oracle) itself."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from .reference import add_months, format_instant, parse_instant, reference_replay

COLUMNS = [
    "time",
    "member",
    "action",
    "tier",
    "quantity",
    "inmail",
    "category",
    "subject_chars",
    "body_chars",
    "free",
    "response",
]


def _history(tmp_path: Path, rows: list[dict[str, str]]) -> str:
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow(row)
    return str(path)


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


def _send(time: str, inmail: str, member: str = "m", **kw: str) -> dict[str, str]:
    row = {
        "time": time,
        "member": member,
        "action": "send",
        "inmail": inmail,
        "category": "job_inquiry",
        "subject_chars": "10",
        "body_chars": "100",
        "free": "false",
    }
    row.update(kw)
    return row


def _short(ledger: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [
        (
            r["time"],
            r["kind"],
            r["lot"],
            r["quantity"],
            r["inmail"],
            r["reason"],
            r["balance_after"],
        )
        for r in ledger
    ]


def test_instants_round_trip() -> None:
    """ISO instants parse to whole seconds and format back with a Z."""
    t = parse_instant("2024-01-31T09:00:00Z")
    assert parse_instant("2024-01-31T09:00:00+00:00") == t
    assert format_instant(t) == "2024-01-31T09:00:00Z"
    assert format_instant(t + 86_400 * 29) == "2024-02-29T09:00:00Z"


def test_anniversaries_from_the_anchor() -> None:
    """Jan 31 -> Feb 29 (2024) -> Mar 31 -> Apr 30, always from the anchor."""
    a = parse_instant("2024-01-31T09:00:00Z")
    got = [format_instant(add_months(a, k)) for k in range(5)]
    assert got == [
        "2024-01-31T09:00:00Z",
        "2024-02-29T09:00:00Z",
        "2024-03-31T09:00:00Z",
        "2024-04-30T09:00:00Z",
        "2024-05-31T09:00:00Z",
    ]
    assert format_instant(add_months(parse_instant("2100-01-29T00:00:00Z"), 1)) == (
        "2100-02-28T00:00:00Z"
    )
    assert format_instant(add_months(parse_instant("2024-02-29T12:00:00Z"), 12)) == (
        "2025-02-28T12:00:00Z"
    )


def test_grants_on_anniversaries_and_expiry_before_grant(tmp_path: Path) -> None:
    """Grants fall on Jan 31, Feb 29, Mar 31, Apr 30; lot 1 expires Apr 30 (90 d) first."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-01-31T09:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            }
        ],
    )
    got = _short(reference_replay(hist, None, "2024-04-30T09:00:00Z"))
    assert got == [
        ("2024-01-31T09:00:00Z", "grant", "m:1", "5", "", "", "5"),
        ("2024-02-29T09:00:00Z", "grant", "m:2", "5", "", "", "10"),
        ("2024-03-31T09:00:00Z", "grant", "m:3", "5", "", "", "15"),
        ("2024-04-30T09:00:00Z", "expire", "m:1", "5", "", "", "10"),
        ("2024-04-30T09:00:00Z", "grant", "m:4", "5", "", "", "15"),
    ]


def test_refund_at_exactly_seven_days(tmp_path: Path) -> None:
    """No response by sent+7d: one credit comes back at exactly sent+7d."""
    hist = _history(
        tmp_path,
        [
            {"time": "2024-03-01T10:00:00Z", "member": "m", "action": "purchase", "quantity": "1"},
            _send("2024-03-01T10:00:00Z", "i1"),
        ],
    )
    got = _short(reference_replay(hist, None, None))
    assert got == [
        ("2024-03-01T10:00:00Z", "purchase", "m:1", "1", "", "", "1"),
        ("2024-03-01T10:00:00Z", "spend", "m:1", "1", "i1", "", "0"),
    ]
    got = _short(reference_replay(hist, None, "2024-03-08T09:59:59Z"))
    assert len(got) == 2
    got = _short(reference_replay(hist, None, "2024-03-08T10:00:00Z"))
    assert got[2:] == [("2024-03-08T10:00:00Z", "refund", "m:2", "1", "i1", "", "1")]


@pytest.mark.parametrize(
    ("when", "refunded"),
    [
        ("2024-03-08T10:00:00Z", False),  # exactly at +7d: step 1 precedes step 2
        ("2024-03-08T10:00:01Z", True),  # one second late: the refund already happened
    ],
)
def test_response_at_seven_days_prevents_refund(tmp_path: Path, when: str, refunded: bool) -> None:
    """A response at sent+7d counts (<= window); at +7d+1s it is too late."""
    hist = _history(
        tmp_path,
        [
            {"time": "2024-03-01T10:00:00Z", "member": "m", "action": "purchase", "quantity": "1"},
            _send("2024-03-01T10:00:00Z", "i1"),
            {
                "time": when,
                "member": "m",
                "action": "respond",
                "inmail": "i1",
                "response": "decline",
            },
        ],
    )
    kinds = [r["kind"] for r in reference_replay(hist, None, "2024-03-09T00:00:00Z")]
    assert ("refund" in kinds) is refunded


def test_expiry_at_ninety_days_precedes_spend(tmp_path: Path) -> None:
    """A lot is spendable 1 s before expires_at; at expires_at it expires first."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-01-01T00:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            },
            _send("2024-03-30T23:59:59Z", "i1"),
            _send("2024-03-31T00:00:00Z", "i2"),
        ],
    )
    got = _short(
        reference_replay(hist, _policy(tmp_path, "policy:\n  refund: {mode: none}\n"), None)
    )
    assert got == [
        ("2024-01-01T00:00:00Z", "grant", "m:1", "5", "", "", "5"),
        ("2024-02-01T00:00:00Z", "grant", "m:2", "5", "", "", "10"),
        ("2024-03-01T00:00:00Z", "grant", "m:3", "5", "", "", "15"),
        ("2024-03-30T23:59:59Z", "spend", "m:1", "1", "i1", "", "14"),
        ("2024-03-31T00:00:00Z", "expire", "m:1", "4", "", "", "10"),
        ("2024-03-31T00:00:00Z", "spend", "m:2", "1", "i2", "", "9"),
    ]


def test_no_credit_when_only_lot_expires_now(tmp_path: Path) -> None:
    """A purchase lot that expires at t cannot pay for a send at t."""
    hist = _history(
        tmp_path,
        [
            {"time": "2024-01-01T00:00:00Z", "member": "m", "action": "purchase", "quantity": "2"},
            _send("2024-01-02T00:00:00Z", "i1"),
        ],
    )
    pol = _policy(tmp_path, "policy:\n  purchase_expiry_days: 1\n")
    got = _short(reference_replay(hist, pol, None))
    assert got == [
        ("2024-01-01T00:00:00Z", "purchase", "m:1", "2", "", "", "2"),
        ("2024-01-02T00:00:00Z", "expire", "m:1", "2", "", "", "0"),
        ("2024-01-02T00:00:00Z", "reject", "", "0", "i1", "no_credit", "0"),
    ]


def test_cap_under_inmail_2015(tmp_path: Path) -> None:
    """With a cap of 7, the second grant brings the allotted balance back to 7
    by taking from the soonest-expiring lot; purchases are not allowed."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-01-15T08:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            },
            {"time": "2024-02-15T08:00:00Z", "member": "m", "action": "purchase", "quantity": "1"},
        ],
    )
    pol = _policy(
        tmp_path, "policy:\n  preset: inmail-2015\n  tiers:\n    premium_career: {cap: 7}\n"
    )
    got = _short(reference_replay(hist, pol, None))
    assert got == [
        ("2024-01-15T08:00:00Z", "grant", "m:1", "5", "", "", "5"),
        ("2024-02-15T08:00:00Z", "grant", "m:2", "5", "", "", "10"),
        ("2024-02-15T08:00:00Z", "cap", "m:1", "3", "", "", "7"),
        ("2024-02-15T08:00:00Z", "reject", "", "0", "", "not_purchasable", "7"),
    ]


def test_default_2015_cap_with_refunds(tmp_path: Path) -> None:
    """Under inmail-2015 a response within 90 days refunds at the response."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-01-15T08:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            },
            _send("2024-01-16T08:00:00Z", "i1"),
            {
                "time": "2024-04-15T08:00:00Z",
                "member": "m",
                "action": "respond",
                "inmail": "i1",
                "response": "reply",
            },
        ],
    )
    pol = _policy(tmp_path, "policy:\n  preset: inmail-2015\n")
    got = _short(reference_replay(hist, pol, None))
    # Jan 16 + 90 d = Apr 15 08:00 exactly: still within the window.
    assert got[-4:] == [
        ("2024-04-14T08:00:00Z", "expire", "m:1", "4", "", "", "10"),
        ("2024-04-15T08:00:00Z", "refund", "m:4", "1", "i1", "", "11"),
        ("2024-04-15T08:00:00Z", "grant", "m:5", "5", "", "", "16"),
        ("2024-04-15T08:00:00Z", "cap", "m:2", "1", "", "", "15"),
    ]


def test_cancel_end_of_period(tmp_path: Path) -> None:
    """A cancel takes effect at the next grant instant: no grant there, allotment
    forfeited, purchases kept, and then the member may buy as basic."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-01-31T09:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_business",
            },
            {"time": "2024-02-10T00:00:00Z", "member": "m", "action": "cancel"},
            {"time": "2024-02-29T09:00:00Z", "member": "m", "action": "purchase", "quantity": "3"},
        ],
    )
    got = _short(reference_replay(hist, None, "2024-06-01T00:00:00Z"))
    assert got == [
        ("2024-01-31T09:00:00Z", "grant", "m:1", "15", "", "", "15"),
        ("2024-02-29T09:00:00Z", "forfeit", "m:1", "15", "", "", "0"),
        ("2024-02-29T09:00:00Z", "purchase", "m:2", "3", "", "", "3"),
    ]


def test_cancel_at_a_grant_instant_keeps_that_grant(tmp_path: Path) -> None:
    """A cancel given at grant instant g keeps the grant at g; effect at the next."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-01-31T09:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            },
            {"time": "2024-02-29T09:00:00Z", "member": "m", "action": "cancel"},
        ],
    )
    got = _short(reference_replay(hist, None, "2024-12-31T00:00:00Z"))
    assert got == [
        ("2024-01-31T09:00:00Z", "grant", "m:1", "5", "", "", "5"),
        ("2024-02-29T09:00:00Z", "grant", "m:2", "5", "", "", "10"),
        ("2024-03-31T09:00:00Z", "forfeit", "m:1", "5", "", "", "5"),
        ("2024-03-31T09:00:00Z", "forfeit", "m:2", "5", "", "", "0"),
    ]


def test_same_instant_changes_write_one_grant(tmp_path: Path) -> None:
    """subscribe + change_tier at one instant: one grant, for the last tier."""
    hist = _history(
        tmp_path,
        [
            {
                "time": "2024-05-01T00:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            },
            {
                "time": "2024-05-01T00:00:00Z",
                "member": "m",
                "action": "change_tier",
                "tier": "sales_navigator",
            },
        ],
    )
    got = _short(reference_replay(hist, None, None))
    assert got == [("2024-05-01T00:00:00Z", "grant", "m:1", "50", "", "", "50")]


def test_purchase_checks_in_order(tmp_path: Path) -> None:
    """quantity, then purchased_cap, then allotment_left for a premium member."""
    hist = _history(
        tmp_path,
        [
            {"time": "2024-05-01T00:00:00Z", "member": "m", "action": "purchase", "quantity": "0"},
            {"time": "2024-05-01T00:00:00Z", "member": "m", "action": "purchase", "quantity": "10"},
            {"time": "2024-05-01T00:00:00Z", "member": "m", "action": "purchase", "quantity": "1"},
            {
                "time": "2024-05-02T00:00:00Z",
                "member": "m",
                "action": "subscribe",
                "tier": "premium_career",
            },
            _send("2024-05-02T00:00:00Z", "i1"),
            {"time": "2024-05-02T00:00:00Z", "member": "m", "action": "purchase", "quantity": "11"},
        ],
    )
    got = _short(reference_replay(hist, None, None))
    assert [g[1:] for g in got] == [
        ("reject", "", "0", "", "quantity", "0"),
        ("purchase", "m:1", "10", "", "", "10"),
        ("reject", "", "0", "", "purchased_cap", "10"),
        ("grant", "m:2", "5", "", "", "15"),
        ("spend", "m:2", "1", "i1", "", "14"),
        ("reject", "", "0", "", "quantity", "14"),
    ]


def _check_valid_history(path: str) -> None:
    """The generated file obeys RULES.md section 8 (what makes a history valid)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    sends: dict[str, tuple[str, int]] = {}
    for r in rows:
        if r["action"] == "send":
            assert r["inmail"] not in sends, r
            assert r["free"] in ("true", "false")
            sends[r["inmail"]] = (r["member"], parse_instant(r["time"]))
    answered: set[str] = set()
    for r in rows:
        if r["action"] == "respond":
            member, sent = sends[r["inmail"]]
            assert r["member"] == member and parse_instant(r["time"]) > sent, r
            assert r["inmail"] not in answered and r["response"] in ("accept", "decline", "reply")
            answered.add(r["inmail"])


@pytest.mark.parametrize("seed", range(40))
def test_generated_histories_are_valid_and_ledger_invariants_hold(
    tmp_path: Path, seed: int
) -> None:
    """Random histories are valid; the oracle's ledger keeps the section 5 invariant."""
    import random

    from .generate import (
        history_params_for,
        random_history,
        random_policy,
        write_history_csv,
        write_scenario,
    )
    from .reference import resolve_policy

    rng = random.Random(seed)
    block = random_policy(rng)
    rows = random_history(rng, rng.randint(1, 4), **history_params_for(resolve_policy(block)))
    hist, pol = tmp_path / "h.csv", tmp_path / "s.yaml"
    write_history_csv(rows, hist, rng)
    write_scenario(block, pol)
    _check_valid_history(str(hist))
    ledger = reference_replay(str(hist), str(pol), None)
    balances: dict[str, int] = {}
    lots: dict[str, int] = {}
    for r in ledger:
        m, q = r["member"], int(r["quantity"])
        sign = {"grant": 1, "purchase": 1, "refund": 1, "reject": 0}.get(r["kind"], -1)
        balances[m] = balances.get(m, 0) + sign * q
        assert str(balances[m]) == r["balance_after"] and balances[m] >= 0, r
        if r["kind"] in ("grant", "purchase", "refund"):
            lots[m] = lots.get(m, 0) + 1
            assert r["lot"] == f"{m}:{lots[m]}" and q >= 1
        assert (r["lot"] == "") == (r["kind"] == "reject")


@pytest.mark.parametrize("preset", ["inmail-2014", "inmail-2015"])
def test_the_oracle_replays_a_simulated_open_population(tmp_path: Path, preset: str) -> None:
    """An open population's run (arrivals, changes with after_change, members who leave),
    in batches of 30 members: the independent implementation, replaying each of the run's
    history parts, writes the ledger part of the same name, line for line."""
    import json

    import pandas as pd

    from simulator.runner import run, write_run
    from simulator.scenario import load_scenario

    data = Path(__file__).parents[1] / "data" / "model" / "open.yaml"
    scenario = load_scenario(data).with_overrides({"policy.preset": preset})
    result = run(scenario, batch_members=30)
    assert result.summary["arrivals"] > 0
    out = write_run(result, tmp_path / "run")
    end = json.loads((out / "run.json").read_text())["end"]
    parts = sorted((out / "ledger").iterdir())
    assert len(parts) == len(result.meta["batches"]) > 1
    for part in parts:
        history = out / "history" / f"{part.stem}.csv"
        oracle = reference_replay(str(history), str(out / "scenario.yaml"), end)
        led = pd.read_parquet(part)
        ours = [
            {
                "time": format_instant(int(t.timestamp())),
                "member": m, "kind": k, "lot": lot, "quantity": str(q),
                "inmail": i, "reason": r, "balance_after": str(b),
            }
            for t, m, k, lot, q, i, r, b in zip(
                led["time"], led["member"], led["kind"], led["lot"], led["quantity"],
                led["inmail"], led["reason"], led["balance_after"], strict=True,
            )
        ]  # fmt: skip
        # Member by member, line for line (the oracle writes its ledger member by member).
        assert _by_member(ours) == _by_member(oracle), part.name


def _by_member(rows: list[dict[str, str]]) -> dict[str, list[tuple[str, ...]]]:
    columns = ("time", "member", "kind", "lot", "quantity", "inmail", "reason", "balance_after")
    out: dict[str, list[tuple[str, ...]]] = {}
    for row in rows:
        out.setdefault(row["member"], []).append(tuple(row[k] for k in columns))
    return out
