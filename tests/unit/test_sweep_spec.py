"""Sweep specs: parsing flags and sweep: blocks, expansion, run ids, seeds, validation."""

# ruff: noqa: E501  (pinned error texts stay on one line)

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import ScenarioError, UsageError
from simulator.scenario import load_scenario
from simulator.stats import paired_comparison
from simulator.sweeps import (
    SweepSpec,
    expand,
    load_sweep_scenario,
    parse_axis_arguments,
    plan_compare,
    plan_sweep,
    replication_seed,
    run_id,
    scalar_text,
    spec_from_block,
)

SMALL = Path(__file__).parents[1] / "data" / "model" / "small.yaml"


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    return load_scenario(SMALL)


def _spec(*flags: tuple[str, str], replications: int = 1) -> SweepSpec:
    return SweepSpec(parse_axis_arguments(flags), replications)


def test_grid_is_a_cartesian_product_first_axis_slowest() -> None:
    """Two --grid flags give every combination, the first flag varying slowest."""
    spec = _spec(("--grid", "a.x=1,2"), ("--grid", "b.y=p,q,r"))
    assert expand(spec) == [
        {"a.x": 1, "b.y": "p"},
        {"a.x": 1, "b.y": "q"},
        {"a.x": 1, "b.y": "r"},
        {"a.x": 2, "b.y": "p"},
        {"a.x": 2, "b.y": "q"},
        {"a.x": 2, "b.y": "r"},
    ]


def test_zip_varies_keys_together_where_the_first_zip_stands() -> None:
    """All --zip flags form one axis, placed at the first --zip."""
    spec = _spec(("--zip", "a=1,2"), ("--grid", "g=x,y"), ("--zip", "b=10,20"))
    assert spec.keys == ("a", "b", "g")
    assert expand(spec) == [
        {"a": 1, "b": 10, "g": "x"},
        {"a": 1, "b": 10, "g": "y"},
        {"a": 2, "b": 20, "g": "x"},
        {"a": 2, "b": 20, "g": "y"},
    ]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("7:28:7", [7, 14, 21, 28]),  # stop included when reached
        ("7:27:7", [7, 14, 21]),
        ("1:3", [1, 2, 3]),  # step defaults to 1
        ("5:1:-2", [5, 3, 1]),
        ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),  # decimal steps, no 0.30000000000000004
        ("0:1:0.25", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("2:2:1", [2]),
    ],
)
def test_range_values(text: str, values: list[float]) -> None:
    """--range START:STOP:STEP counts from START and includes STOP when it lands on it."""
    (axis,) = parse_axis_arguments([("--range", f"k={text}")])
    assert list(axis.values[0]) == values
    assert all(type(v) is type(values[0]) for v in axis.values[0])


def test_values_are_yaml_scalars_never_evaluated() -> None:
    """Grid values are read as YAML: numbers, text, null, booleans, quoted commas."""
    (axis,) = parse_axis_arguments(
        [("--grid", "k=7, 0.5, null, true, inmail-2015, 'a,b', __import__('os')")]
    )
    assert axis.values[0] == (7, 0.5, None, True, "inmail-2015", "a,b", "__import__('os')")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([("--grid", "k=")], "--grid k=: no values (an empty grid)"),
        ([("--grid", "k")], "--grid k: expected KEY=V1,V2,..."),
        ([("--range", "k")], "--range k: expected KEY=START:STOP:STEP"),
        (
            [("--grid", "=1,2")],
            "--grid =1,2: expected KEY=VALUES with KEY a dotted path into the scenario",
        ),
        ([("--grid", "k=1,1")], "--grid k=1,1: the value 1 is given twice"),
        (
            [("--grid", "k=[1,2]")],
            "--grid k=[1,2]: [1, 2]: a value must be a YAML scalar (a number, text, true, false or null)",
        ),
        (
            [("--grid", "seed=1,2")],
            "--grid seed=1,2: the seed is not swept: set seed and replications",
        ),
        ([("--range", "k=1:5:0")], "--range k=1:5:0: step must not be 0"),
        (
            [("--range", "k=5:1:1")],
            "--range k=5:1:1: empty range (stop 1 is never reached from start 5 by step 1)",
        ),
        ([("--range", "k=a:5:1")], "--range k=a:5:1: start must be a number, got a"),
        (
            [("--range", "k=1:2:3:4")],
            "--range k=1:2:3:4: expected START:STOP:STEP (STEP defaults to 1), got '1:2:3:4'",
        ),
        (
            [("--range", "k=0:1000000:1")],
            "--range k=0:1000000:1: 1,000,001 values; at most 100,000 per range",
        ),
        (
            [("--grid", "a..b=1")],
            "--grid a..b=1: bad key path 'a..b': expected names joined by '.', each with optional [N] list indices, like population[0].sending.inmails_per_month",
        ),
        (
            [("--zip", "a=1,2"), ("--zip", "b=1,2,3")],
            "zipped keys need the same number of values: --zip a=1,2 (2), --zip b=1,2,3 (3)",
        ),
        (
            [("--grid", "a=1"), ("--range", "a=1:2:1")],
            "--range a=1:2:1: a is swept twice (also by --grid a=1)",
        ),
    ],
)
def test_bad_flags_are_rejected_with_one_line_naming_the_flag(
    flags: list[tuple[str, str]], message: str
) -> None:
    """Malformed flags raise UsageError whose line names the flag and says what is wrong."""
    with pytest.raises(UsageError) as err:
        parse_axis_arguments(flags)
    assert err.value.lines() == (message,)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "policy.refund.window_dayz=7,14",
            "{src} (--grid policy.refund.window_dayz=7,14): unknown key (did you mean 'window_days'?)",
        ),
        (
            "policy.refund.window_days=7,abc",
            "{src} (--grid policy.refund.window_days=7,abc): must be a whole number from 1 to 36500, got 'abc'",
        ),
        (
            "population[7].members=5",
            "{src} (--grid population[7].members=5): population[7]: no such entry (population has 3)",
        ),
        (
            "policy.preset=inmail-2099",
            "{src} (--grid policy.preset=inmail-2099): must be one of inmail-2014, inmail-2015, got 'inmail-2099'",
        ),
    ],
)
def test_unknown_keys_and_bad_values_are_rejected_before_running(
    small, flag: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """Each value is tried on the scenario; problems name it and the flag (one line, no repeats)."""
    with pytest.raises(UsageError) as err:
        plan_sweep(small, _spec(("--grid", flag)))
    assert err.value.lines() == (message.format(src=small.source),)


def test_points_invalid_only_in_combination_are_named(small) -> None:  # type: ignore[no-untyped-def]
    """A point that breaks the scenario only with its neighbours' values names the point."""
    spec = _spec(
        ("--grid", "population[0].sending.out_of_credit.upgrade_probability=0.2,0.6"),
        ("--grid", "population[0].sending.out_of_credit.buy_probability=0.3,0.5"),
    )
    with pytest.raises(UsageError) as err:
        plan_sweep(small, spec)
    assert err.value.lines() == (
        "sweep point population[0].sending.out_of_credit.upgrade_probability=0.6, "
        "population[0].sending.out_of_credit.buy_probability=0.5: "
        "population[0].sending.out_of_credit.upgrade_probability: "
        "buy_probability + upgrade_probability must be <= 1, got 0.5 + 0.6",
    )


def test_plan_run_table_ids_and_common_seeds(small) -> None:  # type: ignore[no-untyped-def]
    """The run table lists points x replications; replication r has one seed at every point."""
    spec = _spec(
        ("--grid", "policy.refund.window_days=7,14"),
        ("--grid", "policy.grant_expiry_days=60,90"),
        replications=2,
    )
    plan = plan_sweep(small, spec, seed=3)
    assert plan.runs == 8 and plan.keys == ("policy.refund.window_days", "policy.grant_expiry_days")
    lines = plan.table_csv().splitlines()
    assert lines[0] == "run_id,policy.refund.window_days,policy.grant_expiry_days,replication,seed"
    assert lines[1] == "window_days=7__grant_expiry_days=60__25f0b2d3,7,60,0,819382448"
    assert lines[2] == "window_days=7__grant_expiry_days=60__25f0b2d3,7,60,1,1645421708"
    seeds = {(r, s) for _, r, s in plan.rows()}
    assert seeds == {(0, replication_seed(3, 0)), (1, replication_seed(3, 1))}
    assert plan.points[3].scenario.policy.refund.window_days == 14


def test_replication_seed_is_the_documented_seed_sequence_word() -> None:
    """Seed of replication r = first uint32 of SeedSequence(master, spawn_key=(r,))."""
    expected = np.random.SeedSequence(3, spawn_key=(1,)).generate_state(1, dtype=np.uint32)[0]
    assert replication_seed(3, 1) == int(expected) == 1645421708
    assert replication_seed(3, 0) == 819382448
    assert len({replication_seed(7, r) for r in range(1000)}) == 1000


def test_run_id_is_readable_short_and_stable() -> None:
    """Run ids: leaf=value pairs, then 8 hex digits of SHA-256 of the sorted YAML parameters."""
    assert run_id({"policy.refund.window_days": 7, "policy.grant_expiry_days": 60}) == (
        "window_days=7__grant_expiry_days=60__25f0b2d3"
    )
    assert run_id({}) == "base__ca3d163b"
    # Shared leaf names fall back to the whole path, brackets dropped.
    assert run_id({"population[0].members": 5, "population[1].members": 6}) == (
        "population0.members=5__population1.members=6__75ef6bf7"
    )
    assert run_id({"name": "a b/c"}).startswith("name=a-b-c__")
    a = run_id({"x": 1, "y": 2})
    b = run_id({"y": 2, "x": 1})
    assert a[-8:] == b[-8:]  # the hash does not depend on the order of the keys
    assert run_id({"x": 1}) != run_id({"x": 1.0}) != run_id({"x": "1"})


def test_scalar_text_is_yaml() -> None:
    """Scalars are written as YAML would read them back."""
    assert [scalar_text(v) for v in (7, 0.1, None, True, "x y", "7", 1e-5)] == [
        "7",
        "0.1",
        "null",
        "true",
        "x y",
        "'7'",
        "1.0e-05",
    ]


def test_sweep_block(tmp_path: Path) -> None:
    """A sweep: block gives grid, zip (one or several groups), range, replications, seed."""
    block = {
        "grid": {"policy.refund.window_days": [7, 14]},
        "zip": [{"a.x": [1, 2], "a.y": [3, 4]}],
        "range": {"r.s": "1:3:1", "r.t": {"start": 0.5, "stop": 1.0, "step": 0.25}},
        "replications": 3,
        "seed": 9,
    }
    spec = spec_from_block(block, "x.yaml")
    assert spec.keys == ("policy.refund.window_days", "a.x", "a.y", "r.s", "r.t")
    assert spec.replications == 3 and spec.seed == 9
    assert len(expand(spec)) == 2 * 2 * 3 * 3


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"gird": {"a": [1]}}, "x.yaml: sweep.gird: unknown key (did you mean 'grid'?)"),
        ({"grid": {"a": []}}, "x.yaml: sweep.grid.a: no values (an empty grid)"),
        ({"grid": {"a": 3}}, "x.yaml: sweep.grid.a: must be a list of values, got 3"),
        ({"grid": [1]}, "x.yaml: sweep.grid: must be a mapping of keys to values"),
        ({"replications": 0}, "x.yaml: sweep.replications: must be a whole number >= 1, got 0"),
        ({"seed": "x"}, "x.yaml: sweep.seed: must be a whole number >= 0, got x"),
        (
            {"range": {"a": "1:0:1"}},
            "x.yaml: sweep.range.a: empty range (stop 0 is never reached from start 1 by step 1)",
        ),
        (
            {"zip": {"a": [1, 2], "b": [1]}},
            "zipped keys need the same number of values: x.yaml: sweep.zip.a (2), x.yaml: sweep.zip.b (1)",
        ),
        (
            [1, 2],
            "x.yaml: sweep: must be a mapping with grid, zip, range, replications or seed, got a list",
        ),
    ],
)
def test_bad_sweep_blocks(block: object, message: str) -> None:
    """A broken sweep: block is a ScenarioError naming the file and the key path."""
    with pytest.raises(ScenarioError) as err:
        spec_from_block(block, "x.yaml")
    assert err.value.lines() == (message,)


def test_scenario_file_with_a_sweep_block(tmp_path: Path) -> None:
    """The sweep: block is read apart; the rest is validated as a scenario, relative to the file."""
    text = SMALL.read_text() + "\nsweep:\n  grid:\n    policy.refund.window_days: [7, 30]\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    scenario, spec = load_sweep_scenario(path)
    assert (
        scenario.name == "small"
        and spec is not None
        and spec.keys == ("policy.refund.window_days",)
    )
    assert load_sweep_scenario(SMALL)[1] is None
    path.write_text(text.replace("[7, 30]", "[7, 0]"))
    with pytest.raises(ScenarioError) as err:
        plan_sweep(*load_sweep_scenario(path))  # type: ignore[arg-type]
    assert err.value.lines() == (
        f"{path}: sweep.grid.policy.refund.window_days: must be a whole number from 1 to 36500, got 0",
    )


def test_compare_needs_two_replications(small) -> None:  # type: ignore[no-untyped-def]
    """A paired interval needs at least two pairs."""
    with pytest.raises(UsageError, match=r"^replications must be >= 2 to compare, got 1$"):
        plan_compare(small, small, replications=1)


def test_paired_comparison_by_hand() -> None:
    """Mean, paired difference and t-intervals on numbers worked by hand."""
    a = [{"m": 10, "r": None}, {"m": 12, "r": 0.5}, {"m": 14, "r": 0.7}]
    b = [{"m": 11, "r": 0.1}, {"m": 14, "r": 0.6}, {"m": 15, "r": 0.9}]
    frame = paired_comparison(a, b).set_index("metric")
    m = frame.loc["m"]
    # differences 1, 2, 1: mean 4/3, sd sqrt(1/3); t(0.975, 2) = 4.302652729911275 (NIST table)
    assert m["n"] == 3 and m["mean_a"] == 12 and m["mean_b"] == pytest.approx(40 / 3)
    assert m["diff"] == pytest.approx(4 / 3)
    half = 4.302652729911275 * math.sqrt(1 / 3) / math.sqrt(3)
    assert m["ci_low"] == pytest.approx(4 / 3 - half) and m["ci_high"] == pytest.approx(
        4 / 3 + half
    )
    # unpaired: s_a = 2, s_b = sqrt(13/3), t(0.975, 4) = 2.776445105197793
    uhalf = 2.776445105197793 * math.sqrt((4 + 13 / 3) / 3)
    assert m["unpaired_ci_high"] == pytest.approx(4 / 3 + uhalf)
    assert m["relative_diff"] == pytest.approx((4 / 3) / 12)
    assert frame.loc["r", "n"] == 2  # the pair with a missing value is left out


@pytest.mark.parametrize(
    ("kind", "workers", "scheduler", "message"),
    [
        ("local", 2, "tcp://127.0.0.1:1", "scheduler needs executor='dask'"),
        ("slurm", 2, None, "executor: must be one of local, dask, got 'slurm'"),
        ("local", 0, None, "workers must be a whole number >= 1, got 0"),
    ],
)
def test_bad_executor_choices(kind: str, workers: int, scheduler: str | None, message: str) -> None:
    """make_executor refuses impossible combinations before starting anything."""
    from simulator.executors import make_executor

    with pytest.raises(UsageError) as err:
        make_executor(kind, workers, scheduler)
    assert err.value.lines() == (message,)


def test_one_local_worker_runs_in_this_process() -> None:
    """--workers 1 needs no pool: the serial executor, with map and unordered."""
    from simulator.executors import SerialExecutor, make_executor

    with make_executor("local", 1) as ex:
        assert isinstance(ex, SerialExecutor)
        assert ex.map(abs, [-2, 1]) == [2, 1]
        done = list(ex.unordered(int, ["1", "x"]))
        assert done[0].value == 1 and isinstance(done[1].error, ValueError)


def test_one_key_points_reuse_their_validated_scenario_and_report_progress(small) -> None:
    """Issue 15, defect 5: a one-key sweep validates each point once, and says how far it is.

    The reused scenario must be the one a fresh override gives (compared by
    its document), for values that YAML types differently (7, 7.0 would be
    refused as a count, so 7 and 8 here, and the float axis below).
    """
    seen: list[tuple[int, int]] = []
    plan = plan_sweep(small, _spec(("--range", "policy.refund.window_days=1:2500:1")),
                      progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert len(plan.points) == 2500  # the stop is included
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    for point in plan.points[::500]:
        fresh = small.with_overrides(point.params)
        assert point.scenario.to_dict() == fresh.to_dict()
    floats = plan_sweep(small, _spec(("--grid", "recipients.response_probability=0.1,1")))
    assert [p.scenario.recipients.response_probability for p in floats.points] == [0.1, 1.0]


def test_the_run_cap_is_checked_before_any_point(small) -> None:
    """Over MAX_RUNS (100,000) is refused at once, whatever the points would say."""
    spec = _spec(("--range", "policy.refund.window_days=1:1000:1"), replications=101)
    with pytest.raises(UsageError, match=r"^the sweep has 101,000 runs; at most 100,000"):
        plan_sweep(small, spec, progress=lambda done, total: pytest.fail("validated a point"))


def test_a_large_sweep_says_how_many_runs_before_checking(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """From LARGE_SWEEP_POINTS points on, the count comes first; smaller sweeps stay quiet."""
    import argparse

    from simulator.cli.sweep import LARGE_SWEEP_POINTS, _validation_progress

    args = argparse.Namespace(no_progress=True)
    large = _spec(("--range", f"a=1:{LARGE_SWEEP_POINTS}:1"), replications=3)
    assert _validation_progress(args, large) is None  # no bar: --no-progress
    assert capsys.readouterr().out == (
        "sweep: 3,000 runs (1,000 points x 3 replications); checking every point before "
        "anything runs\n"
    )
    _validation_progress(args, _spec(("--range", f"a=1:{LARGE_SWEEP_POINTS - 1}:1")))
    assert capsys.readouterr().out == ""


def test_points_with_text_values_that_look_like_numbers_keep_their_order(small) -> None:
    """ordered_points once looked such values up by their YAML text quoted twice
    (``'20.00'`` -> ``"'20.00'"``) and failed with KeyError; money given as text
    (as sensitivity studies give it) keeps the order it was given in."""
    from simulator.sweeps import ordered_points

    spec = _spec(("--grid", "pricing.monthly_price.premium_career='20.00','10.00'"))
    plan = plan_sweep(small, spec)
    values = [p.params["pricing.monthly_price.premium_career"] for p in ordered_points(plan)]
    assert values == ["20.00", "10.00"]


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(),
                 st.booleans(), st.none()))  # fmt: skip
def test_scalar_text_writes_numbers_as_yaml_does(value: object) -> None:
    """The fast path of scalar_text (numbers, booleans, null) equals PyYAML's text,
    which run ids hash: a sweep folder written before must resume the same."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10**9)
    assert scalar_text(value) == text.removesuffix("\n").removesuffix("\n...").strip()


_KEYS = st.sampled_from(
    [
        "policy.refund.window_days",
        "population[1].monthly_cancel_probability",
        "recipients.delay.median_days",
        "a",
        "pricing.monthly_price.x-y",
    ]
)


@given(st.dictionaries(_KEYS, st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                        st.integers(), st.booleans(), st.none(),
                                        st.sampled_from(["inmail-2015", "20.00", "a: b"])),
                       min_size=1))  # fmt: skip
def test_canonical_params_are_pyyaml_flow_text(params: dict) -> None:
    """Run ids hash this text: its fast path must equal PyYAML's for every value."""
    import yaml

    from simulator.sweeps import canonical_params

    expected = yaml.safe_dump({k: params[k] for k in sorted(params)}, sort_keys=True,
                              default_flow_style=True, width=10**9, allow_unicode=True)  # fmt: skip
    assert canonical_params(params) == expected


def test_resume_accepts_the_fingerprint_of_folders_written_before(small, tmp_path: Path) -> None:
    """sweep.json's fingerprint hashes scenarios as JSON now, as YAML before 2026-12-05:
    --resume accepts either for the same plan, and refuses another plan's."""
    import json

    from simulator.sweeps import check_out

    plan = plan_sweep(small, _spec(("--grid", "policy.refund.window_days=7,14")))
    assert plan.fingerprint() != plan.yaml_fingerprint()
    out = tmp_path / "older"
    out.mkdir()
    for fingerprint in (plan.yaml_fingerprint(), plan.fingerprint()):
        (out / "sweep.json").write_text(json.dumps({"kind": "sweep", "fingerprint": fingerprint}))
        check_out(out, plan, resume=True)
    (out / "sweep.json").write_text(json.dumps({"kind": "sweep", "fingerprint": "0" * 64}))
    with pytest.raises(UsageError, match="holds a different sweep"):
        check_out(out, plan, resume=True)
