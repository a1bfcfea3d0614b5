"""creditsim fit: account histories in, a calibrated scenario and its evidence out (issue #17).

Job: estimate every behavioural parameter of a scenario from histories in
the RULES.md section 8 format (the format ``creditsim replay`` audits and
``creditsim run`` writes as ``history/part-*.csv``), each by a stated,
standard method with a 95 % interval, in the scenario's own parametrisation;
assemble a complete, valid scenario; and, when asked, simulate it and compare
its headline metrics with the history's.

Modules, in the order a fit runs them:

* :mod:`~simulator.calibration.reader`: the CSV streamed in blocks into typed columns;
  bad input is reported by the project's own history parser, as ``replay`` does;
* :mod:`~simulator.calibration.replayed`: one pass of the credit engine over the rows
  (``no_credit`` rejections and what followed, retries, waiting, leaving, ledger counts);
* :mod:`~simulator.calibration.cohorts`: cohorts, exposure, subscription spread, arrivals;
* :mod:`~simulator.calibration.sending`: rates (negative binomial), weekdays, lengths,
  categories, free share, out-of-credit behaviour;
* :mod:`~simulator.calibration.decisions`: monthly cancel and change probabilities, targets;
* :mod:`~simulator.calibration.recipients`: response probability and multipliers, kinds,
  delays (mixture cure model, Kaplan-Meier check);
* :mod:`~simulator.calibration.stats`: the estimate row, intervals, MLE;
* :mod:`~simulator.calibration.result`: :func:`fit` and :class:`Fit`;
* :mod:`~simulator.calibration.validate`: simulation and comparison;
* :mod:`~simulator.calibration.page`: figures, ``fit.html`` and the output folder.

CLI contract (``creditsim fit``, to be wired in :mod:`simulator.cli` as a thin call)::

    creditsim fit HISTORY.csv [HISTORY2.csv ...] [--until INSTANT] [--scenario BASE.yaml]
        [--cohorts tier|tier-activity] --out DIR [--validate N] [--seed N] [--workers N]
        [--no-progress]

is ``fit(paths, until=INSTANT, base=BASE.yaml, cohorts=..., validate=N, seed=N,
workers=N, progress=None if --no-progress else a printer).save(DIR)``. It writes
``DIR/scenario.yaml`` (loads and runs as is), ``DIR/fit.csv`` (one row per
parameter: group, cohort, parameter key path, estimate, se, low, high, n,
unit, method, source ``fit``/``base``/``fixed``, note), ``DIR/arrivals.csv``
(arrivals per cohort and month), ``DIR/plots/*.png``,
``DIR/fit.html`` (self-contained) and, with ``--validate``, ``DIR/validation.csv``
and ``DIR/validation_runs.csv``. Errors are the project's
(:mod:`simulator.errors`), each with ``exit_code`` 2 and one line per problem
(``CreditsimError.lines()``), raised before anything is written:
:class:`~simulator.errors.HistoryError` for an unreadable or invalid history
(``FILE:LINE: ...``, exactly as ``creditsim replay``), :class:`FitTooSmall` (an
:class:`~simulator.errors.InputError`) naming each parameter the history is
too small to estimate and why, when no ``--scenario`` gives a fallback,
:class:`~simulator.errors.ScenarioError` for a bad base scenario and
:class:`~simulator.errors.UsageError` for a bad ``--until``, ``--cohorts``,
``--validate``, ``--workers`` or ``--out`` (an existing file), or a missing
``lifelines`` (``pip install 'creditsim[fit]'``). Success is exit 0.

Choices where the issue is silent:

* The fitted scenario covers the observed window: ``start`` is the first
  instant in the files, ``end`` is ``until``, ``warmup_days`` 0, so its
  members start as the history's did (a history that begins mid-life, with
  members already holding credits, is not reproduced).
* A member's cohort is its tier at its first row: a subscribe names it; a
  member whose first row is anything else is ``basic``. Basic members who
  never act are not in any history: their number is estimated from the
  zero-truncated rate fit. ``tier-activity`` splits each tier at the median
  of its members' planned sends a month (``activity_split`` in fit.csv).
* Members present at the start and arrivals are told apart by the change
  point of first subscriptions; arrivals are a constant ``monthly_rate``
  (``growth_per_month`` 0); ``arrivals.csv`` gives the counts by month.
* ``after_cancel`` is ``leave`` when at most 1 % of the members who left
  premium ever acted again, else ``stay``.
* Lengths: the scenario has no empirical length kind, so lognormal (censored
  at the policy's limit) or uniform, by AIC.
* Delays: the family with the lowest AIC; ``empirical`` (inlined
  ``delay_seconds``) only when no family stays within 0.02 of Kaplan-Meier
  beyond its 99 % band.
* Too small to estimate: a rate needs 5 members and a send; weekdays,
  lengths, categories, free share and out-of-credit behaviour need 20
  planned sends; recipients need 2 responses and 20 accepted sends; an
  ``after_change`` entry needs 12 member-months on that tier.
* Validation compares counts computed by this package's own replay of both
  histories, observed and simulated (:data:`METRICS`), so the two sides
  share one definition; the interval is a 95 % prediction interval for one
  more simulation.

Boundary: everything here reads histories and scenarios and writes only the
output folder; the engine, the model and the scenario format are used as
they are, through their public names.
"""

from simulator.calibration.recipients import normalised_recipients
from simulator.calibration.result import COHORT_MODES, Fit, FitTooSmall, fit
from simulator.calibration.validate import METRICS, headline_metrics

__all__ = [
    "COHORT_MODES",
    "METRICS",
    "Fit",
    "FitTooSmall",
    "fit",
    "headline_metrics",
    "normalised_recipients",
]
