"""creditsim: a discrete-event simulator of credit economics, built for LinkedIn InMail.

The public API grows with each capability; today it is the exact credit rules
engine and replay (see ``simulator.engine``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("creditsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
