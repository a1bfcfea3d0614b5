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

import numpy as np
import pytest

from simulator.errors import InputError, PolicyError, ScenarioError
from simulator.scenario import (
    FrozenMap,
    Scenario,
    load_scenario,
    normalised,
    parse_key_path,
    parse_set_argument,
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


# -- empirical delays from CSV ------------------------------------------------

EMPIRICAL = MINIMAL + "recipients:\n  delay: {kind: empirical, file: delays.csv}\n"


def _with_csv(tmp_path: Path, content: bytes, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    (tmp_path / "s.yaml").write_text(EMPIRICAL, encoding="utf-8")
    (tmp_path / "delays.csv").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    return load_scenario("s.yaml")


@pytest.mark.parametrize(
    ("content", "seconds"),
    [
        (b"delay_seconds\n60\n3600\n", (60, 3600)),
        (b"delay_days\n1\n0.5\n0.00001\n", (86400, 43200, 1)),
        (b"\xef\xbb\xbfdelay_days\r\n2\r\n\r\n3\r\n", (172800, 259200)),
        (b" delay_seconds \n 7 \n", (7,)),
        (b"delay_seconds\n3600.0\n", (3600,)),
    ],
)
def test_empirical_csv_loads_as_whole_seconds(
    content: bytes, seconds: tuple[int, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delay CSV is read exactly into whole seconds (days rounded to the second)."""
    delay = _with_csv(tmp_path, content, monkeypatch).recipients.delay
    assert delay.kind == "empirical"
    assert delay.seconds == seconds
    assert delay.file == "delays.csv"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "delays.csv: file is empty"),
        (b"delay_seconds\n", "delays.csv: has a header but no delays"),
        (
            b"delay\n5\n",
            "delays.csv:1: the header must be one column, delay_seconds or delay_days, got 'delay'",
        ),
        (
            b"delay_seconds,x\n5,1\n",
            "delays.csv:1: the header must be one column, delay_seconds or delay_days,"
            " got 'delay_seconds,x'",
        ),
        (b"delay_seconds\n5,6\n", "delays.csv:2: expected 1 column, got 2"),
        (
            b"delay_seconds\n60\n0\n",
            "delays.csv:3: delay_seconds: must be a whole number of seconds > 0 and at least"
            " 1 second (at most 36500 days), got '0'",
        ),
        (
            b"delay_seconds\n1.5\n",
            "delays.csv:2: delay_seconds: must be a whole number of seconds > 0 and at least"
            " 1 second (at most 36500 days), got '1.5'",
        ),
        (
            b"delay_days\n-1\n",
            "delays.csv:2: delay_days: must be a number of days > 0 and at least"
            " 1 second (at most 36500 days), got '-1'",
        ),
        (
            b"delay_days\nNaN\n",
            "delays.csv:2: delay_days: must be a number of days > 0 and at least"
            " 1 second (at most 36500 days), got 'NaN'",
        ),
        (
            b"delay_days\n0.000001\n",
            "delays.csv:2: delay_days: must be a number of days > 0 and at least"
            " 1 second (at most 36500 days), got '0.000001'",
        ),
        (b"delay_days\n\xff\n", "delays.csv:2: not UTF-8 text"),
    ],
)
def test_bad_empirical_csv_is_rejected(
    content: bytes, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad delay CSV fails with one line naming the CSV, the line and the value."""
    with pytest.raises(ScenarioError) as info:
        _with_csv(tmp_path, content, monkeypatch)
    assert str(info.value) == message


def test_many_bad_csv_rows_are_summarised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond ten bad rows the rest are counted, not listed."""
    with pytest.raises(ScenarioError) as info:
        _with_csv(tmp_path, b"delay_seconds\n" + b"x\n" * 15, monkeypatch)
    lines = info.value.lines()
    assert len(lines) == 11
    assert lines[-1] == "delays.csv: ... and 5 more bad rows"


def test_empirical_file_is_relative_to_the_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV is found next to the scenario file, whatever the working folder."""
    (tmp_path / "s.yaml").write_text(EMPIRICAL, encoding="utf-8")
    (tmp_path / "delays.csv").write_text("delay_seconds\n10\n", encoding="utf-8")
    monkeypatch.chdir(REPO)
    assert load_scenario(tmp_path / "s.yaml").recipients.delay.seconds == (10,)


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
