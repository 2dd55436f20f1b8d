from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graylib import SQLiteStore
from graylib.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")
BROKEN = ROOT / "tests" / "fixtures" / "broken"


def explain(payment_type: str = "online_purchase", *extra: str, cluster: str = "sh-small") -> list[str]:
    """``graylib explain`` arguments for a 540.00 payment of account u-1 in CN-31."""
    return [
        "explain",
        EXAMPLE,
        "appliance-subsidy",
        "--account",
        "u-1",
        "--payment-type",
        payment_type,
        "--amount",
        "54000",
        "--region",
        "CN-31",
        "--cluster",
        cluster,
        "--node",
        f"{cluster}-03",
        *extra,
    ]


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", EXAMPLE]) == 0
    assert "OK (version 2025-01-16.1, 1 rules, 4 smoke cases passed)" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.toml")), ids=lambda p: p.stem)
def test_validate_catches_every_broken_fixture(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            assert line.split(":", 1)[1].strip() in out


def test_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", EXAMPLE, str(BROKEN / "bad_window.toml")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data[0]["valid"] is True and data[1]["valid"] is False
    assert any("window" in p for p in data[1]["problems"])


def test_explain_applies(capsys: pytest.CaptureFixture[str]) -> None:
    args = explain()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "applies   yes" in out and "discount  81.00 (8100)" in out and "APPLIES_ROLLOUT" in out
    assert "7. rollout" in out


def test_explain_refusal_names_the_step(capsys: pytest.CaptureFixture[str]) -> None:
    args = explain("p2p_transfer", "--json")
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["applies"] is False and data["reason"] == "PAYMENT_TYPE"
    assert data["step"].startswith("4. eligibility")


def test_explain_out_of_stage(capsys: pytest.CaptureFixture[str]) -> None:
    args = explain(cluster="bj-big")
    assert main(args) == 0
    assert "OUT_OF_STAGE" in capsys.readouterr().out


def test_explain_invalid_config_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "explain",
        str(BROKEN / "bad_window.toml"),
        "r",
        "--account",
        "a",
        "--payment-type",
        "a",
        "--amount",
        "1",
    ]
    assert main(args) == 2
    assert "window" in capsys.readouterr().err


def test_console_entry_point_runs_as_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "graylib", "validate", EXAMPLE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_explain_obeys_the_kill_switches_of_a_shared_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SQLiteStore(tmp_path / "g.db").close()
    url = f"sqlite:///{tmp_path / 'g.db'}"
    assert (
        main(
            ["kill", "appliance-subsidy", "--reason", "wrong coupon type", "--rules", EXAMPLE, "--store", url]
        )
        == 0
    )
    args = explain()
    capsys.readouterr()
    assert main([*args, "--store", url]) == 0
    out = capsys.readouterr().out
    assert "KILLED" in out and "wrong coupon type" in out
    assert main(args) == 0  # without the store: the file alone
    assert "APPLIES_ROLLOUT" in capsys.readouterr().out


def test_explain_of_an_unknown_rule_exits_2_with_the_closest_ids(capsys: pytest.CaptureFixture[str]) -> None:
    args = explain()
    args[2] = "applience-subsidy"
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no rule 'applience-subsidy' in " in captured.err
    assert "(did you mean 'appliance-subsidy'?)" in captured.err
    assert main([*args, "--json"]) == 2
    assert capsys.readouterr().out == ""


def test_explain_in_a_subprocess_of_an_unknown_rule() -> None:
    args = explain()
    args[2] = "appliance_subsidy"
    run = subprocess.run(
        [sys.executable, "-m", "graylib", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2
    assert "did you mean 'appliance-subsidy'?" in run.stderr


def without_identity(args: list[str]) -> list[str]:
    """``args`` with ``--cluster`` and ``--node`` (and their values) left out."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--cluster", "--node"):
            skip = True
        else:
            out.append(arg)
    return out


def test_explain_without_a_cluster_says_what_that_means(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = without_identity(explain())
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "OUT_OF_STAGE" in out
    assert (
        "note      ran as no cluster and no node: no stage target naming a cluster or node reaches it" in out
    )
    assert "the current stage 'small-cluster' has none, so only allow-listed accounts can apply" in out
    assert main([*args, "--json"]) == 0
    assert "only allow-listed accounts can apply" in json.loads(capsys.readouterr().out)["note"]

    full = tmp_path / "full.toml"
    full.write_text(Path(EXAMPLE).read_text().replace('stage = "small-cluster"', 'stage = "full"'))
    assert main([args[0], str(full), *args[2:]]) == 0
    out = capsys.readouterr().out
    assert "APPLIES_ROLLOUT" in out and "the current stage 'full' has '*' = 100%" in out

    assert main(explain()) == 0  # a named node: nothing to explain about the identity
    assert "note" not in capsys.readouterr().out
    assert main([*explain(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["note"] == ""
