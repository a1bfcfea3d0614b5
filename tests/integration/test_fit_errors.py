"""creditsim fit on bad or small input: replay's errors, and what a small history cannot say."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.calibration import FitTooSmall, fit
from simulator.cli.messages import as_flags
from simulator.engine import read_history, resolve_policy
from simulator.errors import HistoryError, UsageError

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "scenarios" / "examples" / "history.csv"
BASELINE = ROOT / "scenarios" / "baseline.yaml"
BAD = ROOT / "tests" / "data" / "invalid" / "history" / "several_problems.csv"


def test_bad_history_is_reported_as_replay_reports_it() -> None:
    """Every problem, one line each, exactly replay's; exit status 2."""
    with pytest.raises(HistoryError) as want:
        read_history(BAD, resolve_policy(None))
    with pytest.raises(HistoryError) as got:
        fit(BAD)
    assert got.value.lines() == want.value.lines()
    assert got.value.exit_code == 2


def test_small_history_says_what_it_cannot_estimate() -> None:
    """Without a base scenario, each parameter it cannot estimate is named with the reason."""
    with pytest.raises(FitTooSmall) as got:
        fit(EXAMPLE)
    assert got.value.exit_code == 2
    assert got.value.lines() == tuple(
        f"{EXAMPLE}: {line}"
        for line in (
            "population[basic].sending: cannot estimate inmails_per_month, rate_shape: 1 member "
            "with 2 planned sends (needs 5 members and a send); give a base scenario "
            "(base=...) to use its values",
            "population[basic].sending: cannot estimate weekday_weights, body_chars, "
            "subject_chars, categories, free_share, out_of_credit: 2 planned sends (needs 20); "
            "give a base "
            "scenario (base=...) to use its values",
            "population[premium_career].sending: cannot estimate inmails_per_month, rate_shape: "
            "1 member with 4 planned sends (needs 5 members and a send); give a base scenario "
            "(base=...) to use its values",
            "population[premium_career].sending: cannot estimate weekday_weights, body_chars, "
            "subject_chars, categories, free_share, out_of_credit: 4 planned sends (needs 20); "
            "give a base scenario (base=...) to use its values",
            "recipients: cannot estimate: 2 responses to 5 accepted sends (needs 2 responses and "
            "20 sends); give a base scenario (base=...) to use its values",
        )
    )
    # creditsim fit names the flag instead.
    cli = as_flags("fit", got.value.lines())
    assert all(line.endswith("give a base scenario (--scenario) to use its values")
               for line in cli)  # fmt: skip
    assert [c.replace("(--scenario)", "(base=...)") for c in cli] == list(got.value.lines())


def test_base_scenario_fills_in_and_says_so() -> None:
    """With --scenario, the base's values are used and fit.csv marks them source=base."""
    fitted = fit(EXAMPLE, base=BASELINE)
    p = fitted.parameters
    base = p[p["source"] == "base"]
    assert "population[premium_career].sending.inmails_per_month" in set(base["parameter"])
    assert base["note"].str.startswith("too small to estimate").all()
    cohort = fitted.scenario.cohort("premium_career")
    assert cohort.sending.inmails_per_month == 3.0  # baseline.yaml's premium_career cohort
    assert fitted.scenario.pricing.currency == "USD"  # the base's pricing


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cohorts": "age"}, "cohorts: expected one of tier, tier-activity, got 'age'"),
        ({"validate": -1}, "validate: must be a whole number >= 0, got -1"),
        ({"workers": 0}, "workers: must be a whole number >= 1, got 0"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict[str, object], message: str) -> None:
    """Arguments are checked before anything is read."""
    with pytest.raises(UsageError) as got:
        fit(EXAMPLE, **kwargs)  # type: ignore[arg-type]
    assert got.value.lines() == (message,)


def test_bad_until_is_a_usage_error() -> None:
    """A malformed --until names itself."""
    with pytest.raises(UsageError) as got:
        fit(EXAMPLE, until="yesterday")
    assert got.value.lines()[0].startswith("until: ")


def test_plots_by_name() -> None:
    """Fit.plot draws each named figure and refuses an unknown name."""
    import matplotlib.pyplot as plt

    from simulator.calibration.page import PLOTS

    fitted = fit(EXAMPLE, base=BASELINE)
    for name in PLOTS:
        plt.close(fitted.plot(name))
    with pytest.raises(UsageError) as got:
        fitted.plot("nope")
    assert got.value.lines() == ("plot: expected one of delays, rates, validation, got 'nope'",)
    assert repr(fitted).startswith("Fit('fit-baseline': 2 cohorts")


def test_members_seen_only_after_until_are_in_no_cohort(tmp_path: Path) -> None:
    """A member whose first row comes after --until is not counted (as basic or anything)."""
    path = tmp_path / "h.csv"
    path.write_text(
        "time,member,action,tier,quantity,inmail,category,subject_chars,body_chars,free,response\n"
        "2024-01-01T00:00:00Z,ann,subscribe,premium_career,,,,,,,\n"
        "2024-01-02T00:00:00Z,ann,send,,,m1,job_inquiry,30,500,false,\n"
        "2024-03-01T00:00:00Z,bob,subscribe,premium_business,,,,,,,\n"
    )
    fitted = fit(path, base=BASELINE, until="2024-02-01T00:00:00Z")
    assert [(c.name, len(c.members)) for c in fitted.cohorts] == [("premium_career", 1)]
