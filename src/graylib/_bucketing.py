"""Deterministic bucketing: the cross-language contract of a percentage rollout.

``bucket = murmur3_x86_32(f"{salt}:{account}", seed=0) as unsigned % 1_000_000`` (parts per million), the
key encoded as UTF-8. An account is inside a stage at percent ``p`` when ``bucket < round(p * 10_000)``.
The salt defaults to the rule id and does not change with the percentage or the config version, so raising
a percentage only adds accounts and lowering it only removes them. docs/bucketing.md holds test vectors
that services in other languages can check themselves against.
"""

from __future__ import annotations

import mmh3

__all__ = ["BUCKETS", "bucket", "threshold"]

BUCKETS = 1_000_000
"""Number of buckets: one bucket is one part per million of accounts."""


def bucket(salt: str, account: str) -> int:
    """The account's bucket for a rule salted with ``salt``, in ``range(BUCKETS)``.

    Raises ``UnicodeEncodeError`` (a ``ValueError``) for text that has no UTF-8 form (a lone surrogate).
    """
    return mmh3.hash(f"{salt}:{account}".encode(), 0, False) % BUCKETS


def threshold(percent: float) -> int:
    """The bucket bound for a percentage: accounts whose bucket is below it are in."""
    return round(percent * 10_000)
