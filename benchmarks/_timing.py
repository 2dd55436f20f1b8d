"""A small timing helper shared by the benchmarks.

Every benchmark reports per-call times measured the same way, so that ratios between graylib, the bare
hash floor and the peer SDKs are taken in one run with one method.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

__all__ = ["Sample", "measure"]

_WARMUP_CALLS = 1_000


@dataclass(frozen=True)
class Sample:
    """Per-call timings of one measured callable, in microseconds.

    `samples_us` holds one per-call time per sample (the sample's total time divided by `number`);
    `median_us` and `p99_us` are taken over those samples.
    """

    median_us: float
    p99_us: float
    samples_us: tuple[float, ...]
    number: int
    repeat: int


def measure(
    fn: Callable[..., object],
    *,
    number: int,
    repeat: int,
    inputs: Sequence[tuple[Any, ...]] | None = None,
) -> Sample:
    """Time `fn` over `repeat` samples of `number` calls each, with the garbage collector off.

    Without `inputs`, `fn` is called with no argument. With `inputs`, `fn(*args)` is called in a tight
    loop over a call list built before timing (the inputs cycled to `number` calls), so no lambda or
    index arithmetic lands inside the measured loop. A short untimed pass warms caches first.
    """
    if number < 1 or repeat < 1:
        raise ValueError("number and repeat must be >= 1")
    calls: list[tuple[Any, ...]]
    if inputs is None:
        calls = [()] * number
    else:
        if not inputs:
            raise ValueError("inputs must not be empty")
        cycles = -(-number // len(inputs))
        calls = list(islice((args for _ in range(cycles) for args in inputs), number))

    for args in calls[:_WARMUP_CALLS]:
        fn(*args)

    per_call_us: list[float] = []
    for _ in range(repeat):
        per_call_us.append(_one_sample(fn, calls) / number / 1_000)
    ordered = sorted(per_call_us)
    p99_index = max(0, math.ceil(0.99 * len(ordered)) - 1)
    return Sample(
        median_us=statistics.median(ordered),
        p99_us=ordered[p99_index],
        samples_us=tuple(per_call_us),
        number=number,
        repeat=repeat,
    )


def _one_sample(fn: Callable[..., object], calls: list[tuple[Any, ...]]) -> int:
    """Run every call once and return the elapsed nanoseconds; GC is off for the duration."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for args in calls:
            fn(*args)
        return time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()
