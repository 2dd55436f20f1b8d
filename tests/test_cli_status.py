"""``graylib status``: what the store could not tell is shown as unavailable, never as zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graylib.cli import main
from tests.helpers import make_config, run_graylib
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")


def rules_file(tmp_path: Path, state: str) -> str:
    """A rules file whose one rule, ``subsidy``, is in ``state``."""
    path = tmp_path / f"{state}.json"
    path.write_text(json.dumps(make_config({"state": state})))
    return str(path)


@pytest.mark.parametrize("shadow", [False, True], ids=["active", "shadow"])
def test_an_unreachable_store_is_unavailable_not_zero(
    shadow: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rules_file(tmp_path, "shadow") if shadow else EXAMPLE
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert main(["status", rules, "--store", url]) == 2
    out = capsys.readouterr().out
    assert "granted 0" not in out and "0 off" not in out and "shadow  0" not in out
    assert "rule " in out and ", kill switch unavailable" in out
    assert "  granted unavailable: StoreError: " in out
    if shadow:
        assert "  shadow  unavailable" in out
    assert main(["status", rules, "--store", url, "--json"]) == 2
    (rule,) = json.loads(capsys.readouterr().out)["rules"]
    assert rule["killed"] is None
    assert [rule[k] for k in ("granted_count", "granted_amount", "shadow_count", "shadow_amount")] == [
        None
    ] * 4
    assert rule["stats_error"].startswith("StoreError: ")


def test_a_rule_killed_in_the_file_stays_killed_when_the_switches_are_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert main(["status", rules_file(tmp_path, "killed"), "--store", url, "--json"]) == 2
    (rule,) = json.loads(capsys.readouterr().out)["rules"]
    assert rule["killed"] is True and rule["kill_reason"] == "state killed"


def test_status_in_a_subprocess_against_an_unreachable_store() -> None:
    run = run_graylib(["status", EXAMPLE], store=f"redis://127.0.0.1:{free_port()}/0")
    assert run.returncode == 2
    assert "granted unavailable" in run.stdout and "granted 0" not in run.stdout
