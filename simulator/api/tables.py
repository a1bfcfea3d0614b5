"""A run's tables and reports as DataFrames, loaded or computed on first use.

Job: :class:`Tables` (the ledger, InMails, members, billing and history of
one run, instants as ``datetime64[s, UTC]``) and :class:`Reports` (every
report of :mod:`simulator.reports` by name, computed once and kept), with the
names of a run's reports and plots (:data:`REPORTS`, :data:`PLOTS`).

Boundary: no report of its own; where the frames come from (memory or a run
directory) is the caller's, given as loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pandas as pd

from simulator import reports as _reports
from simulator.api.notebook import _frame_repr
from simulator.reports import PLOT_NAMES, REPORT_NAMES, per_tier
from simulator.reports.sums import table_reports

__all__ = ["PLOTS", "REPORTS", "Reports", "Tables"]

#: Names of the reports of a run (the registry's order, :data:`simulator.reports.REPORT_NAMES`):
#: those of ``RUN_DIR/reports/``, and ``per_tier``, which only the API offers.
REPORTS: tuple[str, ...] = REPORT_NAMES

#: Names of the plots of a run, as in ``RUN_DIR/plots/`` (:data:`simulator.reports.PLOT_NAMES`).
PLOTS: tuple[str, ...] = PLOT_NAMES

_TABLES = ("ledger", "inmails", "members", "billing")
_DAY = 86_400


def _seconds_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Every tz-aware datetime column as ``datetime64[s, UTC]`` (Parquet stores ms)."""
    out = frame
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype) != "datetime64[s, UTC]":
            if out is frame:
                out = frame.copy()
            out[name] = frame[name].astype("datetime64[s, UTC]")
    return out


class Tables:
    """The tables of one run as pandas DataFrames.

    ``ledger`` (every credit movement and rejection, RULES.md section 5 plus
    ``tier``, ``lot_source``, ``lot_issued_at``), ``inmails`` (one row per
    attempted InMail), ``members``, ``billing`` (subscription charges) and
    ``history`` (every member action in the replay format, all text).
    Instants are ``datetime64[s, UTC]``. Treat the frames as read-only.

    >>> r = run(scaled(load_scenario("scenarios/baseline.yaml"), 0.02, duration_days=30),
    ...         progress=False)
    >>> r.tables.ledger.columns[:4].tolist()
    ['time', 'member', 'tier', 'kind']
    """

    def __init__(self, load: Mapping[str, Callable[[], pd.DataFrame]]) -> None:
        self._load = dict(load)
        self._cache: dict[str, pd.DataFrame] = {}

    def _get(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            frame = self._load[name]()
            self._cache[name] = frame if name == "history" else _seconds_utc(frame)
        return self._cache[name]

    @property
    def ledger(self) -> pd.DataFrame:
        """Every credit movement and every rejection, in time order."""
        return self._get("ledger")

    @property
    def inmails(self) -> pd.DataFrame:
        """One row per attempted InMail (sender, times, category, lengths, response, refund)."""
        return self._get("inmails")

    @property
    def members(self) -> pd.DataFrame:
        """One row per member: cohort, initial and final tier, subscription, send rate."""
        return self._get("members")

    @property
    def billing(self) -> pd.DataFrame:
        """Subscription charges: member, tier, time, amount_cents."""
        return self._get("billing")

    @property
    def history(self) -> pd.DataFrame:
        """Every member action as text rows of the replay format (RULES.md section 8)."""
        return self._get("history")

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in (*_TABLES, "history"):
            raise KeyError(name)
        return self._get(name)

    def __repr__(self) -> str:
        return _frame_repr("Tables", (*_TABLES, "history"))


class Reports(Mapping[str, pd.DataFrame]):
    """Every report of a run as a DataFrame, computed on first use and kept.

    A mapping (``run.reports["expiry_waste"]``, ``list(run.reports)``) whose
    entries are also attributes (``run.reports.refund_rates``). The names
    and columns are those of :mod:`simulator.reports` (see ``REPORTS``),
    plus ``per_tier`` (:meth:`Run.per_tier`).

    >>> r = run(scaled(load_scenario("scenarios/baseline.yaml"), 0.02, duration_days=30),
    ...         progress=False)
    >>> r.reports.refund_totals.columns[:3].tolist()
    ['tier', 'inmails_paid', 'responses_within_window']
    """

    def __init__(self, tables: _reports.RunTables) -> None:
        self._tables = tables
        self._finished = table_reports(tables)
        self._cache: dict[str, pd.DataFrame] = {}

    def _compute(self, name: str) -> pd.DataFrame:
        if name == "per_tier":  # from the tables at once, not from sums (the registry)
            return per_tier(self._tables)
        return self._finished[name]

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in REPORTS:
            raise KeyError(f"no report {name!r}; the reports are: {', '.join(REPORTS)}")
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in REPORTS:
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(REPORTS)

    def __len__(self) -> int:
        return len(REPORTS)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *REPORTS})

    def __repr__(self) -> str:
        return _frame_repr("Reports", REPORTS)
