"""`creditsim replay` end to end: bad input is refused with pinned messages, good input replays.

The invalid corpus lives in ``tests/data/invalid/history``: ``<case>.csv`` and,
for policy cases, ``<case>.yaml`` (a scenario read through ``--scenario``).
``EXPECTED`` below pins, per case, the exact lines on standard error; an error
message is part of the interface (DESIGN.md), and RULES.md section 8 asks for
exit status 2, one line per problem ``HISTORY.csv:LINE: what is wrong``, and no
output written. Each case is copied into a temporary folder and replayed from
there with relative paths, so the pinned lines read as a user would see them.

The expected messages were read from the code that produces them
(``simulator/engine/history.py``, ``policy.py``, ``schema.py``, ``yamlio.py``,
``timeutil.py``) and checked against RULES.md; the expected numbers of the
positive tests are derived by hand in the comments next to them.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "invalid" / "history"
EXAMPLE = ROOT / "scenarios" / "examples" / "history.csv"
HEADER = "time,member,action,tier,quantity,inmail,category,subject_chars,body_chars,free,response"

_ACTIONS = "(expected one of respond, subscribe, change_tier, cancel, purchase, send)"
_LIKE = "(expected like 2024-01-31T09:00:00Z)"

# case -> the exact stderr lines (history cases name the .csv, policy cases the .yaml)
EXPECTED: dict[str, list[str]] = {
    "unknown_action": [
        f"unknown_action.csv:2: unknown action 'fly' {_ACTIONS}",
        f"unknown_action.csv:3: unknown action 'Subscribe' {_ACTIONS}",  # case matters
        f"unknown_action.csv:4: unknown action '' {_ACTIONS}",
    ],
    "unknown_tier": [
        "unknown_tier.csv:2: unknown tier 'gold'",
        "unknown_tier.csv:3: unknown tier 'Premium_Career'",
        "unknown_tier.csv:4: subscribe needs a tier",
    ],
    "malformed_instant": [
        "malformed_instant.csv:2: malformed instant '2023-02-29T00:00:00Z' (no such date)",
        "malformed_instant.csv:3: malformed instant '2024-01-01T24:00:00Z' (no such time of day)",
        f"malformed_instant.csv:4: malformed instant '2024-01-01T09:00:00' {_LIKE}",
        f"malformed_instant.csv:5: malformed instant '2024-01-01T09:00:00+01:00' {_LIKE}",
        f"malformed_instant.csv:6: malformed instant '2024-01-01' {_LIKE}",
        f"malformed_instant.csv:7: malformed instant '2024-01-01 09:00:00Z' {_LIKE}",
        f"malformed_instant.csv:8: malformed instant '2024-01-01T09:00:00.5Z' {_LIKE}",
        f"malformed_instant.csv:9: malformed instant '' {_LIKE}",
    ],
    "malformed_number": [
        "malformed_number.csv:2: quantity must be a whole number, got '-1'",
        "malformed_number.csv:3: quantity must be a whole number, got '1.5'",
        "malformed_number.csv:4: quantity must be a whole number, got '1e3'",
        "malformed_number.csv:5: quantity must be a whole number, got ''",
        "malformed_number.csv:6: quantity must be a whole number, got '+3'",
        "malformed_number.csv:7: subject_chars must be a whole number, got '10.0'",
        "malformed_number.csv:7: body_chars must be a whole number, got '-5'",
    ],
    "duplicate_inmail": [
        "duplicate_inmail.csv:3: InMail id 'm1' already sent on line 2",  # even by another member
        "duplicate_inmail.csv:4: InMail id 'm1' already sent on line 2",
    ],
    "response_never_sent": [
        "response_never_sent.csv:3: response to InMail 'm2', which is never sent",
    ],
    "response_same_instant": [
        "response_same_instant.csv:3: response at 2024-01-01T09:00:00Z is not after "
        "InMail 'm1' was sent (2024-01-01T09:00:00Z, line 2)",
    ],
    "response_earlier": [
        "response_earlier.csv:2: response at 2024-01-01T09:00:01Z is not after "
        "InMail 'm1' was sent (2024-01-02T09:00:00Z, line 3)",
    ],
    "response_other_member": [
        "response_other_member.csv:3: response names member 'bob', but InMail 'm1' "
        "was sent by 'alice' (line 2)",
    ],
    "second_response": [
        "second_response.csv:4: second response to InMail 'm1' (first on line 3)",
        "second_response.csv:5: second response to InMail 'm1' (first on line 3)",
    ],
    "unknown_response": [
        "unknown_response.csv:5: unknown response 'maybe' (expected one of accept, decline, reply)",
        "unknown_response.csv:6: unknown response 'Reply' (expected one of accept, decline, reply)",
        "unknown_response.csv:7: unknown response '' (expected one of accept, decline, reply)",
    ],
    "free_not_boolean": [
        "free_not_boolean.csv:2: free must be true or false, got 'yes'",
        "free_not_boolean.csv:3: free must be true or false, got 'True'",
        "free_not_boolean.csv:4: free must be true or false, got '1'",
        "free_not_boolean.csv:5: free must be true or false, got ''",
    ],
    "missing_column_tier": [  # line 3 is a cancel, which needs no tier
        "missing_column_tier.csv:2: subscribe needs a 'tier' column",
        "missing_column_tier.csv:4: change_tier needs a 'tier' column",
    ],
    "missing_column_send": [
        "missing_column_send.csv:2: send needs a 'category' column",
        "missing_column_send.csv:2: send needs a 'subject_chars' column",
        "missing_column_send.csv:2: send needs a 'body_chars' column",
        "missing_column_send.csv:2: send needs a 'free' column",
        "missing_column_send.csv:3: respond needs a 'response' column",
        "missing_column_send.csv:4: purchase needs a 'quantity' column",
    ],
    "missing_column_action": [
        "missing_column_action.csv:1: missing column 'action'",
    ],
    "send_without_inmail_id": [
        "send_without_inmail_id.csv:2: send needs an InMail id",
    ],
    "empty_member": [
        "empty_member.csv:2: empty member id",
    ],
    "wrong_cell_count": [
        "wrong_cell_count.csv:2: expected 11 cells like the header, got 10",
        "wrong_cell_count.csv:3: expected 11 cells like the header, got 12",
    ],
    "duplicate_column": [
        "duplicate_column.csv:1: column 'tier' appears more than once",
    ],
    "malformed_csv": [  # an unterminated quote on the last line
        "malformed_csv.csv:3: malformed CSV: a quoted cell opened on this row is never closed",
    ],
    # Issue 15, defect 6: reported where the quote opened, not at the end of the file.
    "unclosed_quote_early": [
        "unclosed_quote_early.csv:3: malformed CSV: a quoted cell opened on this row is never "
        "closed (it runs to the end of the file, line 6)",
    ],
    # Ids are written raw to ledger.csv: control characters are refused, escaped here.
    "control_characters": [
        "control_characters.csv:2: member id 'ali\\x00ce' holds a control character",
        "control_characters.csv:4: InMail id 'm\\x1b[31m' holds a control character",
        "control_characters.csv:5: member id 'car\\u2028ol' holds a control character",
    ],
    # A year mistyped as 0000: 739,000 days before the rest (2,024 years of grants).
    # 0000-01-01 to 2024-01-02 is 719,528 + 19,724 days (timeutil's epoch offsets).
    "far_year": [
        "far_year.csv:2: instant 0000-01-01T00:00:00Z is 739,253 days before the one on line 4 "
        "(2024-01-03T00:00:00Z): a history spans at most 36,500 days, so this is likely a typo "
        "(replay --allow-long-span accepts it)",
    ],
    "bad_row_after_until": [  # replayed with --until 2024-02-01T00:00:00Z (UNTIL below)
        "bad_row_after_until.csv:3: unknown tier 'gold'",
    ],
    "several_problems": [  # found in different passes, printed sorted by line
        "several_problems.csv:2: response to InMail 'm9', which is never sent",
        f"several_problems.csv:4: unknown action 'teleport' {_ACTIONS}",
        "several_problems.csv:5: subject_chars must be a whole number, got 'x'",
        "several_problems.csv:5: body_chars must be a whole number, got ''",
        "several_problems.csv:6: malformed instant '2024-13-01T00:00:00Z' (no such date)",
        "several_problems.csv:9: response at 2024-01-04T00:00:00Z is not after "
        "InMail 'm2' was sent (2024-01-04T00:00:00Z, line 8)",
    ],
    "empty": [
        "empty.csv:1: empty file: expected a header row",
    ],
    "blank_lines": [
        "blank_lines.csv:1: empty file: expected a header row",
    ],
    "non_utf8": [  # byte 0xE9 (latin-1 'é') on line 3
        "non_utf8.csv:3: not UTF-8 text",
    ],
    "policy_bad_values": [
        "policy_bad_values.yaml: policy.grant_expiry_days: must be null or a whole number "
        "from 1 to 36500, got 0",
        "policy_bad_values.yaml: policy.spend_order: must be one of earliest_expiry, fifo, "
        "got 'lifo'",
        "policy_bad_values.yaml: policy.refund.window_days: must be a whole number from 1 to "
        "36500, got 1.5",
        "policy_bad_values.yaml: policy.tiers.premium_career.cap: must be null or a whole "
        "number from 0 to 1000000000, got -1",
    ],
    # Issue 15, defect 3: the bounds of simulator/engine/policy.py (MAX_DAYS,
    # MAX_MONTHLY_CREDITS, MAX_PER_PURCHASE), the same for replay as for run.
    "policy_numbers_unbounded": [
        "policy_numbers_unbounded.yaml: policy.purchase_expiry_days: must be null or a whole "
        "number from 1 to 36500, got 100000000000000000000",
        "policy_numbers_unbounded.yaml: policy.max_per_purchase: must be a whole number from 1 "
        "to 1000, got 100000000000000000000",
        "policy_numbers_unbounded.yaml: policy.tiers.premium_career.monthly_credits: must be a "
        "whole number from 0 to 10000, got 2000000000",
    ],
    "policy_unknown_key": [
        "policy_unknown_key.yaml: policy.grant_expiry_dayz: unknown key "
        "(did you mean 'grant_expiry_days'?)",
    ],
    "policy_unknown_nested_keys": [
        "policy_unknown_nested_keys.yaml: policy.refund.windw_days: unknown key "
        "(did you mean 'window_days'?)",
        "policy_unknown_nested_keys.yaml: policy.tiers.premium_career.montly_credits: "
        "unknown key (did you mean 'monthly_credits'?)",
    ],
    "policy_broken_yaml": [
        "policy_broken_yaml.yaml: line 3, column 1: expected ',' or ']', but got '<stream end>'",
    ],
    "policy_python_tag": [
        "policy_python_tag.yaml: line 1, column 9: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system' (only plain YAML data is allowed)",
    ],
    "policy_alias_bomb": [  # 9**8 = 43,046,721 leaves once expanded (yamlio.MAX_EXPANDED_NODES)
        "policy_alias_bomb.yaml: YAML aliases expand to more than 1,000,000 nodes (an alias bomb?)",
    ],
    "policy_recursive_alias": [
        "policy_recursive_alias.yaml: YAML aliases refer to themselves (a recursive structure)",
    ],
    "policy_empty": [
        "policy_empty.yaml: file is empty",
    ],
    "policy_not_mapping": [
        "policy_not_mapping.yaml: policy: must be a mapping, got 3",
    ],
    "policy_top_level_list": [
        "policy_top_level_list.yaml: <top level>: must be a mapping, got a list",
    ],
    "policy_unknown_preset": [
        "policy_unknown_preset.yaml: policy.preset: must be one of inmail-2014, inmail-2015, "
        "got 'inmail-2016'",
    ],
    "policy_new_tier_without_credits": [
        "policy_new_tier_without_credits.yaml: policy.tiers.gold.monthly_credits: "
        "is required for a new tier",
    ],
    "policy_two_documents": [
        "policy_two_documents.yaml: line 2, column 1: but found another document",
    ],
    "policy_non_utf8": [  # b"policy:\n  preset: inmail-2014 # caf" is 35 bytes, then 0xE9
        "policy_non_utf8.yaml: line 2, column 28: not UTF-8 text",
    ],
}
UNTIL = {"bad_row_after_until": "2024-02-01T00:00:00Z"}
CASES = sorted(EXPECTED)
YAML_TAG_MARKER = "creditsim-yaml-tag-ran"  # what policy_python_tag.yaml would `touch`


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _stage(case: str, where: Path) -> list[str]:
    """Copy a corpus case into ``where``; return the replay arguments (relative paths)."""
    shutil.copy(CORPUS / f"{case}.csv", where)
    argv = ["replay", f"{case}.csv"]
    if (CORPUS / f"{case}.yaml").exists():
        shutil.copy(CORPUS / f"{case}.yaml", where)
        argv += ["--scenario", f"{case}.yaml"]
    if case in UNTIL:
        argv += ["--until", UNTIL[case]]
    return [*argv, "--out", "out"]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


# -- the invalid corpus ----------------------------------------------------------


def test_corpus_matches_table() -> None:
    """Every corpus file has a pinned expectation and every expectation has its file."""
    on_disk = {p.stem for p in CORPUS.iterdir() if p.suffix == ".csv"}
    assert on_disk == set(EXPECTED)
    for path in CORPUS.glob("*.yaml"):
        assert (CORPUS / f"{path.stem}.csv").exists(), f"{path.name} has no history"


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_pinned_lines(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 2, exactly the pinned stderr lines, nothing on stdout, no output folder."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run(_stage(case, tmp_path), capsys)
    assert (rc, err.splitlines()) == (2, EXPECTED[case])
    assert out == ""
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_file_on_every_line(case: str) -> None:
    """Each pinned line starts with the file at fault (history, or the policy for .yaml cases)."""
    source = f"{case}.yaml" if (CORPUS / f"{case}.yaml").exists() else f"{case}.csv"
    for line in EXPECTED[case]:
        assert line.startswith(f"{source}:"), line


@pytest.mark.parametrize("case", CASES)
def test_bad_input_leaves_existing_out_untouched(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pre-existing --out folder keeps exactly its old files when the input is bad."""
    monkeypatch.chdir(tmp_path)
    argv = _stage(case, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "ledger.csv").write_text("old ledger\n", encoding="utf-8")
    (out / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = _tree(out)
    rc, _, _ = _run(argv, capsys)
    assert rc == 2
    assert _tree(out) == before


def test_yaml_python_tag_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A !!python/object/apply:os.system tag is refused, not executed (safe loader)."""
    monkeypatch.chdir(tmp_path)
    rc, _, _ = _run(_stage("policy_python_tag", tmp_path), capsys)
    assert rc == 2
    assert not (tmp_path / YAML_TAG_MARKER).exists()


def test_a_long_span_is_accepted_when_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--allow-long-span replays the far_year case the span guard refuses.

    Expected: alice subscribes to premium_career (5 credits a month, 90-day
    expiry) at 0000-01-01 and is granted every month up to the last instant,
    2024-01-03: 12 * 2024 = 24,288 monthly anniversaries from 0000-02-01 to
    2024-01-01, plus the first grant at the subscription: 24,289 grants, and
    bob's one grant on 2024-01-03.
    """
    out = tmp_path / "out"
    history = CORPUS / "far_year.csv"
    rc, _, err = _run(["replay", str(history), "--allow-long-span", "--out", str(out)], capsys)
    assert (rc, err) == (0, "")
    with open(out / "ledger.csv", newline="") as f:
        kinds = [row["kind"] for row in csv.DictReader(f)]
    assert kinds.count("grant") == 24_289 + 1


def test_until_far_past_the_history_is_refused_unless_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Settling a 2024 history up to 2200 is 64,283 days of grants: a likely typo."""
    out = tmp_path / "out"
    args = ["replay", str(EXAMPLE), "--until", "2200-01-01T00:00:00Z", "--out", str(out)]
    rc, _, err = _run(args, capsys)
    # 2024-01-01 to 2200-01-01: 176 years, 43 of them leap (2024..2196 less 2100): 64,283
    # days; the history starts 2024-01-31T09:00, 30 days and 9 hours later: 64,252 whole days.
    assert (rc, err.splitlines()) == (2, [
        "creditsim replay: --until: 2200-01-01T00:00:00Z is 64,252 days after the history's "
        "first instant (2024-01-31T09:00:00Z, line 2): a history spans at most 36,500 days, "
        "so this is likely a typo (replay --allow-long-span accepts it)"])  # fmt: skip
    assert not out.exists()
    rc, _, err = _run([*args, "--allow-long-span"], capsys)
    assert (rc, err) == (0, "")


@pytest.mark.parametrize(
    ("until", "line"),
    [
        ("2024-02-01", "not an ISO 8601 UTC instant like 2024-01-31T09:00:00Z: '2024-02-01'"),
        (
            "2024-02-01T00:00:00",
            "not an ISO 8601 UTC instant like 2024-01-31T09:00:00Z: '2024-02-01T00:00:00'",
        ),
        (
            "2024-02-01T00:00:00+01:00",
            "not an ISO 8601 UTC instant like 2024-01-31T09:00:00Z: '2024-02-01T00:00:00+01:00'",
        ),
        ("soon", "not an ISO 8601 UTC instant like 2024-01-31T09:00:00Z: 'soon'"),
        ("", "not an ISO 8601 UTC instant like 2024-01-31T09:00:00Z: ''"),
        ("2024-02-30T00:00:00Z", "no such date: '2024-02-30T00:00:00Z'"),
        ("2024-02-01T24:00:00Z", "no such time of day: '2024-02-01T24:00:00Z'"),
    ],
)
def test_bad_until_exits_2(
    until: str, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed --until is one usage line naming the option; nothing is written."""
    out = tmp_path / "out"
    rc, stdout, err = _run(["replay", str(EXAMPLE), "--until", until, "--out", str(out)], capsys)
    assert (rc, err.splitlines()) == (2, [f"creditsim replay: --until: {line}"])
    assert stdout == ""
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["replay", "missing.csv", "--out", "out"], "missing.csv: no such file"),
        (
            ["replay", ".", "--out", "out"],
            ".: a folder without history parts "
            "(part-00000.csv, ...): give a history file, a run directory or its history/ "
            "folder",
        ),
        (
            ["replay", "h.csv", "--scenario", "missing.yaml", "--out", "out"],
            "missing.yaml: no such file",
        ),
        (["replay", "h.csv"], "creditsim replay: the following arguments are required: --out"),
        (
            ["replay", "h.csv", "--out", "h.csv"],
            "creditsim replay: --out h.csv: exists and is not a directory",
        ),
    ],
)
def test_unreadable_inputs_exit_2(
    argv: list[str],
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Missing files, a folder for a file, a missing --out, or --out on a file: one line, exit 2."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "h.csv")
    rc, _, err = _run(argv, capsys)
    assert (rc, err.splitlines()) == (2, [line])
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "h.csv").read_bytes() == EXAMPLE.read_bytes()


@pytest.mark.parametrize("case", ["unknown_action", "non_utf8", "policy_python_tag"])
def test_bad_input_in_a_real_process(case: str, tmp_path: Path) -> None:
    """`python -m simulator replay` exits 2 with the pinned lines and no traceback at all."""
    argv = _stage(case, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr.splitlines()) == (2, EXPECTED[case])
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / YAML_TAG_MARKER).exists()


# -- output that cannot be written ----------------------------------------------


def test_out_under_a_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out below a regular file is reported as one line with exit 2, not a traceback."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "h.csv")
    rc, _, err = _run(["replay", "h.csv", "--out", "h.csv/sub"], capsys)
    assert (rc, err.splitlines()) == (
        2,
        ["creditsim replay: --out h.csv/sub: h.csv is not a directory"],
    )
    assert (tmp_path / "h.csv").read_bytes() == EXAMPLE.read_bytes()


def test_unwritable_output_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When balances.csv cannot be written, exit 2 and the earlier ledger.csv is untouched."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "h.csv")
    (tmp_path / "out" / "balances.csv").mkdir(parents=True)  # a folder where the file goes
    (tmp_path / "out" / "ledger.csv").write_text("earlier\n", encoding="utf-8")
    rc, _, err = _run(["replay", "h.csv", "--out", "out", "--overwrite"], capsys)
    assert (rc, err.splitlines()) == (
        2,
        ["creditsim replay: --out out: cannot write: Is a directory"],
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["balances.csv", "ledger.csv"]
    assert (tmp_path / "out" / "ledger.csv").read_text(encoding="utf-8") == "earlier\n"


def test_outputs_get_the_usual_file_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ledger.csv and balances.csv are created 0666 minus the umask, like any file."""
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        rc, _, _ = _run(["replay", str(EXAMPLE), "--out", "out"], capsys)
    finally:
        os.umask(old)
    assert rc == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()}
    assert modes == {"ledger.csv": 0o644, "balances.csv": 0o644}


# -- good input --------------------------------------------------------------------

# The example history, replayed under inmail-2014 by hand (RULES.md R1-R10):
# alice: grant a:1 5 at 01-31T09 (expires +90 d = 04-30T09); spends m1, m2 from a:1;
#   m2 answered, m1 refunded at 02-07T10 (a:2, expires 05-07T10); m3 free; grants
#   a:3 at 02-29T09 and a:4 at 03-31T09; m4 rejected (body 2001 > 2000); at 04-30T09
#   a:1 expires (3), the cancel keeps that instant's grant a:5 and takes effect at
#   05-31T09; a:2 (1) and a:3 (5) expire; a:4 and a:5 are forfeit (5 + 5). 13 entries.
# bob (basic): buys 5 (b:1, never expires), spends b1, the purchase of 11 is rejected,
#   b1 refunded at 03-17T09:05 (b:2, expires 06-15T09:05), the late decline changes
#   nothing, b:2 expires, b2 spends from b:1. 6 entries; 3 credits left.
EXAMPLE_STDOUT = [
    "replayed 12 actions for 2 members up to 2024-06-30T09:00:00Z",
    "ledger: 19 entries (expire 4, forfeit 2, grant 4, purchase 1, refund 2, reject 2, spend 4)",
    "credits held at the end: 3",
]
EXAMPLE_BALANCES = [
    {"member": "alice", "balance": "0", "allotted": "0", "purchased": "0"},
    {"member": "bob", "balance": "3", "allotted": "0", "purchased": "3"},
]


def _conservation_problems(ledger: list[dict[str, str]]) -> list[str]:
    """RULES.md section 5 invariant, checked after every entry of every member."""
    inflow = {"grant", "purchase", "refund"}
    outflow = {"spend", "expire", "cap", "forfeit"}
    net: dict[str, int] = defaultdict(int)
    problems = []
    for row in ledger:
        q = int(row["quantity"])
        if q < 0:
            problems.append(f"negative quantity: {row}")
        if row["kind"] in inflow:
            net[row["member"]] += q
        elif row["kind"] in outflow:
            net[row["member"]] -= q
        elif row["kind"] != "reject" or q != 0:
            problems.append(f"unexpected entry: {row}")
        if net[row["member"]] != int(row["balance_after"]) or net[row["member"]] < 0:
            problems.append(f"balance {net[row['member']]} after {row}")
    return problems


def test_example_replays_with_pinned_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped example exits 0 and prints the hand-derived summary lines."""
    out = tmp_path / "out"
    rc, stdout, err = _run(["replay", str(EXAMPLE), "--out", str(out)], capsys)
    assert (rc, err) == (0, "")
    assert stdout.splitlines() == [
        *EXAMPLE_STDOUT,
        f"wrote {out / 'ledger.csv'} and {out / 'balances.csv'}",
    ]


def test_example_ledger_conserves_credits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every entry of the example ledger keeps the section-5 invariant, and balances agree."""
    out = tmp_path / "out"
    assert _run(["replay", str(EXAMPLE), "--out", str(out)], capsys)[0] == 0
    ledger = _read_csv(out / "ledger.csv")
    assert _conservation_problems(ledger) == []
    assert _read_csv(out / "balances.csv") == EXAMPLE_BALANCES
    last = {row["member"]: row["balance_after"] for row in ledger}
    assert last == {b["member"]: b["balance"] for b in EXAMPLE_BALANCES}


@pytest.mark.parametrize(
    ("until", "balances"),
    [
        # At 03-10T09:05 (bob's first send, kept: rows at --until count): alice holds
        # a:1 3 + a:2 1 + a:3 5 = 9; bob bought 5 and spent 1. Later rows are ignored.
        (
            "2024-03-10T09:05:00Z",
            [
                {"member": "alice", "balance": "9", "allotted": "9", "purchased": "0"},
                {"member": "bob", "balance": "4", "allotted": "0", "purchased": "4"},
            ],
        ),
        # Before bob's first row only alice is named, with a:1 3 + a:2 1 + a:3 5 = 9.
        (
            "2024-03-10T08:59:59Z",
            [{"member": "alice", "balance": "9", "allotted": "9", "purchased": "0"}],
        ),
        # b2 (06-30T09:00) is refunded at exactly +7 d = 07-07T09:00: settled at --until,
        # but not one second earlier.
        (
            "2024-07-07T09:00:00Z",
            [
                {"member": "alice", "balance": "0", "allotted": "0", "purchased": "0"},
                {"member": "bob", "balance": "4", "allotted": "1", "purchased": "3"},
            ],
        ),
        ("2024-07-07T08:59:59Z", EXAMPLE_BALANCES),
    ],
)
def test_until_settles_up_to_the_instant(
    until: str,
    balances: list[dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--until settles everything due at instants <= it, ignores rows after it."""
    out = tmp_path / "out"
    rc, stdout, _ = _run(["replay", str(EXAMPLE), "--until", until, "--out", str(out)], capsys)
    assert rc == 0
    assert f"up to {until}" in stdout.splitlines()[0]
    assert _read_csv(out / "balances.csv") == balances
    ledger = _read_csv(out / "ledger.csv")
    assert _conservation_problems(ledger) == []
    assert all(row["time"] <= until for row in ledger)  # same-width ISO text sorts by time


def test_header_only_history_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A header and no rows replays zero actions and writes empty tables."""
    history = tmp_path / "h.csv"
    history.write_text(HEADER + "\n", encoding="utf-8")
    out = tmp_path / "out"
    rc, stdout, err = _run(["replay", str(history), "--out", str(out)], capsys)
    assert (rc, err) == (0, "")
    assert stdout.splitlines()[:3] == [
        "replayed 0 actions: the history has no rows",
        "ledger: 0 entries (none)",
        "credits held at the end: 0",
    ]
    assert (out / "ledger.csv").read_text() == (
        "time,member,kind,lot,quantity,inmail,reason,balance_after\n"
    )
    assert (out / "balances.csv").read_text() == "member,balance,allotted,purchased\n"


def test_bom_crlf_and_blank_lines_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A UTF-8 BOM, CRLF line ends and blank lines do not change the replay."""
    text = EXAMPLE.read_text(encoding="utf-8")
    history = tmp_path / "h.csv"
    history.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n\r\n").encode("utf-8"))
    out = tmp_path / "out"
    rc, stdout, _ = _run(["replay", str(history), "--out", str(out)], capsys)
    assert rc == 0
    assert stdout.splitlines()[:3] == EXAMPLE_STDOUT
    assert _read_csv(out / "balances.csv") == EXAMPLE_BALANCES


def test_example_in_a_real_process(tmp_path: Path) -> None:
    """`python -m simulator replay` on the example exits 0 and writes both tables."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "replay", str(EXAMPLE), "--out", str(out)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines()[:3] == EXAMPLE_STDOUT
    assert _read_csv(out / "balances.csv") == EXAMPLE_BALANCES
