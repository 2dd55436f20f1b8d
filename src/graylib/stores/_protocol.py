"""The Store protocol and the values that cross it.

A store keeps what must be shared between clients: limit counters, idempotency records of claims, kill
switches and per-rule grant statistics. The client turns a rule's limits and a payment into a
``ReserveRequest``; the store checks and applies it atomically (all counters or none) and answers with a
``ReserveResult``. Stores know nothing of rules, contexts or decisions. They also keep the published
revisions of the rules text and the fleet's records (``_revisions``), as values they do not interpret.

The values built per claim (``CounterSpec``, ``ReserveRequest``, ``ReserveResult``, ``ReleaseResult``) are
frozen ``msgspec.Struct`` classes that the garbage collector does not track: about a tenth of the cost of a
frozen attrs class to build, on a path that builds several per claim. They compare and hash by value and
are copied with changes by ``msgspec.structs.replace``. Values built once (origins, kill switches,
statistics) stay attrs classes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs
import msgspec

from graylib.stores._revisions import Instance, Revision
from graylib.stores._trust_records import TrustRecord

__all__ = [
    "NO_ORIGIN",
    "CounterSpec",
    "KillSwitch",
    "LedgerOrigin",
    "ReleaseResult",
    "ReserveRequest",
    "ReserveResult",
    "ReserveStatus",
    "RuleStats",
    "Store",
]


class CounterSpec(msgspec.Struct, frozen=True, gc=False):
    """One limit counter a claim must fit under.

    ``name`` identifies the counter within its rule, e.g. ``"per_account:u-1"`` or ``"total"``.
    ``window`` is the fixed window length in seconds, aligned to the UTC epoch (the window holding ``now``
    starts at ``now // window * window``); 0 means the rule's lifetime (kept until ``ENDED_RETENTION`` after
    the request's ``ends_at``, or for good when the rule has no end).
    A claim fits when ``count + 1 <= max_count`` and ``amount + request.amount <= max_amount`` (``None``:
    that dimension is unlimited).
    """

    name: str
    window: int
    max_count: int | None
    max_amount: int | None


@attrs.frozen(cache_hash=True)
class LedgerOrigin:
    """What decided a claim, written into its ledger entry: the config (its version and digest) and the
    client (its cluster and node). The same object serves every claim of a rule under one snapshot."""

    rule_version: str = ""
    digest: str = ""
    cluster: str = ""
    node: str = ""


NO_ORIGIN = LedgerOrigin()
"""The origin of a request built without one: its ledger entry has empty version, digest, cluster, node."""


class ReserveRequest(msgspec.Struct, frozen=True, gc=False):
    """Reserve ``amount`` (minor units) against every counter, for one payment of one rule."""

    rule_id: str
    payment_id: str
    fingerprint: str
    """Identifies the payment's content (account, amount...). A replay with another fingerprint is refused."""
    amount: int
    """Minor units. The amount and every cap lie in ``0..2**53 - 1`` (``MAX_AMOUNT``): SQLiteStore and
    RedisStore refuse other values with ``StoreError`` rather than count them inexactly (Redis compares in
    Lua doubles); MemoryStore, whose integers are exact, does not check."""
    counters: tuple[CounterSpec, ...]
    payload: str
    """Opaque text the store keeps with the reservation and returns on a replay (the first decision)."""
    now: float
    """Seconds since the epoch (UTC); the store uses it for windows and record ages."""
    alarm_amount: int | None = None
    """Rate alarm: a grant that would take the amount granted in the alarm window past this kills the rule."""
    alarm_window: int = 0
    shadow: bool = False
    """Shadow claims use counters and statistics of their own and never touch real ones or the kill switch."""
    ends_at: float | None = None
    """When the rule ends (seconds since the epoch), if it has an end. Its lifetime counters (and lifetime
    rate alarm) are kept until ``ENDED_RETENTION`` after it, then dropped: a rule that has ended no longer
    needs them. ``None``: kept for as long as the store lives. The latest claim's value wins, so extending
    a rule's end keeps its counters."""
    account: str = ""
    """The payment's account, for the ledger entry of a grant."""
    payment_amount: int = 0
    """The payment's amount (minor units), for the ledger entry; ``amount`` is the discount reserved."""
    origin: LedgerOrigin = NO_ORIGIN
    """The config and client that decided, for the ledger entry."""


class ReserveStatus(enum.Enum):
    """What the store did with a ``ReserveRequest``."""

    GRANTED = "granted"
    """Every counter was incremented, the reservation recorded and (real claims) a ledger entry appended."""
    REPLAYED = "replayed"
    """A reservation with this payment id and fingerprint exists: nothing counted; ``payload`` is its own."""
    MISMATCH = "mismatch"
    """A reservation with this payment id exists with another fingerprint: nothing counted."""
    LIMIT_REACHED = "limit_reached"
    """``limit`` names the counter that did not fit: nothing counted."""
    ALARM_TRIPPED = "alarm_tripped"
    """The grant would have passed the rate alarm: nothing counted, the rule's kill switch is now set."""
    KILLED = "killed"
    """The rule's kill switch was already set and the payment was not reserved before: nothing counted."""


class ReserveResult(msgspec.Struct, frozen=True, gc=False):
    status: ReserveStatus
    payload: str = ""
    limit: str = ""
    """For LIMIT_REACHED: the counter name; for ALARM_TRIPPED: ``"rate_alarm"``."""
    detail: str = ""


class ReleaseResult(msgspec.Struct, frozen=True, gc=False):
    released: bool
    """False when the store had no reservation for the payment (unknown, already released or expired)."""
    amount: int = 0
    detail: str = ""


@attrs.frozen
class KillSwitch:
    rule_id: str
    reason: str
    at: float
    """Seconds since the epoch when the switch was set."""


@attrs.frozen
class RuleStats:
    """Lifetime grant statistics of one rule, net of releases."""

    granted_count: int = 0
    granted_amount: int = 0
    shadow_count: int = 0
    shadow_amount: int = 0


@runtime_checkable
class Store(Protocol):
    """Where limit counters, claim records, kill switches and grant statistics live."""

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Atomically: check the idempotency record (a replay is answered even when the rule is killed), the
        kill switch, every counter and the rate alarm; then increment every counter, record the reservation
        and (real claims) append the grant's ledger entry, or change nothing."""
        ...

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        """Give back exactly what the payment's reservation took, once, appending the release's ledger entry
        in the same step (real reservations); unknown payments are a no-op."""
        ...

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        """Set the rule's kill switch (idempotent; the first reason is kept)."""
        ...

    def revive(self, rule_id: str) -> bool:
        """Clear the rule's kill switch; True when one was set."""
        ...

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        """Every kill switch that is set, by rule id."""
        ...

    def stats(self, rule_id: str) -> RuleStats:
        """Grant statistics of one rule."""
        ...

    def initialise(self) -> str:
        """Mark the store as graylib's, an explicit act (first setup, or after the store lost its data).

        Returns the store's epoch, an opaque text. A store that already has one keeps it (calling this again
        changes nothing); one that has none (never initialised, or its data is gone) gets a new one. A
        store instance that saw one epoch and later finds none or another refuses ``reserve``, ``release``
        and ``kill_switches`` with ``StoreError``: the counters, records and kill switches it relied on are
        gone, and granting on would hand out every budget again. Services must not call this on every
        start, or a store that lost its data would be taken as new.
        """
        ...

    # -- published revisions and the fleet (DESIGN §11) ------------------------------------------------

    def head_revision(self) -> int:
        """The current revision's number (0: nothing published yet). One small read: what followers poll."""
        ...

    def revision(self, number: int) -> Revision | None:
        """The revision numbered ``number``, or None when the store has none of that number."""
        ...

    def revisions(self, limit: int = 100) -> list[Revision]:
        """The newest ``limit`` revisions (at most ``MAX_HISTORY``), newest first."""
        ...

    def append_revision(self, revision: Revision, expected: int) -> Revision:
        """Publish ``revision`` as number ``expected + 1`` if the current number is still ``expected``.

        Atomic: the revision is stored and becomes current, or nothing changes and ``ConflictError`` says
        why (another revision was published meanwhile; or its version already names another text). The
        number given in ``revision`` is ignored; the stored revision is returned.
        """
        ...

    def head_trust(self) -> int:
        """The number of the trust file in force (0: none published; DESIGN §12). One small read."""
        ...

    def trust_record(self, number: int) -> TrustRecord | None:
        """The trust file numbered ``number`` (1: the root of trust), or None."""
        ...

    def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        """Store ``record`` as number ``expected + 1`` if the number in force is still ``expected``.

        Atomic: of two racing trust changes checked against the same one in force, one is stored and the
        other gets ``ConflictError``. The store checks no signature (``graylib.publish_trust`` does); the
        number given in ``record`` is ignored; the stored record is returned.
        """
        ...

    def report_instance(self, instance: Instance, ttl: float) -> None:
        """Write (or replace) one follower's record; it is forgotten ``ttl`` seconds after ``last_seen``."""
        ...

    def remove_instance(self, key: str) -> None:
        """Forget the record of ``Instance.key`` (a client that closed); no-op when there is none."""
        ...

    def instances(self, now: float) -> list[Instance]:
        """Every record not yet expired at ``now``, sorted by cluster, node, host and pid."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""
        ...
