"""Compiled rules keep no reference cycle, so a snapshot replaced by a reload is freed at once."""

from __future__ import annotations

import gc

from graylib import Context, load_config
from graylib._compile import compile_config
from tests.helpers import make_config


def test_a_replaced_snapshot_is_freed_without_the_cycle_collector() -> None:
    config = load_config(
        make_config(
            {"deny": {"accounts": ["bad"], "ips": ["198.51.100.0/24"]}, "starts_at": "2000-01-01T00:00:00Z"},
            {"id": "shadowed", "state": "shadow"},
            {"id": "dead", "state": "killed"},
        )
    )
    contexts = [
        Context(account="u-1", payment_type="online_purchase", amount=54_000, ip="198.51.100.7"),
        Context(account="bad", payment_type="online_purchase", amount=54_000),
        Context(account="u-2", payment_type="online_purchase", amount=54_000, cluster="bj-big", node="n"),
        Context(account="u-3", payment_type="online_purchase", amount=54_000, ip="not an ip"),
    ]
    gc.collect()
    gc.disable()
    try:
        snapshot = compile_config(config, cluster="sh-small", node="sh-small-01")
        decisions = [rule.evaluate(ctx) for rule in snapshot.rules.values() for ctx in contexts]
        assert len(decisions) == 12
        del snapshot, decisions
        assert gc.collect() == 0
    finally:
        gc.enable()
