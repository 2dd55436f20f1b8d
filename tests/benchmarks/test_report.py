"""benchmarks/report.py: the regression check on synthetic ratios, and the quantiles it relies on."""

from __future__ import annotations

from typing import Any

from benchmarks import report


def _report(name: str, ratios: list[float]) -> dict[str, Any]:
    result = report.CaseResult(
        name=name, group="graylib", samples_us=ratios, ratios=ratios, number=1, checked=True
    )
    return {"results": [result.as_json()]}


def test_compare_fails_on_a_real_regression() -> None:
    measured = _report("evaluate", [9.0, 9.5, 10.0, 10.5, 11.0])
    regressions, _ = report.compare(measured, {"margin": 1.5, "ratios": {"evaluate": 5.0}})
    assert len(regressions) == 1 and "evaluate" in regressions[0]


def test_compare_passes_on_noise() -> None:
    # The median is past the limit, but half the rounds are not: noise, not a regression.
    measured = _report("evaluate", [5.0, 5.2, 7.8, 8.0, 9.0])
    regressions, notes = report.compare(measured, {"margin": 1.5, "ratios": {"evaluate": 5.0}})
    assert regressions == [] and any("evaluate" in n for n in notes)
    # Slightly slower in every round, but within the margin.
    measured = _report("evaluate", [6.0, 6.1, 6.2, 6.3, 6.4])
    assert report.compare(measured, {"margin": 1.5, "ratios": {"evaluate": 5.0}})[0] == []


def test_compare_notes_cases_missing_on_either_side() -> None:
    measured = _report("new case", [1.0, 1.0])
    regressions, notes = report.compare(measured, {"ratios": {"redis claim": 900.0}})
    assert regressions == []
    assert any("redis claim: not measured" in n for n in notes)
    assert any("new case: no baseline" in n for n in notes)


def test_quantiles() -> None:
    result = report.CaseResult(
        name="x", group="g", samples_us=[1.0, 2.0, 3.0, 4.0, 100.0], ratios=[1.0, 2.0, 3.0], number=1
    )
    assert result.median_us == 3.0 and result.p99_us == 100.0
    assert result.ratio_q25 == 1.5 and result.ratio_q75 == 2.5
