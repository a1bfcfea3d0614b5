"""Statistical validation of the model against closed-form answers.

Each test runs a scenario whose answer is known exactly and checks the
simulated figure falls inside a confidence interval around it. The seeds are
fixed, so the tests are deterministic; the intervals are 4 standard errors
wide (a false alarm about once in 16,000 seeds), so they are honest checks,
not tuned to one run.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulator.runner import run
from simulator.scenario import scenario_from_dict

UNIT_LENGTH = {"1-400": 1.0, "401-800": 1.0, "801-1200": 1.0, "1201-2000": 1.0}


def _scenario(p: float, mean_days: float, mode: str = "no_response_within", window: int = 7):
    """Ample credits (Sales Navigator: 50 a month, ~8 sent), Poisson sends, exponential delays."""
    return scenario_from_dict({
        "name": "closed-form",
        "seed": 5,
        "start": "2024-01-01",
        "duration_days": 240,
        "policy": {"refund": {"mode": mode, "window_days": window}},
        "population": [{
            "name": "senders", "tier": "sales_navigator", "members": 400,
            "sending": {"inmails_per_month": 8, "free_share": 0},
        }],
        "recipients": {
            "response_probability": p,
            "length_multipliers": UNIT_LENGTH,
            "delay": {"kind": "exponential", "mean_days": mean_days},
        },
    })  # fmt: skip


def _within(observed: float, expected: float, n: int, z: float = 4.0) -> None:
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(observed - expected) <= z * se, (
        f"observed {observed:.4f}, expected {expected:.4f} +- {z * se:.4f} (n={n})"
    )


@pytest.mark.parametrize(("p", "mean_days"), [(0.2, 3.0), (0.5, 10.0)])
def test_refund_rate_no_response_within(p: float, mean_days: float) -> None:
    """Refund rate = 1 - p(1 - exp(-7/m)) (DESIGN.md: Poisson sender, exponential delays).

    An InMail is refunded unless its recipient responds (probability p) within
    7 days; with exponential delays of mean m days, P(delay <= 7) = 1 - exp(-7/m).
    """
    result = run(_scenario(p, mean_days))
    s = result.summary
    assert s["inmails_rejected"] == 0, "credits must be ample for the formula"
    expected = 1 - p * (1 - math.exp(-7 / mean_days))
    _within(s["refund_rate"], expected, s["refund_rate_settled_inmails"])


def test_refund_rate_response_within_90_days() -> None:
    """Under response_within (90 days): refund rate = p(1 - exp(-90/m)) for InMails settled."""
    p, m = 0.3, 20.0
    s = run(_scenario(p, m, mode="response_within", window=90)).summary
    expected = p * (1 - math.exp(-90 / m))
    _within(s["refund_rate"], expected, s["refund_rate_settled_inmails"])


def test_response_rate_is_the_response_probability() -> None:
    """With unit multipliers, the share of sent InMails answered by the end ~ p.

    Only InMails sent early enough that a response (mean 2 days) is almost surely
    in by the end count, so the window's edge does not bias it.
    """
    p = 0.25
    result = run(_scenario(p, 2.0))
    inm = result.tables.inmails
    early = inm[inm["sent_at"] < pd.Timestamp("2024-07-01", tz="UTC")]
    observed = (early["response"] != "").mean()
    _within(observed, p, len(early))


def test_members_who_never_send_expire_every_grant() -> None:
    """With no sends, every grant lot that reaches its expiry by the end expires whole."""
    sc = scenario_from_dict({
        "name": "idle", "seed": 2, "start": "2024-01-01", "duration_days": 365,
        "population": [{"name": "idle", "tier": "premium_business", "members": 50,
                        "sending": {"inmails_per_month": 0}}],
    })  # fmt: skip
    result = run(sc)
    led = result.tables.ledger
    end = pd.Timestamp(sc.end, unit="s", tz="UTC")
    grants = led[led["kind"] == "grant"]
    due = grants[grants["time"] + pd.Timedelta(days=90) <= end]
    expired = led[led["kind"] == "expire"]
    # Expected figure: 15 credits per grant (RULES.md section 3) times the grants due to expire.
    assert int(expired["quantity"].sum()) == 15 * len(due)
    assert set(expired["lot"]) == set(due["lot"])
