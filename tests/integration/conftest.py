"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.runner import run, write_run
from simulator.scenario import load_scenario

DATA = Path(__file__).parents[1] / "data" / "model"


@pytest.fixture(scope="module", params=["inmail-2014", "inmail-2015"])
def written(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """small.yaml under each preset: the run in memory, and its directory."""
    scenario = load_scenario(DATA / "small.yaml").with_overrides({"policy.preset": request.param})
    result = run(scenario)
    out = write_run(result, tmp_path_factory.mktemp(request.param) / "run")
    return result, out
