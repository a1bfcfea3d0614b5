"""Numbers and metrics as the report pages show them.

Money in currency units with thousands separators, counts with separators,
rates as percentages with sensible digits, never scientific notation; each
metric's display name and definition (:data:`simulator.reports.definitions.HEADLINE_DEFINITIONS`),
and the key findings a run's page opens with. Pure functions from values to text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from simulator.reports.definitions import HEADLINE_DEFINITIONS
from simulator.reports.groups import TIER_ORDER

__all__ = [
    "DASH",
    "KEY_FINDINGS",
    "count",
    "definition",
    "display_name",
    "is_rate",
    "key_findings",
    "metric_text",
    "metrics",
    "missing",
    "money",
    "number",
    "percent",
    "tier_order",
]

DASH = "–"  # an undefined value (a rate with a zero denominator, a fate not known yet)

#: The metrics of the key findings table, in order (those a run lacks are left out).
KEY_FINDINGS: tuple[str, ...] = (
    "members",
    "members_present",
    "members_initial",
    "arrivals",
    "summary.members",
    "inmails_sent",
    "response_rate",
    "refund_rate",
    "credits_issued",
    "credits_expired",
    "expiry_waste_rate",
    "vintage_waste_rate",
    "expired_value_cents",
    "credits_capped",
    "credits_forfeited",
    "purchases",
    "purchase_revenue_cents",
    "subscription_revenue_cents",
    "net_revenue_cents",
    "never_send_share",
    "median_utilisation",
)

_PERCENT_NAMES = ("median_utilisation", "mean_utilisation", "utilisation", "bias_threshold")


# ---------------------------------------------------------------------------
# Numbers as text


def count(n: Any) -> str:
    """A whole number with thousands separators (``1,268,793``); ``–`` for none."""
    if missing(n):
        return DASH
    return f"{round(float(n)):,}" if not isinstance(n, int) else f"{n:,}"


def money(cents: Any, currency: str) -> str:
    """An amount in cents as currency units: ``USD 1,268,793.82`` (exact for whole cents)."""
    if missing(cents):
        return DASH
    c = round(float(cents)) if not isinstance(cents, int) else cents
    units, rest = divmod(abs(c), 100)
    return f"{currency}\u00a0{'-' if c < 0 else ''}{units:,}.{rest:02d}"


def percent(x: Any) -> str:
    """A share as a percentage: one decimal (``55.5 %``), two below 1 %, ``< 0.01 %`` below that
    (a no-break space before the sign keeps it on the number's line)."""
    if missing(x):
        return DASH
    p = float(x) * 100
    if p == 0:
        return "0\u00a0%"
    text = f"{p:,.{1 if abs(p) >= 1 else 2}f}"
    if float(text.replace(",", "")) == 0:
        return ("> -" if p < 0 else "< ") + "0.01\u00a0%"
    return f"{text}\u00a0%"


def number(x: Any, digits: int = 2, fixed: bool = False) -> str:
    """A number with separators: whole numbers in full (unless ``fixed``), others to
    ``digits`` decimals; infinity as ``∞``."""
    if missing(x):
        return DASH
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    value = float(x)
    if not math.isfinite(value):
        return ("-" if value < 0 else "") + "∞"
    if value == int(value) and abs(value) < 1e15 and not fixed:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def is_rate(name: str) -> bool:
    return name.endswith(("_rate", "_share")) or name.split(".")[-1] in _PERCENT_NAMES


def metric_text(name: str, value: Any, currency: str) -> str:
    """A metric's value by its name: ``*_cents`` as money, rates as %, the rest as numbers."""
    base = name.split(".")[-1]
    if base.endswith("_cents"):
        return money(value, currency)
    if is_rate(base):
        return percent(value)
    if isinstance(value, float) and math.isfinite(value) and value != int(value):
        return number(value, 4 if abs(value) < 1 else 2)
    return number(value)


# ---------------------------------------------------------------------------
# Metrics and their definitions


def definition(name: str) -> str:
    """The definition of a metric (``summary.json`` names, ``headline.csv`` names, their
    ``_cents`` variants); ``""`` when none is known."""
    if name in HEADLINE_DEFINITIONS:
        return HEADLINE_DEFINITIONS[name]
    if name.endswith("_cents") and name[: -len("_cents")] in HEADLINE_DEFINITIONS:
        return HEADLINE_DEFINITIONS[name[: -len("_cents")]] + " Shown in currency units."
    if f"{name}_cents" in HEADLINE_DEFINITIONS:
        return HEADLINE_DEFINITIONS[f"{name}_cents"]
    if name.startswith("inmails_rejected_"):
        reason = name[len("inmails_rejected_") :]
        return f"Send attempts in the measured window rejected for {reason}."
    return ""


def display_name(name: str) -> str:
    """How a metric is named on the page: ``*_cents`` without the suffix (shown as money)."""
    return name[: -len("_cents")] if name.endswith("_cents") else name


def metrics(headline: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """One flat dict of the run's metrics: :func:`reports.headline` (recomputed from the
    tables), then ``summary.json``'s scalars it lacks.

    A summary metric that disagrees with the headline of the same name (``members``: the
    summary counts every member simulated, the headline those present in the window) is kept
    as ``summary.<name>``; a currency value whose ``_cents`` twin is present is dropped (one
    version of each money metric); ``net_revenue_cents`` is added when missing, as
    subscription + purchase revenue.
    """
    out: dict[str, Any] = {k: _whole(k, v) for k, v in headline.items()}
    for key, value in summary.items():
        if isinstance(value, Mapping | list) or key == "steady_state":
            continue
        if key in out:
            if not _same(out[key], value):
                out[f"summary.{key}"] = value
            continue
        out[key] = value
    for key in list(out):
        if f"{key}_cents" in out:
            del out[key]
    if "net_revenue_cents" not in out:
        parts = [out.get("subscription_revenue_cents"), out.get("purchase_revenue_cents")]
        if not any(missing(p) for p in parts):
            out["net_revenue_cents"] = int(parts[0]) + int(parts[1])  # type: ignore[arg-type]
    return out


def _whole(name: str, value: Any) -> Any:
    """A headline value read back from headline.csv (all floats): counts and cents as ints."""
    whole = isinstance(value, float) and math.isfinite(value) and value == int(value)
    return int(value) if whole and not is_rate(name) else value


def _same(a: Any, b: Any) -> bool:
    if missing(a) and missing(b):
        return True
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return bool(a == b)


def key_findings(values: Mapping[str, Any], currency: str) -> list[tuple[str, str, str]]:
    """The key findings: (metric, value as text, definition) for each of :data:`KEY_FINDINGS`
    the run has."""
    return [
        (display_name(name), metric_text(name, values[name], currency), definition(name))
        for name in KEY_FINDINGS
        if name in values
    ]


def tier_order(values: Iterable[Any]) -> list[str]:
    seen = {str(v) for v in values}
    return (
        [t for t in TIER_ORDER if t in seen]
        + sorted(seen - set(TIER_ORDER) - {"all"})
        + (["all"] if "all" in seen else [])
    )
