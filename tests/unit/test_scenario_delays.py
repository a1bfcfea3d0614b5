"""Tests of simulator.scenario.delays: empirical response delays read from a CSV file.

Every problem is one line naming the CSV and its line, like every other CSV
problem; the file is found next to the scenario, whatever the working folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[2]

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
