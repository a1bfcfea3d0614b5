"""Tests of simulator.scenario: YAML -> frozen, validated Scenario.

Data-driven like tomli's suite: every file in tests/data/scenarios/valid must
load, and every file in tests/data/scenarios/invalid must fail with exactly the
text pinned in its sibling ``.err`` file. Files are loaded by name from inside
their folder, so pinned messages start with the bare file name.
"""

from __future__ import annotations

import datetime
import pickle
from pathlib import Path

import pytest

from simulator.errors import InputError, PolicyError, ScenarioError
from simulator.scenario import (
    FrozenMap,
    Scenario,
    load_scenario,
    normalised,
    scenario_from_dict,
)
from simulator.timeutil import DAY, parse_instant
from simulator.yamlio import dump_yaml, load_yaml_text

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "scenarios"
VALID = sorted(p.name for p in (DATA / "valid").glob("*.yaml"))
INVALID = sorted(p.name for p in (DATA / "invalid").glob("*.yaml"))
SHIPPED = sorted(p.name for p in (REPO / "scenarios").glob("*.yaml"))

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


def _load_in(folder: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    monkeypatch.chdir(folder)
    return load_scenario(name)


def _minimal(**extra: object) -> Scenario:
    raw = load_yaml_text(MINIMAL, "minimal.yaml")
    raw.update(extra)
    return scenario_from_dict(raw, "minimal.yaml")


def _cohort() -> dict[str, object]:
    return {"name": "a", "tier": "premium_career", "members": 10}


def _error(raw_text: str, source: str = "s.yaml") -> str:
    with pytest.raises(InputError) as info:
        scenario_from_dict(load_yaml_text(raw_text, source), source)
    return str(info.value)


# -- the example folders -----------------------------------------------------


def test_there_are_at_least_25_invalid_cases() -> None:
    """The invalid folder holds at least 25 cases, each with a pinned message."""
    assert len(INVALID) >= 25
    missing = [n for n in INVALID if not (DATA / "invalid" / n).with_suffix(".err").exists()]
    assert missing == []


@pytest.mark.parametrize("name", VALID)
def test_valid_file_loads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file in the valid folder loads into a Scenario."""
    scenario = _load_in(DATA / "valid", name, monkeypatch)
    assert isinstance(scenario, Scenario)
    assert scenario.source == name


@pytest.mark.parametrize("name", INVALID)
def test_invalid_file_fails_with_pinned_message(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file in the invalid folder fails with exactly its pinned text."""
    expected = (DATA / "invalid" / name).with_suffix(".err").read_text(encoding="utf-8")
    with pytest.raises(InputError) as info:
        _load_in(DATA / "invalid", name, monkeypatch)
    assert str(info.value) == expected.rstrip("\n")
    assert all(line.startswith(f"{name}: ") for line in info.value.lines())


def test_error_names_the_file_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path with folders appears in the message exactly as it was given."""
    monkeypatch.chdir(REPO)
    path = "tests/data/scenarios/invalid/empty-population.yaml"
    with pytest.raises(
        ScenarioError, match=r"^tests/data/scenarios/invalid/empty-population\.yaml: "
    ):
        load_scenario(path)


def test_problems_only_in_policy_raise_policy_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """When every problem is in the policy block the error is a PolicyError."""
    with pytest.raises(PolicyError):
        _load_in(DATA / "invalid", "policy-only.yaml", monkeypatch)


def test_mixed_problems_raise_scenario_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Policy problems reported alongside other problems make a ScenarioError."""
    with pytest.raises(ScenarioError) as info:
        _load_in(DATA / "invalid", "policy-and-scenario.yaml", monkeypatch)
    assert not isinstance(info.value, PolicyError)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """A scenario path that does not exist is a ScenarioError naming it."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match=r"nope\.yaml: no such file$"):
        load_scenario(path)


# -- the shipped scenarios ---------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_loads(name: str) -> None:
    """Every scenarios/*.yaml loads."""
    assert load_scenario(REPO / "scenarios" / name).population


def test_shipped_scenarios_are_the_three_documented() -> None:
    """baseline, policy-2015 and bench are all there (and tested above)."""
    assert {"baseline.yaml", "policy-2015.yaml", "bench.yaml"} <= set(SHIPPED)


def test_policy_2015_matches_baseline_except_policy() -> None:
    """policy-2015.yaml differs from baseline.yaml only in name, description and policy."""
    base = load_scenario(REPO / "scenarios" / "baseline.yaml").to_dict()
    new = load_scenario(REPO / "scenarios" / "policy-2015.yaml").to_dict()
    for key in ("name", "description", "policy"):
        base.pop(key)
        new.pop(key)
    assert new == base


def test_policy_2015_uses_the_2015_preset() -> None:
    """policy-2015.yaml resolves to inmail-2015; baseline.yaml to inmail-2014."""
    assert load_scenario(REPO / "scenarios" / "policy-2015.yaml").policy.preset == "inmail-2015"
    assert load_scenario(REPO / "scenarios" / "baseline.yaml").policy.preset == "inmail-2014"


def test_baseline_has_about_3000_members_for_a_year_after_warmup() -> None:
    """baseline.yaml: ~3,000 members at the start, 365 days, a two-year warm-up
    (scenarios/README.md, "Warm-up"), an open population, a fixed seed."""
    s = load_scenario(REPO / "scenarios" / "baseline.yaml")
    assert s.members == 3000
    assert s.end - s.start + 1 == 365 * DAY
    assert s.warmup_days == 730
    assert s.is_open
    assert s.seed == 20140101


def test_bench_attempts_about_ten_million_inmails() -> None:
    """bench.yaml: 100,000 members x mean rate x 365 days is within 1% of 10 million."""
    s = load_scenario(REPO / "scenarios" / "bench.yaml")
    months = (s.end - s.start + 1) / DAY / (365.2425 / 12)  # the mean Gregorian month
    sends = sum(c.members * c.sending.inmails_per_month for c in s.population) * months
    assert s.members == 100_000
    assert sends == pytest.approx(10_000_000, rel=0.01)


def test_bench_1m_is_bench_with_ten_times_the_members() -> None:
    """bench-1m.yaml (issue 12, item 9): bench.yaml but name, description and ten times
    every cohort's members, so its figures compare with bench.yaml's ten times over."""
    small = load_scenario(REPO / "scenarios" / "bench.yaml").to_dict()
    big = load_scenario(REPO / "scenarios" / "bench-1m.yaml").to_dict()
    for cohort in small["population"]:
        cohort["members"] *= 10
    for key in ("name", "description"):
        small.pop(key)
        big.pop(key)
    assert big == small
    assert load_scenario(REPO / "scenarios" / "bench-1m.yaml").members == 1_000_000


# -- resolved values and defaults ---------------------------------------------


def test_duration_days_covers_exactly_n_days() -> None:
    """duration_days: N makes end = start + N days - 1 second."""
    s = _minimal()
    assert s.start == parse_instant("2014-01-01T00:00:00Z")
    assert s.end == parse_instant("2014-01-30T23:59:59Z")


def test_end_as_date_includes_the_whole_day() -> None:
    """end: 2014-12-31 after start 2014-01-01 equals duration_days: 365."""
    by_end = _minimal(duration_days=None, end="2014-12-31")
    by_days = _minimal(duration_days=365)
    assert by_end.end == by_days.end == parse_instant("2014-12-31T23:59:59Z")


def test_end_as_instant_is_the_last_instant() -> None:
    """end given as an instant is taken exactly, inclusive."""
    s = _minimal(duration_days=None, end="2014-01-01T00:00:00Z")
    assert s.end == s.start


def test_warmup_moves_sim_start_back() -> None:
    """sim_start is start minus warmup_days whole days."""
    s = _minimal(warmup_days=90)
    assert s.sim_start == s.start - 90 * DAY


def test_defaults_match_the_readme() -> None:
    """Unwritten values take the documented defaults (scenarios/README.md)."""
    s = _minimal()
    c = s.population[0]
    assert s.name == "minimal"
    assert s.warmup_days == 0
    assert s.policy.preset == "inmail-2014"
    assert s.pricing.credit_price_cents == 1000
    assert dict(s.pricing.monthly_price_cents) == {
        "basic": 0,
        "premium_career": 2999,
        "premium_business": 5999,
        "sales_navigator": 7999,
        "recruiter_lite": 11995,
    }
    assert c.subscription_spread_days == 30
    assert c.sending.rate_shape is None
    assert c.sending.body_chars.clip_max == 2000
    assert c.sending.subject_chars.clip_max == 200
    assert set(c.sending.categories) == set(s.policy.categories)
    assert s.recipients.response_probability == 0.2
    assert dict(s.recipients.length_multipliers) == {
        "1-400": 1.22,
        "401-800": 1.03,
        "801-1200": 0.94,
        "1201-2000": 0.89,
    }
    assert set(s.recipients.category_multipliers.values()) == {1.0}
    assert s.recipients.delay.kind == "lognormal"


def test_length_multipliers_merge_over_defaults() -> None:
    """Giving one length bucket keeps the other buckets' defaults."""
    s = _minimal(recipients={"length_multipliers": {"1-400": 1.5}})
    assert dict(s.recipients.length_multipliers) == {
        "1-400": 1.5,
        "401-800": 1.03,
        "801-1200": 0.94,
        "1201-2000": 0.89,
    }


def test_null_means_the_default() -> None:
    """An optional key written as null takes its default."""
    assert _minimal(warmup_days=None, pricing=None, recipients=None) == _minimal()


def test_clip_max_null_means_no_clip() -> None:
    """clip_max: null is kept as None (no upper clip), unlike leaving it out."""
    s = _minimal(
        population=[
            {
                **_cohort(),
                "sending": {
                    "inmails_per_month": 1,
                    "body_chars": {"kind": "fixed", "value": 3000, "clip_max": None},
                },
            }
        ]
    )
    assert s.population[0].sending.body_chars.clip_max is None


@pytest.mark.parametrize(
    ("written", "cents"),
    [
        (0.29, 29),  # 0.29 * 100 == 28.999999999999996 in floats
        (4.35, 435),  # 4.35 * 100 == 434.99999999999994
        (1.1, 110),
        ("19.99", 1999),
        ("0.5", 50),
        (7, 700),
        (1000000, 100_000_000),
    ],
)
def test_money_is_converted_exactly(written: object, cents: int) -> None:
    """Money becomes whole cents from its decimal text, never by float arithmetic."""
    s = _minimal(pricing={"credit_price": written})
    assert s.pricing.credit_price_cents == cents


def test_policy_overrides_reach_the_defaults() -> None:
    """A body length clip left unwritten follows policy.max_body_chars."""
    s = _minimal(policy={"max_body_chars": 1200})
    assert s.population[0].sending.body_chars.clip_max == 1200


def test_scenario_is_frozen() -> None:
    """Scenario fields and its maps cannot be changed."""
    s = _minimal()
    with pytest.raises(AttributeError):
        s.seed = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.recipients.length_multipliers["1-400"] = 2.0  # type: ignore[index]


def test_normalised_divides_weights_by_their_sum() -> None:
    """normalised() turns relative weights into probabilities, keeping order."""
    keys, probs = normalised(FrozenMap({"a": 1.0, "b": 3.0}))
    assert keys == ("a", "b")
    assert probs == (0.25, 0.75)


# -- to_dict and pickling -------------------------------------------------------


@pytest.mark.parametrize("name", VALID)
def test_to_dict_round_trips(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading to_dict() gives an equal scenario."""
    s = _load_in(DATA / "valid", name, monkeypatch)
    assert scenario_from_dict(s.to_dict(), name) == s


@pytest.mark.parametrize("name", SHIPPED)
def test_to_dict_round_trips_through_yaml_text(name: str, tmp_path: Path) -> None:
    """to_dict() written as YAML and read back anywhere gives an equal scenario."""
    s = load_scenario(REPO / "scenarios" / name)
    text = dump_yaml(s.to_dict())
    (tmp_path / "resolved.yaml").write_text(text, encoding="utf-8")
    assert load_scenario(tmp_path / "resolved.yaml") == s


def test_to_dict_is_complete() -> None:
    """to_dict() writes every key, including a complete policy block."""
    d = _minimal().to_dict()
    assert d["policy"] == _minimal().policy.to_dict()
    assert set(d["population"][0]["sending"]) == {
        "inmails_per_month",
        "rate_shape",
        "weekday_weights",
        "body_chars",
        "subject_chars",
        "categories",
        "free_share",
        "out_of_credit",
    }
    assert d["pricing"]["credit_price"] == "10.00"
    assert d["start"] == "2014-01-01T00:00:00Z"


def test_scenario_pickles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario survives pickling (worker processes receive it), as plain data: no
    re-validation in the worker, and the copy writes the same document."""
    s = _load_in(DATA / "valid", "every-distribution.yaml", monkeypatch)
    copy = pickle.loads(pickle.dumps(s))
    assert copy == s and copy.to_dict() == s.to_dict()
    assert copy.with_overrides({"seed": 5}).seed == 5  # the written document came along


# -- a few single behaviours not covered by the folders --------------------------------


def test_all_problems_are_collected() -> None:
    """Problems in several sections are reported together, one line each."""
    text = MINIMAL.replace("seed: 1", "seed: -1").replace("members: 10", "members: 0")
    assert _error(text).splitlines() == [
        "s.yaml: seed: must be a whole number >= 0, got -1",
        "s.yaml: population[0].members: must be a whole number from 1 to 10000000, got 0",
    ]


def test_parsed_dates_are_accepted() -> None:
    """Dates parsed by another YAML loader (datetime objects) mean the same instants."""
    raw = load_yaml_text(MINIMAL, "minimal.yaml")
    raw["start"] = datetime.date(2014, 1, 1)
    raw["warmup_days"] = 0
    assert scenario_from_dict(raw, "minimal.yaml") == _minimal()
    raw["start"] = datetime.datetime(2014, 1, 1, 0, 0, 0)
    assert scenario_from_dict(raw, "minimal.yaml") == _minimal()


def test_new_tier_needs_no_default_price_when_priced() -> None:
    """A tier the preset lacks can be used once the policy defines it and it is priced."""
    s = _minimal(
        policy={"tiers": {"gold": {"monthly_credits": 9}}},
        pricing={"monthly_price": {"gold": "12.50"}},
    )
    assert s.pricing.monthly_price_cents["gold"] == 1250


def test_categories_removed_by_policy_are_unknown_to_cohorts() -> None:
    """A cohort weight for a category the policy dropped is an unknown category."""
    message = _error(
        MINIMAL.replace(
            "{inmails_per_month: 3}", "{inmails_per_month: 3, categories: {new_venture: 1}}"
        )
        + "policy: {categories: [business_deal]}\n"
    )
    assert message == (
        "s.yaml: population[0].sending.categories.new_venture: unknown category"
        " (known categories: business_deal)"
    )
