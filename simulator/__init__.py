"""creditsim: a discrete-event simulator of credit economics, built for LinkedIn InMail.

Everything the ``creditsim`` command does is one import away, returning pandas
DataFrames and matplotlib Figures (the functions live in :mod:`simulator.api`)::

    import simulator as cs

    base = cs.load_scenario("scenarios/baseline.yaml")
    small = cs.scaled(base, 0.1, duration_days=180)          # 300 members, half a year
    r = cs.run(small.with_overrides({"policy.refund.window_days": 14}), seed=1)
    r.summary["expiry_waste_rate"]                            # headline metrics (dict)
    r.reports.refund_rates                                    # every report, a DataFrame
    r.plot("expiry_waste")                                    # a matplotlib Figure
    r.save("runs/window-14")                                  # what `creditsim run` writes

    cs.load_run("runs/window-14")                             # the same Run, from disk
    cs.replay("scenarios/examples/history.csv").explain("bob")  # the engine alone
    cs.sweep(small, grid={"policy.grant_expiry_days": [30, 60, 90]}, replications=3)
    cs.compare("scenarios/baseline.yaml", "scenarios/policy-2015.yaml", replications=5)
    cs.load_sweep("sweeps/expiry")
    cs.audit("runs/window-14").ok                             # replayed and checked again
    cs.sensitivity(small, {"recipients.response_probability": (0.1, 0.4)})  # what drives it
    cs.fit(["history/part-00000.csv"], validate=3)  # a scenario calibrated from histories

Importing :mod:`simulator` is cheap: the API (and pandas) load on first use, so
the pure engine (:mod:`simulator.engine`) stays free of heavy packages.

Every name here is a function or class of the API; the modules behind it are
named apart from it (``simulator.sweeps``, ``simulator.gsa``,
``simulator.run_audit``, ``simulator.calibration``), so ``cs.sweep`` is always the function.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("creditsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Comparison",
    "Fit",
    "Replay",
    "Run",
    "Scenario",
    "Sweep",
    "__version__",
    "audit",
    "compare",
    "fit",
    "load_run",
    "load_scenario",
    "load_sweep",
    "replay",
    "run",
    "scaled",
    "scenario_from_dict",
    "sensitivity",
    "sweep",
]

_FROM = {name: "simulator.api" for name in __all__ if name != "__version__"}
_FROM["Scenario"] = "simulator.scenario"


def __getattr__(name: str) -> Any:
    # Loaded on first use (PEP 562): `import simulator.engine` must not pull in pandas,
    # nor `creditsim --help` the whole API (the command line calls `simulator.api.X`).
    if name == "api":
        return import_module("simulator.api")
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
