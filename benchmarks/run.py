"""graylib's benchmarks in one command: floors, graylib and its peers, measured in one run.

    python benchmarks/run.py [--quick] [--json out.json] [--check] [--write-baseline]

Every per-call time is taken with the same helper (``benchmarks/_timing.py``: a tight loop over prebuilt
arguments, garbage collector off) and reported beside two ratios: to the bare bucketing hash of the same key
(the floor, ``mmh3.hash(f"{salt}:{account}")``) and to graylib's own ``evaluate`` with a prebuilt context.

The fast cases (floors, evaluations, peers) run in interleaved rounds: each round times every case once, and
a case's ratio is the median of its per-round ratios to the floor of the same round. A machine that slows
down halfway through a run slows the floor as much as the case, so ratios stay comparable between runs and
machines where absolute times do not. Slow cases (claims through each store, a reload of 1,000 rules) are
timed after the rounds, each sample divided by a floor sample taken just before it, for the same reason.

``--check`` compares graylib's ratios with ``benchmarks/baseline.json`` and exits with status 1 when one has
regressed: when even the lower quartile of its per-round ratios is above the baseline ratio times the
margin (1.5 unless the baseline says otherwise), so a noisy round or two never fails a build. Ratios only,
never absolute times.

This file is the command line and the measuring loop; what is measured is in ``benchmarks/cases.py`` (rule
sets in ``benchmarks/configs.py``), and the report, its table and the baseline check in
``benchmarks/report.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from benchmarks._timing import measure  # noqa: E402 - after the path set-up above, so a checkout runs as is
from benchmarks.cases import (  # noqa: E402
    FLOOR,
    GRAYLIB,
    PER_CALL,
    Case,
    Settings,
    claim_cases,
    fast_cases,
    reload_case,
)
from benchmarks.report import CaseResult, baseline_from, compare, machine, table  # noqa: E402

__all__ = ["DEFAULT_BASELINE", "main", "run"]

DEFAULT_BASELINE = ROOT / "benchmarks" / "baseline.json"


def _calibrate(case: Case, sample_s: float) -> int:
    """Calls per sample so that one sample lasts about ``sample_s`` seconds (at least 20 calls)."""
    probe = min(200, max(20, len(case.inputs)))
    calls = list(itertools.islice(itertools.cycle(case.inputs), probe))
    for args in calls[:20]:
        case.fn(*args)
    start = time.perf_counter()
    for args in calls:
        case.fn(*args)
    per_call = max((time.perf_counter() - start) / probe, 1e-9)
    return max(20, int(sample_s / per_call))


def _run_rounds(cases: list[Case], settings: Settings, log: Callable[[str], None]) -> list[list[float]]:
    """Time every case once per round; return the floor-normalised ratios per case per round."""
    for case in cases:
        case.number = _calibrate(case, settings.sample_ms / 1_000)
    per_round: list[list[float]] = []
    for r in range(settings.rounds):
        times = []
        for case in cases:
            sample = measure(case.fn, number=case.number, repeat=1, inputs=case.inputs)
            case.samples.append(sample.median_us)
            times.append(sample.median_us)
        per_round.append(times)
        log(f"round {r + 1}/{settings.rounds} done")
    floor_index = next(i for i, c in enumerate(cases) if c.name == FLOOR)
    return [[times[i] / times[floor_index] for times in per_round] for i in range(len(cases))]


def _floor_sample(floor: Case) -> float:
    """One more sample of the floor, with the number of calls calibrated in the rounds."""
    return measure(floor.fn, number=floor.number, repeat=1, inputs=floor.inputs).median_us


def _time_slow(case: Case, floor: Case, settings: Settings) -> list[float]:
    """Time a slow case in ``slow_rounds`` samples, each just after a floor sample; return the ratios.

    Each sample is divided by the floor sample beside it, not by the floor of the rounds, so a machine
    that slows down (or speeds up) between the rounds and the slow cases moves both alike.
    """
    case.number = _calibrate(case, settings.sample_ms / 1_000)
    ratios = []
    for _ in range(settings.slow_rounds):
        beside = _floor_sample(floor)
        case.samples.append(measure(case.fn, number=case.number, repeat=1, inputs=case.inputs).median_us)
        ratios.append(case.samples[-1] / beside)
    return ratios


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure everything in one run and return the report (what ``--json`` writes)."""
    skipped: dict[str, str] = {}
    results: list[CaseResult] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="graylib-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with contextlib.ExitStack() as fast_stack:  # peers' threads stop before the store cases start
            cases = fast_cases(settings, fast_stack, skipped)
            ratios = _run_rounds(cases, settings, log)
        for case, case_ratios in zip(cases, ratios, strict=True):
            results.append(_result(case, case_ratios))
        floor = cases[0]
        for case in claim_cases(settings, stack, skipped, tmp):
            results.append(_result(case, _time_slow(case, floor, settings)))
            log(f"{case.name} done")
        if settings.reload_rules:
            for fmt in ("toml", "json"):
                case, floor_samples = reload_case(settings, tmp, fmt, lambda: _floor_sample(floor))
                results.append(
                    _result(case, [s / f for s, f in zip(case.samples, floor_samples, strict=True)])
                )
                log(f"reload ({fmt}) done")
    graylib_median = next(r.median_us for r in results if r.name == GRAYLIB)
    for result in results:
        result.ratio_graylib = result.median_us / graylib_median
    by_name = {r.name: r for r in results}
    derived: dict[str, Any] = {}
    sizes = settings.evaluate_all_sizes
    if len(sizes) >= 2:
        small = by_name[f"evaluate_all, {sizes[1]} rules ({min(sizes[1], 3)} match)"]
        large = by_name[f"evaluate_all, {sizes[-1]} rules ({min(sizes[-1], 3)} match)"]
        derived["evaluate_all_growth"] = round(large.ratio / small.ratio, 3)
    peer_results = [
        r for r in results if r.group == "peer" and not r.name.startswith("openfeature + graylib")
    ]
    if peer_results:
        fastest = min(peer_results, key=lambda r: r.median_us)
        per_call = by_name[PER_CALL]
        derived["fastest_peer"] = fastest.name
        derived["fastest_peer_over_graylib_per_call"] = round(fastest.median_us / per_call.median_us, 2)
    redis = by_name.get("claim, RedisStore, 3 limits")
    if redis is not None:
        derived["redis_claims_per_second"] = round(1e6 / redis.median_us)
    return {
        "machine": machine(),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
        "seconds": round(time.perf_counter() - started, 2),
        "floor": FLOOR,
        "results": [r.as_json() for r in results],
        "derived": derived,
        "skipped": skipped,
    }


def _result(case: Case, ratios: list[float]) -> CaseResult:
    return CaseResult(
        name=case.name,
        group=case.group,
        samples_us=case.samples,
        ratios=ratios,
        number=case.number,
        checked=case.checked,
        target=case.target,
        target_ratio=case.target_ratio,
        target_max_us=case.target_max_us,
        note=case.note,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (CI; < 60 s)")
    parser.add_argument("--json", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--check", action="store_true", help="fail on a ratio regression vs the baseline")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="baseline ratios file")
    parser.add_argument("--write-baseline", action="store_true", help="write this run's ratios as baseline")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer SDKs")
    parser.add_argument("--stores", default="memory,sqlite,redis", help="claim stores to measure")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--sample-ms", type=float, help="override the duration of one sample")
    parser.add_argument("--reload-rules", type=int, help="rules in the reload case (0: skip it)")
    parser.add_argument("--accounts", type=int, help="distinct accounts in the inputs")
    parser.add_argument("--evaluate-all-sizes", help="rule counts for evaluate_all, e.g. 1,10,100,1000")
    args = parser.parse_args(argv)

    settings = Settings.quick() if args.quick else Settings()
    overrides: dict[str, Any] = {
        "peers": not args.no_peers,
        "stores": tuple(s for s in args.stores.split(",") if s),
    }
    if args.rounds is not None:
        overrides["rounds"] = overrides["slow_rounds"] = args.rounds
    if args.sample_ms is not None:
        overrides["sample_ms"] = args.sample_ms
    if args.reload_rules is not None:
        overrides["reload_rules"] = args.reload_rules
    if args.accounts is not None:
        overrides["accounts"] = args.accounts
    if args.evaluate_all_sizes is not None:
        overrides["evaluate_all_sizes"] = tuple(int(n) for n in args.evaluate_all_sizes.split(",") if n)
    settings = Settings(**{**vars(settings), **overrides})

    report = run(settings, log=lambda msg: print(msg, file=sys.stderr))
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.write_baseline:
        args.baseline.write_text(json.dumps(baseline_from(report), indent=2) + "\n", encoding="utf-8")
        print(f"baseline written to {args.baseline}")
    if args.check:
        baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
        regressions, notes = compare(report, baseline)
        print()
        for line in notes:
            print(f"ok          {line}")
        for line in regressions:
            print(f"REGRESSION  {line}")
        if regressions:
            return 1
        print("no ratio regressed past the baseline margin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
