"""The benchmark report: per-case results, the text table, the targets, and the check against a baseline.

A report is a JSON-ready mapping (what ``run.py --json`` writes); everything here reads it, so a saved report
can be printed or checked again later. Ratios only are compared, never absolute times.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.cases import CLAIM_MEMORY, GRAYLIB, PER_CALL

import graylib

__all__ = [
    "DEFAULT_MARGIN",
    "HEADLINE",
    "CaseResult",
    "baseline_from",
    "compare",
    "machine",
    "table",
    "target_lines",
]

DEFAULT_MARGIN = 1.5
HEADLINE = (GRAYLIB, PER_CALL, CLAIM_MEMORY)
"""The ratio targets every run reports first (DESIGN §9): evaluate prebuilt and per call, claim in memory."""


@dataclass
class CaseResult:
    """One measured case: per-call times (µs) and per-round ratios to the floor."""

    name: str
    group: str
    samples_us: list[float]
    ratios: list[float]
    number: int
    checked: bool = False
    target: str = ""
    target_ratio: float | None = None
    target_max_us: float | None = None
    note: str = ""
    ratio_graylib: float | None = None

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_us)

    @property
    def p99_us(self) -> float:
        ordered = sorted(self.samples_us)
        return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratio_q25(self) -> float:
        return _quantile(self.ratios, 0.25)

    @property
    def ratio_q75(self) -> float:
        return _quantile(self.ratios, 0.75)

    @property
    def target_met(self) -> bool | None:
        if self.target_ratio is not None:
            return self.ratio <= self.target_ratio
        if self.target_max_us is not None:
            return self.median_us < self.target_max_us
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "median_us": round(self.median_us, 4),
            "p99_us": round(self.p99_us, 4),
            "ratio_hash": round(self.ratio, 3),
            "ratio_hash_q25": round(self.ratio_q25, 3),
            "ratio_hash_q75": round(self.ratio_q75, 3),
            "ratio_graylib": None if self.ratio_graylib is None else round(self.ratio_graylib, 3),
            "calls_per_sample": self.number,
            "samples": len(self.samples_us),
            "checked": self.checked,
            "target": self.target,
            "target_met": self.target_met,
            "note": self.note,
        }


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty sequence."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "graylib": graylib.__version__,
        "mmh3": importlib.metadata.version("mmh3"),
    }


def target_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per case with a target: the headline ratios first, then the others in report order.

    A headline case that did not run (say, ``--stores sqlite``) is listed as not measured, so its absence
    is seen rather than silently dropped.
    """
    by_name = {r["name"]: r for r in report["results"]}
    others = [r["name"] for r in report["results"] if r["target"] and r["name"] not in HEADLINE]
    width = max(len(name) for name in (*HEADLINE, *others))
    lines = []
    for name in (*HEADLINE, *others):
        r = by_name.get(name)
        if r is None:
            lines.append(f"{name.ljust(width)}  not measured in this run")
            continue
        met = {True: "met", False: "NOT MET", None: "no target"}[r["target_met"]]
        median = r["median_us"]
        time_text = f"{median:.3f} µs" if median < 1_000 else f"{median / 1_000:,.1f} ms"
        # A time target (the reloads) is read in ms; its ratio to the hash says nothing.
        ratio = f"{r['ratio_hash']:.2f}x hash" if "x hash" in r["target"] or not r["target"] else ""
        ratio = ratio.rjust(13)
        lines.append(f"{name.ljust(width)}  {ratio}  {time_text:>10}  target {r['target'] or '-'}: {met}")
    return lines


def table(report: Mapping[str, Any]) -> str:
    """The report as a text table, then the targets, the derived figures and what was skipped."""
    rows = [("case", "median µs", "p99 µs", "x hash", "x graylib", "target", "")]
    for r in report["results"]:
        met = {True: "met", False: "NOT MET", None: ""}[r["target_met"]]
        rows.append(
            (
                r["name"],
                f"{r['median_us']:.3f}" if r["median_us"] < 1_000 else f"{r['median_us']:,.0f}",
                f"{r['p99_us']:.3f}" if r["p99_us"] < 1_000 else f"{r['p99_us']:,.0f}",
                f"{r['ratio_hash']:.2f}",
                f"{r['ratio_graylib']:.2f}",
                r["target"],
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:5], widths[1:5], strict=True))]
        cells += [row[5].ljust(widths[5]), row[6]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    m = report["machine"]
    lines.append("")
    lines.append(f"{m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}; {report['seconds']} s")
    lines.append("")
    lines.append("targets (median of the per-round ratios to the bare hash):")
    lines += [f"  {line}" for line in target_lines(report)]
    lines.append("")
    for key, value in report["derived"].items():
        lines.append(f"{key}: {value}")
    for name, reason in report["skipped"].items():
        lines.append(f"skipped {name}: {reason}")
    return "\n".join(lines)


def baseline_from(report: Mapping[str, Any], margin: float = DEFAULT_MARGIN) -> dict[str, Any]:
    """The baseline file's content: the checked ratios of ``report``."""
    return {
        "margin": margin,
        "machine": report["machine"],
        "ratios": {r["name"]: r["ratio_hash"] for r in report["results"] if r["checked"]},
    }


def compare(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(regressions, notes)`` of the checked ratios of ``report`` against ``baseline``.

    A ratio regressed when the lower quartile of its per-round ratios is above ``baseline x margin``: most
    rounds, not a median nudged by one noisy round, must be past the margin. Cases in the baseline that did
    not run here (say, no redis-server) are noted, not failed.
    """
    margin = float(baseline.get("margin", DEFAULT_MARGIN))
    expected: Mapping[str, float] = baseline.get("ratios", {})
    measured = {r["name"]: r for r in report["results"] if r.get("checked")}
    regressions: list[str] = []
    notes: list[str] = []
    for name, base in expected.items():
        result = measured.get(name)
        if result is None:
            notes.append(f"{name}: not measured in this run")
            continue
        limit = base * margin
        low, mid = result["ratio_hash_q25"], result["ratio_hash"]
        line = f"{name}: {mid:.2f}x hash (lower quartile {low:.2f}), baseline {base:.2f}x, limit {limit:.2f}x"
        (regressions if low > limit else notes).append(line)
    for name in measured.keys() - expected.keys():
        notes.append(f"{name}: no baseline yet")
    return regressions, notes
