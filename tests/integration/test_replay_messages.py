"""Replay error messages that must name every problem once, and only real ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main

HEADER = "time,member,action,tier,quantity,inmail,category,subject_chars,body_chars,free,response"


def test_a_broken_send_is_not_reported_again_through_its_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A response to a send row that is itself broken adds no 'never sent' line."""
    history = tmp_path / "h.csv"
    history.write_text(
        f"{HEADER}\n"
        "2024-01-01T00:00:00Z,a,send,,,m1,job_inquiry,10,10,maybe,\n"
        "2024-01-02T00:00:00Z,a,respond,,,m1,,,,,reply\n",
        encoding="utf-8",
    )
    assert main(["replay", str(history), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{history}:2: free must be true or false, got 'maybe'"
    ]
    assert not (tmp_path / "out").exists()


def test_policy_problems_are_all_named_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown top-level key does not hide problems deeper in the policy."""
    history = tmp_path / "h.csv"
    history.write_text(f"{HEADER}\n2024-01-01T00:00:00Z,a,cancel,,,,,,,,\n", encoding="utf-8")
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "policy:\n"
        "  grant_expiry_dayz: 30\n"
        "  refund: {windw_days: 3}\n"
        "  tiers: {premium_career: {montly_credits: 4}}\n",
        encoding="utf-8",
    )
    code = main(["replay", str(history), "--scenario", str(policy), "--out", str(tmp_path / "o")])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{policy}: policy.grant_expiry_dayz: unknown key (did you mean 'grant_expiry_days'?)",
        f"{policy}: policy.refund.windw_days: unknown key (did you mean 'window_days'?)",
        f"{policy}: policy.tiers.premium_career.montly_credits: unknown key "
        "(did you mean 'monthly_credits'?)",
    ]


def test_a_number_too_long_for_int_is_a_rejection_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 5,000-digit quantity is well formed (RULES.md section 8), so it is rejected: quantity."""
    history = tmp_path / "h.csv"
    history.write_text(f"{HEADER}\n2024-01-01T00:00:00Z,a,purchase,,{'9' * 5000},,,,,,\n",
                       encoding="utf-8")  # fmt: skip
    assert main(["replay", str(history), "--out", str(tmp_path / "out")]) == 0
    ledger = (tmp_path / "out" / "ledger.csv").read_text(encoding="utf-8").splitlines()
    assert ledger[1] == "2024-01-01T00:00:00Z,a,reject,,0,,quantity,0"


def test_instants_before_1970_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Instants before the Unix epoch are ordinary instants (negative seconds) for the engine."""
    history = tmp_path / "h.csv"
    history.write_text(
        f"{HEADER}\n"
        "1969-12-01T00:00:00Z,a,subscribe,premium_career,,,,,,,\n"
        "1969-12-05T00:00:00Z,a,send,,,m1,job_inquiry,5,5,false,\n",
        encoding="utf-8",
    )
    code = main(["replay", str(history), "--until", "1970-01-05T00:00:00Z",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0
    # Hand-derived (RULES.md R1, R3, R6): grant 5 at the anchor, spend 1, refund at +7 days,
    # the 1st anniversary grant on 1970-01-01.
    assert (tmp_path / "out" / "ledger.csv").read_text(encoding="utf-8").splitlines()[1:] == [
        "1969-12-01T00:00:00Z,a,grant,a:1,5,,,5",
        "1969-12-05T00:00:00Z,a,spend,a:1,1,m1,,4",
        "1969-12-12T00:00:00Z,a,refund,a:2,1,m1,,5",
        "1970-01-01T00:00:00Z,a,grant,a:3,5,,,10",
    ]


def test_replay_refuses_to_overwrite_without_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An earlier replay output is replaced only with --overwrite."""
    history = tmp_path / "h.csv"
    history.write_text(f"{HEADER}\n2024-01-01T00:00:00Z,a,cancel,,,,,,,,\n", encoding="utf-8")
    out = str(tmp_path / "out")
    assert main(["replay", str(history), "--out", out]) == 0
    assert main(["replay", str(history), "--out", out]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["replay", str(history), "--out", out, "--overwrite"]) == 0
