"""Reports: pure functions from a run's tables to tidy pandas DataFrames.

Job: turn the tables of one run (ledger, InMails, members, billing and the run's
metadata; DESIGN.md "Tables are the contract") into the figures analysts ask
for: expiry waste, credit vintages, refund rates, utilisation, balances,
purchases and revenue, rejections, and confidence intervals over replicated
runs. Each report is a pure function of a :class:`RunTables` (or of
summaries, for replications): it reads no file, draws no random number,
mutates no input, and is tested on tables written by hand.

Boundary: the simulator writes the tables; this module only reads them.
Only :func:`load_run_tables` and the ``write_*`` functions touch the file
system; drawing belongs to :mod:`simulator.plots`, and the HTML pages to
:mod:`simulator.report_html`.

Conventions shared by every report:

- Reports cover the measured window, ``measure_start <= time <= end`` (both
  from ``run.json``); warm-up rows are excluded. Balances carried over from the
  warm-up are still the starting state of the balance report, and
  :func:`credit_vintages` follows every lot of the run, warm-up included,
  flagging the lots issued before ``measure_start``.
- The tier of a ledger entry is the member's tier at that instant (the
  ledger's ``tier`` column). Refund figures are keyed by the InMail's tier,
  category and body-length bucket and by the calendar month (UTC,
  ``YYYY-MM``) in which it was sent.
- Counts and money are exact integers (money in cents); only rates, means
  and percentiles are floats. A rate with a zero denominator is NaN.
- Percentiles use the inverted empirical CDF: the p-th percentile is the
  smallest value v such that at least p % of the mass is <= v (numpy's
  ``method="inverted_cdf"``); weighted by credits where the report says so.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.columns import NAT, Codes, ParquetTable, Source, column_names
from simulator.errors import CreditsimError, InputError
from simulator.metrics import window_metrics
from simulator.outputs import atomic_write_bytes
from simulator.stats import replications
from simulator.table_columns import Columns, LedgerColumns
from simulator.timeutil import DAY, parse_instant
from simulator.vocabulary import REPORT_LENGTH_BUCKETS

if TYPE_CHECKING:
    from simulator.tables import SimTables

__all__ = [
    "HEADLINE_DEFINITIONS",
    "LENGTH_BUCKETS",
    "TIER_ORDER",
    "RunMeta",
    "RunTables",
    "balance_distribution",
    "credit_age",
    "credit_vintages",
    "expiry_waste",
    "expiry_waste_by_source",
    "headline",
    "length_bucket",
    "load_run_tables",
    "per_tier",
    "purchases_revenue",
    "refund_cuts",
    "refund_rates",
    "refund_totals",
    "rejections",
    "report_frames",
    "reports_or_problems",
    "response_delays",
    "utilisation",
    "utilisation_members",
    "vintage_waste_rate",
    "write_replications",
    "write_reports",
    "write_tables",
]

#: Presentation order of the default tiers (RULES.md section 3); other tiers follow, sorted.
TIER_ORDER: tuple[str, ...] = (
    "basic",
    "premium_career",
    "premium_business",
    "sales_navigator",
    "recruiter_lite",
)

#: Body-length buckets in presentation order ("0" and "over-2000" only for rejected bodies).
LENGTH_BUCKETS: tuple[str, ...] = REPORT_LENGTH_BUCKETS
_BUCKET_UPPER = np.array([0, 400, 800, 1200, 2000])

PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)

_NAT = NAT
_SOURCES = ("grant", "purchase", "refund")
_OUTSIDE = -2  # balance_distribution: the state of a member not (yet) present
# The ledger kinds that move credits, and the column each becomes in the waste reports.
_KIND_COLUMNS = {
    "grant": "granted",
    "purchase": "purchased",
    "refund": "refunded",
    "spend": "spent",
    "expire": "credits_expired",
    "cap": "capped",
    "forfeit": "forfeited",
}

_LEDGER_COLUMNS = (
    "time",
    "member",
    "tier",
    "kind",
    "lot",
    "lot_source",
    "lot_issued_at",
    "quantity",
    "inmail",
    "reason",
    "balance_after",
)
_INMAIL_COLUMNS = (
    "inmail",
    "sender",
    "tier",
    "sent_at",
    "category",
    "subject_chars",
    "body_chars",
    "free",
    "paid",
    "rejection",
    "response",
    "responded_at",
    "refunded_at",
    "window_end",
)
_MEMBER_COLUMNS = ("member", "initial_tier", "final_tier")
_BILLING_COLUMNS = ("member", "tier", "time", "amount_cents")
_REQUIRED = {
    "ledger": _LEDGER_COLUMNS,
    "inmails": _INMAIL_COLUMNS,
    "members": _MEMBER_COLUMNS,
    "billing": _BILLING_COLUMNS,
}
_META_KEYS = ("measure_start", "end", "credit_price_cents")

#: What each metric is, in one sentence; for a rate, what it divides by what, over which
#: window. Keys are the metrics of ``summary.json`` and :func:`headline` (where the two
#: differ, as for ``members``, the summary's is ``summary.<name>``), ``report.column`` for
#: columns of a report's rows and ``steady_state.<key>`` for the steady-state check. The
#: measured window is ``measure_start <= time <= end``; report.html shows each definition
#: beside its number.
HEADLINE_DEFINITIONS: dict[str, str] = {
    "members": (
        "Members of the measured window (headline.csv): those present at some instant of it "
        "(arrived by its end, not left at or before its start: members_present) and those with "
        "a ledger entry in it, such as an expiry or a refund after leaving in the warm-up "
        "(summary.json's members counts every member simulated instead)."
    ),
    "summary.members": (
        "summary.json's members: every member simulated, warm-up included, i.e. members_initial "
        "plus every member who joined later, in the warm-up or the measured window, present in "
        "the window or not."
    ),
    "members_present": (
        "summary.json's count of the members present at some instant of the measured window "
        "(arrived by its end, not left at or before its start); headline.csv's members also "
        "counts those with only a ledger entry in it."
    ),
    "members_initial": (
        "Members present when the simulation started (sim_start, the start of the warm-up), "
        "before any arrival."
    ),
    "arrivals": (
        "Members who joined during the measured window; arrivals during the warm-up are not "
        "counted, so members_initial + arrivals is less than summary.json's members when "
        "members joined in the warm-up."
    ),
    "inmails_attempted": "Send attempts in the measured window, accepted or rejected.",
    "inmails_sent": "InMails sent (accepted) in the measured window, paid or free.",
    "inmails_paid": "InMails sent in the measured window that cost a credit.",
    "inmails_free": (
        "InMails sent in the measured window that cost no credit (free sends, such as to Open "
        "Profile members)."
    ),
    "inmails_rejected": (
        "Send attempts in the measured window that were rejected (no credit, a body or subject "
        "too long, a category not allowed)."
    ),
    "inmails_rejected_no_credit": (
        "Send attempts in the measured window rejected because the member had no credit."
    ),
    "purchases_rejected": (
        "Credit purchases attempted in the measured window and refused by the policy (too many "
        "credits at once or over the purchased-balance limit, or a tier that may not buy)."
    ),
    "responses": (
        "InMails sent (accepted) in the measured window that got a response (accept, decline or "
        "reply) by the end of the run."
    ),
    "credits_granted": "Credits of the monthly grants issued in the measured window.",
    "credits_purchased": "Credits bought in the measured window.",
    "credits_refunded": (
        "Credits given back in the measured window for paid InMails that earned a refund, "
        "including InMails sent late in the warm-up."
    ),
    "credits_issued": (
        "credits_granted + credits_purchased + credits_refunded: every credit issued in the "
        "measured window."
    ),
    "credits_spent": "Credits spent in the measured window, one per paid InMail.",
    "credits_expired": (
        "Credits that expired unspent in the measured window, whenever they were issued "
        "(lots of the warm-up included)."
    ),
    "credits_capped": (
        "Credits removed in the measured window by a tier's balance cap (the inmail-2015 rules "
        "cap balances; inmail-2014 has no caps)."
    ),
    "credits_forfeited": (
        "Credits removed in the measured window when their member cancelled or changed tier."
    ),
    "credits_expired_issued_before_window": (
        "Of credits_expired, those issued before the measured window (in the warm-up): in a "
        "window shorter than a credit's life they are most of the expiries, and "
        "expiry_waste_rate can pass 100 %."
    ),
    "expired_value_cents": (
        "credits_expired x the credit price: what the expired credits would cost to buy."
    ),
    "refunds": (
        "Refunds paid in the measured window, one credit each (= credits_refunded), including "
        "refunds of InMails sent late in the warm-up."
    ),
    "settled": (
        "Paid InMails sent in the measured window whose refund window closed by the end: the "
        "denominator of refund_rate."
    ),
    "refund_rate_settled_inmails": (
        "summary.json's name for settled: paid InMails sent in the measured window whose "
        "refund window closed by the end."
    ),
    "settled_refunds": "Of the settled paid InMails, those refunded: the numerator of refund_rate.",
    "late_responses": (
        "Paid InMails sent in the measured window whose response came only after their refund "
        "window had closed."
    ),
    "purchases": (
        "Credit purchases in the measured window (one purchase can buy several credits)."
    ),
    "purchase_revenue_cents": (
        "credits_purchased x the credit price: revenue from credits bought in the measured window."
    ),
    "subscription_revenue_cents": "Subscription charges billed in the measured window.",
    "net_revenue_cents": (
        "subscription_revenue + purchase_revenue: all revenue of the measured window (refunds "
        "give credits back, not money, so nothing is deducted)."
    ),
    "cancellations": "Subscriptions cancelled in the measured window.",
    "tier_changes": "Changes of tier in the measured window.",
    "response_rate": (
        "Responses (accept, decline or reply, at any time up to the end) to the InMails "
        "sent in the measured window / the InMails sent in the window (accepted, paid or "
        "free; rejected attempts excluded)."
    ),
    "refund_rate": (
        "Refunded / settled paid InMails: of the paid InMails sent in the measured window "
        "whose refund window closed by the end, the share that was refunded (InMails still "
        "inside their window would bias it, so they are left out)."
    ),
    "refund_share": (
        "Refunds paid in the measured window / credits spent in the window (paid InMails "
        "sent in it): the share of spending that came back."
    ),
    "expiry_waste_rate": (
        "Credits expired in the measured window / credits granted + purchased + refunded in "
        "the window; the window's expiries include credits issued in the warm-up, so a short "
        "or empty warm-up distorts it (baseline scenario: 0.35 with no warm-up against 0.57 "
        "after its two-year warm-up); vintage_waste_rate follows the window's own lots to "
        "their fate instead of mixing generations, but a short warm-up distorts it as well "
        "(0.47 against 0.57)."
    ),
    "grant_expiry_rate": (
        "Credits of grant lots expired in the measured window / credits granted in the "
        "window (warm-up grants expiring in the window count, as in expiry_waste_rate)."
    ),
    "vintage_waste_rate": (
        "Credits expired / credits issued, over grant and refund lots issued in the measured "
        "window in calendar months that end at least grant_expiry_days (for grants) or "
        "refund_expiry_days (for refunds) days before the run's end, so every such lot has "
        "reached its fate (the rows of credit_vintages.csv with warmup false); it does not mix "
        "generations, but it is not free of warm-up bias: members who enter the window with "
        "the small balances of a short warm-up spend more of each new lot (baseline: 0.47 "
        "with no warm-up against 0.57 after two years)."
    ),
    "never_send_share": (
        "Members who sent no accepted InMail in the measured window / all members (of the "
        "members table or with a ledger entry in the window)."
    ),
    "median_utilisation": (
        "Median, over the member-tier pairs with credits granted in the measured window, of "
        "credits spent / credits granted in the window."
    ),
    "expiry_waste.waste_rate": (
        "A month's credits expired / the same month's credits issued (granted + purchased + "
        "refunded), per tier, although the credits expiring in a month were issued up to the "
        "expiry period (90 days by default) earlier: it mixes generations and can exceed 1 "
        "(credit_vintages.csv follows each month's credits to their fate instead)."
    ),
    "expiry_waste.lost_rate": (
        "A month's credits lost (expired + capped + forfeited) / the same month's credits "
        "issued, per tier: like waste_rate, but counting credits removed by a balance cap or "
        "forfeited on leaving or on a tier change as well as expired ones; it mixes "
        "generations the same way and can exceed 1."
    ),
    "utilisation.members": (
        "Member-tier pairs, not members: a member who held several tiers in the measured "
        "window is counted once in each, so the column can sum to more than the members."
    ),
    "credit_vintages.waste_rate": (
        "Of the credits of one vintage (tier at issue, lot source, issue month, warm-up or "
        "not), the share that expired by the end of the run; empty while some of them are "
        "still live at the end, since their fate is not known yet."
    ),
    "steady_state.steady": (
        "Whether the measured window passed the check: the largest truncation that counts is "
        "at most threshold_weeks and none reached its cap."
    ),
    "steady_state.suggested_truncation_weeks": (
        "The largest truncation that counts over the four weekly series, in weeks."
    ),
    "steady_state.warmup_days": "Days simulated before the measured window (the warm-up).",
    "steady_state.suggested_warmup_days": (
        "warmup_days plus the largest truncation that counts, in days: how far into the run the "
        "weekly series settle (= warmup_days when the window is steady; creditsim run advises a "
        "warm-up of twice it when not)."
    ),
    "steady_state.threshold_weeks": "The largest truncation, in weeks, still called steady.",
    "steady_state.cap_weeks": (
        "The search cap as a week of the window: MSER tries truncations up to half the weeks "
        "that have data in a series (not half the window); the largest cap over the series."
    ),
    "steady_state.z_threshold": (
        "A truncation counts only if the weeks it drops differ from the rest by more than this "
        "many standard errors (autocorrelation allowed for), and bias_threshold is exceeded too."
    ),
    "steady_state.bias_threshold": (
        "A truncation counts only if keeping the weeks it drops moves the window's mean by more "
        "than this share of the rest's mean, and z_threshold is exceeded too."
    ),
    "steady_state.capped": (
        "Whether a truncation that counts reached its search cap: the run needs a longer warm-up "
        "than the cap can show."
    ),
    "steady_state.method": "How the truncations are found.",
    "steady_state.auto": (
        "How warmup_days: auto chose the warm-up from a pilot run (absent when the scenario "
        "gave warmup_days)."
    ),
}


# ---------------------------------------------------------------------------
# The tables of one run


class RunMeta:
    """A run's metadata (``run.json``), checked once: what the reports need besides rows.

    ``meta`` needs ``measure_start`` and ``end`` (ISO 8601 UTC) and
    ``credit_price_cents``; ``refund_mode`` and ``refund_window_days`` are
    optional (defaults ``no_response_within`` and 7, RULES.md R6), and so is
    ``currency`` (USD). A report's sums (:mod:`simulator.report_sums`) are
    finished with this alone, without the tables.
    """

    def __init__(self, meta: Mapping[str, Any], summary: Mapping[str, Any] | None = None) -> None:
        self.meta: Mapping[str, Any] = meta
        self.summary: Mapping[str, Any] = {} if summary is None else summary
        missing = [k for k in _META_KEYS if k not in self.meta]
        if missing:
            raise InputError(f"run.json: missing keys: {', '.join(missing)}")
        # Checked now, not halfway through a report.
        _meta_whole(self.meta, "credit_price_cents")
        if self.meta.get("refund_window_days", 7) is not None:
            _meta_whole(self.meta, "refund_window_days", 7)
        if self.end < self.measure_start:
            raise InputError(
                f"run.json: end {self.meta['end']!r} is before "
                f"measure_start {self.meta['measure_start']!r}"
            )

    @property
    def measure_start(self) -> int:
        """First measured instant, Unix seconds."""
        return _meta_instant(self.meta, "measure_start")

    @property
    def end(self) -> int:
        """Last simulated instant (inclusive), Unix seconds."""
        return _meta_instant(self.meta, "end")

    @property
    def credit_price_cents(self) -> int:
        """Price of one purchased credit, in cents of ``currency``."""
        return _meta_whole(self.meta, "credit_price_cents")

    @property
    def refund_mode(self) -> str:
        """``no_response_within``, ``response_within`` or ``none`` (RULES.md R6)."""
        return str(self.meta.get("refund_mode", "no_response_within"))

    @property
    def refund_window_days(self) -> int | None:
        """Length of the refund window in days (None: no window)."""
        if self.meta.get("refund_window_days", 7) is None:
            return None
        return _meta_whole(self.meta, "refund_window_days", 7)

    @property
    def currency(self) -> str:
        """Currency of all amounts (default USD)."""
        return str(self.meta.get("currency", "USD"))


class RunTables(RunMeta):
    """The tables of one run and its metadata (``run.json``); reports read only these.

    Each table is a pandas DataFrame or an Arrow table (``load_run_tables``
    gives Parquet files, read only as far as they are used). The metadata is
    that of :class:`RunMeta`.

    The reports compute from :attr:`columns`, the typed columns of the
    tables, built on first use and kept: treat the tables as read-only once
    a report has read them.
    """

    def __init__(
        self,
        ledger: Source,
        inmails: Source,
        members: Source,
        billing: Source,
        meta: Mapping[str, Any],
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        self._sources: dict[str, Source] = {
            "ledger": ledger,
            "inmails": inmails,
            "members": members,
            "billing": billing,
        }
        for name, required in _REQUIRED.items():
            source = self._sources[name]
            where = str(source.path) if isinstance(source, ParquetTable) else name
            _require_columns(column_names(source), required, where)
        super().__init__(meta, summary)

    @classmethod
    def of(
        cls,
        tables: SimTables,
        meta: Mapping[str, Any],
        summary: Mapping[str, Any] | None = None,
    ) -> RunTables:
        """The tables a simulation made (:class:`simulator.tables.SimTables`), as they are."""
        arrow = tables.arrow
        return cls(arrow["ledger"], arrow["inmails"], arrow["members"], arrow["billing"],
                   meta=meta, summary=summary)  # fmt: skip

    def _frame(self, name: str) -> pd.DataFrame:
        source = self._sources[name]
        if isinstance(source, ParquetTable):
            return source.frame
        if isinstance(source, pa.Table):
            from simulator.tables import plain_table

            frame = plain_table(source).to_pandas()
            self._sources[name] = frame  # converted once
            return frame
        return source

    @property
    def ledger(self) -> pd.DataFrame:
        """The ledger as pandas (converted or read on first use)."""
        return self._frame("ledger")

    @property
    def inmails(self) -> pd.DataFrame:
        """The InMails as pandas (converted or read on first use)."""
        return self._frame("inmails")

    @property
    def members(self) -> pd.DataFrame:
        """The members as pandas (converted or read on first use)."""
        return self._frame("members")

    @property
    def billing(self) -> pd.DataFrame:
        """The subscription charges as pandas (converted or read on first use)."""
        return self._frame("billing")

    @cached_property
    def columns(self) -> Columns:
        """The typed columns the reports compute from (:mod:`simulator.columns`)."""
        return Columns.build(self._sources)

    @cached_property
    def _window(self) -> _Window:
        return _Window(self)


class _Window:
    """Row selections of the measured window, computed once per run."""

    def __init__(self, tables: RunTables) -> None:
        c = tables.columns
        self._kind = c.ledger.kind
        self.ledger = _in_window(c.ledger.time, tables)
        self.inmails = _in_window(c.inmails.sent_at, tables)
        self.billing = _in_window(c.billing.time, tables)

    @cached_property
    def ledger_rows(self) -> np.ndarray:
        return np.flatnonzero(self.ledger)

    @cached_property
    def credit_rows(self) -> np.ndarray:
        """Window ledger entries that move credits (every kind but ``reject``)."""
        return np.flatnonzero(self.ledger & ~self._kind.mask("reject"))


def load_run_tables(run_dir: str | os.PathLike[str]) -> RunTables:
    """A run directory (format 2: :mod:`simulator.runformat`) as :class:`RunTables`.

    The Parquet datasets (``ledger/``, ``inmails/``, ``members/``,
    ``billing/``, one part per member batch) are read when a report or a
    user needs them, part by part and only the columns used. ``summary.json``
    may be absent (no summary). A folder of another format, or one whose
    parts are not those ``run.json`` lists, is refused with one line
    (:func:`simulator.runformat.read_meta`).
    """
    from simulator.runformat import TABLES, part_path, read_json, read_meta

    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a run directory")
    meta = read_meta(root)  # every part run.json lists is there, whole, of one schema
    batches = range(len(meta["batches"]))

    def table(name: str) -> Source:
        return ParquetTable(root / name, [part_path(root, name, i) for i in batches])

    path = root / "summary.json"
    summary = read_json(path, root) if path.exists() else {}
    sources = {name: table(name) for name in TABLES}
    return RunTables(**sources, meta=meta, summary=summary)


# ---------------------------------------------------------------------------
# Expiry waste


def expiry_waste(tables: RunTables) -> pd.DataFrame:
    """Credits issued and lost per tier and calendar month of the ledger entry.

    One row per tier (seen on a credit-moving entry in the window) and per
    month of the window, zeros where nothing happened. Columns: ``tier``,
    ``month``, ``granted``, ``purchased``, ``refunded``, ``credits_issued``
    (their sum), ``spent``, ``credits_expired``, ``capped``, ``forfeited``,
    ``waste_rate`` (credits_expired / credits_issued), ``lost_rate``
    ((expired + capped + forfeited) / credits_issued) and
    ``expired_value_cents`` (expired credits at the purchase price). Both rates
    compare a month's outflow with the same month's inflow, so one month can
    exceed 1; over the whole window they are the waste of the run.
    """
    return expiry_waste_finish(expiry_waste_sums(tables), tables)


def expiry_waste_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`expiry_waste`'s integer sums: credits of each kind per (tier, month code)."""
    led = tables.columns.ledger
    rows = tables._window.credit_rows
    return _kind_sums(
        {"tier": _coded(led.tier, rows), "_month": _month_key(led.time[rows])}, led, rows
    )


def expiry_waste_finish(sums: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`expiry_waste` from its sums (merged over batches: :mod:`simulator.report_sums`)."""
    tiers = _ordered_tiers(sums["tier"])
    index = pd.MultiIndex.from_product([tiers, _window_months(meta)], names=["tier", "_month"])
    sums = sums.set_index(["tier", "_month"]).reindex(index, fill_value=0)
    out = _waste_columns(sums).reset_index()
    out.insert(1, "month", _month_labels(out.pop("_month").to_numpy()))
    return _finish_waste(out, meta.credit_price_cents)


def expiry_waste_by_source(tables: RunTables) -> pd.DataFrame:
    """Expiry waste of the whole window per tier and lot source, with ``all`` margins.

    One row per (tier, lot_source) seen, plus ``tier == "all"`` rows per source,
    ``lot_source == "all"`` rows per tier, and the grand total (``all``, ``all``).
    Columns as :func:`expiry_waste` without ``month``. A lot's source is where
    its credits came from (grant, purchase, refund), so "issued" of a source
    is its own kind of entry.
    """
    return expiry_waste_by_source_finish(expiry_waste_by_source_sums(tables), tables)


def expiry_waste_by_source_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`expiry_waste_by_source`'s sums: credits of each kind per (tier, lot_source)."""
    led = tables.columns.ledger
    rows = tables._window.credit_rows
    return _kind_sums(
        {"tier": _coded(led.tier, rows), "lot_source": _coded(led.lot_source, rows)}, led, rows
    )


def expiry_waste_by_source_finish(cells: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`expiry_waste_by_source` from its sums."""
    kinds = list(_KIND_COLUMNS)
    parts = [cells]
    for keys in (["lot_source"], ["tier"], []):
        margin = (
            cells.groupby(keys, sort=False)[kinds].sum().reset_index()
            if keys
            else cells[kinds].sum().to_frame().T
        )
        for key in ("tier", "lot_source"):
            if key not in keys:
                margin[key] = "all"
        parts.append(margin)
    out = pd.concat(parts, ignore_index=True)
    out = _sort(out, ["tier", "lot_source"]).set_index(["tier", "lot_source"])
    out = _waste_columns(out).reset_index()
    return _finish_waste(out, meta.credit_price_cents)


def credit_age(tables: RunTables) -> pd.DataFrame:
    """Age of credits (days since their lot was issued) when spent and when expired.

    One row per ``event`` (``spent``, ``expired``) and ``lot_source`` (each
    source seen, and ``all``): ``credits``, ``mean_days``, ``p10_days`` ..
    ``p90_days`` and ``max_days``, weighted by credits (an expiry of 3 credits
    counts three times).
    """
    return credit_age_finish(credit_age_sums(tables))


#: Per (event, lot source; None for entries without one): the distinct ages in whole
#: seconds, ascending, and the credits of each. Its size is bounded by the distinct
#: ages (at most the run's length in seconds per key), not by the entries.
AgeHistograms = dict[tuple[str, Any], tuple[np.ndarray, np.ndarray]]


def credit_age_sums(tables: RunTables) -> AgeHistograms:
    """:func:`credit_age`'s sums: integer histograms of credit ages (:data:`AgeHistograms`)."""
    led = tables.columns.ledger
    rows = _window_rows(tables, led.kind.mask("spend", "expire"))
    seconds = (led.time[rows] - led.lot_issued_at[rows]).astype(np.int64)  # whole seconds
    spent = led.kind.codes[rows] == led.kind.code("spend")
    sources = led.lot_source.codes[rows]
    credits = led.quantity[rows].astype(np.int64)
    out: AgeHistograms = {}
    for event, in_event in (("spent", spent), ("expired", ~spent)):
        # Every source seen is a key, even one of no credits.
        for code in np.unique(sources[in_event]):
            mine = in_event & (sources == code)
            out[(event, led.lot_source.labels(np.array([code]))[0])] = _histogram(
                seconds[mine], credits[mine]
            )
    return out


#: Ages spanning at most this many seconds (194 days) are added in a dense table of
#: int64 counts (128 MiB at most) instead of sorted: no copy of every part's arrays.
_DENSE_AGES = 1 << 24


def add_age_histograms(parts: Sequence[AgeHistograms]) -> AgeHistograms:
    """:data:`AgeHistograms` added key by key (credits of equal ages summed)."""
    keys: dict[tuple[str, Any], None] = {}
    for part in parts:
        keys.update(dict.fromkeys(part))
    out: AgeHistograms = {}
    for key in keys:
        held = [part[key] for part in parts if key in part and len(part[key][0])]
        if len(held) <= 1:
            out[key] = held[0] if held else next(p[key] for p in parts if key in p)
            continue
        low = min(int(v[0]) for v, _ in held)  # each part's ages are ascending
        high = max(int(v[-1]) for v, _ in held)
        if high - low < _DENSE_AGES:
            counts = np.zeros(high - low + 1, dtype=np.int64)
            for values, weights in held:
                counts[values - low] += weights  # a part's ages are distinct
            ages = np.flatnonzero(counts)
            out[key] = (ages + low, counts[ages])
        else:
            out[key] = _histogram(
                np.concatenate([v for v, _ in held]), np.concatenate([w for _, w in held])
            )
    return out


def _histogram(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``values`` ascending, and the sum of ``weights`` of each (int64)."""
    if len(values) == 0:
        return values.astype(np.int64), weights.astype(np.int64)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return values[starts], np.add.reduceat(weights, starts)


def credit_age_finish(sums: AgeHistograms) -> pd.DataFrame:
    """:func:`credit_age` from its sums (merged over batches: :mod:`simulator.report_sums`)."""
    rows_out = []
    for event in ("spent", "expired"):
        mine = {source: hist for (e, source), hist in sums.items() if e == event}
        # Sources seen (an entry without one counts only under "all", as a groupby drops it).
        present = {str(s) for s in mine if s is not None}
        ordered = [s for s in _SOURCES if s in present]
        ordered += sorted(s for s in present if s not in _SOURCES)
        for source in [*ordered, "all"]:
            if source == "all":
                every = list(mine.values())
                seconds, weights = _histogram(
                    np.concatenate([np.zeros(0, dtype=np.int64), *(v for v, _ in every)]),
                    np.concatenate([np.zeros(0, dtype=np.int64), *(w for _, w in every)]),
                )
            else:
                seconds, weights = mine[source]
            total = int(weights.sum())
            row: dict[str, Any] = {"event": event, "lot_source": source, "credits": total}
            # Exact: whole seconds times credits summed as integers, one division,
            # so the mean does not depend on the rows' order (the run's batches).
            credit_seconds = int(np.dot(seconds, weights))
            row["mean_days"] = credit_seconds / (total * DAY) if total else math.nan
            *percentiles, top = _integer_percentiles(seconds, weights)
            for p, v in zip(PERCENTILES, percentiles, strict=True):
                row[f"p{p}_days"] = v / DAY
            row["max_days"] = top / DAY
            rows_out.append(row)
    columns = ["event", "lot_source", "credits", "mean_days"]
    columns += [f"p{p}_days" for p in PERCENTILES] + ["max_days"]
    return pd.DataFrame(rows_out, columns=columns)


# ---------------------------------------------------------------------------
# Credit vintages: each lot followed from its issue to its fate


_ISSUE_KINDS = ("grant", "purchase", "refund")
_FATE_COLUMNS = {"spend": "spent", "expire": "expired", "cap": "capped", "forfeit": "forfeited"}
_VINTAGE_COLUMNS = (
    "tier",
    "lot_source",
    "issue_month",
    "warmup",
    "issued",
    *_FATE_COLUMNS.values(),
    "live_at_end",
    "waste_rate",
)


def credit_vintages(tables: RunTables) -> pd.DataFrame:
    """Credits issued per vintage, and where they went by the end of the run.

    A vintage is the lots of one tier at issue, lot source, calendar month of
    issue (UTC) and side of the measured window's start: one row per
    (``tier``, ``lot_source``, ``issue_month``, ``warmup``) with credits
    issued, over the whole run, warm-up included (every ledger entry). A
    month that straddles ``measure_start`` gives two rows: ``warmup`` is True
    for the lots issued before it.

    - ``tier``: the member's tier on the entry that issued the lot (its
      grant, purchase or refund entry), not on the entry that spent or
      expired it;
    - ``issued``: credits of the grant, purchase and refund entries;
    - ``spent``, ``expired``, ``capped``, ``forfeited``: credits that left
      those lots through such entries, at any time up to the end;
    - ``live_at_end`` = issued - spent - expired - capped - forfeited: the
      credits of those lots still held at the end (>= 0 by the ledger's
      conservation, RULES.md section 5);
    - ``waste_rate`` = expired / issued, NaN (an empty CSV cell) where
      ``live_at_end`` > 0: the fate of those credits is not known yet.

    Unlike :func:`expiry_waste`, which sets a month's expiries against the
    same month's issuance, this follows each month's credits to their fate.
    Rows are sorted by tier (:data:`TIER_ORDER`), lot source (grant,
    purchase, refund), issue month, then ``warmup`` (False first). Entries
    without a lot (no ``lot_issued_at`` or ``lot_source``), and spend,
    expire, cap and forfeit entries whose lot has no issuing entry in the
    ledger (a ledger cut short by hand), belong to no vintage and are left out.
    """
    return credit_vintages_finish(credit_vintages_sums(tables))


_VINTAGE_KEYS = ("tier", "lot_source", "_month", "warmup")


def credit_vintages_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`credit_vintages`' sums: credits issued and of each fate per vintage key.

    A lot and its fates are of one member, so a batch of members holds them all.
    """
    led = tables.columns.ledger
    has_lot = (led.lot_issued_at != _NAT) & (led.lot_source.codes >= 0)
    issues = np.flatnonzero(led.kind.mask(*_ISSUE_KINDS) & has_lot)
    if len(issues) == 0:
        return _empty_sums(_VINTAGE_KEYS, ["issued", *_FATE_COLUMNS.values()])
    fates = np.flatnonzero(led.kind.mask(*_FATE_COLUMNS) & has_lot)
    # The vintage of each issuing entry; a fate entry's is that of its lot's issuing entry.
    issued_at = led.lot_issued_at[issues]
    group, labels = _groups(
        {
            "tier": _coded(led.tier, issues),
            "lot_source": _coded(led.lot_source, issues),
            "_month": _month_key(issued_at),
            "warmup": (
                (issued_at < tables.measure_start).astype(np.int64),
                np.array([False, True], dtype=object),
            ),
        }
    )
    n_groups = len(labels["tier"])
    issued = np.zeros(n_groups, dtype=np.int64)
    np.add.at(issued, group, led.quantity[issues])
    fate_group, fate_rows = _fate_vintages(led, issues, group, fates)
    sums = _kind_sums_by_group(fate_group, n_groups, led, fate_rows, _FATE_COLUMNS)
    out = pd.DataFrame(labels)
    out["warmup"] = out["warmup"].astype(bool)
    out["issued"] = issued
    for name in _FATE_COLUMNS.values():
        out[name] = sums[name]
    return out


def credit_vintages_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`credit_vintages` from its sums (merged over batches: :mod:`simulator.report_sums`)."""
    if sums.empty:
        return _empty_vintages()
    out = sums[sums["issued"] > 0].copy()
    out["warmup"] = out["warmup"].astype(bool)
    out = _sort(out, ["tier", "lot_source", "_month", "warmup"]).reset_index(drop=True)
    out.insert(2, "issue_month", _month_labels(out.pop("_month").to_numpy()))
    return _vintage_rates(out)


def vintage_waste_rate(
    vintages: pd.DataFrame,
    end: int | str,
    grant_expiry_days: int | None = 90,
    refund_expiry_days: int | None = 90,
) -> float:
    """Expired / issued credits over the vintages of the window that have all met their fate.

    Sums the rows of :func:`credit_vintages` with ``warmup`` False, lot source
    ``grant`` (or ``refund``) and an issue month whose last second plus
    ``grant_expiry_days`` (or ``refund_expiry_days``) days is at or before
    ``end`` (Unix seconds or ISO 8601), so every lot in them has expired by
    the end if nothing else took its credits. A source whose expiry is
    ``None`` (never) counts nowhere; NaN when no credit qualifies.
    """
    stop = parse_instant(end) if isinstance(end, str) else int(end)
    if vintages.empty:
        return math.nan
    months = vintages["issue_month"].to_numpy().astype("datetime64[M]")
    # The month's last second: the next month's first, less one.
    last_second = (months + 1).astype("datetime64[s]").view(np.int64) - 1
    source = vintages["lot_source"].to_numpy()
    settled = np.zeros(len(vintages), dtype=bool)
    for name, days in (("grant", grant_expiry_days), ("refund", refund_expiry_days)):
        if days is not None:
            settled |= (source == name) & (last_second + int(days) * DAY <= stop)
    settled &= ~vintages["warmup"].to_numpy(dtype=bool)
    issued = int(vintages["issued"].to_numpy()[settled].sum())
    return _div(int(vintages["expired"].to_numpy()[settled].sum()), issued)


def _fate_vintages(
    led: LedgerColumns, issues: np.ndarray, issue_group: np.ndarray, fates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The vintage of each of ``fates`` whose lot has an issuing entry, and those fates' rows.

    ``issue_group`` is the vintage of each of ``issues``. A lot is found by
    (member, lot_issued_at, lot_source), not by its id (text, costly to
    read). That key may name several lots, but never lots of different
    vintages: they share the month, the source and, by RULES.md R10, the
    tier at issue. One instant writes at most one grant per member (step 5);
    two refund lots of a member at one instant are both issued in steps 1-2,
    before any tier change (step 4); two purchase lots both in step 6, after
    it. So any issuing entry of the key gives the fate's vintage.
    """
    issue_key, fate_key = _lot_keys(led, issues, fates)
    if len(fate_key) == 0:
        return np.zeros(0, dtype=np.int64), fates
    # A run's issuing entries are nearly in key order already (the ledger is in
    # time order): a stable sort of them is quick. The fate keys are sorted
    # too, so the search walks the issue keys once; sums do not need the order.
    order = np.argsort(issue_key, kind="stable")
    issue_key = issue_key[order]
    fate_order = np.argsort(fate_key)
    wanted = fate_key[fate_order]
    at = np.minimum(np.searchsorted(issue_key, wanted), len(issue_key) - 1)
    found = issue_key[at] == wanted
    return issue_group[order[at[found]]], fates[fate_order[found]]


def _lot_keys(
    led: LedgerColumns, issues: np.ndarray, fates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per row of ``issues`` and of ``fates``: equal when the lots' keys are.

    The key is (member, lot_issued_at, lot_source). Instants are counted
    from the earliest one; when that would overflow (instants centuries
    apart, written by hand), they are numbered instead.
    """
    members = len(led.member.names) + 1  # the last slot: no member
    sources = len(led.lot_source.names) + 1
    at = [led.lot_issued_at[issues], led.lot_issued_at[fates]]
    first = min(int(a.min()) for a in at if len(a))
    last = max(int(a.max()) for a in at if len(a))
    if (last - first + 1) * members * sources >= 2**62:
        numbered = pd.factorize(np.concatenate(at))[0].astype(np.int64)
        instants = [numbered[: len(issues)], numbered[len(issues) :]]
    else:
        instants = [a - first for a in at]
    keys = []
    for rows, instant in zip((issues, fates), instants, strict=True):
        member = led.member.codes[rows].astype(np.int64)
        member[member < 0] = members - 1
        key = instant * members
        key += member
        key *= sources
        key += led.lot_source.codes[rows]
        keys.append(key)
    return keys[0], keys[1]


def _vintage_rates(out: pd.DataFrame) -> pd.DataFrame:
    """Add ``live_at_end`` and ``waste_rate`` (NaN while credits are live) to vintage sums."""
    fates = out[list(_FATE_COLUMNS.values())].sum(axis=1).astype(np.int64)
    out["live_at_end"] = out["issued"] - fates
    rate = _ratio(out["expired"], out["issued"])
    out["waste_rate"] = rate.where(out["live_at_end"] == 0)
    for name in ("issued", *_FATE_COLUMNS.values(), "live_at_end"):
        out[name] = out[name].astype(np.int64)
    return out[list(_VINTAGE_COLUMNS)]


def _empty_vintages() -> pd.DataFrame:
    """:func:`credit_vintages` of a ledger with no lot: its columns, no rows."""
    out = pd.DataFrame(
        {
            "tier": pd.Series(dtype=object),
            "lot_source": pd.Series(dtype=object),
            "issue_month": pd.Series(dtype=object),
            "warmup": pd.Series(dtype=bool),
            "issued": pd.Series(dtype=np.int64),
        }
    )
    for name in _FATE_COLUMNS.values():
        out[name] = pd.Series(dtype=np.int64)
    return _vintage_rates(out)


# ---------------------------------------------------------------------------
# Refunds


_REFUND_KEYS = ["tier", "month", "category", "length_bucket"]
_REFUND_COUNTS = [
    "inmails_paid",
    "responses_within_window",
    "late_responses",
    "refunds",
    "settled",
    "settled_refunds",
]


def refund_rates(tables: RunTables) -> pd.DataFrame:
    """Paid InMails and their refunds per tier, month sent, category and body-length bucket.

    Keys come from the InMail (tier and calendar month at sending). Columns:

    - ``inmails_paid``: spend entries in the window (paid InMails sent in it);
    - ``responses_within_window`` / ``late_responses``: those paid InMails
      with a response at or before / after their ``window_end`` (any response
      counts; with no window every response is "within");
    - ``refunds``: refund entries in the window, keyed by their InMail, so a
      refund of an InMail sent during the warm-up lands on its warm-up month
      and the column sums to the ledger's refunds of the window;
    - ``settled``: paid InMails sent in the window whose window closed by the
      end (all of them when the refund mode is ``none``);
    - ``settled_refunds``: the settled ones that were refunded;
    - ``refund_rate`` = settled_refunds / settled (NaN when nothing settled).

    Only combinations with at least one count are listed; no margin rows.
    """
    return refund_rates_finish(refund_rates_sums(tables))


def refund_rates_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`refund_rates`' sums: the counts per (tier, month code, category, length bucket).

    A refund or spend entry and its InMail are of one member, so of one batch.
    """
    cols = tables.columns
    led, im = cols.ledger, cols.inmails
    flows = _window_rows(tables, led.kind.mask("spend", "refund"))
    pos = cols.inmail_rows(flows, "spend and refund entries")
    qty = led.quantity[flows]
    is_spend = led.kind.codes[flows] == led.kind.code("spend")

    paid = im.paid & tables._window.inmails
    window_end, responded = im.window_end, im.responded_at
    has_window = window_end != _NAT
    has_response = responded != _NAT
    if tables.refund_mode == "none":
        settled = paid
    else:
        settled = paid & has_window & (window_end <= tables.end)
    # A paid InMail sent in the window can only be refunded after it, so in the window.
    n = len(paid)
    refunded = np.zeros(n, dtype=bool)
    refunded[pos[~is_spend]] = True

    # One integer per InMail row: its group; the InMails with any count are summed.
    spent_on = np.zeros(n, dtype=np.int64)
    np.add.at(spent_on, pos[is_spend], qty[is_spend])
    refunds = np.zeros(n, dtype=np.int64)
    np.add.at(refunds, pos[~is_spend], qty[~is_spend])
    rows = np.flatnonzero(paid | (spent_on > 0) | (refunds > 0))
    counts = {
        "inmails_paid": spent_on[rows],
        "responses_within_window": (
            paid & has_response & (~has_window | (responded <= window_end))
        )[rows],
        "late_responses": (paid & has_response & has_window & (responded > window_end))[rows],
        "refunds": refunds[rows],
        "settled": settled[rows],
        "settled_refunds": (settled & refunded)[rows],
    }
    keys = {
        "tier": _coded(im.tier, rows),
        "month": _month_key(im.sent_at[rows]),
        "category": _coded(im.category, rows),
        "length_bucket": _bucket_key(im.body_chars[rows]),
    }
    return _group_sums(keys, {k: v.astype(np.int64) for k, v in counts.items()})


def refund_rates_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`refund_rates` from its sums (merged over batches: :mod:`simulator.report_sums`)."""
    out = sums.copy()
    out["month"] = _month_labels(out["month"].to_numpy())
    out = _sort(out, _REFUND_KEYS).reset_index(drop=True)
    out["refund_rate"] = _ratio(out["settled_refunds"], out["settled"])
    return out


def refund_cuts(rates: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Roll :func:`refund_rates` up to the keys ``by`` (e.g. ``["tier", "category"]``).

    Sums the counts and recomputes ``refund_rate`` (settled_refunds / settled)
    and ``refund_share`` (refunds / inmails_paid: the share of spending that
    came back). No margin rows.
    """
    by = list(by)
    out = rates.groupby(by, sort=False)[_REFUND_COUNTS].sum().reset_index()
    out = _sort(out, by).reset_index(drop=True)
    out["refund_rate"] = _ratio(out["settled_refunds"], out["settled"])
    out["refund_share"] = _ratio(out["refunds"], out["inmails_paid"])
    return out


def refund_totals(rates: pd.DataFrame) -> pd.DataFrame:
    """Per tier and overall (``tier == "all"``) totals of :func:`refund_rates`."""
    per_tier = rates.groupby("tier", sort=False)[_REFUND_COUNTS].sum().reset_index()
    total = rates[_REFUND_COUNTS].sum().to_frame().T.astype(np.int64)
    total.insert(0, "tier", "all")
    out = pd.concat([_sort(per_tier, ["tier"]), total], ignore_index=True)
    out["refund_rate"] = _ratio(out["settled_refunds"], out["settled"])
    out["refund_share"] = _ratio(out["refunds"], out["inmails_paid"])
    return out


def response_delays(
    tables: RunTables, *, bins_per_window: int = 14, windows: int = 2
) -> pd.DataFrame:
    """Histogram of the delay from sending to response of paid InMails sent in the window.

    Bins are ``window / bins_per_window`` days wide (the refund window is a
    bin edge) up to ``windows`` refund windows; bins are right-closed
    (a, b], and the last one is open (``bin_end_days`` is inf). Columns:
    ``bin_start_days``, ``bin_end_days``, ``responses``, ``within_window``
    (the bin ends at or before the window). With no refund window the bins
    span 7 days.
    """
    sums = response_delays_sums(tables, bins_per_window=bins_per_window, windows=windows)
    return response_delays_finish(sums, tables, bins_per_window=bins_per_window, windows=windows)


def _delay_edges(meta: RunMeta, bins_per_window: int, windows: int) -> tuple[np.ndarray, float]:
    window = float(meta.refund_window_days or 7)
    return np.arange(bins_per_window * windows + 1) * (window / bins_per_window), window


def response_delays_sums(
    tables: RunTables, *, bins_per_window: int = 14, windows: int = 2
) -> pd.DataFrame:
    """:func:`response_delays`' sums: responses per bin (``bin`` numbers the bins from 0)."""
    im = tables.columns.inmails
    sent, responded = im.sent_at, im.responded_at
    mask = im.paid & tables._window.inmails & (responded != _NAT)
    delays = (responded[mask] - sent[mask]) / DAY
    edges, _ = _delay_edges(tables, bins_per_window, windows)
    # Right-closed bins (a, b]: a response exactly at the window's end is within it.
    which = np.searchsorted(edges, delays, side="left") - 1
    counts = np.bincount(np.clip(which, 0, len(edges) - 1), minlength=len(edges))
    return pd.DataFrame({"bin": np.arange(len(edges)), "responses": counts.astype(np.int64)})


def response_delays_finish(
    sums: pd.DataFrame, meta: RunMeta, *, bins_per_window: int = 14, windows: int = 2
) -> pd.DataFrame:
    """:func:`response_delays` from its sums (merged over batches)."""
    edges, window = _delay_edges(meta, bins_per_window, windows)
    counts = np.zeros(len(edges), dtype=np.int64)
    np.add.at(counts, sums["bin"].to_numpy(dtype=np.int64), sums["responses"].to_numpy())
    ends = np.append(edges[1:], np.inf)
    return pd.DataFrame(
        {
            "bin_start_days": edges,
            "bin_end_days": ends,
            "responses": counts,
            "within_window": ends <= window,
        }
    )


# ---------------------------------------------------------------------------
# Utilisation and balances


def utilisation_members(tables: RunTables) -> pd.DataFrame:
    """Per member and tier held: credits granted, purchased, refunded, spent, InMails sent.

    A member appears once per tier on which it has a ledger entry (rejections
    included) or attempted an InMail in the window; a member with neither
    appears once, on its final tier, if it was present in the window (arrived
    by its end, not left before its start). ``inmails_sent`` counts accepted InMails
    (free or paid); ``utilisation`` = spent / granted (NaN without grants,
    e.g. on basic).
    """
    return utilisation_members_finish(utilisation_members_sums(tables))


_MEMBER_COUNTS = ["granted", "purchased", "refunded", "spent", "inmails_sent"]


def utilisation_members_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`utilisation_members`' sums: its counts per (member, tier), in no set order."""
    cols = tables.columns
    led, im, roster = cols.ledger, cols.inmails, cols.members
    rows = tables._window.ledger_rows
    sent = np.flatnonzero(tables._window.inmails)
    seen = np.zeros(len(led.member.names) + 1, dtype=bool)  # the last slot: no member
    seen[led.member.codes[rows]] = True
    seen[im.sender.codes[sent]] = True
    # Members with neither, among those present in the window (an open population's
    # members who left before it or arrive after it are not members of it).
    quiet = np.flatnonzero(~seen[roster.member.codes] & _present_members(tables))
    # Three parts, one key each: window ledger entries, attempted InMails, quiet members.
    member = np.concatenate(
        [led.member.codes[rows], im.sender.codes[sent], roster.member.codes[quiet]]
    )
    tier = np.concatenate(
        [led.tier.codes[rows], im.tier.codes[sent], roster.final_tier.codes[quiet]]
    )
    columns = {"grant": "granted", "purchase": "purchased", "refund": "refunded", "spend": "spent"}
    if len(member) == 0:
        return _empty_sums(["member", "tier"], _MEMBER_COUNTS)
    group, labels = _groups({"member": _key(led.member, member), "tier": _key(led.tier, tier)})
    n_led, n_im = len(rows), len(sent)
    credits = _kind_sums_by_group(group[:n_led], len(labels["member"]), led, rows, columns)
    inmails_sent = np.zeros(len(labels["member"]), dtype=np.int64)
    np.add.at(inmails_sent, group[n_led : n_led + n_im], im.accepted[sent].astype(np.int64))
    return pd.DataFrame({**labels, **credits, "inmails_sent": inmails_sent})


def utilisation_members_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`utilisation_members` from its sums (merged over batches: members never cross)."""
    if sums.empty:
        empty = _empty_sums(["member", "tier"], _MEMBER_COUNTS)
        return empty.assign(utilisation=pd.Series(dtype=float))
    out = _sort(sums, ["tier", "member"]).reset_index(drop=True)
    out["utilisation"] = _ratio(out["spent"], out["granted"])
    return out


def utilisation(
    tables: RunTables | None = None, members: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Distribution of per-member utilisation (spent / granted) per tier.

    Columns: ``tier``, ``members`` (member-tier pairs of
    :func:`utilisation_members`: a member who changed tier in the window counts in
    each tier it held, so the column can sum to more than the members),
    ``never_send_share`` (share of them that sent no accepted InMail),
    ``members_with_grants``, ``mean_utilisation`` and
    ``p10`` .. ``p90`` over the members with grants. Pass ``members`` (the
    frame of :func:`utilisation_members`) to avoid recomputing it; then
    ``tables`` is not needed.
    """
    if members is None:
        if tables is None:
            raise TypeError("utilisation needs tables or members")
        members = utilisation_members(tables)
    rows = []
    for tier in _ordered_tiers(members["tier"]):
        sub = members[members["tier"] == tier]
        granted = sub[sub["granted"] > 0]["utilisation"].to_numpy(dtype=float)
        row: dict[str, Any] = {
            "tier": tier,
            "members": len(sub),
            "never_send_share": float((sub["inmails_sent"] == 0).mean()),
            "members_with_grants": len(granted),
            "mean_utilisation": float(granted.mean()) if len(granted) else math.nan,
        }
        weights = np.ones(len(granted), dtype=np.int64)
        for p, v in zip(PERCENTILES, _weighted_percentiles(granted, weights), strict=True):
            row[f"p{p}"] = v
        rows.append(row)
    columns = ["tier", "members", "never_send_share", "members_with_grants", "mean_utilisation"]
    return pd.DataFrame(rows, columns=columns + [f"p{p}" for p in PERCENTILES])


def balance_distribution(tables: RunTables) -> pd.DataFrame:
    """Distribution over members of the end-of-day balance, per day of the window and tier.

    A member's balance at the end of a day (UTC) is the ``balance_after`` of
    its last ledger entry up to then (warm-up entries included), 0 before its
    first entry; its tier is that entry's tier, or its initial tier before it.
    Counted are the members present in the window: a member who arrives
    during it enters the count with its first entry, one who left before it
    or arrives after it is in no count, and one who leaves during it stays
    counted, on what it holds then.
    Columns: ``date`` (``YYYY-MM-DD``), ``tier`` (each tier, and ``all`` for
    every member), ``members``, ``mean_balance``, ``p10`` .. ``p90``,
    ``max_balance``. Days run from the date of ``measure_start`` to the date
    of ``end``; tiers with no member on a day have no row.
    """
    return balance_distribution_finish(balance_distribution_sums(tables), tables)


def balance_distribution_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`balance_distribution`'s sums: members per (tier or ``all``, day, balance).

    The cells that are not zero of each tier's day-by-balance histogram
    (``day`` counts from the day of ``measure_start``): counts of members,
    which add over batches of members.
    """
    first_day = tables.measure_start // DAY
    n_days = tables.end // DAY - first_day + 1
    cols = tables.columns
    led, roster = cols.ledger, cols.members
    times = led.time
    present = _present_members(tables)
    # Members who left before the window, or arrive after it, are in no day's count.
    absent = np.zeros(len(led.member.names) + 1, dtype=bool)
    absent[roster.member.codes[~present]] = True
    keep = np.flatnonzero((times <= tables.end) & ~absent[led.member.codes])
    # Tiers in presentation order, of those the roster starts on or the ledger shows.
    seen = _present(led.tier, roster.initial_tier.codes, led.tier.codes)
    tier_names = _ordered_tiers(pd.Series(led.tier.names[seen], dtype=object))
    rank = pd.Index(tier_names).get_indexer(led.tier.names_and_empty)
    member_names = led.member.names
    if len(keep) == len(times):  # nothing after the end (every run): no copies
        member, kept_times = led.member.codes, times
    else:
        member, kept_times = led.member.codes[keep], times[keep]
    day = np.maximum(kept_times // DAY - first_day, 0)
    last = _last_of_each_day(member, day, kept_times, len(member_names), n_days)
    # Only each member's last entry of each day is read from here on.
    entries = keep[last]
    member, day = member[last], day[last]
    tier, balance = rank[led.tier.codes[entries]], led.balance_after[entries]

    starts = np.ones(len(member), dtype=bool)
    starts[1:] = member[1:] != member[:-1]
    # Everyone starts on its initial tier at balance 0; a member missing from the
    # members table starts on the tier of its first entry; a member who arrives
    # during the window (or is absent from it) starts outside every count
    # (_OUTSIDE) and enters it with its first entry.
    start_tier = np.full(len(member_names), -1, dtype=np.int64)
    start_tier[roster.member.codes] = rank[roster.initial_tier.codes]
    late = (roster.arrived_at > tables.measure_start) | ~present
    start_tier[roster.member.codes[late]] = _OUTSIDE
    unknown = start_tier[member[starts]] == -1
    start_tier[member[starts][unknown]] = tier[starts][unknown]
    new_tier = tier
    prev_tier = np.roll(new_tier, 1)
    prev_balance = np.roll(balance, 1)
    prev_tier[starts] = start_tier[member[starts]]
    prev_balance[starts] = 0
    initial_tiers = start_tier[start_tier >= 0]
    tier_code = {name: i for i, name in enumerate(tier_names)}

    cells = []
    # Per tier: histogram of (tier, balance) states per day; "all": of balances alone.
    for name, code in [*tier_code.items(), ("all", None)]:
        if code is None:
            new_sel = np.ones(len(member), dtype=bool)
            prev_sel = prev_tier != _OUTSIDE
            n_initial = len(initial_tiers)
        else:
            new_sel = new_tier == code
            prev_sel = prev_tier == code
            n_initial = int((initial_tiers == code).sum())
        new_balance, old_balance = balance[new_sel], prev_balance[prev_sel]
        values, where = _distinct([np.zeros(1, dtype=np.int64), new_balance, old_balance])
        counts = np.zeros((n_days, len(values)), dtype=np.int64)
        counts[0, where[0][0]] = n_initial  # everyone starts at balance 0
        flat_new = day[new_sel] * len(values) + where[1]
        flat_old = day[prev_sel] * len(values) + where[2]
        size = n_days * len(values)
        delta = np.bincount(flat_new, minlength=size) - np.bincount(flat_old, minlength=size)
        counts += delta.reshape(n_days, len(values))
        counts = counts.cumsum(axis=0)
        days, at = np.nonzero(counts)
        cells.append(
            pd.DataFrame(
                {
                    "tier": np.full(len(days), name, dtype=object),
                    "day": days.astype(np.int64),
                    "balance": values[at].astype(np.int64),
                    "members": counts[days, at],
                }
            )
        )
    return pd.concat(cells, ignore_index=True)


def balance_distribution_finish(sums: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`balance_distribution` from its sums (merged over batches)."""
    first_day = meta.measure_start // DAY
    n_days = meta.end // DAY - first_day + 1
    tier_of = sums["tier"].to_numpy()
    names = [t for t in pd.unique(tier_of) if t != "all"]
    rows = []
    for name in [*_ordered_tiers(pd.Series(names, dtype=object)), "all"]:
        mine = tier_of == name
        # A balance held by nobody on any day changes no figure, so only cells held count.
        values, at = np.unique(sums["balance"].to_numpy(dtype=np.int64)[mine], return_inverse=True)
        counts = np.zeros((n_days, len(values)), dtype=np.int64)
        np.add.at(counts, (sums["day"].to_numpy(dtype=np.int64)[mine], at),
                  sums["members"].to_numpy(dtype=np.int64)[mine])  # fmt: skip
        if len(values) == 0:
            continue
        n = counts.sum(axis=1)
        cum = counts.cumsum(axis=1)
        frame = pd.DataFrame(
            {
                "date": np.datetime_as_string(
                    (first_day + np.arange(n_days)).astype("datetime64[D]")
                ),
                "tier": name,
                "members": n,
                "mean_balance": (counts @ values) / np.where(n > 0, n, 1),
            }
        )
        for p in PERCENTILES:
            frame[f"p{p}"] = values[np.argmax(cum * 100 >= p * n[:, None], axis=1)]
        nonzero = counts > 0
        frame["max_balance"] = values[len(values) - 1 - np.argmax(nonzero[:, ::-1], axis=1)]
        rows.append(frame[n > 0])
    if not rows:
        return _empty_balances()
    out = pd.concat(rows, ignore_index=True)
    out = out.sort_values("date", kind="stable").reset_index(drop=True)
    return out


def _empty_balances() -> pd.DataFrame:
    """:func:`balance_distribution` with no member on any day: its columns, no rows."""
    columns: dict[str, Any] = {
        "date": pd.Series(dtype=object),
        "tier": pd.Series(dtype=object),
        "members": pd.Series(dtype=np.int64),
        "mean_balance": pd.Series(dtype=np.float64),
    }
    columns.update({f"p{p}": pd.Series(dtype=np.int64) for p in PERCENTILES})
    columns["max_balance"] = pd.Series(dtype=np.int64)
    return pd.DataFrame(columns)


def _distinct(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct integers of ``parts`` (ascending), and each element's position among them.

    Integers in a narrow range (balances) are marked in a table, not sorted.
    """
    every = [np.asarray(p, dtype=np.int64) for p in parts]
    nonempty = [p for p in every if len(p)]
    low = min(int(p.min()) for p in nonempty)
    high = max(int(p.max()) for p in nonempty)
    size = sum(len(p) for p in every)
    if high - low + 1 <= max(4 * size, 1 << 16):
        present = np.zeros(high - low + 1, dtype=bool)
        for p in nonempty:
            present[p - low] = True
        position = np.cumsum(present) - 1
        return np.flatnonzero(present) + low, [position[p - low] for p in every]
    values = np.unique(np.concatenate(every))
    return values, [np.searchsorted(values, p) for p in every]


def _last_of_each_day(
    member: np.ndarray, day: np.ndarray, time: np.ndarray, n_members: int, n_days: int
) -> np.ndarray:
    """Positions of each member's last entry of each day, ordered by member, then day.

    "Last" is by time, then table order (the engine's order within an
    instant). A ledger in time order (every run's) needs no sort: the last
    position of each (member, day) slot is kept in a dense table. Otherwise,
    or when that table would be too large, the entries are sorted.
    """
    n = len(member)
    slots = (n_members + 1) * n_days
    if n and slots <= max(4 * n, 1 << 20) and bool((time[1:] >= time[:-1]).all()):
        slot = np.where(member < 0, n_members, member).astype(np.int64) * n_days + day
        last = np.full(slots, -1, dtype=np.int64)
        np.maximum.at(last, slot, np.arange(n, dtype=np.int64))
        return last[last >= 0]
    order = np.lexsort((np.arange(n), time, member))
    m, d = member[order], day[order]
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = (m[1:] != m[:-1]) | (d[1:] != d[:-1])
    return order[is_last]


# ---------------------------------------------------------------------------
# Purchases, revenue, rejections


def purchases_revenue(tables: RunTables) -> pd.DataFrame:
    """Purchases, credits bought and revenue per tier and calendar month.

    One row per tier seen (on a purchase, a charge or a ``no_credit``
    rejection in the window) and per month of the window. Columns:
    ``purchases``, ``credits_bought``, ``purchase_revenue_cents`` (credits at
    ``credit_price_cents``), ``subscription_charges``,
    ``subscription_revenue_cents`` (billing), ``revenue_cents`` (their sum) and
    ``inmails_rejected_no_credit`` (sends rejected for lack of credit).
    """
    return purchases_revenue_finish(purchases_revenue_sums(tables), tables)


_PURCHASE_COUNTS = [
    "purchases",
    "credits_bought",
    "subscription_charges",
    "subscription_revenue_cents",
    "inmails_rejected_no_credit",
]


def purchases_revenue_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`purchases_revenue`'s sums: its counts per (tier, month code)."""
    cols = tables.columns
    led, bill = cols.ledger, cols.billing
    buys = _window_rows(tables, led.kind.mask("purchase"))
    failed = _window_rows(tables, led.kind.mask("reject") & led.reason.mask("no_credit"))
    charges = np.flatnonzero(tables._window.billing)
    n_buys, n_charges, n_failed = len(buys), len(charges), len(failed)
    zeros = np.zeros
    values = {
        "purchases": np.concatenate([np.ones(n_buys), zeros(n_charges + n_failed)]),
        "credits_bought": np.concatenate([led.quantity[buys], zeros(n_charges + n_failed)]),
        "subscription_charges": np.concatenate(
            [zeros(n_buys), np.ones(n_charges), zeros(n_failed)]
        ),
        "subscription_revenue_cents": np.concatenate(
            [zeros(n_buys), bill.amount_cents[charges], zeros(n_failed)]
        ),
        "inmails_rejected_no_credit": np.concatenate(
            [zeros(n_buys + n_charges), np.ones(n_failed)]
        ),
    }
    # Ledger and billing tiers share one dictionary, so their codes can be stacked.
    tier = np.concatenate([led.tier.codes[buys], bill.tier.codes[charges], led.tier.codes[failed]])
    times = np.concatenate([led.time[buys], bill.time[charges], led.time[failed]])
    return _group_sums(
        {"tier": _key(led.tier, tier), "_month": _month_key(times)},
        {k: v.astype(np.int64) for k, v in values.items()},
    )


def purchases_revenue_finish(sums: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`purchases_revenue` from its sums (merged over batches)."""
    tiers = _ordered_tiers(sums["tier"])
    index = pd.MultiIndex.from_product([tiers, _window_months(meta)], names=["tier", "_month"])
    sums = sums.set_index(["tier", "_month"])[_PURCHASE_COUNTS].reindex(index, fill_value=0)
    out = sums.astype(np.int64).reset_index()
    out.insert(1, "month", _month_labels(out.pop("_month").to_numpy()))
    out.insert(4, "purchase_revenue_cents", out["credits_bought"] * meta.credit_price_cents)
    out["revenue_cents"] = out["purchase_revenue_cents"] + out["subscription_revenue_cents"]
    order = ["tier", "month", "purchases", "credits_bought", "purchase_revenue_cents"]
    order += ["subscription_charges", "subscription_revenue_cents", "revenue_cents"]
    return out[[*order, "inmails_rejected_no_credit"]]


def rejections(tables: RunTables) -> pd.DataFrame:
    """Rejected actions per tier, calendar month, action (``send``/``purchase``) and reason.

    A reject entry naming an InMail is a send; any other is a purchase.
    Columns: ``tier``, ``month``, ``action``, ``reason``, ``rejections``.
    """
    return rejections_finish(rejections_sums(tables))


def rejections_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`rejections`' sums: rejections per (tier, month code, action, reason)."""
    led = tables.columns.ledger
    rej = _window_rows(tables, led.kind.mask("reject"))
    action = np.where(_names_inmail(led.inmail, rej), 0, 1)
    return _group_sums(
        {
            "tier": _coded(led.tier, rej),
            "month": _month_key(led.time[rej]),
            "action": (action, np.array(["send", "purchase"], dtype=object)),
            "reason": _coded(led.reason, rej),
        },
        {"rejections": np.ones(len(rej), dtype=np.int64)},
    )


def rejections_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`rejections` from its sums (merged over batches)."""
    out = sums.dropna(subset=["tier", "reason"]).copy()  # as a groupby would: no empty keys
    out["month"] = _month_labels(out["month"].to_numpy())
    return _sort(out, ["tier", "month", "action", "reason"]).reset_index(drop=True)


def per_tier(tables: RunTables) -> pd.DataFrame:
    """What members of each starting tier did over the measured window, per member.

    Members are grouped by ``initial_tier`` (who they were at the start, so
    a member who upgraded still counts where it began). Columns: ``tier``,
    ``members``, then per member: ``sent`` (accepted InMails), ``no_credit``
    (sends rejected for lack of credit), ``responses``, ``granted``,
    ``purchased``, ``refunded``, ``spent``, ``expired``, ``capped``,
    ``forfeited`` (credits), ``purchase_spend`` (currency units); and the
    group's ``refund_rate`` (refunded / settled paid InMails) and
    ``expiry_waste_rate`` (expired / issued credits). Rates are NaN when
    their denominator is 0.
    """
    cols = tables.columns
    led, im, roster = cols.ledger, cols.inmails, cols.members
    win = tables._window
    # A member's group: its initial tier's code (-1: not in the members table, counted nowhere).
    # Members present in the window only (an open population's leavers and late
    # arrivals are not its members).
    present = _present_members(tables)
    initial = roster.initial_tier.codes[present]
    group_of = np.full(len(led.member.names) + 1, -1, dtype=np.int64)
    group_of[roster.member.codes[present]] = initial
    n_groups = len(led.tier.names)
    tiers = [str(t) for t in _ordered_tiers(
        pd.Series(roster.initial_tier.labels(initial), dtype=object).dropna()
    )]  # fmt: skip
    size = np.bincount(initial[initial >= 0], minlength=n_groups)

    def per_group(group: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` per group (rows of no group dropped)."""
        mine = group >= 0
        out = np.zeros(n_groups, dtype=np.int64)
        np.add.at(out, group[mine], np.asarray(values, dtype=np.int64)[mine])
        return out

    rows_led = win.ledger_rows
    group_led = group_of[led.member.codes[rows_led]]
    kinds = ("grant", "purchase", "refund", "spend", "expire", "cap", "forfeit")
    credit = _kind_sums_by_group(
        np.where(group_led >= 0, group_led, n_groups), n_groups + 1, led, rows_led, kinds
    )
    no_credit = per_group(
        group_led,
        (led.kind.codes[rows_led] == led.kind.code("reject"))
        & (led.reason.codes[rows_led] == led.reason.code("no_credit")),
    )
    sent = np.flatnonzero(win.inmails)
    group_im = group_of[im.sender.codes[sent]]
    accepted = im.accepted[sent]
    settled = im.paid[sent] & (im.window_end[sent] != _NAT) & (im.window_end[sent] <= tables.end)
    counts = {
        "sent": per_group(group_im, accepted),
        "responses": per_group(group_im, accepted & im.responded[sent]),
        "settled": per_group(group_im, settled),
        "refunded": per_group(group_im, settled & (im.refunded_at[sent] != _NAT)),
    }

    rows = []
    for tier in tiers:
        code = led.tier.code(tier)
        n = int(size[code])

        def credits(kind: str, code: int = code) -> int:
            return int(credit[kind][code])

        issued = credits("grant") + credits("purchase") + credits("refund")
        s = int(counts["settled"][code])
        rows.append(
            {
                "tier": tier,
                "members": n,
                "sent": int(counts["sent"][code]) / n,
                "no_credit": int(no_credit[code]) / n,
                "responses": int(counts["responses"][code]) / n,
                "granted": credits("grant") / n,
                "purchased": credits("purchase") / n,
                "refunded": credits("refund") / n,
                "spent": credits("spend") / n,
                "expired": credits("expire") / n,
                "capped": credits("cap") / n,
                "forfeited": credits("forfeit") / n,
                "purchase_spend": credits("purchase") * tables.credit_price_cents / 100 / n,
                "refund_rate": int(counts["refunded"][code]) / s if s else math.nan,
                "expiry_waste_rate": credits("expire") / issued if issued else math.nan,
            }
        )
    columns = [
        "tier",
        "members",
        "sent",
        "no_credit",
        "responses",
        "granted",
        "purchased",
        "refunded",
        "spent",
        "expired",
        "capped",
        "forfeited",
        "purchase_spend",
        "refund_rate",
        "expiry_waste_rate",
    ]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------
# Headline metrics and replications


def headline(
    tables: RunTables,
    *,
    rates: pd.DataFrame | None = None,
    members: pd.DataFrame | None = None,
) -> dict[str, int | float]:
    """The run's headline metrics over the measured window, as one flat dict.

    Counts and cents are ints, rates floats (NaN when undefined):
    ``expiry_waste_rate`` = credits_expired / credits_issued,
    ``refund_rate`` = settled_refunds / settled, ``refund_share`` =
    refunds / credits_spent, ``never_send_share`` over all members,
    ``median_utilisation`` over member-tiers with grants. Pass ``rates``
    (:func:`refund_rates`) and ``members`` (:func:`utilisation_members`) to
    avoid recomputing them.
    """
    if rates is None:
        rates = refund_rates(tables)
    if members is None:
        members = utilisation_members(tables)
    return headline_finish(headline_sums(tables), rates, members, tables)


def headline_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`headline`'s sums over the window: one row of counts (no keys).

    Members and senders are counted per batch of members and added: a
    member's rows are all in its batch.
    """
    cols = tables.columns
    led, im = cols.ledger, cols.inmails
    win = tables._window
    rows = win.ledger_rows
    kind = led.kind.codes[rows]
    slots = len(led.kind.names) + 1  # slot 0: entries without a kind
    entries = np.bincount(kind + 1, minlength=slots)
    credits = np.zeros(slots, dtype=np.int64)
    np.add.at(credits, kind + 1, led.quantity[rows])

    def of(totals: np.ndarray, name: str) -> int:
        code = led.kind.code(name)
        return int(totals[code + 1]) if code >= 0 else 0

    attempted = win.inmails
    accepted = attempted & im.accepted
    roster_present = cols.members.member.codes[_present_members(tables)]
    rejected = rows[kind == led.kind.code("reject")]
    counts = {f"credits_{name}": of(credits, name) for name in _KIND_COLUMNS}
    counts |= {
        "members": int(_present(led.member, roster_present, led.member.codes[rows]).sum()),
        "senders": int(_present(im.sender, im.sender.codes[accepted]).sum()),
        "inmails_attempted": int(attempted.sum()),
        "inmails_sent": int(accepted.sum()),
        "inmails_free": int((im.free & accepted).sum()),
        "inmails_rejected_no_credit": int(
            (led.reason.codes[rejected] == led.reason.code("no_credit")).sum()
        ),
        "purchases_rejected": int((~_names_inmail(led.inmail, rejected)).sum()),
        "purchases": of(entries, "purchase"),
        "subscription_revenue_cents": int(cols.billing.amount_cents[win.billing].sum()),
    }
    return pd.DataFrame({name: [value] for name, value in counts.items()}, dtype=np.int64)


def headline_finish(
    sums: pd.DataFrame, rates: pd.DataFrame, members: pd.DataFrame, meta: RunMeta
) -> dict[str, int | float]:
    """:func:`headline` from its sums, :func:`refund_rates` and :func:`utilisation_members`."""
    c = {name: int(sums[name].sum()) for name in sums.columns}
    k = {name: c[f"credits_{name}"] for name in _KIND_COLUMNS}
    with_grants = members.loc[members["granted"] > 0, "utilisation"].to_numpy(dtype=float)
    n_members = c["members"]
    n_attempted, n_accepted = c["inmails_attempted"], c["inmails_sent"]
    settled = int(rates["settled"].sum())
    settled_refunds = int(rates["settled_refunds"].sum())
    # The metrics summary.json shares, defined once (simulator.metrics).
    shared = window_metrics(
        {
            "credits_granted": k["grant"],
            "credits_purchased": k["purchase"],
            "credits_refunded": k["refund"],
            "credits_spent": k["spend"],
            "credits_expired": k["expire"],
            "settled": settled,
            "settled_refunds": settled_refunds,
            "subscription_revenue_cents": c["subscription_revenue_cents"],
        },
        meta.credit_price_cents,
    )
    return {
        "members": n_members,
        "inmails_attempted": n_attempted,
        "inmails_sent": n_accepted,
        "inmails_paid": k["spend"],
        "inmails_free": c["inmails_free"],
        "inmails_rejected": n_attempted - n_accepted,
        "inmails_rejected_no_credit": c["inmails_rejected_no_credit"],
        "purchases_rejected": c["purchases_rejected"],
        "credits_granted": k["grant"],
        "credits_purchased": k["purchase"],
        "credits_refunded": k["refund"],
        "credits_issued": shared["credits_issued"],
        "credits_spent": k["spend"],
        "credits_expired": k["expire"],
        "credits_capped": k["cap"],
        "credits_forfeited": k["forfeit"],
        "expiry_waste_rate": shared["expiry_waste_rate"],
        "expired_value_cents": shared["expired_value_cents"],
        "refunds": k["refund"],
        "refund_share": shared["refund_share"],
        "settled": settled,
        "settled_refunds": settled_refunds,
        "refund_rate": shared["refund_rate"],
        "late_responses": int(rates["late_responses"].sum()),
        "purchases": c["purchases"],
        "purchase_revenue_cents": shared["purchase_revenue_cents"],
        "subscription_revenue_cents": shared["subscription_revenue_cents"],
        "never_send_share": _div(n_members - c["senders"], n_members),
        "median_utilisation": _weighted_percentiles(
            with_grants, np.ones(len(with_grants), dtype=np.int64), (50,)
        )[0],
    }


# ---------------------------------------------------------------------------
# Writing a run's reports


def write_reports(
    run_dir: str | os.PathLike[str],
    fmt: str = "csv",
    sums: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write RUN_DIR/reports/ (tables), RUN_DIR/plots/*.png and RUN_DIR/report.html.

    ``fmt`` is ``csv``, ``parquet`` or ``markdown`` (``.md``). Every file is
    written to a temporary name and moved into place, so a reader never sees
    half a file. Returns the paths written, tables first, then plots, then
    the page (built by :func:`simulator.report_html.run_page`, which reads
    the run's ``scenario.yaml`` for its policy when there is one).

    The reports are finished from the run's report sums
    (:mod:`simulator.report_sums`): ``sums`` when the run's workers computed
    them, otherwise read from the run's parts one batch at a time, so the
    memory needed is that of one batch, whatever the run's size.
    """
    from simulator import plots, report_html, report_sums

    _extension(fmt)
    root = Path(run_dir)
    tables = load_run_tables(root)  # the folder checked, its metadata read; no rows yet
    if sums is None:
        sums = report_sums.run_sums(root, tables)
    frames = report_sums.frames(sums, tables)
    written: list[Path] = []
    written.extend(write_tables(frames, root / "reports", fmt))

    figures = {
        "expiry_waste": plots.plot_expiry_waste(frames["expiry_waste"]),
        "credit_vintages": plots.plot_credit_vintages(frames["credit_vintages"]),
        "refund_rates": plots.plot_refund_rates(frames["refund_rates_by_tier_category"]),
        "balance_distribution": plots.plot_balance_distribution(frames["balance_distribution"]),
        "response_delays": plots.plot_response_delays(
            frames["response_delays"], tables.refund_window_days
        ),
        "purchases_revenue": plots.plot_purchases_revenue(
            frames["purchases_revenue"], tables.currency
        ),
        "utilisation": plots.plot_utilisation(frames["utilisation"]),
    }
    steady = report_html.steady_block(tables.summary)
    if steady is not None:  # drawn for its own section of the page
        figures["steady_state"] = plots.plot_steady_state(steady)
    images = _write_figures(figures, root / "plots", written)
    headline_values = dict(
        zip(frames["headline"]["metric"], frames["headline"]["value"], strict=True)
    )
    page = report_html.run_page(
        tables,
        frames,
        images,
        headline=headline_values,
        scenario=_read_scenario(root / "scenario.yaml"),
        ext=_extension(fmt),
    )
    written.append(_atomic_write(root / "report.html", page.encode("utf-8")))
    return written


def reports_or_problems(
    run_dir: str | os.PathLike[str], sums: Mapping[str, Any] | None = None
) -> list[str]:
    """:func:`write_reports`, but a report that fails costs only the reports.

    Returns ``[]``, or the lines saying why the reports failed, having removed
    whatever of ``reports/``, ``plots/`` and ``report.html`` they had written,
    so a run directory never holds half a report. An interruption (Ctrl-C)
    still propagates.
    """
    try:
        write_reports(run_dir, sums=sums)
    except Exception as exc:  # a report's bug must not throw away the simulation
        root = Path(run_dir)
        for name in ("reports", "plots"):
            shutil.rmtree(root / name, ignore_errors=True)
        (root / "report.html").unlink(missing_ok=True)
        if isinstance(exc, CreditsimError):
            return list(exc.lines())
        return [f"{type(exc).__name__}: {exc}"]
    return []


def write_replications(
    run_dirs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], fmt: str = "csv"
) -> list[Path]:
    """Write the replication report of runs of one scenario with different seeds.

    Reads each run's ``run.json`` and ``summary.json``; writes
    OUT_DIR/reports/replications.<ext>, OUT_DIR/plots/replications.png and
    OUT_DIR/replications.html. The runs must share a scenario and differ in seed.
    """
    from simulator import plots, report_html

    _extension(fmt)
    summaries, scenarios, seeds, currencies = [], set(), [], []
    for run_dir in run_dirs:
        root = Path(run_dir)
        meta = _read_json(root / "run.json")
        summaries.append(_read_json(root / "summary.json"))
        scenarios.add(str(meta.get("scenario")))
        seeds.append(meta.get("seed"))
        currencies.append(str(meta.get("currency", "USD")))
    if not summaries:
        raise InputError("replications: no run directories given")
    if len(scenarios) > 1:
        raise InputError(
            f"replications: runs of different scenarios: {', '.join(sorted(scenarios))}"
        )
    if len(set(map(str, seeds))) < len(seeds):
        raise InputError("replications: two runs share a seed")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = replications(summaries)
    written = write_tables({"replications": frame}, out / "reports", fmt)
    images = _write_figures(
        {"replications": plots.plot_replications(frame, currency=currencies[0])},
        out / "plots",
        written,
    )
    page = report_html.replications_page(scenarios.pop(), seeds, frame, images, currencies[0])
    written.append(_atomic_write(out / "replications.html", page.encode("utf-8")))
    return written


_FORMATS = {"csv": "csv", "parquet": "parquet", "markdown": "md"}


def write_tables(
    frames: Mapping[str, pd.DataFrame], out_dir: str | os.PathLike[str], fmt: str = "csv"
) -> list[Path]:
    """Write each frame as OUT_DIR/<name>.<csv|parquet|md>, atomically; return the paths.

    CSV has no index and leaves NaN cells empty; Markdown is a GitHub table.
    """
    ext = _extension(fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_write_table(frame, out / f"{name}.{ext}", fmt) for name, frame in frames.items()]


def _extension(fmt: str) -> str:
    ext = _FORMATS.get(fmt)
    if ext is None:
        raise InputError(f"unknown report format {fmt!r}: use one of {', '.join(_FORMATS)}")
    return ext


def report_frames(tables: RunTables) -> dict[str, pd.DataFrame]:
    """Every report table of one run, by name, as ``write_reports`` writes them.

    The tables are read as one batch (:func:`simulator.report_sums.batch_sums`).
    """
    from simulator import report_sums

    return report_sums.frames(report_sums.batch_sums(tables), tables)


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
        return _atomic_write(path, data)
    if fmt == "markdown":
        return _atomic_write(path, _markdown(frame).encode("utf-8"))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return _atomic_write(path, buffer.getvalue())


def _write_figures(figures: Mapping[str, Any], plot_dir: Path, written: list[Path]) -> dict:
    from simulator import plots

    plot_dir.mkdir(exist_ok=True)
    images = {}
    for name, fig in figures.items():
        png = plots.figure_png(fig)
        written.append(_atomic_write(plot_dir / f"{name}.png", png))
        images[name] = png
    return images


def _read_scenario(path: Path) -> Mapping[str, Any] | None:
    """The run's resolved scenario (``scenario.yaml``), or None when absent or unreadable:
    the page then says the policy is not recorded, and the reports are still written."""
    from simulator.yamlio import load_yaml_file

    if not path.exists():
        return None
    try:
        data = load_yaml_file(path)
    except (CreditsimError, OSError):
        return None
    return data if isinstance(data, Mapping) else None


def _atomic_write(path: Path, data: bytes) -> Path:
    atomic_write_bytes(path, data)  # removes its temporary file if the write fails
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: must hold a JSON object")
    return data


def _markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pandas' to_markdown needs tabulate, which we lack)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            if math.isnan(value):
                return ""
            # Six significant digits, never scientific notation (2.56814e+08 read as a typo).
            return str(
                np.format_float_positional(
                    value, precision=6, unique=False, fractional=False, trim="-"
                )
            )
        return str(value).replace("|", "\\|")

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Helpers


def length_bucket(body_chars: Any) -> np.ndarray:
    """Body-length bucket labels (:data:`LENGTH_BUCKETS`) of an array of character counts."""
    chars = np.asarray(body_chars, dtype=np.int64)
    which = np.searchsorted(_BUCKET_UPPER, chars, side="left")
    return np.asarray(LENGTH_BUCKETS, dtype=object)[which]


def _require_columns(present: Iterable[str], columns: Iterable[str], name: str) -> None:
    have = set(present)
    missing = [c for c in columns if c not in have]
    if missing:
        raise InputError(f"{name}: missing columns: {', '.join(missing)}")


def _meta_instant(meta: Mapping[str, Any], key: str) -> int:
    try:
        return parse_instant(str(meta[key]))
    except ValueError as exc:
        raise InputError(f"run.json: {key}: {exc}") from None


def _meta_whole(meta: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"run.json: {key}: must be a whole number, not {value!r}")
    return int(value)


def _in_window(instants: np.ndarray, tables: RunTables) -> np.ndarray:
    return (instants >= tables.measure_start) & (instants <= tables.end) & (instants != _NAT)


def _window_rows(tables: RunTables, mask: np.ndarray) -> np.ndarray:
    """Positions of the window's ledger entries where ``mask`` (over the whole ledger) holds."""
    return np.flatnonzero(mask & tables._window.ledger)


#: A grouping key: integer codes (>= 0) and the label of each code.
Key = tuple[np.ndarray, np.ndarray]


def _key(codes: Codes, values: np.ndarray) -> Key:
    """A key from codes of the dictionary of ``codes`` (an empty cell is its own group)."""
    values = np.asarray(values)
    return np.where(values < 0, len(codes.names), values), codes.names_and_empty


def _coded(codes: Codes, rows: np.ndarray) -> Key:
    """A key from the text column ``codes`` at ``rows``."""
    return _key(codes, codes.codes[rows])


def _month_key(instants: np.ndarray) -> Key:
    """A key of calendar months (UTC), labelled by months since 1970-01."""
    if len(instants) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    days = instants // DAY
    first = int(days.min())
    # The month of each day in the range, computed once per day, not per row.
    month_of_day = (
        np.arange(first, int(days.max()) + 1).astype("datetime64[D]").astype("datetime64[M]")
    ).view(np.int64)
    months = month_of_day[days - first]
    return months - month_of_day[0], np.arange(month_of_day[0], month_of_day[-1] + 1)


def _bucket_key(body_chars: np.ndarray) -> Key:
    """A key of body-length buckets (:data:`LENGTH_BUCKETS`)."""
    which = np.searchsorted(_BUCKET_UPPER, np.asarray(body_chars, dtype=np.int64), side="left")
    return which, np.asarray(LENGTH_BUCKETS, dtype=object)


def _present_members(tables: RunTables) -> np.ndarray:
    """Rows of the members table present in the measured window (all, in a closed population)."""
    return tables.columns.members.present(tables.measure_start, tables.end)


def _present(codes: Codes, *parts: np.ndarray) -> np.ndarray:
    """Which names of ``codes``' dictionary occur in any of ``parts`` (arrays of its codes)."""
    seen = np.zeros(len(codes.names) + 1, dtype=bool)
    for part in parts:
        seen[np.asarray(part)] = True  # -1 (empty) lands on the last slot
    return seen[:-1]


def _names_inmail(ids: Any, rows: np.ndarray) -> np.ndarray:
    """Whether the ledger entries ``rows`` name an InMail (an id that is not empty)."""
    if isinstance(ids, pa.ChunkedArray):
        picked = ids.take(pa.array(rows))  # text ids arrive decoded (columns._Reader.ids)
        if pa.types.is_string(picked.type) or pa.types.is_large_string(picked.type):
            named = pc.and_(pc.is_valid(picked), pc.not_equal(picked, ""))
        elif pa.types.is_binary(picked.type) or pa.types.is_large_binary(picked.type):
            named = pc.and_(pc.is_valid(picked), pc.not_equal(picked, pa.scalar(b"", picked.type)))
        else:
            named = pc.is_valid(picked)
        return np.asarray(pc.fill_null(named, False).to_numpy(), dtype=bool)
    values = pd.Series(ids).iloc[rows]
    return (values.notna() & (values.astype(str) != "")).to_numpy(dtype=bool)


def _groups(keys: Mapping[str, Key]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The group of each row over the combinations of ``keys``, and each group's key labels.

    Groups are the combinations seen, in no set order. Few possible
    combinations get one slot each (no hashing); many are factorized.
    """
    names = list(keys)
    codes = [np.asarray(keys[n][0], dtype=np.int64) for n in names]
    labels = [keys[n][1] for n in names]
    dims = tuple(max(len(u), 1) for u in labels)
    n = len(codes[0])
    flat = np.ravel_multi_index(codes, dims) if len(codes) > 1 else codes[0]
    size = math.prod(dims)
    if size <= max(4 * n, 1 << 16):
        used = np.flatnonzero(np.bincount(flat, minlength=size))
        group_of_slot = np.full(size, -1, dtype=np.int64)
        group_of_slot[used] = np.arange(len(used))
        group, slots = group_of_slot[flat], used
    else:
        group, uniques = pd.factorize(flat, use_na_sentinel=False)
        slots = np.asarray(uniques, dtype=np.int64)
    where = np.unravel_index(slots, dims)
    return group, {name: np.asarray(u)[w] for name, u, w in zip(names, labels, where, strict=True)}


def _empty_sums(keys: Iterable[str], values: Iterable[str]) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in keys})
    for name in values:
        frame[name] = pd.Series(dtype=np.int64)
    return frame


def _group_sums(keys: Mapping[str, Key], values: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Sum integer ``values`` over the distinct combinations of ``keys``, exactly.

    Keys are integer codes (:data:`Key`); values are summed with ``np.add.at``
    in int64, so large tables cost no Python loop over rows and no float sum.
    Returns one row per combination seen, key columns (labels) first, in no
    set order.
    """
    if len(next(iter(keys.values()))[0]) == 0:
        return _empty_sums(keys, values)
    group, out = _groups(keys)
    n_groups = len(next(iter(out.values())))
    frame: dict[str, Any] = dict(out)
    for name, column in values.items():
        sums = np.zeros(n_groups, dtype=np.int64)
        np.add.at(sums, group, np.asarray(column, dtype=np.int64))
        frame[name] = sums
    return pd.DataFrame(frame)


def _kind_sums(
    keys: Mapping[str, Key],
    led: LedgerColumns,
    rows: np.ndarray,
    kinds: Iterable[str] = _KIND_COLUMNS,
) -> pd.DataFrame:
    """Per combination of ``keys`` (over ledger ``rows``): the quantity of each of ``kinds``.

    One column per kind, named by the kind; every combination seen is a
    row, even one whose entries are all of other kinds.
    """
    kinds = list(kinds)
    if len(rows) == 0:
        return _empty_sums(keys, kinds)
    group, out = _groups(keys)
    sums = _kind_sums_by_group(group, len(next(iter(out.values()))), led, rows, kinds)
    return pd.DataFrame({**out, **sums})


def _kind_sums_by_group(
    group: np.ndarray,
    n_groups: int,
    led: LedgerColumns,
    rows: np.ndarray,
    kinds: Iterable[str] | Mapping[str, str],
) -> dict[str, np.ndarray]:
    """Per group, the quantity of each kind in ``kinds`` over ledger ``rows`` (group per row).

    ``kinds`` may map each kind to the name of its column.
    """
    names = dict(kinds) if isinstance(kinds, Mapping) else {k: k for k in kinds}
    # Ledger kind code -> column of the result (-1: a kind not asked for).
    column_of = np.full(len(led.kind.names) + 1, -1, dtype=np.int64)
    for i, kind in enumerate(names):
        if led.kind.code(kind) >= 0:
            column_of[led.kind.code(kind)] = i
    column = column_of[led.kind.codes[rows]]
    counted = column >= 0
    sums = np.zeros((n_groups, len(names)), dtype=np.int64)
    np.add.at(sums, (group[counted], column[counted]), led.quantity[rows][counted])
    return {name: sums[:, i] for i, name in enumerate(names.values())}


def _month_labels(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    return np.datetime_as_string(codes.astype("datetime64[M]"), unit="M").astype(object)


def _window_months(meta: RunMeta) -> list[int]:
    first = np.int64(meta.measure_start).astype("datetime64[s]").astype("datetime64[M]")
    last = np.int64(meta.end).astype("datetime64[s]").astype("datetime64[M]")
    return list(range(int(first.view(np.int64)), int(last.view(np.int64)) + 1))


def _waste_columns(sums: pd.DataFrame) -> pd.DataFrame:
    sums = sums.reindex(columns=list(_KIND_COLUMNS), fill_value=0).rename(columns=_KIND_COLUMNS)
    sums = sums.astype(np.int64)
    sums.insert(3, "credits_issued", sums["granted"] + sums["purchased"] + sums["refunded"])
    return sums


def _finish_waste(out: pd.DataFrame, price_cents: int) -> pd.DataFrame:
    out = out.reset_index(drop=True)
    lost = out["credits_expired"] + out["capped"] + out["forfeited"]
    out["waste_rate"] = _ratio(out["credits_expired"], out["credits_issued"])
    out["lost_rate"] = _ratio(lost, out["credits_issued"])
    out["expired_value_cents"] = out["credits_expired"].astype(np.int64) * int(price_cents)
    out.columns.name = None
    return out


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    return (num / den.where(den != 0)).astype(np.float64)


def _div(num: int, den: int) -> float:
    return num / den if den else math.nan


def _ordered_tiers(tiers: pd.Series) -> list[str]:
    seen = set(pd.unique(tiers.to_numpy()))
    return [t for t in TIER_ORDER if t in seen] + sorted(
        str(t) for t in seen if t not in TIER_ORDER
    )


def _sort(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Sort by keys: tiers in :data:`TIER_ORDER`, buckets by length, text A-Z, ``all`` last.

    Ranks are computed once per distinct value, so this costs no Python loop over rows.
    """
    ranked = {}
    for name in keys:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            ranked[name] = column.to_numpy()
            continue
        values = [v for v in pd.unique(column.to_numpy()) if v != "all"]
        if name == "tier":
            order = _ordered_tiers(pd.Series(values, dtype=object))
        elif name == "length_bucket":
            order = [b for b in LENGTH_BUCKETS if b in values]
            order += sorted(str(v) for v in values if v not in LENGTH_BUCKETS)
        else:
            order = sorted(values, key=str)
        ranked[name] = pd.Index([*order, "all"]).get_indexer(column.to_numpy())
    if not keys:
        return frame
    return frame.iloc[np.lexsort([ranked[name] for name in reversed(keys)])]


def _weighted_percentiles(
    values: np.ndarray, weights: np.ndarray, percentiles: Sequence[int] = PERCENTILES
) -> list[float]:
    """Inverted-CDF percentiles of ``values`` weighted by whole-number ``weights``."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    total = int(weights.sum())
    if total == 0:
        return [math.nan for _ in percentiles]
    # Any sort will do: equal values are interchangeable, whatever their order.
    order = np.argsort(values)
    values, cum = values[order], np.cumsum(weights[order])
    return [float(values[_first_reaching(cum, p, total)]) for p in percentiles]


def _first_reaching(cum: np.ndarray, p: int, total: int) -> int:
    """The first position where the cumulative weight ``cum`` reaches p % of ``total``.

    In integers: cum * 100 >= p * total holds from cum >= ceil(p * total / 100).
    """
    return int(np.searchsorted(cum, -(-p * total // 100), side="left"))


def _integer_percentiles(
    values: np.ndarray,
    weights: np.ndarray,
    percentiles: Sequence[int] = PERCENTILES,
    dense_limit: int = 1 << 20,
) -> list[float]:
    """:func:`_weighted_percentiles` of integer ``values``, then their maximum (NaN if none).

    When the values span few integers (at most ``dense_limit``, or four per
    value), the weights are counted per integer instead of sorted: the same
    percentiles, without a sort of millions of values.
    """
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    total = int(weights.sum())
    if total == 0:
        return [math.nan for _ in (*percentiles, 0)]
    low, high = int(values.min()), int(values.max())
    if high - low + 1 > max(dense_limit, 4 * len(values)):
        return [*_weighted_percentiles(values, weights, percentiles), float(high)]
    counts = np.zeros(high - low + 1, dtype=np.int64)
    np.add.at(counts, values - low, weights)
    cum = np.cumsum(counts)
    return [float(low + _first_reaching(cum, p, total)) for p in percentiles] + [float(high)]
