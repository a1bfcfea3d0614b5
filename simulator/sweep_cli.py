"""Where ``creditsim sweep`` and ``compare`` lived: now :mod:`simulator.cli.sweep`.

Kept so that ``from simulator.sweep_cli import sweep_command`` (and the other
public names) still works; ``creditsim run``'s executor call, once
``run_scenario`` here, is :func:`simulator.api.run_to_dir`.
"""

from simulator.cli.sweep import (
    LARGE_SWEEP_POINTS,
    add_executor_arguments,
    add_sweep_parsers,
    compare_command,
    parse_set_arguments,
    scheduler_address,
    sweep_command,
)

__all__ = [
    "LARGE_SWEEP_POINTS",
    "add_executor_arguments",
    "add_sweep_parsers",
    "compare_command",
    "parse_set_arguments",
    "scheduler_address",
    "sweep_command",
]
