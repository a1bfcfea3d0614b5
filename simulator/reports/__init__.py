"""Reports: pure functions from a run's tables to tidy pandas DataFrames, and their files.

Job: turn the tables of one run (ledger, InMails, members, billing and the run's
metadata; DESIGN.md "Tables are the contract") into the figures analysts ask
for: expiry waste, credit vintages, refund rates, utilisation, balances,
purchases and revenue, rejections; write them to RUN_DIR/reports/, draw them
in RUN_DIR/plots/ and lay them out in RUN_DIR/report.html. Each report is a
pure function of a :class:`RunTables`: it reads no file, draws no random
number, mutates no input, and is tested on tables written by hand.

The package, by concept:

- :mod:`~simulator.reports.run_tables`: :class:`RunMeta`, :class:`RunTables`,
  :func:`load_run_tables`, and the rows of the measured window;
- :mod:`~simulator.reports.groups`: grouping keys, exact sums over groups and
  over batches, presentation order, rates and percentiles (shared helpers);
- one module per family of reports, each report a pair ``X_sums`` (what one
  batch of members contributes) and ``X_finish`` (rates, percentiles, order):
  :mod:`~simulator.reports.waste` (expiry waste, by source, credit ages),
  :mod:`~simulator.reports.vintages`, :mod:`~simulator.reports.refunds`
  (refund rates and roll-ups, response delays), :mod:`~simulator.reports.balances`
  (utilisation, balance distribution), :mod:`~simulator.reports.revenue`
  (purchases, rejections, ``per_tier``), :mod:`~simulator.reports.headline_metrics`;
- :mod:`~simulator.reports.registry`: the one table of reports and their
  plots (:data:`REPORTS`, :data:`REPORT_NAMES`, :data:`PLOT_NAMES`);
- :mod:`~simulator.reports.sums`: batches' sums added and finished, in the
  registry's order;
- :mod:`~simulator.reports.files`: :func:`write_reports` and the other writers;
- the pages: :mod:`~simulator.reports.definitions` (what each metric means),
  :mod:`~simulator.reports.display` (numbers as text),
  :mod:`~simulator.reports.story` (the run's identity and narrative),
  :mod:`~simulator.reports.page_tables` (table previews) and
  :mod:`~simulator.reports.html` (report.html, replications.html).

Boundary: the simulator writes the tables; this package only reads them.
Only :func:`load_run_tables` and the ``write_*`` functions touch the file
system; drawing belongs to :mod:`simulator.plots`.

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

from simulator.reports.balances import (
    balance_distribution,
    balance_distribution_finish,
    balance_distribution_sums,
    utilisation,
    utilisation_members,
    utilisation_members_finish,
    utilisation_members_sums,
)
from simulator.reports.definitions import (
    HEADLINE_DEFINITIONS,
)
from simulator.reports.files import (
    report_frames,
    reports_or_problems,
    write_replications,
    write_reports,
    write_tables,
)
from simulator.reports.groups import (
    LENGTH_BUCKETS,
    PERCENTILES,
    TIER_ORDER,
    Key,
    length_bucket,
)
from simulator.reports.headline_metrics import (
    headline,
    headline_finish,
    headline_sums,
)
from simulator.reports.refunds import (
    refund_cuts,
    refund_rates,
    refund_rates_finish,
    refund_rates_sums,
    refund_totals,
    response_delays,
    response_delays_finish,
    response_delays_sums,
)
from simulator.reports.registry import (
    PLOT_NAMES,
    REPORT_NAMES,
    REPORTS,
    Plot,
    Report,
)
from simulator.reports.revenue import (
    per_tier,
    purchases_revenue,
    purchases_revenue_finish,
    purchases_revenue_sums,
    rejections,
    rejections_finish,
    rejections_sums,
)
from simulator.reports.run_tables import (
    RunMeta,
    RunTables,
    load_run_tables,
)
from simulator.reports.vintages import (
    credit_vintages,
    credit_vintages_finish,
    credit_vintages_sums,
    vintage_waste_rate,
)
from simulator.reports.waste import (
    AgeHistograms,
    add_age_histograms,
    credit_age,
    credit_age_finish,
    credit_age_sums,
    expiry_waste,
    expiry_waste_by_source,
    expiry_waste_by_source_finish,
    expiry_waste_by_source_sums,
    expiry_waste_finish,
    expiry_waste_sums,
)

__all__ = [
    "HEADLINE_DEFINITIONS",
    "LENGTH_BUCKETS",
    "PERCENTILES",
    "PLOT_NAMES",
    "REPORTS",
    "REPORT_NAMES",
    "TIER_ORDER",
    "AgeHistograms",
    "Key",
    "Plot",
    "Report",
    "RunMeta",
    "RunTables",
    "add_age_histograms",
    "balance_distribution",
    "balance_distribution_finish",
    "balance_distribution_sums",
    "credit_age",
    "credit_age_finish",
    "credit_age_sums",
    "credit_vintages",
    "credit_vintages_finish",
    "credit_vintages_sums",
    "expiry_waste",
    "expiry_waste_by_source",
    "expiry_waste_by_source_finish",
    "expiry_waste_by_source_sums",
    "expiry_waste_finish",
    "expiry_waste_sums",
    "headline",
    "headline_finish",
    "headline_sums",
    "length_bucket",
    "load_run_tables",
    "per_tier",
    "purchases_revenue",
    "purchases_revenue_finish",
    "purchases_revenue_sums",
    "refund_cuts",
    "refund_rates",
    "refund_rates_finish",
    "refund_rates_sums",
    "refund_totals",
    "rejections",
    "rejections_finish",
    "rejections_sums",
    "report_frames",
    "reports_or_problems",
    "response_delays",
    "response_delays_finish",
    "response_delays_sums",
    "utilisation",
    "utilisation_members",
    "utilisation_members_finish",
    "utilisation_members_sums",
    "vintage_waste_rate",
    "write_replications",
    "write_reports",
    "write_tables",
]
