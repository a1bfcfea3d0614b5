"""The whole scenario: the :class:`Scenario` value, and building it from a document.

:func:`build_scenario` checks a parsed YAML document once and reports *every*
problem as one line naming the file, the key path and the bad value::

    scenarios/x.yaml: population[2].sending.inmails_per_month: must be a number >= 0, got -3

It checks the top level itself and hands each block to its parser
(:mod:`~simulator.scenario.window`, :mod:`~simulator.engine.policy`,
:mod:`~simulator.scenario.pricing`, :mod:`~simulator.scenario.cohorts`,
:mod:`~simulator.scenario.recipients`). A :class:`Scenario` keeps the document
as written, so :meth:`Scenario.with_overrides` can place overrides on it
(:mod:`simulator.scenario.keypaths`) and build again: unwritten defaults keep
following the policy. Reading files is :mod:`simulator.scenario.load`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from simulator.engine.policy import Policy, resolve_policy
from simulator.engine.schema import MISSING, Checker, Path
from simulator.errors import InputError, PolicyError, ScenarioError
from simulator.scenario.checks import name_text, opt
from simulator.scenario.cohorts import arrival_totals, parse_population
from simulator.scenario.defaults import COMMAND_BLOCKS
from simulator.scenario.keypaths import place_overrides, plain
from simulator.scenario.pricing import parse_pricing
from simulator.scenario.recipients import parse_recipients
from simulator.scenario.values import Cohort, Decisions, Pricing, Recipients
from simulator.scenario.window import run_window
from simulator.timeutil import DAY, format_instant

__all__ = ["Scenario", "build_scenario"]

_KEYS = (
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
        check = Checker(where)
        raw = place_overrides(check, self._document, overrides, self.to_dict)
        base_dir = FilePath(self._base_dir)
        if check.problems:
            # Report every problem at once: the overrides that could not be
            # placed, then what validating the ones that could says.
            try:
                build_scenario(raw, where, base_dir, self.name, self.source)
            except InputError as exc:
                raise ScenarioError(*check.problems, *exc.problems) from None
            raise ScenarioError(*check.problems)
        return build_scenario(raw, where, base_dir, self.name, self.source)

    def _document(self) -> Any:
        """A copy of the document as written (as resolved, for a scenario built without one)."""
        return plain(self._raw) if self._raw is not None else self.to_dict()


def build_scenario(
    raw: Any, source: str, base_dir: FilePath, default_name: str, scenario_source: str
) -> Scenario:
    """Validate the document ``raw`` whole into a :class:`Scenario`, or raise every problem.

    ``source`` names the document in messages, ``base_dir`` is the folder relative
    files are read from, ``default_name`` names a scenario that gives no ``name``,
    and ``scenario_source`` is the new scenario's :attr:`~Scenario.source`. Raises
    :class:`PolicyError` when every problem is in the ``policy`` block, else
    :class:`ScenarioError`.
    """
    raw = plain(raw)
    check = Checker(source)
    doc = check.mapping((), raw)
    if doc is None:
        raise ScenarioError(*check.problems)
    for block in COMMAND_BLOCKS:
        if block in doc:
            # One rule for every command: a sweep (sensitivity) block is read only by
            # `creditsim sweep` (`sensitivity`), which takes it out first; every other
            # command and the API refuse it rather than run a scenario it may change.
            check.fail((block,), f"a {block} block is for `creditsim {block}` only; remove "
                       "it to run or compare this scenario")  # fmt: skip
            doc = {k: v for k, v in doc.items() if k != block}
    check.known_keys((), doc, _KEYS)

    name = _scenario_name(check, opt(doc, "name", default_name or "scenario"))
    description = opt(doc, "description", "")
    if not isinstance(description, str):
        check.bad(("description",), "text", description)
    seed = check.integer(("seed",), doc["seed"], minimum=0) if "seed" in doc else None
    if "seed" not in doc:
        check.fail(("seed",), "is required")
    start, end, warmup, auto_warmup = run_window(check, doc)

    policy: Policy | None = None
    policy_problems: list[str] = []
    try:
        policy = resolve_policy(doc.get("policy"), source)
    except PolicyError as exc:
        policy_problems = list(exc.problems)
        check.problems.extend(policy_problems)

    pricing = parse_pricing(check, opt(doc, "pricing", {}), policy)
    population = parse_population(check, opt(doc, "population", MISSING), policy)
    recipients = parse_recipients(check, opt(doc, "recipients", {}), policy, base_dir)
    if population is not None and start is not None and end is not None and warmup is not None:
        arrival_totals(check, population, end + 1 - (start - warmup * DAY))

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
    """A scenario's ``name``: a :func:`name_text` that is also safe as a folder name (it
    titles reports and may name folders a user's script makes): no path separator,
    not ``.`` or ``..``."""
    name = name_text(check, ("name",), value)
    if name is not None and ("/" in name or "\\" in name or name.strip() in (".", "..")):
        check.bad(("name",), "a name without '/' or '\\', and not '.' or '..'", name)
        return None
    return name
