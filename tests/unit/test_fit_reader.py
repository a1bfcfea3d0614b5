"""simulator.calibration.reader: histories streamed into columns, checked as replay checks them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.calibration.reader import ACT_RESPOND, ACT_SEND, read_histories
from simulator.calibration.replayed import replay_observed
from simulator.engine import read_history, resolve_policy
from simulator.errors import CreditsimError, HistoryError

DATA = Path(__file__).parents[1] / "data"
INVALID = sorted(
    p for p in (DATA / "invalid" / "history").glob("*.csv") if not p.name.startswith("policy_")
)
GOLDEN = sorted((DATA / "golden").glob("*/history.csv"))
EXAMPLE = Path(__file__).parents[2] / "scenarios" / "examples" / "history.csv"
POLICY = resolve_policy(None)


def _policy(path: Path):  # type: ignore[no-untyped-def]
    """The golden case's own policy (policy.yaml beside it), else the default."""
    own = path.parent / "policy.yaml"
    if not own.exists():
        return POLICY
    from simulator.yamlio import load_yaml_file

    doc = load_yaml_file(own)
    return resolve_policy(doc.get("policy", doc) if isinstance(doc, dict) else doc)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_bad_history_gives_replays_lines(path: Path) -> None:
    """A bad history raises the very lines read_history (creditsim replay) gives."""
    with pytest.raises(CreditsimError) as want:
        read_history(path, POLICY)
    with pytest.raises(type(want.value)) as got:
        read_histories([path], POLICY)
    assert got.value.lines() == want.value.lines()


def test_problems_of_several_files_come_together() -> None:
    """Every bad file's lines are reported, in the order the files were given."""
    a, b = INVALID[0], INVALID[-1]
    with pytest.raises(HistoryError) as got:
        read_histories([a, EXAMPLE, b], POLICY)
    want = []
    for p in (a, b):
        with pytest.raises(HistoryError) as one:
            read_history(p, POLICY)
        want.extend(one.value.lines())
    assert list(got.value.lines()) == want


def test_missing_file_is_a_history_error() -> None:
    """A path that does not exist is reported as replay reports it."""
    with pytest.raises(HistoryError) as want:
        read_history("no/such/history.csv", POLICY)
    with pytest.raises(HistoryError) as got:
        read_histories(["no/such/history.csv"], POLICY)
    assert got.value.lines() == want.value.lines()


@pytest.mark.parametrize("path", [*GOLDEN, EXAMPLE], ids=lambda p: p.parent.name)
def test_rows_come_in_replay_order(path: Path) -> None:
    """The columns hold read_history's actions, in its order (instant, R10 step, line)."""
    policy = _policy(path)
    actions = read_history(path, policy)
    obs = read_histories([path], policy, until=max(a.time for a in actions))
    assert obs.time.tolist() == [a.time for a in actions]
    assert [obs.members[m] for m in obs.member] == [a.member for a in actions]
    sends = {a.inmail: i for i, a in enumerate(actions) if a.action == "send"}
    want_links = [sends[a.inmail] if a.action == "respond" else -1 for a in actions]
    assert obs.link.tolist() == want_links


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.parent.name)
def test_replay_counts_match_the_golden_ledger(path: Path) -> None:
    """The fit's engine pass moves the credits the golden ledger moves (RULES.md section 8)."""
    until_file = path.parent / "until.txt"
    from simulator.timeutil import parse_instant

    until = parse_instant(until_file.read_text().strip()) if until_file.exists() else None
    policy = _policy(path)
    obs = read_histories([path], policy, until=until)
    counts = replay_observed(obs, policy).counts
    import csv

    with open(path.parent / "expected_ledger.csv", newline="") as f:
        ledger = list(csv.DictReader(f))
    for kind, key in (("grant", "credits_granted"), ("spend", "credits_spent"),
                      ("expire", "credits_expired"), ("refund", "credits_refunded")):  # fmt: skip
        assert counts[key] == sum(int(r["quantity"]) for r in ledger if r["kind"] == kind), kind


def test_rows_after_until_are_dropped() -> None:
    """Rows after until are read and checked but not kept."""
    full = read_histories([EXAMPLE], POLICY)
    cut = read_histories([EXAMPLE], POLICY, until=int(full.time[3]))
    assert len(cut) < len(full)
    assert cut.time.max() <= full.time[3]
    assert cut.until == full.time[3]


def test_two_files_are_one_history() -> None:
    """Two files are concatenated: each response still finds its own send."""
    obs = read_histories([GOLDEN[0], EXAMPLE], _policy(GOLDEN[0]))
    responds = np.flatnonzero(obs.action == ACT_RESPOND)
    assert (obs.action[obs.link[responds]] == ACT_SEND).all()
    assert (obs.member[obs.link[responds]] == obs.member[responds]).all()


@pytest.mark.parametrize(
    "instant",
    ["2023-02-29T00:00:00Z", "2024-04-31T10:00:00Z", "2024-01-01T23:59:60Z", "2024-01-01T24:00:00Z",
     "2024-13-01T00:00:00Z", "2024-1-01T00:00:00Z", "2024-01-01T00:00:00+01:00"],
)  # fmt: skip
def test_instants_arrow_would_roll_over_are_refused(instant: str, tmp_path: Path) -> None:
    """Arrow's strptime turns Feb 29, 2023 into March 1: the fit refuses it as replay does."""
    path = tmp_path / "h.csv"
    path.write_text(f"time,member,action,tier\n{instant},a,subscribe,premium_career\n")
    with pytest.raises(HistoryError) as want:
        read_history(path, POLICY)
    with pytest.raises(HistoryError) as got:
        read_histories([path], POLICY)
    assert got.value.lines() == want.value.lines()
