"""A cohort's ``sending`` block: how often its members send, what, and when out of credit.

Checks the monthly rate (and the spread of members' own rates), the weekday
weights, the body and subject length distributions (clipped by default at the
policy's limits), the category weights, the share of free InMails, and what a
member does when it has no credit (:class:`~simulator.scenario.values.OutOfCredit`).
Builds a :class:`~simulator.scenario.values.Sending`; draws nothing.
"""

from __future__ import annotations

from typing import Any

from simulator.engine.policy import Policy
from simulator.engine.schema import Checker, Path, show
from simulator.scenario.checks import (
    known_name,
    opt,
    policy_categories,
    policy_tiers,
    positive_number,
    weight_map,
)
from simulator.scenario.defaults import (
    DEFAULT_BODY,
    DEFAULT_BUY_QUANTITY,
    DEFAULT_SUBJECT,
    DEFAULT_WEEKDAY_WEIGHTS,
    LENGTH_PARAMS,
    MAX_BUY_QUANTITY,
    MAX_INMAILS_PER_MONTH,
    MAX_LENGTH_CHARS,
)
from simulator.scenario.values import LengthDist, OutOfCredit, Sending

__all__ = ["parse_sending"]

_KEYS = (
    "inmails_per_month",
    "rate_shape",
    "weekday_weights",
    "body_chars",
    "subject_chars",
    "categories",
    "free_share",
    "out_of_credit",
)
_OOC_KEYS = ("buy_probability", "buy_quantity", "upgrade_probability", "upgrade_to")


def parse_sending(
    check: Checker, path: Path, value: Any, policy: Policy | None, tier: str | None
) -> Sending | None:
    """A cohort's ``sending`` block; ``tier`` is the cohort's (an upgrade must leave it)."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _KEYS)
    before = len(check.problems)
    rate = None
    if "inmails_per_month" not in raw:
        check.fail((*path, "inmails_per_month"), "is required")
    else:
        rate = check.number((*path, "inmails_per_month"), raw["inmails_per_month"], minimum=0)
        if rate is not None and rate > MAX_INMAILS_PER_MONTH:
            check.fail(
                (*path, "inmails_per_month"),
                f"must be at most {MAX_INMAILS_PER_MONTH} a month,"
                f" got {show(raw['inmails_per_month'])}",
            )
    shape = raw.get("rate_shape")
    if shape is not None:
        shape = check.number((*path, "rate_shape"), shape, minimum=0, exclusive_minimum=True)
    weekdays = _weekday_weights(
        check,
        (*path, "weekday_weights"),
        opt(raw, "weekday_weights", list(DEFAULT_WEEKDAY_WEIGHTS)),
    )
    body = _length(
        check,
        (*path, "body_chars"),
        opt(raw, "body_chars", DEFAULT_BODY),
        policy.max_body_chars if policy is not None else None,
    )
    subject = _length(
        check,
        (*path, "subject_chars"),
        opt(raw, "subject_chars", DEFAULT_SUBJECT),
        policy.max_subject_chars if policy is not None else None,
    )
    known = policy_categories(policy)
    # Default: every category of the policy, equally likely.
    default = dict.fromkeys(known, 1.0) if known is not None else {"?": 1.0}
    categories = weight_map(
        check, (*path, "categories"), opt(raw, "categories", default), known, "category"
    )
    if categories is not None and not any(categories.values()):
        check.fail((*path, "categories"), "must give some category a weight > 0")
    free = check.number((*path, "free_share"), opt(raw, "free_share", 0.0), minimum=0, maximum=1)
    ooc = _out_of_credit(
        check, (*path, "out_of_credit"), opt(raw, "out_of_credit", {}), policy, tier
    )
    if len(check.problems) > before:
        return None
    assert rate is not None and weekdays is not None and body is not None
    assert subject is not None and categories is not None and free is not None and ooc is not None
    return Sending(rate, shape, weekdays, body, subject, categories, free, ooc)


def _weekday_weights(check: Checker, path: Path, value: Any) -> tuple[float, ...] | None:
    """Seven relative weights, Monday first, not all 0."""
    if not isinstance(value, list):
        check.bad(path, "a list of 7 weights, Monday first", value)
        return None
    if len(value) != 7:
        check.fail(path, f"must be a list of 7 weights, Monday first, got {len(value)} weights")
        return None
    out = [check.number((*path, i), w, minimum=0) for i, w in enumerate(value)]
    if any(w is None for w in out):
        return None
    if not any(out):
        check.fail(path, "must not all be 0")
        return None
    return tuple(float(w) for w in out if w is not None)


def _length(check: Checker, path: Path, value: Any, ui_limit: int | None) -> LengthDist | None:
    """A length distribution; ``clip_max`` defaults to the policy's limit ``ui_limit``."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    kind = check.choice((*path, "kind"), raw.get("kind"), LENGTH_PARAMS)
    if kind is None:
        return None
    params = LENGTH_PARAMS[kind]
    check.known_keys(path, raw, ("kind", *params, "clip_max"))
    before = len(check.problems)
    check.required(path, raw, params)
    got: dict[str, Any] = {}
    if kind == "fixed" and "value" in raw:
        got["value"] = check.integer(
            (*path, "value"), raw["value"], minimum=1, maximum=MAX_LENGTH_CHARS
        )
    elif kind == "uniform" and "low" in raw and "high" in raw:
        low = check.number((*path, "low"), raw["low"], minimum=0, maximum=MAX_LENGTH_CHARS)
        high = check.number((*path, "high"), raw["high"], minimum=0, maximum=MAX_LENGTH_CHARS)
        if low is not None and high is not None and high < low:
            check.fail(
                (*path, "high"), f"must be >= low ({show(raw['low'])}), got {show(raw['high'])}"
            )
        got.update(low=low, high=high)
    elif kind == "lognormal" and "median" in raw and "sigma" in raw:
        got["median"] = positive_number(check, (*path, "median"), raw["median"], MAX_LENGTH_CHARS)
        got["sigma"] = check.number((*path, "sigma"), raw["sigma"], minimum=0, maximum=10)
    clip: int | None = ui_limit
    if "clip_max" in raw:
        clip = check.integer(
            (*path, "clip_max"),
            raw["clip_max"],
            minimum=1,
            maximum=MAX_LENGTH_CHARS,
            nullable=True,
        )
    if len(check.problems) > before:
        return None
    return LengthDist(kind=kind, clip_max=clip, **got)


def _out_of_credit(
    check: Checker, path: Path, value: Any, policy: Policy | None, tier: str | None
) -> OutOfCredit | None:
    """What a member with no credit does: buy, upgrade, or wait."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _OOC_KEYS)
    before = len(check.problems)
    buy = check.number(
        (*path, "buy_probability"), opt(raw, "buy_probability", 0.0), minimum=0, maximum=1
    )
    qty = check.integer(
        (*path, "buy_quantity"),
        opt(raw, "buy_quantity", DEFAULT_BUY_QUANTITY),
        minimum=1,
        maximum=MAX_BUY_QUANTITY,
    )
    upgrade = check.number(
        (*path, "upgrade_probability"), opt(raw, "upgrade_probability", 0.0), minimum=0, maximum=1
    )
    if buy is not None and upgrade is not None and buy + upgrade > 1:
        check.fail(
            (*path, "upgrade_probability"),
            "buy_probability + upgrade_probability must be <= 1,"
            f" got {show(buy)} + {show(upgrade)}",
        )
    target = raw.get("upgrade_to")
    if target is not None:
        target = known_name(check, (*path, "upgrade_to"), target, policy_tiers(policy), "tier")
        if target == "basic":
            check.fail((*path, "upgrade_to"), "must be a premium tier, got 'basic'")
        elif target is not None and target == tier:
            check.fail(
                (*path, "upgrade_to"), f"must differ from the cohort's tier, got {show(target)}"
            )
    elif upgrade:
        check.fail((*path, "upgrade_to"), "is required when upgrade_probability > 0")
    if len(check.problems) > before:
        return None
    assert buy is not None and qty is not None and upgrade is not None
    return OutOfCredit(buy, qty, upgrade, target)
