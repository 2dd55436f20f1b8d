"""Where the time of ``Client.evaluate`` goes: the same payment through ever fuller evaluators.

    python benchmarks/ablation.py [--rounds N]

Each step adds one layer to the one before, from the bare hash to ``Client.evaluate``; the difference
between two steps is what that layer costs. The steps run in interleaved rounds like ``benchmarks/run.py``
and are reported as ratios to the bare hash. docs/performance.md explains the result.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import mmh3  # noqa: E402
from benchmarks._timing import measure  # noqa: E402
from benchmarks.configs import AMOUNT, RULE_ID, bench_config  # noqa: E402

import graylib  # noqa: E402
from benchmarks import peers  # noqa: E402

_ELIGIBLE_FIRST = peers.ELIGIBLE_PAYMENT_TYPES[0]
_ALLOW = frozenset(peers.ALLOW_LIST)
_ELIGIBLE = frozenset(peers.ELIGIBLE_PAYMENT_TYPES)
_THRESHOLD = peers.ROLLOUT_PERCENT * 10_000
_APPLIES = graylib.Reason.APPLIES_ROLLOUT
_OUT = graylib.Reason.OUT_OF_ROLLOUT


def hand_written_bool(ctx: graylib.Context) -> bool:
    """Allow set, payment-type set, bucket under the threshold; a bool."""
    account = ctx.account
    return account in _ALLOW or (
        ctx.payment_type in _ELIGIBLE and mmh3.hash(f"{RULE_ID}:{account}", 0, False) % 1_000_000 < _THRESHOLD
    )


def hand_written_decision(ctx: graylib.Context) -> graylib.Decision | None:
    """The same checks, answering with a ``Decision`` as graylib does."""
    account = ctx.account
    if ctx.payment_type not in _ELIGIBLE:
        return None
    bucket = mmh3.hash(f"{RULE_ID}:{account}", 0, False) % 1_000_000
    if account in _ALLOW or bucket < _THRESHOLD:
        return graylib.Decision(
            applies=True,
            reason=_APPLIES,
            discount=ctx.amount // 10,
            rule_id=RULE_ID,
            rule_version="v",
            stage="s",
            bucket=bucket,
        )
    return graylib.Decision(
        applies=False, reason=_OUT, rule_id=RULE_ID, rule_version="v", stage="s", bucket=bucket
    )


class _ClientWithoutCounting:
    """``Client.evaluate`` minus the line that counts decisions by reason."""

    def __init__(self, client: graylib.Client) -> None:
        self._served = client._served

    def evaluate(self, rule_id: str, ctx: graylib.Context) -> graylib.Decision | None:
        try:
            served = self._served
            try:
                rule = served.rules[rule_id]
            except KeyError:
                return None
            return rule.evaluate(ctx)
        except Exception:
            return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cost of each layer of Client.evaluate")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=100_000, help="calls per sample")
    args = parser.parse_args(argv)

    client = graylib.Client(bench_config(), cluster="bench", node="bench-01")
    accounts = [f"acct-{i:06d}" for i in range(10_000)]
    ctxs = [graylib.Context(account=a, payment_type=_ELIGIBLE_FIRST, amount=AMOUNT) for a in accounts]
    one = [(c,) for c in ctxs]
    two = [(RULE_ID, c) for c in ctxs]
    steps: list[tuple[str, Callable[..., Any], list[tuple[Any, ...]]]] = [
        ("bare hash", peers.bare_hash, [(a, _ELIGIBLE_FIRST) for a in accounts]),
        ("hand-written, bool", hand_written_bool, one),
        ("hand-written, Decision", hand_written_decision, one),
        ("CompiledRule.evaluate", client.snapshot.rules[RULE_ID].evaluate, one),
    ]
    client.evaluate(RULE_ID, ctxs[0])  # starts the kill-switch watcher: what is served settles
    steps += [
        ("client layer, no counting", _ClientWithoutCounting(client).evaluate, two),
        ("Client.evaluate", client.evaluate, two),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in steps}
    for _ in range(args.rounds):
        for name, fn, inputs in steps:
            times[name].append(measure(fn, number=args.number, repeat=1, inputs=inputs).median_us)
    floor = times["bare hash"]
    for name, samples in times.items():
        ratio = statistics.median(s / f for s, f in zip(samples, floor, strict=True))
        print(f"{name:28} {statistics.median(samples):7.3f} µs  {ratio:5.2f}x hash")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
