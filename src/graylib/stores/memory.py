"""MemoryStore: the default store, for one process, and the test double of the others.

Everything lives in plain dicts behind one lock. The critical section is a handful of dict operations, so a
claim with three limits costs a few microseconds and threads never wait long for each other.

- Windowed counters keep only their current window: a counter whose window has passed reads as zero and is
  reset when next touched; a heap of window ends lets ``reserve`` drop idle counters cheaply, so memory
  follows the counters that are in use, not every account ever seen. An idle counter is dropped only
  ``WINDOW_SLACK`` seconds after its window ended, so a claim stamped just before the end that reaches the
  lock late still finds the window's counts.
- Lifetime counters (``window == 0``) are dropped ``ENDED_RETENTION`` after the rule's ``ends_at``; those
  of a rule without an end are kept as long as the store. Each claim drops at most ``PURGE_BATCH`` idle
  counters, so no claim pays for a large backlog.
- A counter is its name and its window length together, as in the other stores: two limits of the same
  name with different windows (say while a config change moves a limit from ``1h`` to ``1d``) count apart
  and never reset each other. The rate alarm likewise keeps one cell per alarm window length.
- The grant ledger (see ``_ledger``) is a list per rule, appended under the same lock as the counters; it
  grows with every grant and release until ``trim_ledger`` removes old entries.
- Reservation records (the idempotency memory) are bounded in number (``max_records``; the oldest goes
  first) and in age (``record_ttl`` seconds, measured with the callers' ``now``).
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections import OrderedDict
from collections.abc import Mapping

from graylib.stores import _fork
from graylib.stores._common import (
    ALARM_LIMIT,
    DEFAULT_RECORD_TTL,
    GRANTED,
    KILLED,
    MISMATCH,
    PURGE_BATCH,
    WINDOW_SLACK,
    alarm_buckets,
    alarm_reason,
    check_record_ttl,
    lifetime_expiry,
    new_epoch,
    not_found,
)
from graylib.stores._ledger import (
    GRANT,
    RELEASE,
    LedgerEntry,
    LedgerSummary,
    LedgerTrimmed,
    summarise,
)
from graylib.stores._memory_fleet import MemoryRevisions
from graylib.stores._protocol import (
    KillSwitch,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    ReserveStatus,
    RuleStats,
)

__all__ = ["MemoryStore"]

_Cell = list[int]
"""[window length, window start, count, amount, dropped at]: a counter's current window only. ``dropped at``
(whole seconds) matters for lifetime counters only: ``ENDED_RETENTION`` after the rule's end, or never."""
_NEVER = 2**62
_CounterKey = tuple[str, int]
"""(counter name, window length)."""
_Taken = tuple[tuple[str, int, int], ...]
"""((counter name, window length, window start), ...): what a reservation counted, to give back exactly."""
_Note = tuple[str, str, str, int, str, str]
"""(rule version, digest, account, payment amount, cluster, node): what a ledger entry records of a claim."""
_BLANK: _Note = ("", "", "", 0, "", "")
_Record = tuple[str, str, int, _Taken, float, int]
"""(fingerprint, payload, amount, taken, created at, the seq of the grant's ledger entry or 0)."""
_RecordKey = tuple[str, str, bool]
"""(rule id, payment id, shadow)."""
_Row = tuple[int, float, str, str, str, str, str, str, int, int, str, str]
"""A ledger entry as a tuple, its fields in ``LedgerEntry`` order: a tuple is several times cheaper to build
under the lock than the entry object, which is made only when the ledger is read."""


def _seq(row: _Row) -> int:
    return row[0]


class _Table:
    """The counters and statistics of one rule in one namespace (real or shadow)."""

    __slots__ = ("alarms", "amount", "count", "counters")

    def __init__(self) -> None:
        self.counters: dict[_CounterKey, _Cell] = {}
        self.count = 0
        self.amount = 0
        self.alarms: dict[int, dict[int, int]] = {}
        """The rate alarm by window length: amount granted by bucket start (see ``alarm_buckets``)."""


class MemoryStore(MemoryRevisions):
    """Counters, records, kill switches and statistics in this process's memory; thread-safe.

    Nothing is shared with other processes and nothing survives a restart: use it for a single process,
    for tests, or when losing the counters on restart is acceptable. ``max_records`` and ``record_ttl``
    bound the idempotency records; a claim replayed after its record was dropped counts again.
    """

    def __init__(self, *, max_records: int = 1_000_000, record_ttl: float = DEFAULT_RECORD_TTL) -> None:
        if max_records < 1:
            msg = f"MemoryStore: max_records must be at least 1 (got {max_records!r})"
            raise ValueError(msg)
        check_record_ttl(record_ttl, "MemoryStore")
        self._lock = threading.Lock()
        self._max_records = max_records
        self._record_ttl = record_ttl
        self._tables: dict[tuple[str, bool], _Table] = {}
        self._window_ends: list[tuple[int, str, bool, _CounterKey]] = []
        # Insertion-ordered: the first record is the oldest, so expiry and eviction pop from the front.
        self._records: OrderedDict[_RecordKey, _Record] = OrderedDict()
        self._next_record_expiry = float("inf")
        self._kills: dict[str, KillSwitch] = {}
        self._ledger: dict[str, list[_Row]] = {}
        self._ledger_seq: dict[str, int] = {}
        self._ledger_trimmed: dict[str, LedgerTrimmed] = {}
        self._epoch = f"memory-{new_epoch()}"
        self._init_revisions()
        _fork.track(self)

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Check the record, kill switch, every counter and the rate alarm; count all, or change nothing."""
        now = request.now
        rule_id = request.rule_id
        shadow = request.shadow
        amount = request.amount
        record_key = (rule_id, request.payment_id, shadow)
        with self._lock:
            if now >= self._next_record_expiry:
                self._expire_records(now)
            record = self._records.get(record_key)
            if record is not None and record[4] > now - self._record_ttl:  # expired, not yet purged: gone
                if record[0] == request.fingerprint:
                    return ReserveResult(ReserveStatus.REPLAYED, record[1])
                return MISMATCH
            if not shadow and rule_id in self._kills:
                return KILLED
            table = self._tables.get((rule_id, shadow))
            if table is None:
                table = self._tables[(rule_id, shadow)] = _Table()
            if self._window_ends and self._window_ends[0][0] <= now:
                self._drop_idle_counters(now)
            counters = table.counters
            expiry = lifetime_expiry(request)
            dropped_at = _NEVER if expiry is None else int(expiry) + 1
            fits: list[tuple[_CounterKey, _Cell]] = []
            for spec in request.counters:
                window = spec.window
                start = int(now // window * window) if window else 0
                key = (spec.name, window)
                cell = counters.get(key)
                if cell is None or cell[1] < start:
                    cell = [window, start, 0, 0, _NEVER]
                # else: the current window, or a later one opened by a caller whose clock is ahead.
                if not window and cell[4] != dropped_at:  # a lifetime counter: the latest rule end wins
                    cell[4] = dropped_at
                    if dropped_at != _NEVER and cell[2]:
                        heapq.heappush(self._window_ends, (dropped_at, rule_id, shadow, key))
                if (spec.max_count is not None and cell[2] >= spec.max_count) or (
                    spec.max_amount is not None and cell[3] + amount > spec.max_amount
                ):
                    return ReserveResult(
                        ReserveStatus.LIMIT_REACHED, limit=spec.name, detail=f"{spec.name} is full"
                    )
                fits.append((key, cell))
            alarm_amount = request.alarm_amount
            if alarm_amount is not None and not shadow:
                window = request.alarm_window
                _, bucket, oldest = alarm_buckets(now, window)
                buckets = table.alarms.get(window)
                if buckets is None:
                    buckets = table.alarms[window] = {}
                granted = 0
                for start, got in list(buckets.items()):
                    if start >= oldest:
                        granted += got
                    elif start < oldest - WINDOW_SLACK:  # kept a while for claims that reach us late
                        del buckets[start]
                if granted + amount > alarm_amount:
                    reason = alarm_reason(amount, granted, alarm_amount, window)
                    self._kills[rule_id] = KillSwitch(rule_id, reason, now)
                    return ReserveResult(ReserveStatus.ALARM_TRIPPED, limit=ALARM_LIMIT, detail=reason)
                buckets[bucket] = buckets.get(bucket, 0) + amount
            # Everything fits: count.
            taken = []
            for key, cell in fits:
                if cell[2] == 0 and counters.get(key) is not cell:
                    counters[key] = cell
                    end = cell[0] + cell[1] + WINDOW_SLACK if cell[0] else cell[4]
                    if end != _NEVER:
                        heapq.heappush(self._window_ends, (end, rule_id, shadow, key))
                cell[2] += 1
                cell[3] += amount
                taken.append((key[0], key[1], cell[1]))
            table.count += 1
            table.amount += amount
            seq = 0
            if not shadow:
                origin = request.origin
                note = (
                    origin.rule_version,
                    origin.digest,
                    request.account,
                    request.payment_amount,
                    origin.cluster,
                    origin.node,
                )
                seq = self._append(
                    rule_id, GRANT, at=now, payment_id=request.payment_id, note=note, discount=amount
                )
            self._add_record(
                record_key, (request.fingerprint, request.payload, amount, tuple(taken), now, seq)
            )
            return GRANTED

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        """Give back what the payment's reservation (real first, then shadow) took, and forget it."""
        with self._lock:
            if now >= self._next_record_expiry:
                self._expire_records(now)
            for shadow in (False, True):
                record = self._records.get((rule_id, payment_id, shadow))
                if record is not None and record[4] > now - self._record_ttl:
                    del self._records[(rule_id, payment_id, shadow)]
                    break
            else:
                return not_found(payment_id)
            amount = record[2]
            table = self._tables[(rule_id, shadow)]
            for name, window, start in record[3]:
                cell = table.counters.get((name, window))
                if cell is not None and cell[1] == start:
                    cell[2] = max(cell[2] - 1, 0)
                    cell[3] = max(cell[3] - amount, 0)
            table.count = max(table.count - 1, 0)
            table.amount = max(table.amount - amount, 0)
            if not shadow:  # the release's entry repeats its grant's (blank when trimmed), as elsewhere
                note = self._note(rule_id, record[5])
                self._append(rule_id, RELEASE, at=now, payment_id=payment_id, note=note, discount=amount)
            return ReleaseResult(True, amount)

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        """Set the rule's kill switch; an existing switch keeps its first reason and time."""
        with self._lock:
            self._kills.setdefault(rule_id, KillSwitch(rule_id, reason, now))

    def revive(self, rule_id: str) -> bool:
        """Clear the rule's kill switch; True when one was set."""
        with self._lock:
            return self._kills.pop(rule_id, None) is not None

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        """A copy of every kill switch that is set, by rule id."""
        with self._lock:
            return dict(self._kills)

    def stats(self, rule_id: str) -> RuleStats:
        """Grant statistics of one rule, net of releases."""
        with self._lock:
            real = self._tables.get((rule_id, False)) or _Table()
            shadow = self._tables.get((rule_id, True)) or _Table()
            return RuleStats(real.count, real.amount, shadow.count, shadow.amount)

    # -- the grant ledger --------------------------------------------------------------------------------

    def ledger_rules(self) -> list[str]:
        """The ids of every rule with a ledger, sorted."""
        with self._lock:
            return sorted(self._ledger_seq)

    def ledger_page(self, rule_id: str, after: int, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` entries of the rule with ``seq > after``, in ``seq`` order."""
        with self._lock:
            rows = self._ledger.get(rule_id, [])
            first = bisect.bisect_right(rows, after, key=_seq)
            return [LedgerEntry(*row) for row in rows[first : first + limit]]

    def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        """The totals of the rule's entries removed by ``trim_ledger``."""
        with self._lock:
            return self._ledger_trimmed.get(rule_id, LedgerTrimmed())

    def ledger_summary(self, rule_id: str) -> LedgerSummary:
        """The rule's whole ledger added up, trimmed entries included."""
        return summarise(self, rule_id)

    def trim_ledger(self, rule_id: str, before: float) -> int:
        """Remove the rule's entries older than ``before``, adding them to its trimmed totals."""
        with self._lock:
            rows = self._ledger.get(rule_id, [])
            doomed = [row for row in rows if row[1] < before]
            if not doomed:
                return 0
            self._ledger[rule_id] = [row for row in rows if row[1] >= before]
            old = self._ledger_trimmed.get(rule_id, LedgerTrimmed())
            grants = [row[9] for row in doomed if row[2] == GRANT]
            releases = [row[9] for row in doomed if row[2] != GRANT]
            self._ledger_trimmed[rule_id] = LedgerTrimmed(
                old.grants + len(grants),
                old.releases + len(releases),
                old.granted_amount + sum(grants),
                old.released_amount + sum(releases),
            )
            return len(doomed)

    def initialise(self) -> str:
        """This store's epoch: its data lives and dies with the object, so it cannot lose it and live on."""
        return self._epoch

    def close(self) -> None:
        """Nothing to release: the data goes with the object."""

    # -- fork hooks (see ``_fork``): the lock is held across the fork, no call is half done in the child ---

    def _before_fork(self) -> None:
        self._lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self._lock.release()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    # -- internals; the caller holds the lock ------------------------------------------------------------

    def _drop_idle_counters(self, now: float) -> None:
        """Delete up to ``PURGE_BATCH`` counters whose window ended over ``WINDOW_SLACK`` ago, or whose rule
        ended over ``ENDED_RETENTION`` ago; an entry is outdated when a later window opened or the rule's
        end moved (a newer entry was pushed then)."""
        ends = self._window_ends
        for _ in range(PURGE_BATCH):
            if not ends or ends[0][0] > now:
                return
            _, rule_id, shadow, key = heapq.heappop(ends)
            table = self._tables.get((rule_id, shadow))
            cell = None if table is None else table.counters.get(key)
            if cell is None:
                continue
            end = cell[0] + cell[1] + WINDOW_SLACK if cell[0] else cell[4]
            if end <= now:
                del table.counters[key]  # type: ignore[union-attr]

    def _append(
        self, rule_id: str, kind: str, *, at: float, payment_id: str, note: _Note, discount: int
    ) -> int:
        """Append one ledger entry with the rule's next ``seq``; that seq."""
        seq = self._ledger_seq[rule_id] = self._ledger_seq.get(rule_id, 0) + 1
        version, digest, account, amount, cluster, node = note
        row = (seq, at, kind, rule_id, version, digest, payment_id, account, amount, discount, cluster, node)
        rows = self._ledger.get(rule_id)
        if rows is None:
            rows = self._ledger[rule_id] = []
        rows.append(row)
        return seq

    def _note(self, rule_id: str, seq: int) -> _Note:
        """What the entry ``seq`` of the rule recorded of its claim; blank when it is gone (trimmed)."""
        rows = self._ledger.get(rule_id, [])
        at = bisect.bisect_left(rows, seq, key=_seq)
        if not seq or at == len(rows) or rows[at][0] != seq:
            return _BLANK
        row = rows[at]
        return (row[4], row[5], row[7], row[8], row[10], row[11])

    def _add_record(self, key: _RecordKey, record: _Record) -> None:
        records = self._records
        records.pop(key, None)  # an expired record of the same payment: the new one goes to the end
        records[key] = record
        if len(records) > self._max_records:
            records.popitem(last=False)
            self._next_record_expiry = next(iter(records.values()))[4] + self._record_ttl
        elif len(records) == 1:
            self._next_record_expiry = record[4] + self._record_ttl

    def _expire_records(self, now: float) -> None:
        """Forget up to ``PURGE_BATCH`` records older than ``record_ttl``; they are in insertion order, so
        the oldest are first. Any left over go at the next call (``reserve`` and ``release`` ignore them)."""
        records = self._records
        horizon = now - self._record_ttl
        for _ in range(PURGE_BATCH):
            if not records:
                break
            created = next(iter(records.values()))[4]
            if created > horizon:
                self._next_record_expiry = created + self._record_ttl
                return
            records.popitem(last=False)
        else:
            return  # a full batch: maybe more to go, look again at the next call
        self._next_record_expiry = float("inf")
