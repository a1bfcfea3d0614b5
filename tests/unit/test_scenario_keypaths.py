"""Tests of simulator.scenario.keypaths: key paths, ``--set`` arguments and overrides.

:meth:`Scenario.with_overrides` places each value on the document as written
and validates the whole again; an override that cannot be placed is reported
naming its path, with the problems of the others.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.engine.schema import Checker
from simulator.errors import InputError, ScenarioError
from simulator.scenario import Scenario, parse_key_path, parse_set_argument, scenario_from_dict
from simulator.scenario.keypaths import place_overrides, plain
from simulator.timeutil import parse_instant
from simulator.yamlio import load_yaml_text

MINIMAL = """\
seed: 1
start: 2014-01-01
duration_days: 30
population:
  - name: a
    tier: premium_career
    members: 10
    sending: {inmails_per_month: 3}
"""


def _minimal(**extra: object) -> Scenario:
    raw = load_yaml_text(MINIMAL, "minimal.yaml")
    raw.update(extra)
    return scenario_from_dict(raw, "minimal.yaml")


# -- overrides ------------------------------------------------------------------


def test_with_overrides_sets_values() -> None:
    """with_overrides sets a policy parameter and a cohort value by dotted path."""
    s = _minimal().with_overrides(
        {"policy.refund.window_days": 14, "population[0].members": 10_000}
    )
    assert s.policy.refund.window_days == 14
    assert s.population[0].members == 10_000


def test_with_overrides_leaves_the_original_alone() -> None:
    """The scenario overridden is unchanged; an equal override gives an equal scenario."""
    s = _minimal()
    s.with_overrides({"seed": 99})
    assert s.seed == 1
    assert s.with_overrides({"seed": 1}) == s


def test_with_overrides_accepts_tuple_paths() -> None:
    """A path may be a tuple, as parse_set_argument returns it."""
    path, value = parse_set_argument("population[0].sending.inmails_per_month=7")
    s = _minimal().with_overrides({path: value})
    assert s.population[0].sending.inmails_per_month == 7.0


def test_with_overrides_accepts_numpy_numbers() -> None:
    """numpy scalars from a sweep grid are taken as plain numbers."""
    s = _minimal().with_overrides(
        {"population[0].members": np.int64(5), "recipients.response_probability": np.float64(0.3)}
    )
    assert s.population[0].members == 5
    assert s.recipients.response_probability == 0.3


def test_with_overrides_keeps_defaults_following_the_policy() -> None:
    """An unwritten body clip follows a max_body_chars override."""
    s = _minimal().with_overrides({"policy.max_body_chars": 800})
    assert s.population[0].sending.body_chars.clip_max == 800


def test_with_overrides_changes_the_preset() -> None:
    """policy.preset can be overridden, and the new preset's values apply."""
    s = _minimal().with_overrides({"policy.preset": "inmail-2015"})
    assert s.policy.refund.mode == "response_within"


def test_with_overrides_item_of_unwritten_list_keeps_other_defaults() -> None:
    """Setting weekday_weights[6] starts from the default list."""
    s = _minimal().with_overrides({"population[0].sending.weekday_weights[6]": 0})
    assert s.population[0].sending.weekday_weights == (1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.0)


def test_with_overrides_key_of_unwritten_weights_keeps_other_defaults() -> None:
    """Setting one category weight starts from the default weights."""
    s = _minimal().with_overrides({"population[0].sending.categories.job_inquiry": 5})
    cats = s.population[0].sending.categories
    assert cats["job_inquiry"] == 5.0
    assert cats["career_opportunity"] == 1.0


def test_with_overrides_null_restores_a_default() -> None:
    """Setting an optional key to null gives it its default again."""
    s = _minimal(recipients={"delay": {"kind": "exponential", "mean_days": 1}})
    assert s.with_overrides({"recipients.delay": None}) == _minimal()


def test_with_overrides_can_swap_duration_for_end() -> None:
    """duration_days: null counts as absent, so end can replace it."""
    s = _minimal().with_overrides({"end": "2014-01-10", "duration_days": None})
    assert s.end == parse_instant("2014-01-10T23:59:59Z")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"population[0].sendng.inmails_per_month": 3},
            "minimal.yaml: population[0].sendng: unknown key (did you mean 'sending'?)",
        ),
        (
            {"policy.refund.windw_days": 3},
            "minimal.yaml: policy.refund.windw_days: unknown key (did you mean 'window_days'?)",
        ),
        (
            {"population[3].members": 3},
            "minimal.yaml: population[3]: no such entry (population has 1)",
        ),
        ({"seed.value": 3}, "minimal.yaml: seed.value: seed is not a mapping"),
        (
            {"population.members": 3},
            "minimal.yaml: population.members: population is not a mapping",
        ),
        ({"seed[0]": 3}, "minimal.yaml: seed[0]: seed is not a list"),
        ({"recipients.delay[0]": 3}, "minimal.yaml: recipients.delay: no such list"),
        (
            {"population[0].members": -3},
            "minimal.yaml: population[0].members: must be a whole number from 1 to 10000000,"
            " got -3",
        ),
        (
            {("seed", True): 1},
            "minimal.yaml: <top level>: an override needs a key path of names and indices,"
            " got ('seed', True)",
        ),
        (
            {"a..b": 1},
            "minimal.yaml: <top level>: bad key path 'a..b': expected names joined by '.',"
            " each with optional [N] list indices, like population[0].sending.inmails_per_month",
        ),
    ],
)
def test_bad_override_is_an_error_naming_the_path(
    overrides: dict[str, object], message: str
) -> None:
    """An override with an unknown path or a bad value fails naming the path."""
    with pytest.raises(InputError) as info:
        _minimal().with_overrides(overrides)
    assert str(info.value) == message


def test_override_source_names_the_overrides() -> None:
    """with_overrides(source=...) puts that name in messages."""
    with pytest.raises(ScenarioError, match=r"^--set: seed: must be"):
        _minimal().with_overrides({"seed": -1}, source="--set")


def test_every_override_problem_is_reported_once() -> None:
    """One that cannot be placed leaves nothing behind (no report of a half-made
    ``pricing.x``); the others are placed and validated, and all come together."""
    with pytest.raises(ScenarioError) as info:
        _minimal().with_overrides({"pricing.x.y[0]": 1, "seed": -1, "population[0].members": 0})
    assert list(info.value.lines()) == [
        "minimal.yaml: pricing.x.y: no such list",
        "minimal.yaml: seed: must be a whole number >= 0, got -1",
        "minimal.yaml: population[0].members: must be a whole number from 1 to 10000000, got 0",
    ]


def test_place_overrides_keeps_the_ones_it_can_place() -> None:
    """place_overrides works on a copy: the placeable overrides are in the result,
    the others are problems, and the document given is left alone."""
    document = {"seed": 1, "population": [{"name": "a"}]}
    check = Checker("o")
    placed = place_overrides(
        check,
        lambda: plain(document),
        {"population[0].name": "b", "population[2].name": "c", "a.b": 2},
        lambda: {},
    )
    assert placed == {"seed": 1, "population": [{"name": "b"}], "a": {"b": 2}}
    assert check.problems == ["o: population[2]: no such entry (population has 1)"]
    assert document == {"seed": 1, "population": [{"name": "a"}]}


# -- parse_set_argument and key paths -------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "path", "value"),
    [
        (
            "population[0].sending.inmails_per_month=3",
            ("population", 0, "sending", "inmails_per_month"),
            3,
        ),
        ("a.b=[1,2]", ("a", "b"), [1, 2]),
        ("policy.refund.window_days=14", ("policy", "refund", "window_days"), 14),
        ("recipients.response_probability=0.25", ("recipients", "response_probability"), 0.25),
        ("start=2015-01-01", ("start",), "2015-01-01"),
        ("upgrade_to=", ("upgrade_to",), None),
        ("x=null", ("x",), None),
        ("x=true", ("x",), True),
        ("x='3'", ("x",), "3"),
        ("x=a=b", ("x",), "a=b"),
        (
            "recipients.length_multipliers.1-400=1.5",
            ("recipients", "length_multipliers", "1-400"),
            1.5,
        ),
        ("m[0][2]={kind: fixed, value: 3}", ("m", 0, 2), {"kind": "fixed", "value": 3}),
    ],
)
def test_parse_set_argument(argument: str, path: tuple[object, ...], value: object) -> None:
    """KEY.PATH=VALUE splits at the first '=' and reads the value as safe YAML."""
    assert parse_set_argument(argument) == (path, value)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "x=!!python/object:os.system {}",
            "--set x: line 1, column 1: could not determine a constructor for the tag"
            " 'tag:yaml.org,2002:python/object:os.system' (only plain YAML data is allowed)",
        ),
        (
            "x=!!python/object/apply:os.system ['echo hi']",
            "--set x: line 1, column 1: could not determine a constructor for the tag"
            " 'tag:yaml.org,2002:python/object/apply:os.system' (only plain YAML data is"
            " allowed)",
        ),
        ("seed", "--set: expected KEY.PATH=VALUE, got 'seed'"),
        ("=3", "--set: expected KEY.PATH=VALUE, got '=3'"),
        ("x=[1, 2", "--set x: line 1, column 6: expected ',' or ']', but got '<stream end>'"),
        (
            "a[x]=1",
            "--set: bad key path 'a[x]': expected names joined by '.', each with optional"
            " [N] list indices, like population[0].sending.inmails_per_month",
        ),
    ],
)
def test_parse_set_argument_refuses(argument: str, message: str) -> None:
    """Python tags, a missing '=', bad YAML and bad paths are refused with one line."""
    with pytest.raises(ScenarioError) as info:
        parse_set_argument(argument)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("seed", ("seed",)),
        ("population[12].name", ("population", 12, "name")),
        ("policy.tiers.premium_career.cap", ("policy", "tiers", "premium_career", "cap")),
    ],
)
def test_parse_key_path(text: str, path: tuple[object, ...]) -> None:
    """Key paths split on '.', with [N] list indices."""
    assert parse_key_path(text) == path
