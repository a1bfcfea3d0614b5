"""Where ``creditsim sensitivity`` lived: now :mod:`simulator.cli.sensitivity`.

Kept so that ``from simulator.sensitivity_cli import sensitivity_command``
still works.
"""

from simulator.cli.sensitivity import add_sensitivity_parser, sensitivity_command

__all__ = ["add_sensitivity_parser", "sensitivity_command"]
