"""What following a store's published revision costs ``evaluate``: a client built with ``from_store``
(following thread running, ``follow_interval=1.0``) against one built with ``from_file`` on the same rules.

    python benchmarks/follow.py [--rounds 15]

Both clients serve the example rules at the same stage; the payments are allow-listed accounts (so the whole
evaluation runs). The two cases are timed in interleaved rounds and the ratio store/file is the median over
rounds: 1.00 means following costs the payment path nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._timing import measure  # noqa: E402

import graylib  # noqa: E402

RULE = "appliance-subsidy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    args = parser.parse_args()
    rules = ROOT / "examples" / "rules.toml"
    with tempfile.TemporaryDirectory() as tmp:
        store = graylib.SQLiteStore(Path(tmp) / "graylib.db")
        running = graylib.load_config(rules)
        graylib.publish(store, rules, running=running)
        identity = {"cluster": "sh-small", "node": "sh-small-01"}
        from_file = graylib.Client.from_file(rules, **identity)
        from_store = graylib.Client.from_store(store, follow_interval=1.0, **identity)
        contexts = [
            (
                RULE,
                graylib.Context(
                    account=f"qa-smoke-0{1 + i % 2}",
                    payment_type="online_purchase",
                    amount=54_000 + i,
                    region="CN-31",
                ),
            )
            for i in range(1_000)
        ]
        ratios, file_us, store_us = [], [], []
        for _ in range(args.rounds):
            a = measure(from_file.evaluate, number=20_000, repeat=5, inputs=contexts)
            b = measure(from_store.evaluate, number=20_000, repeat=5, inputs=contexts)
            file_us.append(a.median_us)
            store_us.append(b.median_us)
            ratios.append(b.median_us / a.median_us)
        print(f"evaluate, from_file : {statistics.median(file_us):.3f} us (median of rounds)")
        print(f"evaluate, from_store: {statistics.median(store_us):.3f} us (median of rounds)")
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        print(f"ratio store/file: median {statistics.median(ratios):.3f}, range {spread}")
        from_file.close()
        from_store.close()
        store.close()


if __name__ == "__main__":
    main()
