"""Default run folders (simulator.rundirs): variants never collide with the file's own run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.scenario import load_scenario
from simulator.yamlio import dump_yaml

SCENARIO = """\
name: tiny
seed: 3
start: 2024-01-01
duration_days: 20
population:
  - name: a
    tier: premium_career
    members: 4
    sending: {inmails_per_month: 3}
"""


def _run(*args: str) -> int:
    return main(["run", *args, "--no-report", "--no-progress"])


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(SCENARIO)
    return tmp_path


def test_the_file_s_own_run_and_a_variant_keep_both(here: Path) -> None:
    """The file as written goes to runs/tiny-seed3; a --set variant to a folder named by the
    SHA-256 of its resolved scenario (the digest of what its scenario.yaml holds)."""
    assert _run("tiny.yaml") == 0
    assert _run("tiny.yaml", "--set", "population[0].members=5") == 0
    variant = load_scenario(here / "tiny.yaml").with_overrides({"population[0].members": 5})
    digest = hashlib.sha256(dump_yaml(variant.to_dict()).encode("utf-8")).hexdigest()[:8]
    assert sorted(p.name for p in (here / "runs").iterdir()) == sorted(
        ["tiny-seed3", f"tiny-{digest}-seed3"]
    )
    assert "members: 5" in (here / "runs" / f"tiny-{digest}-seed3" / "scenario.yaml").read_text()


def test_an_edited_copy_with_the_same_file_name_gets_its_own_folder(here: Path) -> None:
    """other/tiny.yaml differs from the run already in runs/tiny-seed3: it does not take it."""
    assert _run("tiny.yaml") == 0
    (here / "other").mkdir()
    (here / "other" / "tiny.yaml").write_text(SCENARIO.replace("members: 4", "members: 6"))
    assert _run("other/tiny.yaml") == 0
    names = sorted(p.name for p in (here / "runs").iterdir())
    assert len(names) == 2 and names[1] == "tiny-seed3" and names[0].startswith("tiny-")


def test_running_the_same_scenario_again_asks_for_overwrite(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second run of the same file finds its own folder: one line, exit 2."""
    assert _run("tiny.yaml") == 0
    capsys.readouterr()
    assert _run("tiny.yaml") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "creditsim run: --out runs/tiny-seed3: holds an earlier run of this scenario; "
        "pass --overwrite to run it again there"
    )


def test_an_explicit_out_holding_another_scenario_says_where_they_differ(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a run of a different scenario: the message names the first difference
    and does not suggest --overwrite."""
    assert _run("tiny.yaml", "--out", "r") == 0
    capsys.readouterr()
    assert _run("tiny.yaml", "--out", "r", "--set", "recipients.response_probability=0.3") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "creditsim run: --out r: holds a run of a different scenario (they differ at "
        "recipients.response_probability); choose another --out, or leave --out out for a "
        "folder of its own"
    )
