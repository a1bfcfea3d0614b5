"""Global sensitivity analysis (issue 16): the design and analysis code on known functions.

The analysis is checked through the same code path a study takes
(:func:`simulator.gsa.sample` and :func:`simulator.gsa.analyse`), with the
model replaced by functions whose indices are known in closed form:

* Ishigami, ``sin x1 + 7 sin^2 x2 + 0.1 x3^4 sin x1`` on ``[-pi, pi]^3``:
  first-order Sobol indices 0.3139, 0.4424, 0 and total indices 0.5576,
  0.4424, 0.2437 (Ishigami and Homma 1990; the values as tabulated by
  Saltelli et al., *Global Sensitivity Analysis: The Primer*, 2008, and SALib's
  documentation);
* a linear function ``3 x1 + 0 x2`` for Morris: every elementary effect of x1
  is 3 (its slope), scaled by the range, so mu* = 3 * (high - low), sigma = 0,
  and x2's are 0;
* a monotone function of x1 alone for the rank correlation: rho = 1 for x1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("SALib")

from simulator.errors import UsageError
from simulator.gsa import Study, Vary, analyse, parse_vary, sample
from simulator.scenario import load_scenario

ISHIGAMI_S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
ISHIGAMI_ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}


def _study(varies: list[Vary], method: str, samples: int, seed: int = 7) -> Study:
    matrix = sample(varies, method, samples, seed)
    design = pd.DataFrame({"sample": range(len(matrix))})
    for j, v in enumerate(varies):
        design[v.key] = matrix[:, j]
        design[f"x[{v.key}]"] = matrix[:, j]
    return Study(None, tuple(varies), method, samples, design)  # type: ignore[arg-type]


def _indices(study: Study, y: np.ndarray) -> pd.DataFrame:
    means = pd.DataFrame({"y": y}, index=study.design["sample"])
    frame = analyse(study, means, seed=7)
    return frame.set_index(["key", "index"])


def test_sobol_indices_of_ishigami_contain_the_analytic_values() -> None:
    """N = 4096, 5 x 4096 evaluations: every analytic index inside its 95 % interval,
    and the estimate within 0.03 of it."""
    varies = [Vary(k, k, "float", -math.pi, math.pi) for k in ("x1", "x2", "x3")]
    study = _study(varies, "sobol", 4096)
    x = study.design[["x1", "x2", "x3"]].to_numpy()
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    got = _indices(study, y)
    for name, truth in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
        for key, value in truth.items():
            row = got.loc[(key, name)]
            assert row["low"] <= value <= row["high"], (key, name, row.to_dict())
            assert abs(row["value"] - value) < 0.03, (key, name, row["value"])


def test_morris_effects_of_a_linear_function_are_its_slopes() -> None:
    varies = [Vary("x1", "x1", "float", 2.0, 5.0), Vary("x2", "x2", "float", 0.0, 1.0)]
    study = _study(varies, "morris", 10)
    x = study.design[["x1", "x2"]].to_numpy()
    got = _indices(study, 3 * x[:, 0] + 0 * x[:, 1])
    assert got.loc[("x1", "mu_star"), "value"] == pytest.approx(3 * (5.0 - 2.0))
    assert got.loc[("x1", "sigma"), "value"] == pytest.approx(0.0, abs=1e-9)
    assert got.loc[("x2", "mu_star"), "value"] == pytest.approx(0.0, abs=1e-12)


def test_rank_correlation_of_a_monotone_function_is_one() -> None:
    """x1 alone drives y: rho(x1) = 1; x2 is independent, its interval holds 0."""
    varies = [Vary("x1", "x1", "float", 0.0, 1.0), Vary("x2", "x2", "float", 0.0, 1.0)]
    study = _study(varies, "lhs", 200)
    x = study.design[["x1", "x2"]].to_numpy()
    got = _indices(study, np.exp(x[:, 0]))
    assert got.loc[("x1", "rho"), "value"] == pytest.approx(1.0)
    row = got.loc[("x2", "rho")]
    assert row["low"] <= 0 <= row["high"]


def test_the_design_is_seeded() -> None:
    """SALib's samplers are unseeded by default: the study's seed fixes the design."""
    varies = [Vary("x1", "x1", "float", 0.0, 1.0), Vary("x2", "x2", "int", 1, 9)]
    for method, n in (("sobol", 8), ("morris", 4), ("lhs", 10)):
        np.testing.assert_array_equal(sample(varies, method, n, 3), sample(varies, method, n, 3))
        assert not np.array_equal(sample(varies, method, n, 3), sample(varies, method, n, 4))


@pytest.mark.parametrize(
    ("vary", "x", "value"),
    [
        (Vary("k", "k", "int", 3, 14), 3.0, 3),  # [3, 15) floored: 3..14 uniformly
        (Vary("k", "k", "int", 3, 14), 14.999, 14),
        (Vary("k", "k", "int", 3, 14), 15.0, 14),  # the closed end of a sampler's interval
        (Vary("k", "k", "money", 10, 50), 19.996, "20.00"),
        (Vary("k", "k", "float", 0, 1), 0.25, 0.25),
        (Vary("k", "k", "choice", choices=("a", "b", "c")), 1.5, "b"),
        (Vary("k", "k", "choice", choices=("a", "b", "c")), 3.0, "c"),
    ],
)
def test_values_take_the_keys_type(vary: Vary, x: float, value: object) -> None:
    got = vary.value(x)
    assert got == value and type(got) is type(value)


def test_vary_reads_ranges_and_choices_typed_by_the_scenario() -> None:
    scenario = load_scenario("scenarios/baseline.yaml")
    varies = parse_vary(
        ["recipients.response_probability=0.1:0.4", "policy.refund.window_days=3:14",
         "pricing.monthly_price.premium_career=20:40", "policy.preset=inmail-2014,inmail-2015"],
        scenario,
    )  # fmt: skip
    assert [v.kind for v in varies] == ["float", "int", "money", "choice"]
    assert varies[3].choices == ("inmail-2014", "inmail-2015")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("recipients.response_probability=0.4:0.1",
         "--vary recipients.response_probability=0.4:0.1: LOW must be below HIGH, got 0.4:0.1"),
        ("policy.preset=1:2",
         "--vary policy.preset=1:2: policy.preset is text ('inmail-2014'): give choices, "
         "KEY=V1,V2,..."),
        ("policy.refund.window_days=3.5:14",
         "--vary policy.refund.window_days=3.5:14: policy.refund.window_days is a whole "
         "number: LOW and HIGH must be whole"),
        ("recipients.response_probability=low:0.4",
         "--vary recipients.response_probability=low:0.4: LOW must be a number, got 'low'"),
        ("policy.preset=inmail-2015",
         "--vary policy.preset=inmail-2015: a choice needs at least two values"),
        ("recipients.response_probability",
         "--vary recipients.response_probability: expected KEY=LOW:HIGH or KEY=V1,V2,..."),
    ],
)  # fmt: skip
def test_bad_vary_is_one_line(text: str, line: str) -> None:
    scenario = load_scenario("scenarios/baseline.yaml")
    with pytest.raises(UsageError) as err:
        parse_vary([text], scenario, flag="--vary")  # the command line's label
    assert err.value.lines() == (line,)


def test_vary_messages_name_the_parameter_unless_given_a_flag() -> None:
    """A Python caller reads ``vary``, the parameter; the command line passes ``--vary``."""
    scenario = load_scenario("scenarios/baseline.yaml")
    with pytest.raises(UsageError) as err:
        parse_vary([], scenario)
    assert err.value.lines() == ("vary: give at least one KEY=LOW:HIGH or KEY=V1,V2,...",)
    with pytest.raises(UsageError) as err:
        parse_vary([], scenario, flag="--vary")
    assert err.value.lines() == ("--vary: give at least one KEY=LOW:HIGH or KEY=V1,V2,...",)
