"""What OpenTelemetry metrics cost on the payment path: the same calls with ``metrics`` off and on.

    python benchmarks/metrics_cost.py [--rounds 7]

Four cases in interleaved rounds (each round times each case once; the table shows medians over rounds):
``evaluate`` and ``claim`` (MemoryStore, three limits, every claim a new payment the rule grants), each
by a client without metrics and by one with ``graylib.otel.Metrics`` on an OpenTelemetry SDK meter provider
(an in-memory reader, collected once per round, as an exporter would). Needs the ``otel`` extra and the
OpenTelemetry SDK.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from benchmarks._timing import measure  # noqa: E402
from benchmarks.run import bench_config, claim_config  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402

import graylib  # noqa: E402
from benchmarks import peers  # noqa: E402
from graylib.otel import Metrics  # noqa: E402

NUMBER = 20_000


def _claimer(client: graylib.Client) -> Callable[[], graylib.Decision]:
    ids = itertools.count()
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]

    def claim_one() -> graylib.Decision:
        ctx = graylib.Context(
            account=f"u-{next(ids) % 10_000}",
            payment_type=eligible,
            amount=54_000,
            payment_id=f"pay-{next(ids)}",
            region="CN-31",
        )
        return client.claim("claim", ctx)

    return claim_one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = Metrics(provider)
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]
    contexts = [
        (peers.FLAG_KEY, graylib.Context(account=f"u-{i}", payment_type=eligible, amount=54_000))
        for i in range(10_000)
    ]
    cases: dict[str, tuple[Callable[..., object], list[tuple[object, ...]] | None, int]] = {}
    for label, recorder in (("off", None), ("on", metrics)):
        plain = graylib.Client(bench_config(), cluster="bench", node="bench-01", metrics=recorder)
        claiming = graylib.Client(claim_config(), cluster="bench", node="bench-01", metrics=recorder)
        cases[f"evaluate, metrics {label}"] = (plain.evaluate, list(contexts), NUMBER * 10)
        cases[f"claim, MemoryStore, metrics {label}"] = (_claimer(claiming), None, NUMBER)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(args.rounds):
        for name, (fn, inputs, number) in cases.items():
            times[name].append(measure(fn, number=number, repeat=1, inputs=inputs).median_us)
        reader.get_metrics_data()  # a collection per round, as a periodic exporter would do
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    print("| case | median µs per call |\n| --- | --- |")
    for name, found in times.items():
        print(f"| {name} | {statistics.median(found):.3f} |")
    provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
