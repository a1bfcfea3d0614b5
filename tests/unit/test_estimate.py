"""Tests of simulator.estimate: the memory model and refusing runs that do not fit.

Expected figures are recomputed from the formula in the module docstring;
the available memory is monkeypatched so no test depends on the machine.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import simulator.estimate as est
from simulator.errors import UsageError
from simulator.scenario import load_scenario, scenario_from_dict
from simulator.timeutil import DAY

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30


def _scenario(members: int = 1000, rate: float = 10.0, tier: str = "premium_career",
              days: int = 365, source: str = "scenarios/x.yaml", cohort: dict | None = None,
              **extra: object):  # type: ignore[no-untyped-def]  # fmt: skip
    doc = {
        "seed": 1,
        "start": "2014-01-01",
        "duration_days": days,
        "population": [{"name": "a", "tier": tier, "members": members,
                        "sending": {"inmails_per_month": rate}, **(cohort or {})}],
        **extra,
    }  # fmt: skip
    return scenario_from_dict(doc, source)


def test_expected_counts_of_a_closed_population() -> None:
    """Planned sends of a closed cohort: members x rate x simulated months."""
    s = _scenario(members=1000, rate=10.0)
    months = (s.end + 1 - s.sim_start) / DAY / (365.2425 / 12)  # the mean Gregorian month
    counts = est.expected_counts(s)
    assert counts["inmails"] == pytest.approx(1000 * 10 * months)
    assert counts["members"] == 1000


def test_expected_counts_of_an_open_population() -> None:
    """Replacing the members who leave keeps 1,000 present: the same sends as a closed cohort;
    members who stay after a cancel add the arrivals' months on top."""

    def scenario(after_cancel: str):  # type: ignore[no-untyped-def]
        return _scenario(
            members=1000, rate=10.0,
            policy={"cancel_effective": "immediate"},
            cohort={"monthly_cancel_probability": 0.05, "after_cancel": after_cancel,
                    "arrivals": {"monthly_rate": "replace_churn"}},
        )  # fmt: skip

    leave, stay = scenario("leave"), scenario("stay")
    months = (leave.end + 1 - leave.sim_start) / DAY / (365.2425 / 12)  # the mean Gregorian month
    # 50 arrivals a month (5 % of 1,000), each month of the run.
    assert est.expected_counts(leave)["members"] == pytest.approx(1000 + 50 * math.ceil(months))
    assert est.expected_counts(leave)["inmails"] == pytest.approx(1000 * 10 * months)
    # Staying: the arrivals of month m send from month m + 1 to the end.
    extra = sum(50 * max(0.0, months - m - 1) for m in range(math.ceil(months)))
    assert est.expected_counts(stay)["inmails"] == pytest.approx(10 * (1000 * months + extra))


def test_expected_ledger_entries_follow_the_refund_mode() -> None:
    """One spend per paid send, a refund per expected refund, 2 entries per premium month."""
    months = 365 / (365.2425 / 12)  # the mean Gregorian month
    sends = 1000 * 10 * months
    premium = 1000 * months
    for mode, share in (("no_response_within", 0.8), ("response_within", 0.2), ("none", 0.0)):
        s = _scenario(policy={"refund": {"mode": mode}})
        got = est.expected_counts(s)["ledger_entries"]
        assert got == pytest.approx(sends * (1 + share) + 2 * premium), mode


def test_basic_members_get_no_grant_entries() -> None:
    """A basic cohort's months add no grant or expiry entries."""
    got = est.expected_counts(_scenario(tier="basic", rate=0.0))["ledger_entries"]
    assert got == 0


def test_estimate_is_the_documented_formula() -> None:
    """BASE + per-InMail + per-ledger-entry + per-member bytes, for one worker."""
    s = _scenario()
    n = est.expected_counts(s)
    want = (
        est.BASE_BYTES
        + est.PER_INMAIL_BYTES * n["inmails"]
        + est.PER_LEDGER_ENTRY_BYTES * n["ledger_entries"]
        + est.PER_MEMBER_BYTES * 1000
    )
    assert est.estimate_run_bytes(s) == int(want)


def test_each_extra_worker_costs_a_process_and_sharding_once() -> None:
    """Workers add PER_WORKER_BYTES each beyond the first, plus SHARDING_SHARE of the data."""
    s = _scenario()
    one = est.estimate_run_bytes(s)
    data = one - est.BASE_BYTES
    assert est.estimate_run_bytes(s, workers=2) == pytest.approx(
        one + est.PER_WORKER_BYTES + est.SHARDING_SHARE * data, abs=2
    )
    assert est.estimate_run_bytes(s, workers=4) - est.estimate_run_bytes(s, workers=2) == (
        pytest.approx(2 * est.PER_WORKER_BYTES, abs=2)
    )


def test_estimate_of_the_baseline_is_near_its_measured_peak() -> None:
    """scenarios/baseline.yaml (6,016 members over 1,095 days) peaked at 1,189 MiB
    (``/usr/bin/time -v creditsim run ... --no-report``, 2026-12-04, the standard machine);
    the estimate errs high, by at most 25 %."""
    got = est.estimate_run_bytes(load_scenario(REPO / "scenarios" / "baseline.yaml")) / (1 << 20)
    assert 1189 <= got <= 1189 * 1.25


def test_the_largest_valid_scenario_does_not_overflow() -> None:
    """10 million members sending 10,000 a month for a century: a (huge) whole number."""
    s = _scenario(members=10_000_000, rate=10_000, days=36_500)
    assert isinstance(est.estimate_run_bytes(s), int)
    assert est.estimate_run_bytes(s) > 10**17  # about 154 PiB


def test_check_memory_refuses_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the available memory: one UsageError line naming the file and both figures
    (neither the batches nor the reports fit in 300 MiB)."""
    monkeypatch.setattr(est, "available_memory_bytes", lambda: 300 * (1 << 20))
    s = _scenario(members=2_000_000, rate=20)
    with pytest.raises(UsageError) as info:
        est.check_memory(s, force=False, workers=1)
    figure = est.readable_bytes(est.estimate_written_run_bytes(s))
    assert figure.endswith(("MiB", "GiB"))
    assert info.value.lines() == (
        f"scenarios/x.yaml: estimated memory {figure} exceeds the 300.0 MiB available;"
        " pass force=True to run anyway",
    )


def test_check_memory_names_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """With several workers the estimate says how many it assumed."""
    monkeypatch.setattr(est, "available_memory_bytes", lambda: 1 * GIB)
    with pytest.raises(UsageError, match=r"GiB \(4 workers\) exceeds the 1\.0 GiB available"):
        est.check_memory(_scenario(), force=False, workers=4)


def test_check_memory_passes_when_the_run_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the available memory nothing is raised."""
    monkeypatch.setattr(est, "available_memory_bytes", lambda: 64 * GIB)
    est.check_memory(_scenario(), force=False, workers=2)


def test_force_skips_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """With force the estimate is not even compared."""
    monkeypatch.setattr(est, "available_memory_bytes", lambda: 1)
    est.check_memory(_scenario(members=10_000_000, rate=10_000), force=True, workers=8)


def test_unknown_available_memory_skips_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the available memory cannot be found (0), nothing is refused."""
    monkeypatch.setattr(est, "available_memory_bytes", lambda: 0)
    est.check_memory(_scenario(members=10_000_000, rate=10_000), force=False, workers=1)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("MemTotal:       24573432 kB\nMemFree:  100 kB\nMemAvailable:   23783052 kB\n",
         23_783_052 * 1024),
        ("MemTotal: 100 kB\n", None),
        ("MemAvailable: lots\n", None),
        ("", None),
    ],
)  # fmt: skip
def test_meminfo_is_read(text: str, want: int | None) -> None:
    """MemAvailable is read in bytes from /proc/meminfo text; anything else is unknown."""
    assert est._meminfo_available(text) == want


@pytest.mark.parametrize(
    ("limit", "current", "want"),
    [("max\n", "1000\n", None), ("8589934592\n", "1073741824\n", 7 * GIB),
     ("100\n", "200\n", 0), (None, "1", None)],
)  # fmt: skip
def test_cgroup_limit_is_read(limit: str | None, current: str | None, want: int | None) -> None:
    """A cgroup v2 memory.max leaves memory.max - memory.current; 'max' means no limit."""
    assert est._cgroup_room(limit, current) == want


def test_available_memory_is_found_on_this_machine() -> None:
    """On Linux (CI) the available memory is a positive number of bytes."""
    assert est.available_memory_bytes() > 0


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (521 * est.MIB, "521.0 MiB"),
        (int(22.9 * GIB), "22.9 GiB"),
        (6238 * GIB, "6.1 TiB"),  # 6238 / 1024 = 6.09
        # The figure issue 15 found printed as "9236926228.2 GiB": / 1024**3 = 8.60 EiB.
        (int(9236926228.2 * GIB), "8.6 EiB"),
    ],
)
def test_sizes_are_readable(size: int, text: str) -> None:
    assert est.readable_bytes(size) == text


def test_a_huge_estimate_is_refused_in_readable_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(est, "available_memory_bytes", lambda: 16 * GIB)
    s = _scenario(members=10_000_000, rate=10_000, days=36_500)
    with pytest.raises(UsageError) as info:
        est.check_memory(s, force=False, workers=1, batch_members=10_000_000)
    (line,) = info.value.lines()
    assert re.search(r"estimated memory \d+\.\d PiB exceeds the 16\.0 GiB available", line)


def test_output_estimate_of_the_baseline_is_near_its_measured_size() -> None:
    """scenarios/baseline.yaml's run directory, reports included, took 141,658,494 bytes
    (``du -sb``, seed 20140101, 2026-12-05): the estimate is within 10 % of it, above."""
    got = est.estimate_output_bytes(load_scenario(REPO / "scenarios" / "baseline.yaml"))
    assert 141_658_494 <= got <= 141_658_494 * 1.10


def test_check_disk_refuses_a_run_that_would_not_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Less free space than the estimate: one line naming the file, the folder and both
    figures; --force skips the check; enough space passes."""
    s = _scenario(members=20_000, rate=20)
    need = est.estimate_output_bytes(s)
    monkeypatch.setattr(est, "free_disk_bytes", lambda folder: need - 1)
    with pytest.raises(UsageError) as info:
        est.check_disk(s, tmp_path / "out", force=False)
    assert info.value.lines() == (
        f"scenarios/x.yaml: its run directory needs about {est.readable_bytes(need)}, but the "
        f"disk of {tmp_path / 'out'} has {est.readable_bytes(need - 1)} free; free some "
        "space, choose another out, or pass force=True to run anyway",
    )
    est.check_disk(s, tmp_path / "out", force=True)
    monkeypatch.setattr(est, "free_disk_bytes", lambda folder: need)
    est.check_disk(s, tmp_path / "out", force=False)


def test_free_disk_bytes_reads_the_nearest_existing_folder(tmp_path: Path) -> None:
    import shutil

    assert est.free_disk_bytes(tmp_path / "not" / "yet") == pytest.approx(
        shutil.disk_usage(tmp_path).free, rel=0.01
    )


def test_run_refuses_before_simulating_when_the_disk_is_too_small(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import simulator.runner
    from simulator.cli import main

    monkeypatch.setattr(est, "free_disk_bytes", lambda folder: 1 << 20)

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr(simulator.runner, "run", no_run)
    out = tmp_path / "out"
    assert main(["run", str(REPO / "scenarios" / "baseline.yaml"), "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "its run directory needs about" in line and "1.0 MiB free" in line
    assert not out.exists()


def test_check_disk_counts_an_overwritten_run_as_free(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--overwrite replaces the earlier run: its bytes are free for the new one."""
    s = _scenario(members=20_000, rate=20)
    need = est.estimate_output_bytes(s)
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "ledger").mkdir()
    (out / "ledger" / "part-00000.parquet").write_bytes(b"x" * 1000)
    monkeypatch.setattr(est, "free_disk_bytes", lambda folder: need - 1000)
    est.check_disk(s, out, force=False)
    with pytest.raises(UsageError):
        est.check_disk(s, tmp_path / "new", force=False)


@pytest.mark.parametrize(("batch", "measured_mib"), [(1_000, 854), (2_500, 1_639), (10_000, 4_288)])
def test_a_batch_estimate_errs_high_but_near_its_measured_peak(
    batch: int, measured_mib: int
) -> None:
    """scenarios/bench.yaml, creditsim run --workers 1 --no-report --batch-members N: the
    peak RSS of every process, sampled every 0.2 s (benchmarks/run_bench.py's sampler,
    2026-12-05, the standard machine). The estimate is at most 30 % above it."""
    got = est.estimate_batch_bytes(load_scenario(REPO / "scenarios" / "bench.yaml"), batch)
    assert measured_mib <= got / (1 << 20) <= 1.3 * measured_mib


def test_a_written_run_needs_a_batch_per_worker_with_its_report_sums() -> None:
    """Each worker holds one batch (and reduces it to its report sums), the parent the
    sums: the reports do not grow with the run."""
    s = load_scenario(REPO / "scenarios" / "bench.yaml")
    batch = est.estimate_batch_bytes(s, 2_500)
    assert est.estimate_written_run_bytes(s, 1, 2_500, reports=False) == batch
    two = est.estimate_written_run_bytes(s, 2, 2_500, reports=False)
    assert two == 2 * batch + est.PARENT_BYTES
    # bench.yaml --workers 1 with its reports peaked at 1,890 MiB (benchmarks/RESULTS.md,
    # 2026-12-05): the estimate is at most 30 % above it, and above the run without.
    with_reports = est.estimate_written_run_bytes(s, 1, 2_500, reports=True)
    assert with_reports > batch and 1_890 <= with_reports / (1 << 20) <= 1.3 * 1_890
    # Ten times the members: each process still holds one batch (and a larger roster).
    big = load_scenario(REPO / "scenarios" / "bench-1m.yaml")
    per_process = est.estimate_batch_bytes(big, 2_500, reports=True)
    assert per_process - with_reports == 900_000 * est.PER_ROSTER_MEMBER_BYTES


def test_a_million_members_fit_a_batch_per_process() -> None:
    """bench-1m.yaml without reports: under 2 GiB a process (issue 12's target), whatever
    the size of the run, since a process holds one batch and the roster."""
    big = load_scenario(REPO / "scenarios" / "bench-1m.yaml")
    assert est.estimate_batch_bytes(big, 2_500) < 2 * GIB
    assert est.estimate_run_bytes(big) > 100 * GIB  # held in memory, it would not fit


def test_when_only_the_reports_do_not_fit_the_message_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = load_scenario(REPO / "scenarios" / "bench-1m.yaml")
    without = est.estimate_written_run_bytes(s, 1, reports=False)
    with_reports = est.estimate_written_run_bytes(s, 1, reports=True)
    # Between the two estimates: it fits only without its reports.
    monkeypatch.setattr(est, "available_memory_bytes", lambda: (without + with_reports) // 2)
    with pytest.raises(UsageError) as info:
        est.check_memory(s, force=False, workers=1)
    (line,) = info.value.lines()
    assert line.endswith("pass force=True to run anyway; it fits without its reports: "
                         "reports=False runs it")  # fmt: skip
    est.check_memory(s, force=False, workers=1, reports=False)  # fits
