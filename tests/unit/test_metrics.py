"""The shared metrics of summary.json and the report headline (simulator.metrics).

One definition per metric: both files compute the metrics they share with
:func:`simulator.metrics.window_metrics`, each from its own recount of the
run, and a rate with nothing to divide by is NaN (``null`` in summary.json).
"""

from __future__ import annotations

import math

from simulator.metrics import COUNTS, json_value, rate, window_metrics

# Hand-made counts of a window; each expected figure below is worked out from them.
COUNTS_OF_A_WINDOW = {
    "credits_granted": 60,
    "credits_purchased": 10,
    "credits_refunded": 30,
    "credits_spent": 50,
    "credits_expired": 25,
    "settled": 40,
    "settled_refunds": 28,
    "subscription_revenue_cents": 2_999,
}


def test_each_shared_metric_is_its_formula() -> None:
    got = window_metrics(COUNTS_OF_A_WINDOW, credit_price_cents=1_000)
    assert got == {
        "credits_issued": 100,  # 60 + 10 + 30
        "expiry_waste_rate": 0.25,  # 25 / 100
        "refund_rate": 0.7,  # 28 / 40
        "refund_share": 0.6,  # 30 / 50
        "expired_value_cents": 25_000,  # 25 x 1,000
        "purchase_revenue_cents": 10_000,  # 10 x 1,000
        "subscription_revenue_cents": 2_999,
        "net_revenue_cents": 12_999,  # 10,000 + 2,999
    }


def test_a_rate_with_nothing_to_divide_by_is_nan_and_null_in_json() -> None:
    empty = window_metrics(dict.fromkeys(COUNTS, 0), credit_price_cents=1_000)
    for name in ("expiry_waste_rate", "refund_rate", "refund_share"):
        assert math.isnan(empty[name])
        assert json_value(empty[name]) is None
    assert rate(1, 4) == 0.25 and json_value(0.25) == 0.25 and json_value(3) == 3
