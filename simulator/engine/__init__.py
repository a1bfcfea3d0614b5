"""The exact credit rules engine (RULES.md): policy, accounts, ledger, replay input.

Pure by design: this package imports only the standard library (and
:mod:`simulator.errors` / :mod:`simulator.timeutil`), never simpy, numpy or
pandas; ``tests/unit/test_engine_purity.py`` enforces it.
"""

from simulator.engine.core import NEVER, Account, Engine, EngineOrderError
from simulator.engine.history import (
    BALANCE_COLUMNS,
    HISTORY_COLUMNS,
    LEDGER_COLUMNS,
    Action,
    ReplayResult,
    balances_rows,
    ledger_rows,
    parse_history,
    parse_history_rows,
    read_history,
    replay,
)
from simulator.engine.policy import PRESETS, Policy, RefundRule, Tier, resolve_policy

__all__ = [
    "BALANCE_COLUMNS",
    "HISTORY_COLUMNS",
    "LEDGER_COLUMNS",
    "NEVER",
    "PRESETS",
    "Account",
    "Action",
    "Engine",
    "EngineOrderError",
    "Policy",
    "RefundRule",
    "ReplayResult",
    "Tier",
    "balances_rows",
    "ledger_rows",
    "parse_history",
    "parse_history_rows",
    "read_history",
    "replay",
    "resolve_policy",
]
