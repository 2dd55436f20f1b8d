"""The trust files published into a store beside the revisions (DESIGN §12): ``TrustRecord``.

A store keeps every trust file ever accepted, numbered 1, 2, 3... (the highest is the one in force), each
with its exact text and the signature file it was accepted with. Number 1 is the root of trust, accepted
into an empty store by an explicit act; every later one was accepted because the approvers of the one
before it signed it (``graylib.publish_trust``). Like revisions, records are immutable values the store does
not interpret: it only makes the append a compare-and-set of the current number, so of two racing
rotations exactly one is stored.
"""

from __future__ import annotations

import json

import attrs

from graylib._errors import ConflictError, StoreError

from ._revisions import SignedText

__all__ = [
    "TrustRecord",
    "check_trust_record",
    "decode_trust_record",
    "trust_meanwhile",
]


@attrs.frozen
class TrustRecord(SignedText):
    """One trust file as published into a store. Immutable once stored.

    ``number`` is its place in the store's chain (1: the root); ``version`` the trust file's own version;
    ``digest`` the sha256 of ``text``'s exact bytes; ``signatures`` the signature file accepted with it
    (empty for the root, which nothing before it approves).
    """

    number: int
    version: int
    digest: str
    text: str
    signatures: str = ""
    published_at: float = 0.0
    published_by: str = ""
    note: str = ""


def check_trust_record(record: TrustRecord, expected: int, what: str) -> None:
    """``StoreError`` for a record no store should keep (a programming error, never a race)."""
    problems = []
    if not isinstance(record, TrustRecord):
        problems.append(f"expected a TrustRecord, got {type(record).__name__}")
    else:
        if not isinstance(record.text, str) or not record.text.strip():
            problems.append("its text is empty")
        if isinstance(record.version, bool) or not isinstance(record.version, int) or record.version < 1:
            problems.append(f"its version must be a positive integer (got {record.version!r})")
        if not isinstance(record.signatures, str):
            problems.append(f"signatures must be text (got {type(record.signatures).__name__})")
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        problems.append(f"expected must be a trust file number >= 0 (got {expected!r})")
    if problems:
        raise StoreError(f"{what}: cannot store the trust file: {'; '.join(problems)}")


def trust_meanwhile(expected: int, current: int) -> ConflictError:
    """The refusal of a trust file checked against another one in force than the store now has."""
    return ConflictError(
        f"trust file {current} is in force in the store, not {expected or 'none'} as this change was checked "
        f"against (another trust change was published meanwhile); sign against trust file {current} again"
    )


def decode_trust_record(raw: str | bytes) -> TrustRecord:
    return TrustRecord(**json.loads(raw))
