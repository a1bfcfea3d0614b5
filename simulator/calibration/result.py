"""``fit``: histories in, a calibrated scenario and its evidence out (the :class:`Fit`).

Job: run the stages in order (read and check the histories, replay them
through the engine, group cohorts, estimate each block, fall back to the
base scenario where asked, assemble and validate the scenario, simulate it
for validation when asked) and hold the results: ``.scenario`` (a valid
:class:`~simulator.scenario.Scenario`), ``.parameters`` (the rows of
``fit.csv``), ``.validation`` and ``.save(out)``.

Boundary: orchestration and assembly. The estimators live in their own
modules; :mod:`simulator.calibration.validate` simulates; :mod:`simulator.calibration.page`
draws and writes the page.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.calibration.cohorts import MONTH, CohortView, build_cohorts
from simulator.calibration.decisions import fit_decisions
from simulator.calibration.reader import Observed, read_histories
from simulator.calibration.recipients import check_delay, fit_recipients
from simulator.calibration.replayed import Replayed, replay_observed
from simulator.calibration.sending import fit_sending
from simulator.calibration.stats import Estimate
from simulator.engine import Policy, resolve_policy
from simulator.errors import InputError, UsageError
from simulator.scenario import Scenario, load_scenario, scenario_from_dict
from simulator.timeutil import format_instant, parse_date_or_instant
from simulator.yamlio import dump_yaml

__all__ = ["COHORT_MODES", "Fit", "FitTooSmall", "fit"]

COHORT_MODES = ("tier", "tier-activity")
PARAMETER_COLUMNS = tuple(f.name for f in dataclasses.fields(Estimate))
_SENDING_KEYS = (
    "inmails_per_month",
    "weekday_weights",
    "body_chars",
    "subject_chars",
    "categories",
    "free_share",
    "out_of_credit",
)


class FitTooSmall(InputError):
    """The history is too small to estimate some parameter, and no base scenario was given."""


class Fit:
    """The result of :func:`fit`: a scenario, its parameters and the evidence."""

    def __init__(
        self,
        scenario: Scenario,
        estimates: list[Estimate],
        observed: Observed,
        replayed: Replayed,
        recipients: dict[str, Any],
        cohorts: list[CohortView],
        sources: Sequence[str],
    ) -> None:
        self.scenario = scenario
        self._estimates = estimates
        self.observed = observed
        self.replayed = replayed
        self.recipients_fit = recipients
        self.cohorts = cohorts
        self.sources = tuple(sources)
        self.validation: pd.DataFrame | None = None
        self.validation_runs: pd.DataFrame | None = None

    @property
    def parameters(self) -> pd.DataFrame:
        """Every estimated parameter: the rows of ``fit.csv``."""
        return pd.DataFrame(
            [dataclasses.astuple(e) for e in self._estimates], columns=list(PARAMETER_COLUMNS)
        )

    @property
    def arrivals(self) -> pd.DataFrame:
        """First subscriptions after each cohort's initial spread, by average month (arrivals.csv).

        ``month`` counts average months (30.44 days) from the observation start;
        ``start`` is that month's first instant. Cohorts seen only through their
        actions (``basic``) have no arrivals to see.
        """
        rows = []
        for view in self.cohorts:
            for k, n in enumerate(view.arrivals_by_month.tolist()):
                start = self.observed.start + int(k * MONTH)
                rows.append((view.name, k, format_instant(start), n))
        return pd.DataFrame(rows, columns=["cohort", "month", "start", "arrivals"])

    def plot(self, name: str) -> Any:
        """A matplotlib figure by name (:data:`simulator.calibration.page.PLOTS`)."""
        # matplotlib is loaded only when a figure is asked for.
        from simulator import plots
        from simulator.calibration import page

        plots.enable_inline_figures()  # so that Jupyter shows the returned Figure as a PNG
        return page.figure(self, name)

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write scenario.yaml, fit.csv, validation.csv (if any), plots and fit.html."""
        from simulator.calibration import (
            page,  # matplotlib is loaded only when the plots are written
        )

        return page.save(self, Path(out))

    def __repr__(self) -> str:
        return (
            f"Fit({self.scenario.name!r}: {len(self.cohorts)} cohorts, "
            f"{len(self._estimates)} parameters, {len(self.observed):,} rows)"
        )


def _from_base(group: str, cohort: str, parameter: str, why: str) -> Estimate:
    """The fit.csv row of a parameter taken from the base scenario: too small to estimate."""
    nan = math.nan
    return Estimate(group, cohort, parameter, nan, nan, nan, nan, 0, "",
                    "not estimated: the base scenario's value", source="base",
                    note=f"too small to estimate: {why}")  # fmt: skip


def _base(base: Scenario | str | os.PathLike[str] | None) -> Scenario | None:
    if base is None or isinstance(base, Scenario):
        return base
    return load_scenario(os.fspath(base))


def _until(until: Any) -> int | None:
    if until is None or isinstance(until, int):
        return until
    try:
        return parse_date_or_instant(str(until))
    except ValueError as exc:
        raise UsageError(f"until: {exc}") from None


def _base_cohort(base: Scenario | None, view: CohortView) -> dict[str, Any] | None:
    if base is None:
        return None
    for c in base.population:
        if c.name == view.name:
            return c.to_dict()
    for c in base.population:
        if c.tier == view.tier:
            return c.to_dict()
    return None


def _cohort_doc(
    view: CohortView,
    obs: Observed,
    rep: Replayed,
    policy: Policy,
    base: Scenario | None,
    rows: list[Estimate],
    problems: list[str],
) -> dict[str, Any] | None:
    sending, s_rows, extra = fit_sending(view, obs, rep, policy)
    decisions, d_rows = fit_decisions(view, obs, rep, policy)
    rows.extend(s_rows)
    rows.extend(d_rows)
    fallback = _base_cohort(base, view)
    missing = [k for k in (*_SENDING_KEYS, "rate_shape") if k in extra["problems"]]
    if missing:
        if fallback is None:
            by_reason: dict[str, list[str]] = {}
            for k in missing:
                by_reason.setdefault(extra["problems"][k], []).append(k)
            for why, keys in by_reason.items():
                problems.append(
                    f"population[{view.name}].sending: cannot estimate {', '.join(keys)}: {why}; "
                    "give a base scenario (base=...) to use its values"
                )
            return None
        for k in missing:
            sending[k] = fallback["sending"][k]
            rows.append(_from_base("sending", view.name, f"population[{view.name}].sending.{k}",
                                   extra["problems"][k]))  # fmt: skip
    ooc_key = f"population[{view.name}].sending.out_of_credit"
    if fallback is not None and any(r.parameter == ooc_key for r in s_rows):
        # No one ran out of credit: the base's behaviour stands in, and fit.csv says so.
        sending["out_of_credit"] = fallback["sending"]["out_of_credit"]
        rows[:] = [dataclasses.replace(r, source="base") if r.parameter == ooc_key else r
                   for r in rows]  # fmt: skip
    members = extra.get("members", view.initial)
    doc: dict[str, Any] = {"name": view.name, "tier": view.tier, "members": max(1, round(members))}
    if view.tier != "basic":
        doc["subscription_spread_days"] = view.spread_days
        doc["monthly_cancel_probability"] = decisions.get("monthly_cancel_probability", 0.0)
        doc["monthly_change_probability"] = decisions.get("monthly_change_probability", 0.0)
        doc["change_to"] = decisions.get("change_to", {})
        if decisions.get("after_change"):
            doc["after_change"] = decisions["after_change"]
        doc["after_cancel"] = view.after_cancel
        if view.arrival_rate is not None and view.arrivals > 0:
            doc["arrivals"] = {"monthly_rate": view.arrival_rate}
    elif decisions.get("after_change"):
        doc["after_change"] = decisions["after_change"]
    doc["sending"] = sending
    return doc


def fit(
    histories: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    until: Any = None,
    base: Scenario | str | os.PathLike[str] | None = None,
    cohorts: str = "tier",
    validate: int = 0,
    seed: int | None = None,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Fit:
    """Fit a scenario to account histories (RULES.md section 8); see :mod:`simulator.calibration`.

    ``histories``: one path or several (a run's ``history/part-*.csv``);
    ``until``: end of observation (ISO instant, date or Unix seconds; default
    the last instant in the files); ``base``: a scenario (or its path) giving
    the policy, pricing and the values of parameters the history is too small
    to estimate; ``cohorts``: ``tier`` or ``tier-activity``; ``validate``:
    simulate the fitted scenario that many times and compare; ``seed`` and
    ``workers`` for those simulations; ``progress`` is called with a line per stage.
    """
    say = progress or (lambda _text: None)
    paths = [histories] if isinstance(histories, str | os.PathLike) else list(histories)
    if cohorts not in COHORT_MODES:
        raise UsageError(f"cohorts: expected one of {', '.join(COHORT_MODES)}, got {cohorts!r}")
    if isinstance(validate, bool) or not isinstance(validate, int) or validate < 0:
        raise UsageError(f"validate: must be a whole number >= 0, got {validate!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers: must be a whole number >= 1, got {workers!r}")
    try:
        import lifelines  # noqa: F401  (the optional extra: checked before any work is done)
    except ImportError:
        raise UsageError("fit needs lifelines: pip install 'creditsim[fit]'") from None
    sc_base = _base(base)
    policy = sc_base.policy if sc_base is not None else resolve_policy(None)
    say("reading the histories")
    obs = read_histories(paths, policy, _until(until))
    say(f"replaying {len(obs):,} rows through the engine")
    rep = replay_observed(obs, policy)
    say("estimating")
    views, rows = build_cohorts(obs, rep, policy, cohorts)
    problems: list[str] = []
    population = []
    for view in views:
        doc = _cohort_doc(view, obs, rep, policy, sc_base, rows, problems)
        if doc is not None:
            population.append(doc)
    rec = fit_recipients(obs, rep, policy)
    if rec["block"] is not None:
        rec = check_delay(rec)
    rows.extend(rec["rows"])
    recipients = rec["block"]
    if recipients is None:
        if sc_base is None:
            problems.append(
                f"recipients: cannot estimate: {rec['problem']}; "
                "give a base scenario (base=...) to use its values"
            )
        else:
            recipients = sc_base.recipients.to_dict()
            rows.append(_from_base("recipients", "", "recipients", rec["problem"]))
    if problems:
        # Each line names the histories it is about, as every bad-input line names its file.
        where = os.fspath(paths[0]) + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else "")
        raise FitTooSmall(*(f"{where}: {p}" for p in problems))
    scenario_doc: dict[str, Any] = (
        sc_base.to_dict()
        if sc_base is not None
        else {"policy": policy.to_dict(), "description": ""}
    )
    names = ", ".join(Path(p).name for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    scenario_doc.update(
        {
            "name": f"fit-{sc_base.name}" if sc_base is not None else "fit",
            "description": f"Fitted by creditsim fit to {names}, observed "
            f"{format_instant(obs.start)} to {format_instant(obs.until)}.",
            "seed": seed if seed is not None else (sc_base.seed if sc_base is not None else 1),
            "start": format_instant(obs.start),
            "end": format_instant(obs.until),
            "warmup_days": 0,
            "population": population,
            "recipients": recipients,
        }
    )
    scenario_doc.pop("duration_days", None)
    scenario = scenario_from_dict(scenario_doc, source="<fitted scenario>")
    result = Fit(scenario, rows, obs, rep, rec, views, [os.fspath(p) for p in paths])
    if validate:
        from simulator.calibration.validate import validate_fit  # simulates: loaded only when asked

        say(f"validating: {validate} simulations")
        validate_fit(result, validate, seed=seed, workers=workers)
    return result


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as ``scenario.yaml`` text, with a header saying where it came from."""
    head = "# Written by creditsim fit: each number is an estimate (fit.csv) or the base's.\n"
    return head + dump_yaml(scenario.to_dict())
