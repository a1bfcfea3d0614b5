"""Scenario YAML -> a frozen, validated :class:`Scenario`; the only reader of raw scenario dicts.

A scenario says who the members are (cohorts of a tier, with sending and
buying behaviour), how recipients answer, what things cost, when the run
starts and ends, and which credit policy applies (RULES.md section 7, resolved
by :mod:`simulator.engine.policy`). This module checks a parsed YAML document
once, at the edge, and reports *every* problem as one line naming the file,
the key path and the bad value::

    scenarios/x.yaml: population[2].sending.inmails_per_month: must be a number >= 0, got -3

Nothing downstream ever sees a raw dict: the model gets typed, immutable
values with every default filled in. This module draws no random numbers and
knows nothing of SimPy; it only describes distributions.

Overrides (``--set KEY.PATH=VALUE`` and :meth:`Scenario.with_overrides`) are
applied to the document *as written*, then the whole document is validated
again, so unwritten defaults keep following the policy (for instance the body
length clip follows ``policy.max_body_chars``). Values are parsed as YAML with
the safe loader, never evaluated.

The schema, its defaults and where each default comes from are documented in
``scenarios/README.md``.
"""

from __future__ import annotations

import copy
import csv
import datetime
import difflib
import io
import math
import numbers
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path as FilePath
from typing import Any, TypeVar

from simulator.engine.policy import MAX_CHARS, MAX_DAYS, RESPONSES, Policy, resolve_policy
from simulator.engine.schema import MISSING, Checker, FrozenMap, Path, show
from simulator.errors import InputError, PolicyError, ScenarioError, format_path
from simulator.timeutil import (
    DAY,
    MEAN_MONTH_DAYS,
    civil_from_days,
    format_instant,
    parse_date_or_instant,
)
from simulator.userfiles import not_utf8_message
from simulator.vocabulary import LENGTH_BUCKETS
from simulator.yamlio import load_yaml_file, load_yaml_text

__all__ = [
    "LENGTH_BUCKETS",
    "MAX_MEMBERS_PER_COHORT",
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
    "normalised",
    "parse_key_path",
    "parse_set_argument",
    "scenario_from_dict",
]

# "per month" rates are per mean Gregorian month (timeutil.MEAN_MONTH_DAYS).
MAX_MEMBERS_PER_COHORT = 10_000_000
# MAX_DAYS (a century: longer runs, warm-ups or spreads are typos) is the policy's.
MAX_INMAILS_PER_MONTH = 10_000
MAX_BUY_QUANTITY = 1_000
MAX_LENGTH_CHARS = MAX_CHARS
MAX_MONEY_CENTS = 100_000_000  # 1,000,000.00
MAX_DELAY_SECONDS = MAX_DAYS * DAY
MAX_CSV_PROBLEMS = 10

# Top-level blocks that belong to one command, which takes its block out first.
_COMMAND_BLOCKS = ("sweep", "sensitivity")
_TOP_KEYS = (
    "name",
    "description",
    "seed",
    "start",
    "end",
    "duration_days",
    "warmup_days",
    "policy",
    "pricing",
    "population",
    "recipients",
)
_PRICING_KEYS = ("currency", "credit_price", "monthly_price")
_COHORT_KEYS = (
    "name",
    "tier",
    "members",
    "subscription_spread_days",
    "monthly_cancel_probability",
    "monthly_change_probability",
    "change_to",
    "after_change",
    "after_cancel",
    "arrivals",
    "sending",
)
AFTER_CANCEL = ("stay", "leave")
_DECISION_KEYS = ("monthly_cancel_probability", "monthly_change_probability", "change_to")
_ARRIVAL_KEYS = ("monthly_rate", "growth_per_month")
REPLACE_CHURN = "replace_churn"
AUTO = "auto"  # warmup_days: auto (simulator.warmup chooses it)
# Typo guards for arrivals: 10 new members a month per member of the cohort,
# a rate that doubles every month, or a century of decline to nothing.
MAX_ARRIVAL_RATE = 10.0
MAX_GROWTH_PER_MONTH = 1.0
MIN_GROWTH_PER_MONTH = -0.5
_SENDING_KEYS = (
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
_RECIPIENT_KEYS = (
    "response_probability",
    "length_multipliers",
    "category_multipliers",
    "response_kinds",
    "delay",
)
_LENGTH_PARAMS = {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("median", "sigma")}
_DELAY_PARAMS = {
    "exponential": ("mean_days",),
    "lognormal": ("median_days", "sigma"),
    "gamma": ("shape", "mean_days"),
    "empirical": ("file", "delay_seconds"),
}
_CSV_COLUMNS = {"delay_seconds": 1, "delay_days": DAY}

# -- defaults (each one's source is in scenarios/README.md) -----------------

DEFAULT_CURRENCY = "USD"
DEFAULT_CREDIT_PRICE = "10.00"  # CALIBRATION.md: "about USD 10 a credit" (L)
DEFAULT_MONTHLY_PRICES = {  # chosen, illustrative monthly list prices
    "basic": "0",
    "premium_career": "29.99",
    "premium_business": "59.99",
    "sales_navigator": "79.99",
    "recruiter_lite": "119.95",
}
DEFAULT_SPREAD_DAYS = 30
DEFAULT_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.25)
# Median 750, sigma 0.5 puts ~90% of bodies over 400 characters (CALIBRATION.md).
DEFAULT_BODY = {"kind": "lognormal", "median": 750, "sigma": 0.5}
DEFAULT_SUBJECT = {"kind": "uniform", "low": 15, "high": 80}
DEFAULT_BUY_QUANTITY = 1
DEFAULT_RESPONSE_PROBABILITY = 0.2  # middle of the quoted 10-30% (CALIBRATION.md)
# LinkedIn's length study: +22%, +3%, -6%, -11% against the average.
DEFAULT_LENGTH_MULTIPLIERS = {"1-400": 1.22, "401-800": 1.03, "801-1200": 0.94, "1201-2000": 0.89}
DEFAULT_RESPONSE_KINDS = {"accept": 0.5, "decline": 0.2, "reply": 0.3}
DEFAULT_DELAY = {"kind": "lognormal", "median_days": 2.0, "sigma": 1.0}

_V = TypeVar("_V")
_T = TypeVar("_T")


def normalised(weights: Mapping[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Keys and probabilities (weights divided by their sum), in the mapping's order.

    Scenario weight maps keep the weights as written (so ``to_dict`` round-trips
    exactly); samplers call this to get probabilities.
    """
    keys = tuple(weights)
    values = [float(weights[k]) for k in keys]
    total = sum(values)
    if not total > 0:
        raise ValueError("weights must have a positive sum")
    if not (math.isfinite(total) and total >= sys.float_info.min):
        # Valid but extreme weights (1e308s whose sum overflows, 5e-324s whose
        # sum is subnormal): scale by the largest first. Ordinary weights keep
        # the plain division, so their probabilities are exactly as before.
        top = max(values)
        values = [v / top for v in values]
        total = sum(values)
    return keys, tuple(v / total for v in values)


# -- the values ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LengthDist:
    """A distribution of message lengths in characters.

    ``fixed`` uses ``value``; ``uniform`` uses ``low`` and ``high``;
    ``lognormal`` uses ``median`` and ``sigma`` (of the log). Draws are rounded
    to whole characters, then clipped to ``[1, clip_max]`` (``clip_max`` None:
    no upper clip, so over-long messages reach the engine and are rejected).
    """

    kind: str
    value: int | None = None
    low: float | None = None
    high: float | None = None
    median: float | None = None
    sigma: float | None = None
    clip_max: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in _LENGTH_PARAMS[self.kind]:
            out[name] = getattr(self, name)
        out["clip_max"] = self.clip_max
        return out


@dataclass(frozen=True, slots=True)
class DelayDist:
    """A distribution of response delays (from the send to the response).

    ``exponential``: ``mean_days``; ``lognormal``: ``median_days`` and ``sigma``;
    ``gamma``: ``shape`` and ``mean_days``; ``empirical``: ``seconds``, the
    observed delays in whole seconds, each >= 1 (``file`` says where they
    came from, if from a CSV file, and takes no part in equality).
    """

    kind: str
    mean_days: float | None = None
    median_days: float | None = None
    sigma: float | None = None
    shape: float | None = None
    seconds: tuple[int, ...] | None = None
    file: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "empirical":
            assert self.seconds is not None
            return {"kind": "empirical", "delay_seconds": list(self.seconds)}
        out: dict[str, Any] = {"kind": self.kind}
        for name in _DELAY_PARAMS[self.kind]:
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, slots=True)
class OutOfCredit:
    """What a member does when it wants to send and has no credit.

    With probability ``buy_probability`` it buys ``buy_quantity`` credits; with
    ``upgrade_probability`` it changes to ``upgrade_to``; otherwise it waits
    for its next grant.
    """

    buy_probability: float
    buy_quantity: int
    upgrade_probability: float
    upgrade_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "buy_probability": self.buy_probability,
            "buy_quantity": self.buy_quantity,
            "upgrade_probability": self.upgrade_probability,
            "upgrade_to": self.upgrade_to,
        }


@dataclass(frozen=True, slots=True)
class Sending:
    """How the members of one cohort send InMails.

    ``inmails_per_month`` is the mean number of sends a member attempts per
    average month (:data:`simulator.timeutil.MEAN_MONTH_DAYS` days). With ``rate_shape`` set,
    each member's own mean is drawn from a gamma distribution with that shape
    and this mean; with None every member has the same mean.
    ``weekday_weights`` are relative, Monday first. ``categories`` are
    relative weights (see :func:`normalised`).
    """

    inmails_per_month: float
    rate_shape: float | None
    weekday_weights: tuple[float, ...]
    body_chars: LengthDist
    subject_chars: LengthDist
    categories: Mapping[str, float]
    free_share: float
    out_of_credit: OutOfCredit

    def to_dict(self) -> dict[str, Any]:
        return {
            "inmails_per_month": self.inmails_per_month,
            "rate_shape": self.rate_shape,
            "weekday_weights": list(self.weekday_weights),
            "body_chars": self.body_chars.to_dict(),
            "subject_chars": self.subject_chars.to_dict(),
            "categories": dict(self.categories),
            "free_share": self.free_share,
            "out_of_credit": self.out_of_credit.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Decisions:
    """A member's monthly tier decisions while it holds one tier.

    Each month it cancels with ``monthly_cancel_probability`` or else changes
    tier with ``monthly_change_probability`` (to a tier drawn from the
    relative weights ``change_to``); the two are exclusive.
    """

    monthly_cancel_probability: float
    monthly_change_probability: float
    change_to: Mapping[str, float]

    def leave_probability(self) -> float:
        """The monthly chance of leaving premium: a cancel, or a change to ``basic`` (R9)."""
        leave = self.monthly_cancel_probability
        total = sum(self.change_to.values())
        if total > 0 and self.change_to.get("basic", 0) > 0:
            leave += self.monthly_change_probability * self.change_to["basic"] / total
        return leave

    def to_dict(self) -> dict[str, Any]:
        return {
            "monthly_cancel_probability": self.monthly_cancel_probability,
            "monthly_change_probability": self.monthly_change_probability,
            "change_to": dict(self.change_to),
        }


@dataclass(frozen=True, slots=True)
class Arrivals:
    """New members who join a cohort during the run (an open population).

    ``monthly_rate`` is the mean number of new members a month per member of
    the cohort's initial size (0.02: 2 % of ``members`` a month), growing by
    ``growth_per_month`` each month; or None for ``replace_churn``: in each
    month, the expected departures from premium of the cohort's members, so
    that their expected number is ``members``, grown by ``growth_per_month``
    a month. :func:`simulator.population.monthly_arrival_rates` computes both.
    """

    monthly_rate: float | None
    growth_per_month: float

    @property
    def replace_churn(self) -> bool:
        return self.monthly_rate is None

    def to_dict(self) -> dict[str, Any]:
        rate: Any = REPLACE_CHURN if self.monthly_rate is None else self.monthly_rate
        return {"monthly_rate": rate, "growth_per_month": self.growth_per_month}


@dataclass(frozen=True, slots=True)
class Cohort:
    """A group of members who start on one tier and behave alike.

    Subscriptions start uniformly over ``[sim_start, sim_start +
    subscription_spread_days)`` (0: all at ``sim_start``; ignored for
    ``basic``). On the cohort's own tier a member decides each month as
    ``monthly_cancel_probability``, ``monthly_change_probability`` and
    ``change_to`` say; on another tier (after a change or an upgrade) as
    :meth:`Scenario.decisions` resolves. ``arrivals``, if given, brings new
    members over the run. ``after_cancel`` says what a member does once its
    cancel (or change to ``basic``) takes effect: ``stay`` on as a basic
    member (it keeps sending, buying and perhaps upgrading) or ``leave`` (it
    attempts nothing more: a departure, which ``replace_churn`` arrivals
    replace).
    """

    name: str
    tier: str
    members: int
    subscription_spread_days: int
    monthly_cancel_probability: float
    monthly_change_probability: float
    change_to: Mapping[str, float]
    sending: Sending
    after_change: Mapping[str, Decisions] = field(default_factory=FrozenMap)
    arrivals: Arrivals | None = None
    after_cancel: str = "stay"

    @property
    def decisions(self) -> Decisions:
        """The decisions of a member on the cohort's own tier."""
        return Decisions(
            self.monthly_cancel_probability, self.monthly_change_probability, self.change_to
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tier": self.tier,
            "members": self.members,
            "subscription_spread_days": self.subscription_spread_days,
            "monthly_cancel_probability": self.monthly_cancel_probability,
            "monthly_change_probability": self.monthly_change_probability,
            "change_to": dict(self.change_to),
            "after_change": {t: d.to_dict() for t, d in self.after_change.items()},
            "arrivals": None if self.arrivals is None else self.arrivals.to_dict(),
            "after_cancel": self.after_cancel,
            "sending": self.sending.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in whole cents: one purchased credit and each tier's month.

    ``monthly_price_cents`` has an entry for every tier of the policy (basic: 0).
    """

    currency: str
    credit_price_cents: int
    monthly_price_cents: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "credit_price": _format_cents(self.credit_price_cents),
            "monthly_price": {t: _format_cents(c) for t, c in self.monthly_price_cents.items()},
        }


@dataclass(frozen=True, slots=True)
class Recipients:
    """How recipients answer InMails.

    ``response_probability`` is the average chance that an InMail gets a
    response; a sampler scales it by the body's length bucket and the
    category multiplier (clipping at 1). ``category_multipliers`` has an
    entry for every policy category (1.0 unless given). ``response_kinds``
    are relative weights over accept, decline and reply.
    """

    response_probability: float
    length_multipliers: Mapping[str, float]
    category_multipliers: Mapping[str, float]
    response_kinds: Mapping[str, float]
    delay: DelayDist

    def to_dict(self) -> dict[str, Any]:
        return {
            "response_probability": self.response_probability,
            "length_multipliers": dict(self.length_multipliers),
            "category_multipliers": dict(self.category_multipliers),
            "response_kinds": dict(self.response_kinds),
            "delay": self.delay.to_dict(),
        }


@dataclass(frozen=True)
class Scenario:
    """A complete, validated scenario. Immutable; build it with :func:`load_scenario`.

    Instants are Unix seconds: the run simulates ``[sim_start, end]`` (both
    inclusive) and measures from ``start``; ``sim_start = start -
    warmup_days * DAY``. With ``warmup_days: auto`` (``auto_warmup``) the
    warm-up is not known yet: ``warmup_days`` is 0 until
    :func:`simulator.warmup.resolve_warmup` chooses it, and nothing may run
    the scenario before that.
    """

    name: str
    description: str
    seed: int
    start: int
    end: int
    warmup_days: int
    sim_start: int
    policy: Policy
    pricing: Pricing
    population: tuple[Cohort, ...]
    recipients: Recipients
    auto_warmup: bool = False
    source: str = field(default="<scenario>", compare=False)
    # The document as written (for overrides) and the folder relative files
    # are read from. Not part of the value.
    _raw: Any = field(default=None, compare=False, repr=False)
    _base_dir: str = field(default=".", compare=False, repr=False)

    @property
    def members(self) -> int:
        """Members at the start, over all cohorts (arrivals: :mod:`simulator.population`)."""
        return sum(c.members for c in self.population)

    @property
    def is_open(self) -> bool:
        """Whether some cohort has arrivals."""
        return any(c.arrivals is not None for c in self.population)

    def decisions(self, cohort: Cohort, tier: str) -> Decisions:
        """How a member of ``cohort`` decides while it holds ``tier`` (a premium tier).

        On the cohort's own tier, the cohort's keys. On another tier (after a
        change or an upgrade): the cohort's ``after_change[tier]`` if given,
        else the decisions of the first cohort that starts on ``tier``, else
        the cohort's own (so a basic cohort whose members upgrade to a tier no
        cohort starts on, and that gives no ``after_change``, never cancels
        there: scenarios/README.md says so).
        """
        if tier == cohort.tier:
            return cohort.decisions
        if tier in cohort.after_change:
            return cohort.after_change[tier]
        for other in self.population:
            if other.tier == tier:
                return other.decisions
        return cohort.decisions

    def cohort(self, name: str) -> Cohort:
        """The cohort called ``name``."""
        for c in self.population:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain data, every default filled in.

        ``start`` and ``end`` are ISO instants; money is text with two decimals;
        an empirical delay is inlined as ``delay_seconds``, so the result is
        self-contained and loads back to an equal scenario.
        """
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "start": format_instant(self.start),
            "end": format_instant(self.end),
            "warmup_days": "auto" if self.auto_warmup else self.warmup_days,
            "policy": self.policy.to_dict(),
            "pricing": self.pricing.to_dict(),
            "population": [c.to_dict() for c in self.population],
            "recipients": self.recipients.to_dict(),
        }

    def with_overrides(
        self, overrides: Mapping[str | Path, Any], source: str | None = None
    ) -> Scenario:
        """A new scenario: this one's document with each ``path: value`` set, re-validated.

        Paths are ``"a.b[0].c"`` text or tuples like ``("a", "b", 0, "c")``. A
        value replaces whatever was at its path (a mapping is not merged).
        Mapping keys a path names are created if missing (a misspelt key is
        then reported, with a suggestion, as an unknown key); a list index must
        exist. ``source`` names the overrides in messages (default: the file).
        """
        where = source if source is not None else self.source
        fast = self._placed(overrides, where)
        if fast is not None:
            return _build(fast, where, FilePath(self._base_dir), self.name, self.source)
        raw = _plain(self._raw) if self._raw is not None else self.to_dict()
        check = Checker(where)
        resolved: dict[str, Any] | None = None
        for key, value in overrides.items():
            try:
                path = parse_key_path(key) if isinstance(key, str) else tuple(key)
            except ValueError as exc:
                check.fail((), str(exc))
                continue
            if not path or not all(
                isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool) and p >= 0)
                for p in path
            ):
                check.fail((), f"an override needs a key path of names and indices, got {key!r}")
                continue
            if resolved is None:
                resolved = self.to_dict()
            # On a copy: an override that cannot be placed must leave no
            # half-made mappings behind for the validation to report again.
            placed = len(check.problems)
            trial = _plain(raw)  # a deep copy of plain data, faster than copy.deepcopy
            _set_path(check, trial, path, _plain(value), resolved)
            if len(check.problems) == placed:
                raw = trial
        if check.problems:
            # Report every problem at once: the overrides that could not be
            # placed, then what validating the ones that could says.
            try:
                _build(raw, where, FilePath(self._base_dir), self.name, self.source)
            except InputError as exc:
                raise ScenarioError(*check.problems, *exc.problems) from None
            raise ScenarioError(*check.problems)
        return _build(raw, where, FilePath(self._base_dir), self.name, self.source)

    def _placed(self, overrides: Mapping[str | Path, Any], where: str) -> Any:
        """The document with every override placed on one copy, or None if any cannot
        be placed (then :meth:`with_overrides` places them one by one, on copies, to
        report each problem without leftovers). The common case, one copy in all."""
        raw = _plain(self._raw) if self._raw is not None else self.to_dict()
        check = Checker(where)
        resolved = None
        for key, value in overrides.items():
            try:
                path = parse_key_path(key) if isinstance(key, str) else tuple(key)
            except ValueError:
                return None
            if not path or not all(
                isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool) and p >= 0)
                for p in path
            ):
                return None
            if resolved is None:
                resolved = self.to_dict()
            _set_path(check, raw, path, _plain(value), resolved)
            if check.problems:
                return None
        return raw


# -- public entry points ------------------------------------------------------


def load_scenario_with_block(
    path: str | FilePath, block: str, parse: Callable[[Any], _T]
) -> tuple[Scenario, _T | None]:
    """A scenario file and its command's block (``sweep``, ``sensitivity``) parsed by
    ``parse``, None without one. The block is taken out before the scenario is
    validated; the problems of both (``parse`` raises :class:`ScenarioError`) are
    reported together."""
    if block not in _COMMAND_BLOCKS:
        raise ValueError(f"not a command's block: {block!r}")
    source = str(path)
    raw = load_yaml_file(path, ScenarioError)
    if not (isinstance(raw, dict) and block in raw):
        return scenario_from_dict(raw, source=source), None
    raw = dict(raw)
    problems: list[str] = []
    parsed = None
    try:
        parsed = parse(raw.pop(block))
    except ScenarioError as exc:
        problems.extend(exc.problems)
    try:
        scenario = scenario_from_dict(raw, source=source)
    except InputError as exc:
        raise ScenarioError(*exc.problems, *problems) from None
    if problems:
        raise ScenarioError(*problems)
    return scenario, parsed


def load_scenario(path: str | FilePath) -> Scenario:
    """Read, parse and validate a scenario file.

    Raises :class:`ScenarioError` (or :class:`PolicyError` when every problem
    is in the ``policy`` block) with one line per problem. Messages name the
    file as ``path`` was given.
    """
    source = str(path)
    raw = load_yaml_file(path, ScenarioError)
    return _build(raw, source, FilePath(source).parent, FilePath(source).stem, source)


def load_scenario_with_overrides(
    path: str | FilePath, overrides: Mapping[str | Path, Any], source: str
) -> tuple[Scenario, Scenario]:
    """The scenario file as written, and with ``overrides`` (``--set``) applied.

    Problems of the file and of the overrides come in one pass: when the file
    itself is invalid, the overrides are still placed on its document and
    checked, and the lines about them (``source``: the overrides' name in
    messages) are reported with the file's own. Raises :class:`ScenarioError`.
    """
    try:
        written = load_scenario(path)
    except ScenarioError as exc:
        if not overrides:
            raise
        raise ScenarioError(*exc.problems, *_override_problems(path, overrides, source)) from None
    if not overrides:
        return written, written
    return written, written.with_overrides(overrides, source=source)


def _override_problems(
    path: str | FilePath, overrides: Mapping[str | Path, Any], source: str
) -> list[str]:
    """The problems at the overrides' own paths, placed on an invalid file's document.

    Problems elsewhere in the document are the file's, reported from the file;
    a problem counts as the override's when its path and the override's are one
    a prefix of the other (a misspelt key is reported at its own level).
    """
    try:
        raw = load_yaml_file(path, ScenarioError)
    except ScenarioError:
        return []  # the file is not YAML: nothing to place them on
    check = Checker(source)
    raw = _plain(raw) if isinstance(raw, dict) else {}
    texts: list[str] = []
    for key, value in overrides.items():
        try:
            where = parse_key_path(key) if isinstance(key, str) else tuple(key)
        except ValueError as exc:
            check.fail((), str(exc))
            continue
        texts.append(format_path(where))
        _set_path(check, raw, where, _plain(value), raw)
    problems = list(check.problems)
    try:
        _build(raw, source, FilePath(str(path)).parent, FilePath(str(path)).stem, source)
    except InputError as exc:
        for line in exc.problems:
            at = line.removeprefix(f"{source}: ").split(": ", 1)[0]
            if any(t.startswith(at) or at.startswith(t) for t in texts if at != "<top level>"):
                problems.append(line)
    return problems


def scenario_from_dict(raw: Any, source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario document; ``source`` names it in messages.

    Relative file names inside it (an empirical delay CSV) are read relative to
    the folder of ``source``.
    """
    return _build(raw, source, FilePath(source).parent, FilePath(source).stem, source)


_SEGMENT = re.compile(r"([^.\[\]\s=]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


def parse_key_path(text: str) -> Path:
    """``"population[0].sending.inmails_per_month"`` -> ``("population", 0, "sending", ...)``.

    Raises ``ValueError`` naming the text when it is not a key path.
    """
    parts: list[str | int] = []
    for segment in text.split("."):
        m = _SEGMENT.fullmatch(segment)
        if m is None:
            raise ValueError(
                f"bad key path {text!r}: expected names joined by '.', each with"
                " optional [N] list indices, like population[0].sending.inmails_per_month"
            )
        parts.append(m.group(1))
        parts.extend(int(i) for i in _INDEX.findall(m.group(2)))
    return tuple(parts)


def parse_set_argument(text: str) -> tuple[Path, Any]:
    """Parse ``KEY.PATH=VALUE`` (a ``--set`` argument) into ``(path, value)``.

    The value is YAML, read with the safe loader (dates stay text, Python tags
    are refused, nothing is evaluated); an empty value is ``null``. Raises
    :class:`ScenarioError`.
    """
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set: expected KEY.PATH=VALUE, got {text!r}")
    try:
        path = parse_key_path(key)
    except ValueError as exc:
        raise ScenarioError(f"--set: {exc}") from None
    value = load_yaml_text(value_text, f"--set {key}", ScenarioError)
    return path, value


# -- building -----------------------------------------------------------------


def _build(
    raw: Any, source: str, base_dir: FilePath, default_name: str, scenario_source: str
) -> Scenario:
    raw = _plain(raw)
    check = Checker(source)
    doc = check.mapping((), raw)
    if doc is None:
        raise ScenarioError(*check.problems)
    for block in _COMMAND_BLOCKS:
        if block in doc:
            # One rule for every command: a sweep (sensitivity) block is read only by
            # `creditsim sweep` (`sensitivity`), which takes it out first; every other
            # command and the API refuse it rather than run a scenario it may change.
            check.fail((block,), f"a {block} block is for `creditsim {block}` only; remove "
                       "it to run or compare this scenario")  # fmt: skip
            doc = {k: v for k, v in doc.items() if k != block}
    check.known_keys((), doc, _TOP_KEYS)

    name = _scenario_name(check, _opt(doc, "name", default_name or "scenario"))
    description = _opt(doc, "description", "")
    if not isinstance(description, str):
        check.bad(("description",), "text", description)
    seed = check.integer(("seed",), doc["seed"], minimum=0) if "seed" in doc else None
    if "seed" not in doc:
        check.fail(("seed",), "is required")
    start = _instant(check, ("start",), doc["start"]) if "start" in doc else None
    if "start" not in doc:
        check.fail(("start",), "is required")
    if start is not None and start < 0:
        check.fail(("start",), f"must be 1970-01-01 or later, got {show(doc['start'])}")
        start = None
    end = _end(check, doc, start)
    raw_warmup = _opt(doc, "warmup_days", 0)
    auto_warmup = raw_warmup == AUTO
    warmup: int | None = 0
    if isinstance(raw_warmup, str) and not auto_warmup:
        check.bad(("warmup_days",), f"a whole number from 0 to {MAX_DAYS} or {AUTO}", raw_warmup)
        warmup = None
    elif not auto_warmup:
        warmup = check.integer(("warmup_days",), raw_warmup, minimum=0, maximum=MAX_DAYS)
    # Written instants have four-digit years, and the tables use Unix time:
    # a run lies within 1970-01-01 .. 9999-12-31.
    if start is not None and warmup is not None and start - warmup * DAY < 0:
        check.fail(
            ("warmup_days",),
            f"the warm-up must not start before 1970-01-01, got {warmup} "
            f"(it would start at {format_instant(start - warmup * DAY)[:10]})",
        )
    if end is not None and end >= _YEAR_10000:
        key = "duration_days" if doc.get("duration_days") is not None else "end"
        check.fail(
            (key,),
            f"the run must end before 10000-01-01, got {show(doc[key])} "
            f"(it would end at {_iso_any_year(end)})",
        )

    policy: Policy | None = None
    policy_problems: list[str] = []
    try:
        policy = resolve_policy(doc.get("policy"), source)
    except PolicyError as exc:
        policy_problems = list(exc.problems)
        check.problems.extend(policy_problems)

    pricing = _pricing(check, _opt(doc, "pricing", {}), policy)
    population = _population(check, _opt(doc, "population", MISSING), policy)
    recipients = _recipients(check, _opt(doc, "recipients", {}), policy, base_dir)
    if population is not None and start is not None and end is not None and warmup is not None:
        _arrival_totals(check, population, end + 1 - (start - warmup * DAY))

    if check.problems:
        if check.problems == policy_problems:
            raise PolicyError(*check.problems)
        raise ScenarioError(*check.problems)
    assert name is not None and seed is not None and start is not None and end is not None
    assert warmup is not None and policy is not None and pricing is not None
    assert population is not None and recipients is not None
    return Scenario(
        name=name,
        description=str(description),
        seed=seed,
        start=start,
        end=end,
        warmup_days=warmup,
        sim_start=start - warmup * DAY,
        policy=policy,
        pricing=pricing,
        population=population,
        recipients=recipients,
        auto_warmup=auto_warmup,
        source=scenario_source,
        _raw=raw,
        _base_dir=str(base_dir),
    )


def _scenario_name(check: Checker, value: Any) -> str | None:
    """A scenario's ``name``: a :func:`_name` that is also safe as a folder name (it
    titles reports and may name folders a user's script makes): no path separator,
    not ``.`` or ``..``."""
    name = _name(check, ("name",), value)
    if name is not None and ("/" in name or "\\" in name or name.strip() in (".", "..")):
        check.bad(("name",), "a name without '/' or '\\', and not '.' or '..'", name)
        return None
    return name


def _name(check: Checker, path: Path, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        check.bad(path, "non-empty text on one line", value)
        return None
    if len(value) > 200:
        check.bad(path, "at most 200 characters", value)
        return None
    return value


_INSTANT_EXPECTED = "a date (2014-01-01) or a UTC instant (2014-01-01T09:00:00Z)"


_YEAR_10000 = 253_402_300_800  # 10000-01-01T00:00:00Z in Unix seconds


def _iso_any_year(t: int) -> str:
    days, secs = divmod(t, DAY)
    y, m, d = civil_from_days(days)
    return f"{y}-{m:02d}-{d:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z"


def _instant(check: Checker, path: Path, value: Any, *, end_of_day: bool = False) -> int | None:
    if not isinstance(value, str):
        check.bad(path, _INSTANT_EXPECTED, value)
        return None
    try:
        t = parse_date_or_instant(value)
    except ValueError as exc:
        reason = str(exc).split(":", 1)[0]
        extra = f" ({reason})" if reason.startswith("no such") else ""
        check.fail(path, f"must be {_INSTANT_EXPECTED}, got {show(value)}{extra}")
        return None
    if end_of_day and "T" not in value:
        t += DAY - 1  # a date as end means the whole day is simulated
    return t


def _end(check: Checker, doc: Mapping[str, Any], start: int | None) -> int | None:
    # null counts as absent, so an override can swap one for the other.
    has_days = doc.get("duration_days") is not None
    has_end = doc.get("end") is not None
    if has_days == has_end:
        check.fail(
            (), f"give exactly one of duration_days and end, got {'both' if has_end else 'neither'}"
        )
        return None
    if has_days:
        days = check.integer(("duration_days",), doc["duration_days"], minimum=1, maximum=MAX_DAYS)
        if days is None or start is None:
            return None
        return start + days * DAY - 1
    end = _instant(check, ("end",), doc["end"], end_of_day=True)
    if end is None or start is None:
        return None
    if end < start:
        check.fail(("end",), f"must not be before start, got {show(doc['end'])}")
        return None
    if end - start >= MAX_DAYS * DAY:
        check.fail(
            ("end",), f"must be less than {MAX_DAYS} days after start, got {show(doc['end'])}"
        )
        return None
    return end


# -- pricing -----------------------------------------------------------------

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


def _format_cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _pricing(check: Checker, value: Any, policy: Policy | None) -> Pricing | None:
    path: Path = ("pricing",)
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _PRICING_KEYS)
    currency = _opt(raw, "currency", DEFAULT_CURRENCY)
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        check.bad((*path, "currency"), "a three-letter ISO 4217 code like USD", currency)
    credit = _money(check, (*path, "credit_price"), _opt(raw, "credit_price", DEFAULT_CREDIT_PRICE))
    monthly_raw = check.mapping((*path, "monthly_price"), _opt(raw, "monthly_price", {}))
    if monthly_raw is None:
        return None
    for tier, price in monthly_raw.items():
        tp = (*path, "monthly_price", tier)
        if _known(check, tp, tier, _tiers(policy), "tier") is None:
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


# -- population ---------------------------------------------------------------


def _population(check: Checker, value: Any, policy: Policy | None) -> tuple[Cohort, ...] | None:
    path: Path = ("population",)
    if value is MISSING:
        check.fail(path, "is required")
        return None
    if not isinstance(value, list):
        check.bad(path, "a list of cohorts", value)
        return None
    if not value:
        check.fail(path, "must have at least one cohort")
        return None
    cohorts: list[Cohort] = []
    seen: dict[str, int] = {}
    ok = True
    for i, item in enumerate(value):
        cohort = _cohort(check, (*path, i), item, policy)
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in seen:
            check.fail(
                (*path, i, "name"),
                f"duplicate cohort name {show(name)} (also population[{seen[name]}])",
            )
            ok = False
        elif isinstance(name, str):
            seen[name] = i
        if cohort is None:
            ok = False
        else:
            cohorts.append(cohort)
    return tuple(cohorts) if ok else None


def _cohort(check: Checker, path: Path, value: Any, policy: Policy | None) -> Cohort | None:
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _COHORT_KEYS)
    before = len(check.problems)
    check.required(path, raw, ("name", "tier", "members", "sending"))
    name = _name(check, (*path, "name"), raw["name"]) if "name" in raw else None
    tier = None
    if "tier" in raw:
        tier = _known(check, (*path, "tier"), raw["tier"], _tiers(policy), "tier")
    members = None
    if "members" in raw:
        members = check.integer(
            (*path, "members"), raw["members"], minimum=1, maximum=MAX_MEMBERS_PER_COHORT
        )
    spread = check.integer(
        (*path, "subscription_spread_days"),
        _opt(raw, "subscription_spread_days", DEFAULT_SPREAD_DAYS),
        minimum=0,
        maximum=MAX_DAYS,
    )
    decisions = _decisions(check, path, raw, tier, policy)
    if tier == "basic" and decisions is not None and decisions.monthly_cancel_probability:
        check.fail(
            (*path, "monthly_cancel_probability"),
            "must be 0 for a basic cohort (basic has no subscription to cancel),"
            f" got {show(decisions.monthly_cancel_probability)}",
        )
    after_change = _after_change(check, (*path, "after_change"), raw.get("after_change"), tier,
                                 policy)  # fmt: skip
    arrivals = _arrivals(check, (*path, "arrivals"), raw.get("arrivals"), tier, decisions)
    after_cancel = check.choice((*path, "after_cancel"), _opt(raw, "after_cancel", "stay"),
                                AFTER_CANCEL)  # fmt: skip
    sending = None
    if "sending" in raw:
        sending = _sending(check, (*path, "sending"), raw["sending"], policy, tier)
    if len(check.problems) > before:
        return None
    assert name is not None and tier is not None and members is not None and spread is not None
    assert decisions is not None and after_change is not None and sending is not None
    assert after_cancel is not None
    return Cohort(
        name, tier, members, spread, decisions.monthly_cancel_probability,
        decisions.monthly_change_probability, decisions.change_to, sending, after_change, arrivals,
        after_cancel,
    )  # fmt: skip


def _decisions(
    check: Checker,
    path: Path,
    raw: Mapping[str, Any],
    tier: str | None,
    policy: Policy | None,
    own: str = "the cohort's own tier",
) -> Decisions | None:
    """The monthly decision keys of ``raw`` (a cohort, or an ``after_change`` entry) on ``tier``."""
    before = len(check.problems)
    cancel = check.number(
        (*path, "monthly_cancel_probability"),
        _opt(raw, "monthly_cancel_probability", 0.0),
        minimum=0,
        maximum=1,
    )
    change = check.number(
        (*path, "monthly_change_probability"),
        _opt(raw, "monthly_change_probability", 0.0),
        minimum=0,
        maximum=1,
    )
    if cancel is not None and change is not None and cancel + change > 1:
        check.fail(
            (*path, "monthly_change_probability"),
            f"monthly_cancel_probability + monthly_change_probability must be <= 1,"
            f" got {show(cancel)} + {show(change)}",
        )
    change_to = _weights(
        check, (*path, "change_to"), _opt(raw, "change_to", {}), _tiers(policy), "tier"
    )
    if change_to is not None and tier is not None and tier in change_to:
        check.fail((*path, "change_to", tier), f"must not be {own}")
    if change_to is not None and change and not any(change_to.values()):
        check.fail(
            (*path, "change_to"),
            "must give some tier a weight > 0 when monthly_change_probability > 0",
        )
    if len(check.problems) > before:
        return None
    assert cancel is not None and change is not None and change_to is not None
    return Decisions(cancel, change, change_to)


def _after_change(
    check: Checker, path: Path, value: Any, tier: str | None, policy: Policy | None
) -> FrozenMap[Decisions] | None:
    """``after_change``: premium tier -> the decisions a member takes while it holds that tier."""
    if value is None:
        return FrozenMap()
    raw = check.mapping(path, value)
    if raw is None:
        return None
    tiers = _tiers(policy)
    out: dict[str, Decisions] = {}
    ok = True
    for key, item in raw.items():
        if tiers is not None and key not in tiers:
            check.fail((*path, key), f"unknown tier{_suggest(key, list(tiers), 'tier')}")
            ok = False
            continue
        if key == "basic" or key == tier:
            why = "basic takes no decisions" if key == "basic" else "the cohort's own keys say it"
            check.fail((*path, key), f"must be a tier other than basic and the cohort's ({why})")
            ok = False
            continue
        entry = check.mapping((*path, key), item)
        if entry is None:
            ok = False
            continue
        check.known_keys((*path, key), entry, _DECISION_KEYS)
        decisions = _decisions(check, (*path, key), entry, key, policy, "the tier it is on")
        if decisions is None:
            ok = False
        else:
            out[key] = decisions
    return FrozenMap(out) if ok else None


def _arrivals(
    check: Checker, path: Path, value: Any, tier: str | None, decisions: Decisions | None
) -> Arrivals | None:
    """``arrivals``: None (a closed cohort) or the rate and growth of new members."""
    if value is None:
        return None
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _ARRIVAL_KEYS)
    if not check.required(path, raw, ("monthly_rate",)):
        return None
    rate_value = raw["monthly_rate"]
    rate: float | None = None
    before = len(check.problems)
    if rate_value == REPLACE_CHURN:
        if decisions is not None and decisions.leave_probability() == 0:
            why = (
                "basic has no subscription to leave"
                if tier == "basic"
                else ("its members never cancel or change to basic")
            )
            check.fail(
                (*path, "monthly_rate"),
                f"{REPLACE_CHURN} has no departures to replace ({why}); give a number",
            )
    elif isinstance(rate_value, str):
        check.bad((*path, "monthly_rate"),
                  f"a number from 0 to {_num_text(MAX_ARRIVAL_RATE)} or {REPLACE_CHURN}",
                  rate_value)  # fmt: skip
    else:
        rate = check.number((*path, "monthly_rate"), rate_value, minimum=0,
                            maximum=MAX_ARRIVAL_RATE)  # fmt: skip
    growth = check.number(
        (*path, "growth_per_month"),
        _opt(raw, "growth_per_month", 0.0),
        minimum=MIN_GROWTH_PER_MONTH,
        maximum=MAX_GROWTH_PER_MONTH,
    )
    if len(check.problems) > before or growth is None:
        return None
    return Arrivals(rate, growth)


def _arrival_totals(check: Checker, population: Sequence[Cohort], seconds: int) -> None:
    """Refuse arrivals whose count over the run no table could hold (a typo guard).

    A bound, not the expectation: ``replace_churn`` replaces at most every
    member each month, and the rate grows by ``growth_per_month``.
    """
    months = seconds / (MEAN_MONTH_DAYS * DAY)
    for i, cohort in enumerate(population):
        a = cohort.arrivals
        if a is None:
            continue
        rate = 1.0 if a.monthly_rate is None else a.monthly_rate
        r = math.log1p(a.growth_per_month)
        span = months if abs(r) < 1e-12 else math.expm1(min(r * months, 700.0)) / r
        expected = cohort.members * rate * span
        if expected > MAX_MEMBERS_PER_COHORT:
            check.fail(
                ("population", i, "arrivals"),
                f"may bring up to {expected:,.0f} arrivals over the run, more than "
                f"{MAX_MEMBERS_PER_COHORT:,} (lower monthly_rate or growth_per_month)",
            )


def _num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _sending(
    check: Checker, path: Path, value: Any, policy: Policy | None, tier: str | None
) -> Sending | None:
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _SENDING_KEYS)
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
        _opt(raw, "weekday_weights", list(DEFAULT_WEEKDAY_WEIGHTS)),
    )
    body = _length(
        check,
        (*path, "body_chars"),
        _opt(raw, "body_chars", DEFAULT_BODY),
        policy.max_body_chars if policy is not None else None,
    )
    subject = _length(
        check,
        (*path, "subject_chars"),
        _opt(raw, "subject_chars", DEFAULT_SUBJECT),
        policy.max_subject_chars if policy is not None else None,
    )
    known = _categories(policy)
    # Default: every category of the policy, equally likely.
    default = dict.fromkeys(known, 1.0) if known is not None else {"?": 1.0}
    categories = _weights(
        check, (*path, "categories"), _opt(raw, "categories", default), known, "category"
    )
    if categories is not None and not any(categories.values()):
        check.fail((*path, "categories"), "must give some category a weight > 0")
    free = check.number((*path, "free_share"), _opt(raw, "free_share", 0.0), minimum=0, maximum=1)
    ooc = _out_of_credit(
        check, (*path, "out_of_credit"), _opt(raw, "out_of_credit", {}), policy, tier
    )
    if len(check.problems) > before:
        return None
    assert rate is not None and weekdays is not None and body is not None
    assert subject is not None and categories is not None and free is not None and ooc is not None
    return Sending(rate, shape, weekdays, body, subject, categories, free, ooc)


def _weekday_weights(check: Checker, path: Path, value: Any) -> tuple[float, ...] | None:
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
    raw = check.mapping(path, value)
    if raw is None:
        return None
    kind = check.choice((*path, "kind"), raw.get("kind"), _LENGTH_PARAMS)
    if kind is None:
        return None
    params = _LENGTH_PARAMS[kind]
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
        got["median"] = _positive(check, (*path, "median"), raw["median"], MAX_LENGTH_CHARS)
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
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _OOC_KEYS)
    before = len(check.problems)
    buy = check.number(
        (*path, "buy_probability"), _opt(raw, "buy_probability", 0.0), minimum=0, maximum=1
    )
    qty = check.integer(
        (*path, "buy_quantity"),
        _opt(raw, "buy_quantity", DEFAULT_BUY_QUANTITY),
        minimum=1,
        maximum=MAX_BUY_QUANTITY,
    )
    upgrade = check.number(
        (*path, "upgrade_probability"), _opt(raw, "upgrade_probability", 0.0), minimum=0, maximum=1
    )
    if buy is not None and upgrade is not None and buy + upgrade > 1:
        check.fail(
            (*path, "upgrade_probability"),
            "buy_probability + upgrade_probability must be <= 1,"
            f" got {show(buy)} + {show(upgrade)}",
        )
    target = raw.get("upgrade_to")
    if target is not None:
        target = _known(check, (*path, "upgrade_to"), target, _tiers(policy), "tier")
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


# -- recipients ---------------------------------------------------------------


def _recipients(
    check: Checker, value: Any, policy: Policy | None, base_dir: FilePath
) -> Recipients | None:
    path: Path = ("recipients",)
    raw = check.mapping(path, value)
    if raw is None:
        return None
    check.known_keys(path, raw, _RECIPIENT_KEYS)
    before = len(check.problems)
    p = check.number(
        (*path, "response_probability"),
        _opt(raw, "response_probability", DEFAULT_RESPONSE_PROBABILITY),
        minimum=0,
        maximum=1,
    )
    lengths = _weights(
        check,
        (*path, "length_multipliers"),
        _opt(raw, "length_multipliers", {}),
        LENGTH_BUCKETS,
        "length bucket",
    )
    cats = _weights(
        check,
        (*path, "category_multipliers"),
        _opt(raw, "category_multipliers", {}),
        _categories(policy),
        "category",
    )
    kinds = _weights(
        check,
        (*path, "response_kinds"),
        _opt(raw, "response_kinds", DEFAULT_RESPONSE_KINDS),
        RESPONSES,
        "response",
    )
    if kinds is not None and not any(kinds.values()):
        check.fail((*path, "response_kinds"), "must give some response a weight > 0")
    delay = _delay(check, (*path, "delay"), _opt(raw, "delay", DEFAULT_DELAY), base_dir)
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


def _delay(check: Checker, path: Path, value: Any, base_dir: FilePath) -> DelayDist | None:
    raw = check.mapping(path, value)
    if raw is None:
        return None
    kind = check.choice((*path, "kind"), raw.get("kind"), _DELAY_PARAMS)
    if kind is None:
        return None
    params = _DELAY_PARAMS[kind]
    check.known_keys(path, raw, ("kind", *params))
    before = len(check.problems)
    if kind == "empirical":
        if ("file" in raw) == ("delay_seconds" in raw):
            check.fail(path, "an empirical delay needs exactly one of file and delay_seconds")
            return None
        if "file" in raw:
            file = check.text((*path, "file"), raw["file"])
            if file is None:
                return None
            seconds = _read_delay_csv(check, (*path, "file"), file, base_dir)
            return DelayDist("empirical", seconds=seconds, file=file) if seconds else None
        listed = raw["delay_seconds"]
        if not isinstance(listed, list):
            check.bad((*path, "delay_seconds"), "a list of whole seconds >= 1", listed)
            return None
        if not listed:
            check.fail((*path, "delay_seconds"), "must not be empty")
            return None
        values = [
            check.integer((*path, "delay_seconds", i), v, minimum=1, maximum=MAX_DELAY_SECONDS)
            for i, v in enumerate(listed)
        ]
        if len(check.problems) > before:
            return None
        return DelayDist("empirical", seconds=tuple(v for v in values if v is not None))
    check.required(path, raw, params)
    got: dict[str, float | None] = {}
    for name in params:
        if name not in raw:
            continue
        if name == "sigma":
            got[name] = check.number((*path, name), raw[name], minimum=0, maximum=10)
        else:
            got[name] = _positive(check, (*path, name), raw[name], MAX_DAYS)
    if len(check.problems) > before:
        return None
    return DelayDist(
        kind,
        mean_days=got.get("mean_days"),
        median_days=got.get("median_days"),
        sigma=got.get("sigma"),
        shape=got.get("shape"),
    )


def _read_delay_csv(
    check: Checker, path: Path, file: str, base_dir: FilePath
) -> tuple[int, ...] | None:
    """Delays in whole seconds from a one-column CSV; problems name the CSV and line."""
    full = FilePath(file)
    if not full.is_absolute():
        full = base_dir / full
    shown = str(full)
    try:
        data = full.read_bytes()
    except FileNotFoundError:
        check.fail(path, f"no such file {show(shown)}")
        return None
    except IsADirectoryError:
        check.fail(path, f"is a directory, not a file: {show(shown)}")
        return None
    except OSError as exc:
        check.fail(path, f"cannot read {show(shown)}: {exc.strerror}")
        return None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        check.problems.append(not_utf8_message(data, exc.start, shown, csv=True))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        check.problems.append(f"{shown}:{reader.line_num}: bad CSV: {exc}")
        return None
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        check.problems.append(f"{shown}: file is empty")
        return None
    line, header = rows[0]
    names = [cell.strip() for cell in header]
    if len(names) != 1 or names[0] not in _CSV_COLUMNS:
        check.problems.append(
            f"{shown}:{line}: the header must be one column, delay_seconds or delay_days,"
            f" got {show(','.join(header))}"
        )
        return None
    column = names[0]
    factor = _CSV_COLUMNS[column]
    out: list[int] = []
    bad: list[str] = []
    for n, row in rows[1:]:
        cell = row[0].strip() if len(row) == 1 else None
        seconds = _delay_cell(cell, factor) if cell is not None else None
        if seconds is not None:
            out.append(seconds)
            continue
        if cell is None:
            bad.append(f"{shown}:{n}: expected 1 column, got {len(row)}")
        else:
            unit = "whole number of seconds" if factor == 1 else "number of days"
            bad.append(
                f"{shown}:{n}: {column}: must be a {unit} > 0 and at least 1 second"
                f" (at most {MAX_DAYS} days), got {show(cell)}"
            )
    if bad:
        check.problems.extend(bad[:MAX_CSV_PROBLEMS])
        if len(bad) > MAX_CSV_PROBLEMS:
            check.problems.append(f"{shown}: ... and {len(bad) - MAX_CSV_PROBLEMS} more bad rows")
        return None
    if not out:
        check.problems.append(f"{shown}: has a header but no delays")
        return None
    return tuple(out)


def _delay_cell(cell: str, factor: int) -> int | None:
    """Whole seconds from a CSV cell, exactly (Decimal), or None if unusable."""
    if not re.fullmatch(r"\d+(\.\d+)?", cell):
        return None
    try:
        exact = Decimal(cell) * factor
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None
    if factor == 1 and exact != exact.to_integral_value():
        return None
    seconds = int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))
    if seconds < 1 or seconds > MAX_DELAY_SECONDS:
        return None
    return seconds


# -- shared helpers -----------------------------------------------------------


def _opt(raw: Mapping[str, Any], key: str, default: Any) -> Any:
    """``raw[key]``, or ``default`` when the key is missing or null (null means the default)."""
    value = raw.get(key)
    return default if value is None else value


def _positive(check: Checker, path: Path, value: Any, maximum: float) -> float | None:
    """A finite number > 0 and <= ``maximum`` (the bound is a typo guard, named apart)."""
    number = check.number(path, value, minimum=0, exclusive_minimum=True)
    if number is not None and number > maximum:
        check.fail(path, f"must be at most {maximum}, got {show(value)}")
        return None
    return number


def _tiers(policy: Policy | None) -> tuple[str, ...] | None:
    """The policy's tier names, or None (anything goes) when the policy is broken."""
    return tuple(policy.tiers) if policy is not None else None


def _categories(policy: Policy | None) -> tuple[str, ...] | None:
    return policy.categories if policy is not None else None


def _known(
    check: Checker, path: Path, value: Any, options: Sequence[str] | None, what: str
) -> str | None:
    """``value`` if it names one of ``options``, else a problem with a suggestion.

    ``options`` None (the policy is broken and already reported) accepts any name.
    """
    if options is None:
        if isinstance(value, str) and value:
            return value
        check.bad(path, f"a {what} name", value)
        return None
    names = list(options)
    if isinstance(value, str) and value in names:
        return value
    check.fail(path, f"unknown {what} {show(value)}{_suggest(value, names, what)}")
    return None


def _suggest(value: Any, names: list[str], what: str) -> str:
    if isinstance(value, str):
        hint = difflib.get_close_matches(value, names, n=1)
        if hint:
            return f" (did you mean {hint[0]!r}?)"
    plural = {"category": "categories"}.get(what, what + "s")
    return f" (known {plural}: {', '.join(names)})"


def _weights(
    check: Checker,
    path: Path,
    value: Any,
    options: Sequence[str] | None,
    what: str,
) -> FrozenMap[float] | None:
    """A mapping from names in ``options`` (None: any) to numbers >= 0, in the order written."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    names = list(options) if options is not None else None
    out: dict[str, float] = {}
    ok = True
    for key, weight in raw.items():
        if names is not None and key not in names:
            check.fail((*path, key), f"unknown {what}{_suggest(key, names, what)}")
            ok = False
            continue
        number = check.number((*path, key), weight, minimum=0)
        if number is None:
            ok = False
            continue
        out[key] = number
    return FrozenMap(out) if ok else None


def _plain(value: Any) -> Any:
    """A deep copy as plain YAML data.

    numpy numbers become int or float, tuples lists, Decimals text, and dates
    (from a loader that parses timestamps) the ISO text this module reads.
    """
    kind = type(value)  # exact types first: ABC checks dominated sweeps' validation
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    if kind is list:
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        # A YAML timestamp read by a loader that parses them: without a zone it is UTC.
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# Values whose default is replaced whole when given: setting one key inside
# an unwritten one starts from the default rather than from nothing.
_TAKEN_WHOLE = frozenset(("categories", "response_kinds", "body_chars", "subject_chars", "delay"))


def _set_path(
    check: Checker, raw: Any, path: Path, value: Any, resolved: Mapping[str, Any]
) -> None:
    """Set ``raw[path] = value``, creating the mappings on the way.

    A list, or a value that is replaced whole (:data:`_TAKEN_WHOLE`), that the
    document does not write is first copied in from the resolved scenario, so
    setting one of its items keeps the others' defaults.
    """
    node = raw
    for i, step in enumerate(path):
        last = i == len(path) - 1
        here = path[: i + 1]
        if isinstance(step, int):
            if not isinstance(node, list):
                check.fail(here, f"{format_path(path[:i])} is not a list")
                return
            if step >= len(node):
                check.fail(here, f"no such entry ({format_path(path[:i])} has {len(node)})")
                return
            if last:
                node[step] = value
                return
            node = node[step]
            continue
        if not isinstance(node, dict):
            check.fail(here, f"{format_path(path[:i])} is not a mapping")
            return
        if last:
            node[step] = value
            return
        if step not in node or node[step] is None:
            default = _lookup(resolved, here)
            if isinstance(path[i + 1], int):
                if not isinstance(default, list):
                    check.fail(here, "no such list")
                    return
                node[step] = copy.deepcopy(default)
            elif path[0] != "policy" and step in _TAKEN_WHOLE and isinstance(default, Mapping):
                node[step] = copy.deepcopy(dict(default))
            else:
                # Merged sections (and the policy block, which merges over its
                # preset) start empty, so their other defaults stay live.
                node[step] = {}
        node = node[step]


def _lookup(doc: Any, path: Path) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return None
        elif not isinstance(doc, Mapping) or step not in doc:
            return None
        doc = doc[step]
    return doc
