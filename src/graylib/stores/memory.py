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

import heapq
import threading
from collections import OrderedDict
from collections.abc import Mapping

from graylib.stores import _fork
from graylib.stores._common import (
    ALARM_LIMIT,
    DEFAULT_RECORD_TTL,
    ENDED_RETENTION,
    GRANTED,
    KILLED,
    MISMATCH,
    PURGE_BATCH,
    WINDOW_SLACK,
    alarm_buckets,
    alarm_reason,
    check_record_ttl,
    new_epoch,
    not_found,
)
from graylib.stores._ledger import (
    GRANT,
    RELEASE,
)
from graylib.stores._memory_fleet import MemoryRevisions
from graylib.stores._memory_ledger import MemoryLedger
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
_Record = tuple[str, str, int, _Taken, float, int]
"""(fingerprint, payload, amount, taken, created at, the seq of the grant's ledger entry or 0)."""
_REPLAYED = ReserveStatus.REPLAYED
_LIMIT_REACHED = ReserveStatus.LIMIT_REACHED
_RecordKey = tuple[str, str, bool]
"""(rule id, payment id, shadow)."""


class _Table:
    """The counters and statistics of one rule in one namespace (real or shadow)."""

    __slots__ = ("alarms", "amount", "count", "counters")

    def __init__(self) -> None:
        self.counters: dict[_CounterKey, _Cell] = {}
        self.count = 0
        self.amount = 0
        self.alarms: dict[int, dict[int, int]] = {}
        """The rate alarm by window length: amount granted by bucket start (see ``alarm_buckets``)."""


class MemoryStore(MemoryLedger, MemoryRevisions):
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
        self._init_ledger()
        self._epoch = f"memory-{new_epoch()}"
        self._init_revisions()
        _fork.track(self)

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Check the record, kill switch, every counter and the rate alarm; count all, or change nothing.

        The hot path of every claim: one lock, dict lookups, and no object built but the record, the ledger
        row and (when refused) the answer.
        """
        now = request.now
        rule_id = request.rule_id
        shadow = request.shadow
        amount = request.amount
        payment_id = request.payment_id
        record_key = (rule_id, payment_id, shadow)
        ends_at = request.ends_at
        dropped_at = _NEVER if ends_at is None else int(ends_at + ENDED_RETENTION) + 1
        with self._lock:
            if now >= self._next_record_expiry:
                self._expire_records(now)
            records = self._records
            record = records.get(record_key)
            if record is not None and record[4] > now - self._record_ttl:  # expired, not yet purged: gone
                if record[0] == request.fingerprint:
                    return ReserveResult(_REPLAYED, record[1])
                return MISMATCH
            if not shadow and rule_id in self._kills:
                return KILLED
            table = self._tables.get((rule_id, shadow))
            if table is None:
                table = self._tables[(rule_id, shadow)] = _Table()
            window_ends = self._window_ends
            if window_ends and window_ends[0][0] <= now:
                self._drop_idle_counters(now)
            counters = table.counters
            fits: list[tuple[_CounterKey, _Cell]] = []
            for spec in request.counters:
                window = spec.window
                key = (spec.name, window)
                cell = counters.get(key)
                if window:
                    start = int(now // window * window)
                    if cell is None or cell[1] < start:
                        cell = [window, start, 0, 0, _NEVER]
                    # else: the current window, or a later one opened by a caller whose clock is ahead.
                elif cell is None:  # a lifetime counter: the latest rule end wins
                    cell = [0, 0, 0, 0, dropped_at]
                elif cell[4] != dropped_at:
                    cell[4] = dropped_at
                    if dropped_at != _NEVER and cell[2]:
                        heapq.heappush(window_ends, (dropped_at, rule_id, shadow, key))
                max_count = spec.max_count
                max_amount = spec.max_amount
                if (max_count is not None and cell[2] >= max_count) or (
                    max_amount is not None and cell[3] + amount > max_amount
                ):
                    name = spec.name
                    return ReserveResult(_LIMIT_REACHED, limit=name, detail=f"{name} is full")
                fits.append((key, cell))
            alarm_amount = request.alarm_amount
            if alarm_amount is not None and not shadow:
                tripped = self._alarm(
                    table, rule_id, now, window=request.alarm_window, alarm_amount=alarm_amount, amount=amount
                )
                if tripped is not None:
                    return tripped
            # Everything fits: count.
            taken = []
            for key, cell in fits:
                if not cell[2] and counters.get(key) is not cell:
                    counters[key] = cell
                    end = cell[0] + cell[1] + WINDOW_SLACK if cell[0] else cell[4]
                    if end != _NEVER:
                        heapq.heappush(window_ends, (end, rule_id, shadow, key))
                cell[2] += 1
                cell[3] += amount
                taken.append((key[0], key[1], cell[1]))
            table.count += 1
            table.amount += amount
            seq = 0
            if not shadow:
                origin = request.origin
                seq = self._ledger_seq[rule_id] = self._ledger_seq.get(rule_id, 0) + 1
                row = (
                    seq,
                    now,
                    GRANT,
                    rule_id,
                    origin.rule_version,
                    origin.digest,
                    payment_id,
                    request.account,
                    request.payment_amount,
                    amount,
                    origin.cluster,
                    origin.node,
                )
                rows = self._ledger.get(rule_id)
                if rows is None:
                    rows = self._ledger[rule_id] = []
                rows.append(row)
            self._add_record(
                record_key,
                (request.fingerprint, request.payload, amount, tuple(taken), now, seq),
                stale=record is not None,
            )
            return GRANTED

    def _alarm(
        self, table: _Table, rule_id: str, now: float, *, window: int, alarm_amount: int, amount: int
    ) -> ReserveResult | None:
        """Add ``amount`` to the rule's rate alarm, or set its kill switch and answer ALARM_TRIPPED when the
        amount granted in the alarm window would pass ``alarm_amount`` (then nothing is added)."""
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
        return None

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

    def _add_record(self, key: _RecordKey, record: _Record, *, stale: bool) -> None:
        """Keep the record of a grant; ``stale``: an expired record of the same payment is still there."""
        records = self._records
        if stale:  # the new record goes to the end, where the newest are
            del records[key]
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
