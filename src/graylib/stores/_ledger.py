"""The grant ledger as stores keep it: its entries, the totals of a rule's ledger, the reading protocol.

Every store appends one ``LedgerEntry`` per real grant and per release of a real grant, in the same atomic
step that moves the counters (the SQLite transaction, the Redis script, the MemoryStore lock), so the ledger
and the counters cannot disagree. A replay, a refusal and every shadow claim write nothing: shadow rules
grant nothing. ``seq`` is assigned by the store and increases per rule (it never goes back, trimmed or not).

A release entry repeats what its grant's entry recorded (payment amount, account, version, digest,
cluster and node of the claim) with ``kind = "release"``, its own ``seq`` and ``at`` (the releasing
client's clock), and the discount given back. When the grant's entry was trimmed meanwhile, those fields
are blank (the payment id and the discount are always there). Each store finds the grant's entry by the
seq its reservation record kept, so the record does not repeat the entry's text.

Reading goes page by page (``ledger_page``), so a caller holds one page at a time however long the ledger
is; ``graylib.read_ledger`` is the iterator over the pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "GRANT",
    "LEDGER_FIELDS",
    "RELEASE",
    "LedgerEntry",
    "LedgerStore",
    "LedgerSummary",
    "LedgerTrimmed",
    "summarise",
]

GRANT = "grant"
RELEASE = "release"


@attrs.frozen
class LedgerEntry:
    """One grant or one release, as the store recorded it.

    ``amount`` is the payment's amount and ``discount`` what was granted (or given back), both in minor
    units; ``at`` is seconds since the epoch by the clock of the client that claimed (or released).
    """

    seq: int
    at: float
    kind: str
    rule_id: str
    rule_version: str
    digest: str
    payment_id: str
    account: str
    amount: int
    discount: int
    cluster: str
    node: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


LEDGER_FIELDS: tuple[str, ...] = tuple(field.name for field in attrs.fields(LedgerEntry))
"""The fields of an entry in the order exports write them (the CSV header)."""


@attrs.frozen
class LedgerTrimmed:
    """What ``trim_ledger`` removed from a rule's ledger so far, kept so that totals stay whole."""

    grants: int = 0
    releases: int = 0
    granted_amount: int = 0
    released_amount: int = 0


@attrs.frozen
class LedgerSummary:
    """A rule's whole ledger added up, trimmed entries included: what the counters must equal.

    ``net_count`` and ``net_amount`` (grants minus releases) are what the store's ``stats`` count too.
    """

    grants: int = 0
    releases: int = 0
    granted_amount: int = 0
    released_amount: int = 0
    trimmed: int = 0
    """Entries counted here that ``trim_ledger`` removed (only their totals are kept)."""

    @property
    def net_count(self) -> int:
        return self.grants - self.releases

    @property
    def net_amount(self) -> int:
        return self.granted_amount - self.released_amount

    @property
    def empty(self) -> bool:
        return not (self.grants or self.releases)


@runtime_checkable
class LedgerStore(Protocol):
    """A store that keeps the grant ledger (every store graylib ships)."""

    def ledger_rules(self) -> Sequence[str]:
        """The ids of every rule that has a ledger (entries, or trimmed ones), sorted."""
        ...

    def ledger_page(self, rule_id: str, after: int, limit: int) -> Sequence[LedgerEntry]:
        """Up to ``limit`` entries of the rule with ``seq > after``, in ``seq`` order."""
        ...

    def ledger_summary(self, rule_id: str) -> LedgerSummary:
        """The rule's whole ledger added up (trimmed entries included)."""
        ...

    def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        """The totals of the rule's entries removed by ``trim_ledger``."""
        ...

    def trim_ledger(self, rule_id: str, before: float) -> int:
        """Remove the rule's entries with ``at < before``, adding them to its trimmed totals; how many."""
        ...


def summarise(store: LedgerStore, rule_id: str, page: int = 1000) -> LedgerSummary:
    """Add up a rule's ledger by reading it page by page (for stores that cannot add up in place)."""
    trimmed = store.ledger_trimmed(rule_id)
    grants, releases = trimmed.grants, trimmed.releases
    granted, released = trimmed.granted_amount, trimmed.released_amount
    after = 0
    while True:
        entries = store.ledger_page(rule_id, after, page)
        for entry in entries:
            if entry.kind == GRANT:
                grants += 1
                granted += entry.discount
            else:
                releases += 1
                released += entry.discount
        if len(entries) < page:
            break
        after = entries[-1].seq
    removed = trimmed.grants + trimmed.releases
    return LedgerSummary(grants, releases, granted, released, removed)
