"""graylib plan OLD NEW: exit 0 allowed, 1 refused by policy, 2 invalid input; human and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graylib.cli import main

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "tests" / "fixtures" / "plans"
BROKEN = ROOT / "tests" / "fixtures" / "broken"
PAIRS = sorted(p for p in PLANS.iterdir() if (p / "old.toml").exists())


@pytest.mark.parametrize("case", PAIRS, ids=lambda p: p.name)
def test_exit_code_of_every_fixture(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(case / "old.toml"), str(case / "new.toml")])
    out = capsys.readouterr().out
    if case.name.startswith("allowed_"):
        assert code == 0 and "ALLOWED" in out
    else:
        assert code == 1 and "REFUSED" in out


def test_human_output_reads_like_a_review(capsys: pytest.CaptureFixture[str]) -> None:
    case = PLANS / "skipped_and_unapproved"
    assert main(["plan", str(case / "old.toml"), str(case / "new.toml")]) == 1
    out = capsys.readouterr().out
    assert "rule 'subsidy': changed, widening [active/small-cluster -> active/full]" in out
    assert "+ rollout.stage" in out and "small-cluster -> full  (widening)" in out
    assert "percent at any other cluster" in out and "0% -> 100%" in out
    assert "blast radius: 96% of payments newly exposed (from [traffic.clusters])" in out
    assert "worst-case spend per minute: 100,000.00 (10000000), bounded by limits.rate_alarm" in out
    assert "x [stage_skipped] subsidy: stage advances 3 steps at once" in out
    assert "x [missing_approvals]" in out
    assert "REFUSED: 2 policy violations" in out


def test_emergency_kill_is_allowed_without_approvals(capsys: pytest.CaptureFixture[str]) -> None:
    case = PLANS / "allowed_emergency_kill_without_approvals"
    assert main(["plan", str(case / "old.toml"), str(case / "new.toml")]) == 0
    out = capsys.readouterr().out
    assert "- state" in out and "active -> killed  (narrowing)" in out
    assert "approvers: none" in out and out.rstrip().endswith("ALLOWED")


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    case = PLANS / "stage_skipped"
    assert main(["plan", "--json", str(case / "old.toml"), str(case / "new.toml")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True and data["allowed"] is False
    assert [v["kind"] for v in data["violations"]] == ["stage_skipped"]
    rule = data["rules"][0]
    assert rule["direction"] == "widening" and rule["blast_radius"]["share_source"] == "traffic"


def test_invalid_configs_exit_2_with_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = BROKEN / "many_problems.toml", BROKEN / "failing_smoke_case.toml"
    assert main(["plan", str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert err.count("many_problems.toml:") > 1  # all of them, not only the first
    assert (
        "failing_smoke_case.toml: smoke case rules[0].smoke[0] 'fixed 1.00 off': expected discount=100" in err
    )


def test_a_failing_smoke_case_in_new_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = PLANS / "allowed_next_stage_with_approvals"
    new = tmp_path / "new.toml"
    new.write_text(
        (case / "new.toml").read_text().replace("expect = { applies = true }", "expect = { discount = 1 }")
    )
    assert main(["plan", "--json", str(case / "old.toml"), str(new)]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert any("smoke case" in p and "expected discount=1" in p for p in data["problems"])


def test_traffic_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = PLANS / "allowed_next_stage_with_approvals"
    sample = tmp_path / "recent.csv"
    sample.write_text(
        "cluster,node,account,payment_type,amount\nbj-big,bj-big-01,u-9,online_purchase,10000\n"
    )
    assert main(["plan", str(case / "old.toml"), str(case / "new.toml"), "--traffic", str(sample)]) == 0
    assert (
        "100% of payments newly exposed (1 of 1 sampled payments newly get a discount, 15.00 (1500) off"
        in (capsys.readouterr().out)
    )
    assert (
        main(["plan", str(case / "old.toml"), str(case / "new.toml"), "--traffic", str(tmp_path / "no.csv")])
        == 2
    )
