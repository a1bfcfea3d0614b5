"""The ``recipients`` block: how often and how recipients answer an InMail, and when.

The response probability is scaled by multipliers for the body's length
bucket and the InMail's category (merged over their defaults: every bucket
and every policy category gets one); the kinds of response are relative
weights (taken whole when written). The delay to a response is checked by
:mod:`simulator.scenario.delays`. Builds a
:class:`~simulator.scenario.values.Recipients`.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Any

from simulator.engine.policy import RESPONSES, Policy
from simulator.engine.schema import Checker, FrozenMap, Path
from simulator.scenario.checks import opt, policy_categories, weight_map
from simulator.scenario.defaults import (
    DEFAULT_DELAY,
    DEFAULT_LENGTH_MULTIPLIERS,
    DEFAULT_RESPONSE_KINDS,
    DEFAULT_RESPONSE_PROBABILITY,
)
from simulator.scenario.delays import parse_delay
from simulator.scenario.values import Recipients
from simulator.vocabulary import LENGTH_BUCKETS

__all__ = ["parse_recipients"]

_KEYS = (
    "response_probability",
    "length_multipliers",
    "category_multipliers",
    "response_kinds",
    "delay",
)


def parse_recipients(
    check: Checker, value: Any, policy: Policy | None, base_dir: FilePath
) -> Recipients | None:
    """The ``recipients`` block; a delay CSV file is read relative to ``base_dir``."""
    path: Path = ("recipients",)
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _KEYS)
    before = len(check.problems)
    p = check.number(
        (*path, "response_probability"),
        opt(raw, "response_probability", DEFAULT_RESPONSE_PROBABILITY),
        minimum=0,
        maximum=1,
    )
    lengths = weight_map(
        check,
        (*path, "length_multipliers"),
        opt(raw, "length_multipliers", {}),
        LENGTH_BUCKETS,
        "length bucket",
    )
    cats = weight_map(
        check,
        (*path, "category_multipliers"),
        opt(raw, "category_multipliers", {}),
        policy_categories(policy),
        "category",
    )
    kinds = weight_map(
        check,
        (*path, "response_kinds"),
        opt(raw, "response_kinds", DEFAULT_RESPONSE_KINDS),
        RESPONSES,
        "response",
    )
    if kinds is not None and not any(kinds.values()):
        check.fail((*path, "response_kinds"), "must give some response a weight > 0")
    delay = parse_delay(check, (*path, "delay"), opt(raw, "delay", DEFAULT_DELAY), base_dir)
    if len(check.problems) > before or policy is None:
        return None
    assert p is not None and lengths is not None and cats is not None
    assert kinds is not None and delay is not None
    # Multiplier maps are merged over their defaults; weight maps are taken whole.
    length_map = FrozenMap(
        {b: lengths.get(b, DEFAULT_LENGTH_MULTIPLIERS[b]) for b in LENGTH_BUCKETS}
    )
    cat_map = FrozenMap({c: cats.get(c, 1.0) for c in policy.categories})
    return Recipients(p, length_map, cat_map, kinds, delay)
