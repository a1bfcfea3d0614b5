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
