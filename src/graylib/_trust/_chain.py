"""The chain of trust files published in a store: which one is in force, and why the others are not.

Trust file 1 of a store is the root of trust: it was accepted into an empty store by an explicit act
(``graylib trust publish --root``) and nothing before it approves it. Every later one is in force only when
``check_trust_change`` accepts it against the one in force before it: a higher version, signed over its
exact bytes by the threshold of that one's approvers. A record that fails (written into the store directly,
forged, or with a lower version) is skipped and reported, never in force: the chain goes on from the last
one that verified. Every reader (a publisher, a following client) walks the same chain and so agrees on the
trust file in force.

A signature's expiry is judged at the time the record says it was published: a rotation that was valid
when it was accepted stays part of the chain after its signatures expire.
"""

from __future__ import annotations

import datetime as dt

import attrs

from .._errors import ConfigError, StoreError
from ..stores import Store, TrustRecord
from ._rotation import check_trust_change
from ._trustfile import Trust, parse_trust

__all__ = ["TrustChain", "advance_chain", "read_chain"]


@attrs.frozen
class TrustChain:
    """Where a walk of a store's trust files ended: the trust file in force and its record, the highest
    number read (``seen``), and why each record that was skipped does not count."""

    trust: Trust
    record: TrustRecord
    seen: int
    skipped: tuple[str, ...] = ()


def _when(record: TrustRecord) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(record.published_at), dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _record(store: Store, number: int, where: str) -> TrustRecord:
    record = store.trust_record(number)
    if record is None:
        msg = f"{where} names trust file {number} but does not have it; the store is damaged"
        raise StoreError(msg)
    return record


def read_chain(store: Store, where: str = "the store") -> TrustChain | None:
    """Walk every trust file of ``store`` from its root; None when it has none. ``ConfigError`` when the
    root is not a valid trust file; ``StoreError`` when the store cannot be read."""
    head = store.head_trust()
    if head == 0:
        return None
    root = _record(store, 1, where)
    try:
        trust = parse_trust(root.data, source=f"{where} trust file 1")
    except ConfigError as exc:
        msg = f"trust file 1 (the root of trust) in {where} is not valid: {exc}"
        raise ConfigError([msg]) from exc
    return advance_chain(store, TrustChain(trust, root, 1), head, where)


def advance_chain(store: Store, chain: TrustChain, head: int, where: str = "the store") -> TrustChain:
    """``chain`` advanced over trust files ``chain.seen + 1`` to ``head``: each one the one in force
    accepts becomes the one in force; the others are skipped, with why."""
    trust, record, skipped = chain.trust, chain.record, list(chain.skipped)
    for number in range(chain.seen + 1, head + 1):
        candidate = _record(store, number, where)
        change = check_trust_change(
            trust,
            candidate.data,
            candidate.signature_data,
            source=f"{where} trust file {number}",
            now=_when(candidate),
        )
        if change.accepted and change.new is not None:
            trust, record = change.new, candidate
        else:
            skipped.append(
                f"trust file {number} in {where} is not in force (trust file {record.number}, version "
                f"{trust.version}, is): {'; '.join(change.reasons)}"
            )
    return TrustChain(trust, record, max(head, chain.seen), tuple(skipped))
