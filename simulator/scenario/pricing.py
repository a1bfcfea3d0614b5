"""The ``pricing`` block: the currency, a purchased credit's price and each tier's month.

Money is read from its decimal text into exact whole cents, never through
float arithmetic, and checked against :data:`~simulator.scenario.defaults.MAX_MONEY_CENTS`.
Tiers with no written price take :data:`~simulator.scenario.defaults.DEFAULT_MONTHLY_PRICES`;
a policy tier with neither is a problem. Builds a
:class:`~simulator.scenario.values.Pricing`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from simulator.engine.policy import Policy
from simulator.engine.schema import Checker, FrozenMap, Path, show
from simulator.scenario.checks import known_name, opt, policy_tiers
from simulator.scenario.defaults import (
    DEFAULT_CREDIT_PRICE,
    DEFAULT_CURRENCY,
    DEFAULT_MONTHLY_PRICES,
    MAX_MONEY_CENTS,
)
from simulator.scenario.values import Pricing

__all__ = ["parse_pricing"]

_KEYS = ("currency", "credit_price", "monthly_price")
_MONEY_TEXT = re.compile(r"-?\d+(\.\d+)?")
_MONEY_EXPECTED = "an amount from 0 to 1000000 with at most 2 decimals, like 9.99"


def _money(check: Checker, path: Path, value: Any) -> int | None:
    """Exact cents from YAML money: the decimal text, never float arithmetic."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as this float: what was written
    else:
        check.bad(path, _MONEY_EXPECTED, value)
        return None
    if not _MONEY_TEXT.fullmatch(text):
        check.bad(path, _MONEY_EXPECTED, value)
        return None
    amount = Decimal(text)
    cents = amount * 100
    if amount < 0 or cents != cents.to_integral_value() or cents > MAX_MONEY_CENTS:
        check.bad(path, _MONEY_EXPECTED, value)
        return None
    return int(cents)


def parse_pricing(check: Checker, value: Any, policy: Policy | None) -> Pricing | None:
    """The ``pricing`` block: a price for every tier of ``policy`` (a default or written)."""
    path: Path = ("pricing",)
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _KEYS)
    currency = opt(raw, "currency", DEFAULT_CURRENCY)
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        check.bad((*path, "currency"), "a three-letter ISO 4217 code like USD", currency)
    credit = _money(check, (*path, "credit_price"), opt(raw, "credit_price", DEFAULT_CREDIT_PRICE))
    monthly_raw = check.mapping((*path, "monthly_price"), opt(raw, "monthly_price", {}))
    if monthly_raw is None:
        return None
    for tier, price in monthly_raw.items():
        tp = (*path, "monthly_price", tier)
        if known_name(check, tp, tier, policy_tiers(policy), "tier") is None:
            continue
        cents = _money(check, tp, price)
        if cents is not None and tier == "basic" and cents != 0:
            check.fail(tp, f"basic has no subscription, so its price must be 0, got {show(price)}")
    if policy is None:
        return None
    monthly: dict[str, int] = {}
    for tier in policy.tiers:
        if tier in monthly_raw:
            price = monthly_raw[tier]
        elif tier in DEFAULT_MONTHLY_PRICES:
            price = DEFAULT_MONTHLY_PRICES[tier]
        else:
            check.fail((*path, "monthly_price", tier), "is required (a tier with no default price)")
            continue
        cents = _money(Checker(check.source), (), price)  # problems were reported above
        if cents is not None:
            monthly[tier] = cents
    if credit is None or not isinstance(currency, str) or len(monthly) != len(policy.tiers):
        return None
    return Pricing(currency, credit, FrozenMap(monthly))
