"""Where a run goes when no ``--out`` is given, and what an existing run folder holds.

``creditsim run SCENARIO.yaml`` writes ``runs/<file name>-seed<seed>/`` for
the scenario exactly as its file says (``runs/baseline-seed20140101``). A run
of anything else, ``--set`` overrides or a copied and edited file whose name
is taken by a run of a different scenario, goes to
``runs/<file name>-<digest>-seed<seed>/``, where the digest is the first 8
hex digits of the SHA-256 of the resolved scenario (canonical YAML, as
written to the run's ``scenario.yaml``). So two different scenarios never
share a default folder, and running the same one again finds its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from simulator.scenario import Scenario
from simulator.yamlio import dump_yaml

__all__ = ["default_run_dir", "difference", "stored_scenario"]


def default_run_dir(source: str | Path, scenario: Scenario, as_written: Scenario) -> Path:
    """The default folder of a run of ``scenario``, read from the file ``source``.

    ``as_written`` is the scenario the file gives, before any override.
    """
    stem = Path(source).stem or "scenario"
    ours = scenario.to_dict()
    plain = Path("runs") / f"{stem}-seed{scenario.seed}"
    if difference(_unseeded(ours), _unseeded(as_written.to_dict())) is None:
        held = stored_scenario(plain)
        if held is None or difference(held, ours, auto_warmup=scenario.auto_warmup) is None:
            return plain
    digest = hashlib.sha256(dump_yaml(ours).encode("utf-8")).hexdigest()[:8]
    return Path("runs") / f"{stem}-{digest}-seed{scenario.seed}"


def stored_scenario(run_dir: Path) -> dict[str, Any] | None:
    """The resolved scenario a run folder holds (its ``scenario.yaml``), or None."""
    path = run_dir / "scenario.yaml"
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) else None


def difference(
    held: Mapping[str, Any], ours: Mapping[str, Any], *, auto_warmup: bool = False
) -> str | None:
    """The first key path where two resolved scenarios differ, or None when they are equal.

    With ``auto_warmup`` the warm-up is not compared: ``auto`` resolves to a
    number when the run is made.
    """
    skip = {"warmup_days"} if auto_warmup else set()
    return _first_difference(held, ours, "", skip)


def _unseeded(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "seed"}


def _first_difference(a: Any, b: Any, path: str, skip: set[str]) -> str | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in list(a) + [k for k in b if k not in a]:
            if key in skip:
                continue
            here = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return here
            found = _first_difference(a[key], b[key], here, set())
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]", set())
            if found is not None:
                return found
        return None
    return None if a == b else path
