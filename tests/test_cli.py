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
    assert "applies   yes" in out and "discount  8100" in out and "APPLIES_ROLLOUT" in out
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
