"""The scenario schema's numbers: its bounds, its defaults and its distribution kinds.

Every bound here is a typo guard (a value past it is far more likely a slip
than a scenario anyone means); every default is what a scenario gets for a
key it does not write, and ``scenarios/README.md`` says where each comes from.
The parsers (:mod:`simulator.scenario.pricing`, ``.cohorts``, ``.sending``,
``.recipients``, ``.delays``, ``.window``) read these; this module reads
nothing and checks nothing. Which keys each block allows lives with the
parser of that block.
"""

from __future__ import annotations

from simulator.engine.policy import MAX_CHARS, MAX_DAYS
from simulator.timeutil import DAY

__all__ = [
    "AFTER_CANCEL",
    "AUTO",
    "COMMAND_BLOCKS",
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
    "DELAY_PARAMS",
    "LENGTH_PARAMS",
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
]

# -- bounds -------------------------------------------------------------------

# "per month" rates are per mean Gregorian month (timeutil.MEAN_MONTH_DAYS).
MAX_MEMBERS_PER_COHORT = 10_000_000
# MAX_DAYS (a century: longer runs, warm-ups or spreads are typos) is the policy's.
MAX_INMAILS_PER_MONTH = 10_000
MAX_BUY_QUANTITY = 1_000
MAX_LENGTH_CHARS = MAX_CHARS
MAX_MONEY_CENTS = 100_000_000  # 1,000,000.00
MAX_DELAY_SECONDS = MAX_DAYS * DAY
MAX_CSV_PROBLEMS = 10
# Typo guards for arrivals: 10 new members a month per member of the cohort,
# a rate that doubles every month, or a century of decline to nothing.
MAX_ARRIVAL_RATE = 10.0
MAX_GROWTH_PER_MONTH = 1.0
MIN_GROWTH_PER_MONTH = -0.5

# -- words and kinds ----------------------------------------------------------

# Top-level blocks that belong to one command, which takes its block out first.
COMMAND_BLOCKS = ("sweep", "sensitivity")
AFTER_CANCEL = ("stay", "leave")
REPLACE_CHURN = "replace_churn"
AUTO = "auto"  # warmup_days: auto (simulator.warmup chooses it)
# Each distribution kind and the parameters it takes.
LENGTH_PARAMS = {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("median", "sigma")}
DELAY_PARAMS = {
    "exponential": ("mean_days",),
    "lognormal": ("median_days", "sigma"),
    "gamma": ("shape", "mean_days"),
    "empirical": ("file", "delay_seconds"),
}

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
