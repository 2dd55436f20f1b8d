"""graylib smoke FILE [--cluster C --node N]: each case PASS/FAIL, expected and actual; exit 1 on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graylib.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")
BROKEN = ROOT / "tests" / "fixtures" / "broken"

IN_STAGE_CASE = """
[[rules.smoke]]
name = "a regular account is in the stage here"
context = { account = "u-1", payment_type = "online_purchase", amount = 54_000, region = "CN-31" }
expect = { applies = true, reason = "APPLIES_ROLLOUT" }
"""


def test_every_case_passes_on_the_canary_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", EXAMPLE, "--cluster", "sh-small", "--node", "sh-small-01"]) == 0
    out = capsys.readouterr().out
    assert "smoke cases as sh-small/sh-small-01" in out
    assert out.count("PASS") == 4 and "FAIL" not in out
    assert "expected applies=true, discount=8100" in out
    assert "4 passed, 0 failed" in out


def test_cases_run_as_the_given_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(Path(EXAMPLE).read_text() + IN_STAGE_CASE)
    assert main(["smoke", str(rules), "--cluster", "sh-small", "--node", "sh-small-02"]) == 0
    capsys.readouterr()
    assert main(["smoke", str(rules), "--cluster", "bj-big", "--node", "bj-big-07"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  appliance-subsidy rules[0].smoke[4] 'a regular account is in the stage here'" in out
    assert "expected applies=true, reason=APPLIES_ROLLOUT" in out
    assert "actual   applies=false, discount=0, reason=OUT_OF_STAGE" in out
    assert "4 passed, 1 failed" in out


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--json", str(BROKEN / "failing_smoke_case.toml")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True and (data["passed"], data["failed"]) == (0, 1)
    case = data["cases"][0]
    assert case["expected"] == {"discount": 100}
    assert case["actual"]["discount"] == 50 and case["mismatches"] == ["discount=100"]


def test_an_invalid_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", str(BROKEN / "bad_window.toml")]) == 2
    assert "window" in capsys.readouterr().err


def test_without_a_cluster_the_output_says_what_that_means(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", EXAMPLE]) == 0
    out = capsys.readouterr().out
    assert (
        "smoke cases as (no cluster)/(no node)\n  note: cases whose context names no cluster ran as no" in out
    )
    assert "only a '*' target does, and allow-listed accounts apply regardless of the stage" in out
    assert main(["smoke", EXAMPLE, "--json"]) == 0
    assert (
        "no stage target naming a cluster or node reaches it" in json.loads(capsys.readouterr().out)["note"]
    )
    assert main(["smoke", EXAMPLE, "--cluster", "sh-small"]) == 0
    assert (
        "with no node: stage targets naming a node of 'sh-small' do not reach it" in capsys.readouterr().out
    )
    assert main(["smoke", EXAMPLE, "--cluster", "sh-small", "--node", "sh-small-01"]) == 0
    assert "note" not in capsys.readouterr().out


def test_the_note_in_a_subprocess() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "graylib", "smoke", EXAMPLE, "--cluster", "sh-small"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "note: cases whose context names no cluster ran as cluster 'sh-small' with no node" in run.stdout
