"""The rule sets the benchmarks evaluate, claim and reload, as config mappings or a TOML text.

The benchmark rule is the peers' flag written as a graylib rule (``benchmarks/peers.py``): an allow list, a
payment-type clause and a rollout percentage, so graylib and the peer SDKs answer the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks import peers

__all__ = [
    "AMOUNT",
    "RULE_ID",
    "bench_config",
    "claim_config",
    "evaluate_all_config",
    "reload_toml",
]

RULE_ID = peers.FLAG_KEY
AMOUNT = 54_000
"""The payment amount of every benchmarked context (minor units)."""

_GUARDRAILS = {
    "max_percent_off": 30,
    "max_amount_off": 100_000,
    "forbidden_payment_types": ["p2p_transfer", "credit_card_repayment", "withdrawal"],
}


def _rule(
    rule_id: str, payment_types: Sequence[str], percent: float = peers.ROLLOUT_PERCENT
) -> dict[str, Any]:
    """The rule equivalent to the peers' flag: an allow list, a payment-type clause, a rollout percentage."""
    return {
        "id": rule_id,
        "payment_types": list(payment_types),
        "discount": {"percent": 10, "max_off": 50_000},
        "allow": {"accounts": list(peers.ALLOW_LIST)},
        "rollout": {"stage": "rollout", "stages": [{"name": "rollout", "targets": {"*": percent}}]},
    }


def bench_config(rules: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A config mapping holding ``rules`` (default: the one rule equivalent to the peers' flag)."""
    return {
        "version": "bench-1",
        "guardrails": _GUARDRAILS,
        "rules": list(rules) if rules is not None else [_rule(RULE_ID, peers.ELIGIBLE_PAYMENT_TYPES)],
    }


def claim_config() -> dict[str, Any]:
    """One rule at 100% with three limits (per account, per region, total) that the run never fills."""
    rule = _rule("claim", peers.ELIGIBLE_PAYMENT_TYPES, percent=100)
    rule["limits"] = {
        "per_account": {"count": 1_000_000_000, "window": "1d"},
        "per_region": {"amount": 10**15, "window": "1d"},
        "total": {"amount": 10**15},
    }
    return bench_config([rule])


def evaluate_all_config(size: int, matching: int = 3) -> dict[str, Any]:
    """``size`` active rules of which ``min(size, matching)`` list the benchmarked payment type."""
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]
    rules = [_rule(f"r{i:04d}", [eligible if i < matching else f"type-{i % 97}"]) for i in range(size)]
    return bench_config(rules)


def reload_toml(count: int, version: str) -> str:
    """A TOML rules file of ``count`` rules, each with eligibility, lists, stages and limits."""
    out = [
        f'version = "{version}"',
        "[guardrails]",
        "max_percent_off = 30",
        "max_amount_off = 100_000",
        'forbidden_payment_types = ["p2p_transfer", "credit_card_repayment", "withdrawal"]',
    ]
    for i in range(count):
        out += [
            "[[rules]]",
            f'id = "rule-{i:05d}"',
            f'payment_types = ["online_purchase", "type-{i % 50}"]',
            'regions = ["CN-31", "CN-11"]',
            "min_amount = 1_000",
            "[rules.discount]",
            f"percent = {1 + i % 20}",
            "max_off = 50_000",
            "[rules.allow]",
            f'accounts = ["qa-{i}-a", "qa-{i}-b"]',
            "[rules.deny]",
            f'accounts = ["bad-{i}"]',
            'ips = ["198.51.100.0/24"]',
            "[rules.rollout]",
            'stage = "small"',
            "stages = [",
            '  { name = "smoke", targets = {} },',
            '  { name = "small", targets = { "sh-small" = 100, "*" = 5 } },',
            '  { name = "full", targets = { "*" = 100 } },',
            "]",
            "[rules.limits]",
            'per_account = { count = 3, amount = 100_000, window = "1d" }',
            "total = { amount = 2_000_000_000 }",
        ]
    return "\n".join(out) + "\n"
