"""The documented upper bounds of numbers are ones the whole run can hold.

Issue 15 (defect 3): policy numbers had no upper bound, so 10**20 passed
validation and crashed the run with ``OverflowError``, and a monthly_credits
of 2,000,000,000 overflowed the ledger's 32-bit balance. Validation now bounds
them (``simulator.engine.policy.MAX_*``; the refusals are pinned in
tests/data/invalid/scenario/policy-numbers-unbounded.*). These tests run at the
bounds themselves: a bound validation accepts must never crash the run.

Issue 15 (defect 9): valid but extreme weights, and numbers YAML 1.1 reads as
text, are pinned here too.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.engine.policy import (
    MAX_CAP,
    MAX_CHARS,
    MAX_DAYS,
    MAX_MONTHLY_CREDITS,
    MAX_PER_PURCHASE,
)
from simulator.reports import write_reports
from simulator.runner import run, write_run
from simulator.scenario import Scenario, normalised, scenario_from_dict
from simulator.yamlio import load_yaml_text


def _scenario(policy: dict, sending: dict, duration_days: int = 60) -> Scenario:
    return scenario_from_dict(
        {
            "name": "bounds",
            "seed": 1,
            "start": "2000-01-01",
            "duration_days": duration_days,
            "policy": policy,
            "population": [
                {"name": "a", "tier": "premium_career", "members": 1, "sending": sending}
            ],
        },
        "bounds",
    )


def test_a_century_of_maximal_grants_fits_the_ledger() -> None:
    """The largest monthly grant, never expiring, for the longest run.

    Expected: one grant a month on the anniversary (RULES.md R1) for 36,500 days,
    i.e. 1,200 grants (the 1,201st month starts after the end), each of
    MAX_MONTHLY_CREDITS, so a final balance of 12,000,000 minus what was spent.
    """
    scenario = _scenario(
        {
            "grant_expiry_days": None,
            "max_body_chars": MAX_CHARS,
            "max_subject_chars": MAX_CHARS,
            "max_per_purchase": MAX_PER_PURCHASE,
            "max_purchased_balance": MAX_CAP,
            "refund": {"window_days": MAX_DAYS},
            "tiers": {"premium_career": {"monthly_credits": MAX_MONTHLY_CREDITS, "cap": MAX_CAP}},
        },
        {"inmails_per_month": 0.5, "body_chars": {"kind": "fixed", "value": MAX_CHARS}},
        duration_days=MAX_DAYS,
    )
    result = run(scenario)
    ledger = result.tables.ledger
    grants = ledger[ledger["kind"] == "grant"]
    assert len(grants) == 1_200
    assert int(grants["quantity"].sum()) == 1_200 * MAX_MONTHLY_CREDITS
    spent = int((ledger["kind"] == "spend").sum())
    assert spent > 0
    assert int(ledger["balance_after"].iloc[-1]) == 1_200 * MAX_MONTHLY_CREDITS - spent
    assert result.summary["credits_granted"] == 1_200 * MAX_MONTHLY_CREDITS


def test_largest_purchases_are_accepted_or_rejected_by_the_engine() -> None:
    """A basic member buying MAX_PER_PURCHASE credits whenever it runs out."""
    scenario = scenario_from_dict(
        {
            "name": "bounds",
            "seed": 2,
            "start": "2000-01-01",
            "duration_days": 90,
            "policy": {"max_per_purchase": MAX_PER_PURCHASE, "max_purchased_balance": MAX_CAP},
            "population": [
                {
                    "name": "a",
                    "tier": "basic",
                    "members": 3,
                    "sending": {
                        "inmails_per_month": 20,
                        "out_of_credit": {"buy_probability": 1, "buy_quantity": 1_000},
                    },
                }
            ],
        },
        "bounds",
    )
    ledger = run(scenario).tables.ledger
    bought = ledger[ledger["kind"] == "purchase"]["quantity"]
    assert len(bought) > 0 and (bought == MAX_PER_PURCHASE).all()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 0.001),  # YAML 1.1 wants a dot: PyYAML alone reads this as text
        ("1.0e308", 1.0e308),  # ... and a signed exponent
        ("2E5", 200_000.0),
        ("-2e+3", -2000.0),
        (".5e1", 5.0),
        ("1.0e-3", 0.001),  # YAML 1.1 forms unchanged
        ("1.5", 1.5),
    ],
)
def test_numbers_in_exponent_form_are_numbers(text: str, value: float) -> None:
    got = load_yaml_text(f"x: {text}\n", "t.yaml")["x"]
    assert isinstance(got, float) and got == value


@pytest.mark.parametrize(("text", "value"), [("12", 12), ("1_000", 1000), ("0x1f", 31)])
def test_integers_stay_integers(text: str, value: int) -> None:
    got = load_yaml_text(f"x: {text}\n", "t.yaml")["x"]
    assert isinstance(got, int) and got == value


@pytest.mark.parametrize("text", ["1e", "e5", "2024-01-01", "1.2.3e4"])
def test_things_that_are_not_numbers_stay_text(text: str) -> None:
    assert isinstance(load_yaml_text(f"x: {text}\n", "t.yaml")["x"], str)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"a": 5e-324, "b": 0.0}, (1.0, 0.0)),  # a subnormal sum: once divided to 1/0 = inf
        ({"a": 1e308, "b": 1e308, "c": 1e308}, (1 / 3, 1 / 3, 1 / 3)),  # a sum overflowing to inf
        ({"a": 2, "b": 1}, (2 / 3, 1 / 3)),  # ordinary weights: exactly the plain division
    ],
)
def test_extreme_weights_normalise_to_probabilities(weights: dict, expected: tuple) -> None:
    assert normalised(weights) == (tuple(weights), expected)


@pytest.mark.parametrize(
    "weekday_weights",
    [[5e-324, 0, 0, 0, 0, 0, 0], [1e308] * 7],
    ids=["subnormal", "near-overflow"],
)
def test_extreme_weekday_weights_run(weekday_weights: list[float]) -> None:
    """Once 5e-324 crashed (Poisson lam too large) and seven 1e308s gave no InMails.

    Expected: weekday weights only shape the week, so the cohort still sends
    about its 40 a month: 40 * 60 / 30.436875 = 78.9 over 60 days, and
    a Poisson count of mean 80 falls within 45..120 with probability
    beyond 1 - 1e-4. With the subnormal weight, every send is on a Monday.
    """
    scenario = _scenario(
        {"tiers": {"premium_career": {"monthly_credits": 1_000}}},
        {"inmails_per_month": 40, "weekday_weights": weekday_weights},
    )
    inmails = run(scenario).tables.inmails
    assert 45 <= len(inmails) <= 120
    if weekday_weights[1] == 0:
        days = inmails["sent_at"].dt.day_of_week.to_numpy()
        assert np.all(days == 0)


def test_a_run_ending_late_in_year_9999_gets_its_plots(tmp_path) -> None:
    """Autoscale margins once pushed a date axis past 9999-12-31 and the reports failed."""
    scenario = scenario_from_dict(
        {
            "name": "late",
            "seed": 1,
            "start": "9999-10-01",
            "end": "9999-12-31",
            "population": [
                {"name": "a", "tier": "premium_career", "members": 5,
                 "sending": {"inmails_per_month": 5}},
            ],
        },
        "late",
    )  # fmt: skip
    out = write_run(run(scenario), tmp_path / "late")
    written = write_reports(out)
    plots = sorted(p.name for p in written if p.suffix == ".png")
    assert "balance_distribution.png" in plots and "steady_state.png" in plots
    assert (out / "report.html").stat().st_size > 0
