"""Differential test: `creditsim replay` against the reference oracle.

Random valid histories (biased to every boundary of RULES.md) and random
policies are replayed through the production CLI and through
``tests/oracle/reference.py``; every member's ledger must agree line for line.
On a mismatch the message shows the policy, the first differing line of the
first failing member, and that member's history rows, so a human can decide
from RULES.md which side is wrong.

Run: ``pytest -m "not slow" tests/property/test_differential.py`` (1000 cases,
about 20 s); ``pytest -m slow tests/property/test_differential.py`` for the long
variant (1500 longer histories, about 60 s); plain ``pytest`` runs both.
``CREDITSIM_DIFF_SEEDS=N`` overrides the number of quick cases.
"""

from __future__ import annotations

import csv
import os
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `oracle`

from oracle.generate import (
    history_params_for,
    random_history,
    random_policy,
    write_history_csv,
    write_scenario,
)
from oracle.reference import (
    LEDGER_COLUMNS,
    add_months,
    format_instant,
    parse_instant,
    reference_balances,
    reference_replay,
    resolve_policy,
)

from simulator.cli import main as cli_main

QUICK_SEEDS = int(os.environ.get("CREDITSIM_DIFF_SEEDS", "1000"))
SLOW_SEEDS = 1500


def _by_member(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        out[r["member"]].append({c: r.get(c, "") for c in LEDGER_COLUMNS})
    return out


def _line(row: dict[str, str] | None) -> str:
    return "<none>" if row is None else ",".join(row[c] for c in LEDGER_COLUMNS)


def _history_rows(path: Path, member: str) -> str:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = [
            "time",
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
        lines = ["  line " + ",".join(cols)]
        rows = [(i + 2, r) for i, r in enumerate(reader) if r["member"] == member]
    rows.sort(key=lambda x: parse_instant(x[1]["time"]))  # stable: file order per instant
    for n, r in rows:
        lines.append(f"  {n:4d} " + ",".join(r[c] for c in cols))
    return "\n".join(lines)


def _pick_until(rng: random.Random, rows: list[dict[str, str]]) -> str | None:
    """None (the default: the last instant), the last instant, an instant after
    it, or an earlier one: a row's instant +-1 s, an anniversary of a
    subscription +-1 s, or any instant in the span."""
    times = sorted({parse_instant(r["time"]) for r in rows})
    r = rng.random()
    if r < 0.25 or len(times) < 2:
        return None
    if r < 0.4:
        return format_instant(times[-1])
    if r < 0.5:
        return format_instant(times[-1] + rng.choice([1, 86_400, 200 * 86_400]))
    if r < 0.65:
        subs = [
            parse_instant(x["time"]) for x in rows if x["action"] in ("subscribe", "change_tier")
        ]
        if subs:
            return format_instant(
                add_months(rng.choice(subs), rng.randint(0, 4)) + rng.choice([0, 0, -1, 1])
            )
    if r < 0.75:
        return format_instant(rng.randint(times[0], times[-1]))
    return format_instant(rng.choice(times[:-1]) + rng.choice([0, 0, -1, 1]))


def run_case(seed: int, tmp_path: Path, *, big: bool = False) -> None:
    rng = random.Random(seed)
    block: dict[str, Any] | None = None if seed % 7 == 0 else random_policy(rng)
    policy = resolve_policy(block)
    if big:
        rows = random_history(
            rng, rng.randint(1, 8), n_actions=(10, 60), **history_params_for(policy)
        )
    else:
        rows = random_history(rng, rng.randint(1, 5), **history_params_for(policy))
    hist, scen, out = tmp_path / "history.csv", tmp_path / "scenario.yaml", tmp_path / "out"
    write_history_csv(rows, hist, rng)
    argv = ["replay", str(hist)]
    if block is not None:
        write_scenario(block, scen)
        argv += ["--scenario", str(scen)]
    until = _pick_until(rng, rows)
    if until is not None:
        argv += ["--until", until]
    argv += ["--out", str(out)]

    expected = _by_member(reference_replay(str(hist), str(scen) if block else None, until))
    code = cli_main(argv)
    assert code == 0, f"seed {seed}: creditsim {' '.join(argv)} exited {code}"
    with (out / "ledger.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == LEDGER_COLUMNS, reader.fieldnames
        actual = _by_member(list(reader))

    for member in sorted(set(expected) | set(actual)):
        exp, act = expected.get(member, []), actual.get(member, [])
        if exp == act:
            continue
        i = next(
            k
            for k in range(max(len(exp), len(act)))
            if k >= len(exp) or k >= len(act) or exp[k] != act[k]
        )
        context = "\n".join(f"    {_line(r)}" for r in exp[max(0, i - 4) : i])
        pytest.fail(
            f"seed {seed}: ledgers differ for member {member!r} at its entry #{i + 1}\n"
            f"  policy: {yaml.safe_dump(block, default_flow_style=True).strip()}\n"
            f"  until: {until or '(default)'}\n"
            f"  entries before (agreed):\n{context}\n"
            f"  oracle:     {_line(exp[i] if i < len(exp) else None)}\n"
            f"  production: {_line(act[i] if i < len(act) else None)}\n"
            f"  history of {member} (file line numbers, time order):\n"
            f"{_history_rows(hist, member)}",
            pytrace=False,
        )

    # balances.csv: balance, allotted, purchased at --until, for the members
    # named in a row at or before --until.
    expected_bal = reference_balances(str(hist), str(scen) if block else None, until)
    with (out / "balances.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["member", "balance", "allotted", "purchased"]
        actual_bal = {r["member"]: dict(r) for r in reader}
    for member in sorted(set(expected_bal) | set(actual_bal)):
        if expected_bal.get(member) != actual_bal.get(member):
            pytest.fail(
                f"seed {seed}: balances.csv differs for member {member!r}\n"
                f"  policy: {yaml.safe_dump(block, default_flow_style=True).strip()}\n"
                f"  until: {until or '(default)'}\n"
                f"  oracle:     {expected_bal.get(member)}\n"
                f"  production: {actual_bal.get(member)}\n"
                f"  history of {member} (file line numbers, time order):\n"
                f"{_history_rows(hist, member)}",
                pytrace=False,
            )


@pytest.mark.parametrize("seed", range(QUICK_SEEDS))
def test_replay_matches_oracle(seed: int, tmp_path: Path) -> None:
    """Production replay and the oracle write the same ledger for every member."""
    run_case(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100_000, 100_000 + SLOW_SEEDS))
def test_replay_matches_oracle_long(seed: int, tmp_path: Path) -> None:
    """The same, over many more and longer random histories and policies."""
    run_case(seed, tmp_path, big=True)


def test_until_before_the_last_instant(tmp_path: Path) -> None:
    """--until earlier than the last row ignores later rows and settles up to it."""
    hist = tmp_path / "history.csv"
    hist.write_text(
        "member,time,action,tier,quantity,inmail,category,subject_chars,body_chars,free,response\n"
        "m,2024-01-31T09:00:00Z,subscribe,premium_career,,,,,,,\n"
        "m,2024-02-01T00:00:00Z,send,,,i1,job_inquiry,5,5,false,\n"
        "m,2024-12-31T00:00:00Z,purchase,,,,,,,,\n".replace(",purchase,,,", ",purchase,,1,")
    )
    for until in (
        "2024-02-08T00:00:00Z",
        "2024-02-29T09:00:00Z",
        "2024-04-30T08:59:59Z",
        "2024-04-30T09:00:00Z",
    ):
        out = tmp_path / until.replace(":", "")
        assert cli_main(["replay", str(hist), "--until", until, "--out", str(out)]) == 0
        with (out / "ledger.csv").open(newline="") as f:
            actual = [dict(r) for r in csv.DictReader(f)]
        assert actual == reference_replay(str(hist), None, until), until
