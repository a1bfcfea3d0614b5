"""Scenario YAML -> a frozen, validated :class:`Scenario`; the only reader of raw scenario dicts.

A scenario says who the members are (cohorts of a tier, with sending and
buying behaviour), how recipients answer, what things cost, when the run
starts and ends, and which credit policy applies (RULES.md section 7, resolved
by :mod:`simulator.engine.policy`). This package checks a parsed YAML document
once, at the edge, and reports *every* problem as one line naming the file,
the key path and the bad value::

    scenarios/x.yaml: population[2].sending.inmails_per_month: must be a number >= 0, got -3

Nothing downstream ever sees a raw dict: the model gets typed, immutable
values with every default filled in. This package draws no random numbers and
knows nothing of SimPy; it only describes distributions.

Overrides (``--set KEY.PATH=VALUE`` and :meth:`Scenario.with_overrides`) are
applied to the document *as written*, then the whole document is validated
again, so unwritten defaults keep following the policy (for instance the body
length clip follows ``policy.max_body_chars``). Values are parsed as YAML with
the safe loader, never evaluated.

The schema, its defaults and where each default comes from are documented in
``scenarios/README.md``.

The package, from the entry points down (each module imports only those below it):

- :mod:`~simulator.scenario.load`: the entry points: :func:`load_scenario`,
  :func:`scenario_from_dict`, :func:`load_scenario_with_overrides` (``--set``)
  and :func:`load_scenario_with_block` (``sweep:``, ``sensitivity:``).
- :mod:`~simulator.scenario.build`: :class:`Scenario`, the whole value, and
  ``build_scenario``, which validates a document's top level and hands each
  block to its parser; :meth:`Scenario.with_overrides`.
- :mod:`~simulator.scenario.window`: ``start``, ``end`` / ``duration_days``
  and ``warmup_days``.
- :mod:`~simulator.scenario.pricing`: the ``pricing`` block; money as exact cents.
- :mod:`~simulator.scenario.cohorts`: the ``population`` block: cohorts, their
  tier decisions (``after_change``) and ``arrivals``.
- :mod:`~simulator.scenario.sending`: a cohort's ``sending`` block, with its
  length distributions and ``out_of_credit``.
- :mod:`~simulator.scenario.recipients`: the ``recipients`` block.
- :mod:`~simulator.scenario.delays`: a response delay: a named distribution,
  listed seconds or a CSV file of them.
- :mod:`~simulator.scenario.checks`: checks several parsers share (known
  names with suggestions, weight maps, defaults for null).
- :mod:`~simulator.scenario.keypaths`: key paths (:func:`parse_key_path`,
  :func:`parse_set_argument`) and placing overrides on a plain document.
- :mod:`~simulator.scenario.values`: the frozen parts (:class:`Cohort`,
  :class:`Sending`, :class:`Recipients`, :class:`Pricing`, the distributions)
  and :func:`normalised`.
- :mod:`~simulator.scenario.defaults`: the schema's bounds, defaults and kinds.
"""

from __future__ import annotations

from simulator.engine.schema import FrozenMap
from simulator.scenario.build import Scenario
from simulator.scenario.defaults import (
    AFTER_CANCEL,
    AUTO,
    DEFAULT_BODY,
    DEFAULT_BUY_QUANTITY,
    DEFAULT_CREDIT_PRICE,
    DEFAULT_CURRENCY,
    DEFAULT_DELAY,
    DEFAULT_LENGTH_MULTIPLIERS,
    DEFAULT_MONTHLY_PRICES,
    DEFAULT_RESPONSE_KINDS,
    DEFAULT_RESPONSE_PROBABILITY,
    DEFAULT_SPREAD_DAYS,
    DEFAULT_SUBJECT,
    DEFAULT_WEEKDAY_WEIGHTS,
    MAX_ARRIVAL_RATE,
    MAX_BUY_QUANTITY,
    MAX_CSV_PROBLEMS,
    MAX_DAYS,
    MAX_DELAY_SECONDS,
    MAX_GROWTH_PER_MONTH,
    MAX_INMAILS_PER_MONTH,
    MAX_LENGTH_CHARS,
    MAX_MEMBERS_PER_COHORT,
    MAX_MONEY_CENTS,
    MIN_GROWTH_PER_MONTH,
    REPLACE_CHURN,
)
from simulator.scenario.keypaths import parse_key_path, parse_set_argument
from simulator.scenario.load import (
    load_scenario,
    load_scenario_with_block,
    load_scenario_with_overrides,
    scenario_from_dict,
)
from simulator.scenario.values import (
    Arrivals,
    Cohort,
    Decisions,
    DelayDist,
    LengthDist,
    OutOfCredit,
    Pricing,
    Recipients,
    Sending,
    normalised,
)
from simulator.vocabulary import LENGTH_BUCKETS

# The old module's names, and the schema's bounds, defaults and words, importable
# from here as before (simulator.scenario.defaults is their home).
__all__ = [
    "AFTER_CANCEL",
    "AUTO",
    "DEFAULT_BODY",
    "DEFAULT_BUY_QUANTITY",
    "DEFAULT_CREDIT_PRICE",
    "DEFAULT_CURRENCY",
    "DEFAULT_DELAY",
    "DEFAULT_LENGTH_MULTIPLIERS",
    "DEFAULT_MONTHLY_PRICES",
    "DEFAULT_RESPONSE_KINDS",
    "DEFAULT_RESPONSE_PROBABILITY",
    "DEFAULT_SPREAD_DAYS",
    "DEFAULT_SUBJECT",
    "DEFAULT_WEEKDAY_WEIGHTS",
    "LENGTH_BUCKETS",
    "MAX_ARRIVAL_RATE",
    "MAX_BUY_QUANTITY",
    "MAX_CSV_PROBLEMS",
    "MAX_DAYS",
    "MAX_DELAY_SECONDS",
    "MAX_GROWTH_PER_MONTH",
    "MAX_INMAILS_PER_MONTH",
    "MAX_LENGTH_CHARS",
    "MAX_MEMBERS_PER_COHORT",
    "MAX_MONEY_CENTS",
    "MIN_GROWTH_PER_MONTH",
    "REPLACE_CHURN",
    "Arrivals",
    "Cohort",
    "Decisions",
    "DelayDist",
    "FrozenMap",
    "LengthDist",
    "OutOfCredit",
    "Pricing",
    "Recipients",
    "Scenario",
    "Sending",
    "load_scenario",
    "load_scenario_with_block",
    "load_scenario_with_overrides",
    "normalised",
    "parse_key_path",
    "parse_set_argument",
    "scenario_from_dict",
]
