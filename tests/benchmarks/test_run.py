"""benchmarks/run.py: a tiny quick run end to end, its report, its baseline check, and its Redis server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from benchmarks._timing import Sample
from benchmarks.cases import CLAIM_MEMORY, FLOOR, GRAYLIB, PER_CALL, Case, Settings

from benchmarks import report, run

ROOT = Path(__file__).resolve().parents[2]

TINY = [
    "--quick",
    "--no-peers",
    "--rounds",
    "2",
    "--sample-ms",
    "1",
    "--accounts",
    "50",
    "--reload-rules",
    "20",
    "--stores",
    "memory,sqlite",
    "--evaluate-all-sizes",
    "1,10,30",
]


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "out.json"
    assert run.main([*TINY, "--json", str(out)]) == 0
    measured: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return measured


def test_quick_run_writes_well_formed_json(tiny_report: dict[str, Any]) -> None:
    assert {"machine", "settings", "seconds", "floor", "results", "derived", "skipped"} <= set(tiny_report)
    assert tiny_report["machine"]["python"] and tiny_report["machine"]["cpus"] >= 1
    names = [r["name"] for r in tiny_report["results"]]
    assert len(names) == len(set(names))
    for expected in (
        FLOOR,
        "hand-written evaluator",
        GRAYLIB,
        "evaluate, context built per call",
        "evaluate_all, 30 rules (3 match)",
        "claim, MemoryStore, 3 limits",
        "claim, SQLiteStore, 3 limits",
        "reload, 20 rules, TOML",
        "reload, 20 rules, JSON",
    ):
        assert expected in names
    for r in tiny_report["results"]:
        assert r["median_us"] > 0 and r["p99_us"] >= r["median_us"] * 0.999
        assert r["ratio_hash_q25"] <= r["ratio_hash"] <= r["ratio_hash_q75"]
        assert r["ratio_graylib"] > 0 and r["samples"] >= 1 and r["calls_per_sample"] >= 1
        assert r["target_met"] in (True, False, None)
    by_name = {r["name"]: r for r in tiny_report["results"]}
    assert by_name[FLOOR]["ratio_hash"] == 1.0
    assert by_name[GRAYLIB]["ratio_graylib"] == 1.0
    assert by_name[GRAYLIB]["checked"] and not by_name[FLOOR]["checked"]
    assert "evaluate_all_growth" in tiny_report["derived"]
    json.dumps(tiny_report)  # round-trips


def test_table_lists_every_case(tiny_report: dict[str, Any]) -> None:
    text = report.table(tiny_report)
    for r in tiny_report["results"]:
        assert r["name"] in text
    assert "x hash" in text and "Python" in text


def test_check_passes_on_a_generous_baseline_and_fails_on_a_strict_one(
    tiny_report: dict[str, Any], tmp_path: Path
) -> None:
    checked = [r["name"] for r in tiny_report["results"] if r["checked"]]
    generous = tmp_path / "generous.json"
    generous.write_text(json.dumps({"margin": 1.5, "ratios": dict.fromkeys(checked, 1e12)}))
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"margin": 1.5, "ratios": {GRAYLIB: 0.01}}))
    assert run.main([*TINY, "--reload-rules", "0", "--check", "--baseline", str(generous)]) == 0
    assert run.main([*TINY, "--reload-rules", "0", "--check", "--baseline", str(strict)]) == 1


def test_write_baseline_keeps_only_checked_ratios(tiny_report: dict[str, Any]) -> None:
    baseline = report.baseline_from(tiny_report)
    assert baseline["margin"] == report.DEFAULT_MARGIN
    checked = {r["name"] for r in tiny_report["results"] if r["checked"]}
    assert set(baseline["ratios"]) == checked
    regressions, _ = report.compare(tiny_report, baseline)
    assert regressions == []  # a run never regresses against itself


def _tiny_report(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "out.json"
    assert run.main([*TINY, "--reload-rules", "0", *args, "--json", str(out)]) == 0
    measured: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return measured


def test_a_missing_redis_server_is_a_noted_skip_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_SERVER", "/nonexistent/redis-server")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    measured = _tiny_report(tmp_path, "--stores", "memory,redis")
    assert measured["skipped"]["claim, RedisStore"] == "redis-server not found"
    names = {r["name"] for r in measured["results"]}
    assert "claim, MemoryStore, 3 limits" in names
    assert not {"claim, RedisStore, 3 limits", "redis PING round trip"} & names


@pytest.mark.redis
def test_redis_claims_run_against_the_tests_redis_server(tmp_path: Path) -> None:
    measured = _tiny_report(tmp_path, "--stores", "redis")
    names = {r["name"] for r in measured["results"]}
    assert {"claim, RedisStore, 3 limits", "redis PING round trip"} <= names
    assert "claim, RedisStore" not in measured["skipped"]
    assert measured["derived"]["redis_claims_per_second"] > 0


@pytest.mark.redis
def test_runs_standalone_from_the_repository_root(tmp_path: Path) -> None:
    """``python benchmarks/run.py`` with nothing installed on the path: src and tests come from the root."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = tmp_path / "out.json"
    args = [*TINY, "--reload-rules", "0", "--stores", "memory,redis", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = {r["name"] for r in json.loads(out.read_text(encoding="utf-8"))["results"]}
    assert {GRAYLIB, "claim, MemoryStore, 3 limits", "claim, RedisStore, 3 limits"} <= names
    assert GRAYLIB in done.stdout


def test_the_table_reports_the_design_targets_first(tiny_report: dict[str, Any]) -> None:
    text = report.table(tiny_report)
    block = text.split("targets (median of the per-round ratios to the bare hash):\n", 1)[1].split("\n\n")[0]
    lines = [line.strip() for line in block.splitlines()]
    by_name = {r["name"]: r for r in tiny_report["results"]}
    headline = [GRAYLIB, PER_CALL, CLAIM_MEMORY]
    assert len(lines) == 5  # the three headline ratios, then the two reloads
    for line, name, target in zip(lines[:3], headline, ["≤ 3x hash", "≤ 4x hash", "≤ 10x hash"], strict=True):
        r = by_name[name]
        assert line.startswith(name)
        assert f"{r['ratio_hash']:.2f}x hash" in line and line.endswith(
            f"target {target}: " + ("met" if r["target_met"] else "NOT MET")
        )
    assert [line.split("  ")[0] for line in lines[3:]] == ["reload, 20 rules, TOML", "reload, 20 rules, JSON"]
    assert all(" ms  target < 200 ms: " in line and "x hash" not in line for line in lines[3:])


def test_a_headline_case_that_did_not_run_is_listed_as_not_measured(tmp_path: Path) -> None:
    measured = _tiny_report(tmp_path, "--stores", "sqlite")
    text = report.table(measured)
    assert re.search(rf"\n  {re.escape(CLAIM_MEMORY)} +not measured in this run\n", text)


def test_a_slow_case_is_divided_by_the_floor_timed_beside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine three times slower after the rounds must not triple the slow cases' ratios.

    The clock is the test's: ``measure`` answers the per-call time each callable takes at the current
    speed, so the check is exact whatever else the machine is doing.
    """
    speed = [1.0]

    def floor_fn() -> None:
        pass

    def slow_fn() -> None:
        pass

    cost = {floor_fn: 20.0, slow_fn: 200.0}

    def fake_measure(fn: Callable[..., object], **_: object) -> Sample:
        us = cost[fn] * speed[0]  # type: ignore[index]
        return Sample(median_us=us, p99_us=us, samples_us=(us,), number=1, repeat=1)

    monkeypatch.setattr(run, "measure", fake_measure)
    floor = Case(FLOOR, "floor", floor_fn, [()])
    floor.number = 20
    floor.samples = [20.0] * 3  # the rounds, at full speed
    slow = Case("slow", "claim", slow_fn, [()])
    speed[0] = 3.0  # the machine slows down before the slow cases
    ratios = run._time_slow(slow, floor, Settings(slow_rounds=3, sample_ms=2.0))
    assert len(ratios) == len(slow.samples) == 3
    assert ratios == [10.0, 10.0, 10.0]  # not 30: each sample is divided by the floor timed beside it
