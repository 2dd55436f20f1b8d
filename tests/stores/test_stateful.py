"""Random sequences of claims, releases, kills and clock moves: each store agrees with a small model.

The model below is the store semantics written as plainly as possible (one dict entry per counter window).
Hypothesis drives a real store and the model with the same steps and checks, after every step, that their
answers and statistics agree and that no counter ever holds more than its limits allow.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from graylib.stores import (
    CounterSpec,
    MemoryStore,
    RedisStore,
    ReserveRequest,
    ReserveStatus,
    RuleStats,
    SQLiteStore,
    Store,
)
from graylib.stores._common import alarm_buckets, alarm_reason, window_start
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import T0

ALARM_AMOUNT = 5_000
ALARM_WINDOW = 60


def counters_for(account: str) -> tuple[CounterSpec, ...]:
    return (
        CounterSpec(f"per_account:{account}", 60, 2, 2_500),
        CounterSpec("per_region:CN-31", 300, None, 6_000),
        CounterSpec("total", 0, 12, 12_000),
    )


class Model:
    """Store semantics, plainly: what every store must answer."""

    def __init__(self) -> None:
        self.counters: dict[tuple[bool, str, int, int], list[int]] = {}
        self.records: dict[tuple[str, bool], tuple[str, str, int, list[tuple[str, int, int]]]] = {}
        self.killed = False
        self.alarm: dict[int, int] = {}
        self.stats = [0, 0, 0, 0]

    def reserve(self, req: ReserveRequest) -> tuple[ReserveStatus, str]:
        record = self.records.get((req.payment_id, req.shadow))
        if record is not None:  # a reserved payment keeps its answer, even once the rule is killed
            if record[0] == req.fingerprint:
                return ReserveStatus.REPLAYED, record[1]
            return ReserveStatus.MISMATCH, ""
        if req.shadow is False and self.killed:
            return ReserveStatus.KILLED, ""
        keys = []
        for spec in req.counters:
            key = (req.shadow, spec.name, spec.window, window_start(req.now, spec.window))
            count, amount = self.counters.get(key, [0, 0])
            if (spec.max_count is not None and count + 1 > spec.max_count) or (
                spec.max_amount is not None and amount + req.amount > spec.max_amount
            ):
                return ReserveStatus.LIMIT_REACHED, spec.name
            keys.append(key)
        if not req.shadow and req.alarm_amount is not None:
            # every grant whose bucket starts at or after the oldest bucket of the trailing window
            _, bucket, oldest = alarm_buckets(req.now, req.alarm_window)
            granted = sum(got for start, got in self.alarm.items() if start >= oldest)
            if granted + req.amount > req.alarm_amount:
                self.killed = True
                return ReserveStatus.ALARM_TRIPPED, alarm_reason(
                    req.amount, granted, req.alarm_amount, req.alarm_window
                )
            self.alarm[bucket] = self.alarm.get(bucket, 0) + req.amount
        for key in keys:
            cell = self.counters.setdefault(key, [0, 0])
            cell[0] += 1
            cell[1] += req.amount
        self.records[(req.payment_id, req.shadow)] = (
            req.fingerprint,
            req.payload,
            req.amount,
            [key[1:] for key in keys],
        )
        column = 2 if req.shadow else 0
        self.stats[column] += 1
        self.stats[column + 1] += req.amount
        return ReserveStatus.GRANTED, ""

    def release(self, payment_id: str) -> int | None:
        for shadow in (False, True):
            record = self.records.pop((payment_id, shadow), None)
            if record is not None:
                break
        else:
            return None
        amount = record[2]
        for name, window, start in record[3]:
            cell = self.counters.get((shadow, name, window, start))
            if cell is not None:
                cell[0] -= 1
                cell[1] -= amount
        column = 2 if shadow else 0
        self.stats[column] -= 1
        self.stats[column + 1] -= amount
        return amount


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, open_store: Callable[[], tuple[Store, Callable[[], None]]]) -> None:
        super().__init__()
        self.store, self._cleanup = open_store()
        self.model = Model()
        self.now = T0

    @rule(
        account=st.sampled_from(["a", "b", "c"]),
        amount=st.sampled_from([0, 400, 1_000, 2_500]),
        payment=st.sampled_from([f"p{i}" for i in range(8)]),
        fingerprint=st.sampled_from(["f0", "f1"]),
        shadow=st.booleans(),
        alarm=st.booleans(),
    )
    def reserve(
        self, *, account: str, amount: int, payment: str, fingerprint: str, shadow: bool, alarm: bool
    ) -> None:
        req = ReserveRequest(
            rule_id="rule-1",
            payment_id=payment,
            fingerprint=fingerprint,
            amount=amount,
            counters=counters_for(account),
            payload=f"{payment}/{fingerprint}/{amount}@{self.now}",
            now=self.now,
            alarm_amount=ALARM_AMOUNT if alarm else None,
            alarm_window=ALARM_WINDOW,
            shadow=shadow,
        )
        result = self.store.reserve(req)
        status, text = self.model.reserve(req)
        assert result.status is status, (result, text)
        if status is ReserveStatus.REPLAYED:
            assert result.payload == text
        if status is ReserveStatus.LIMIT_REACHED:
            assert result.limit == text
        if status is ReserveStatus.ALARM_TRIPPED:
            assert result.detail == text

    @rule(payment=st.sampled_from([f"p{i}" for i in range(8)]))
    def release(self, payment: str) -> None:
        result = self.store.release("rule-1", payment, self.now)
        amount = self.model.release(payment)
        assert result.released is (amount is not None)
        assert result.amount == (amount or 0)

    @rule(seconds=st.sampled_from([0.5, 7, 30, 59.5, 60, 299, 301]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def revive(self) -> None:
        assert self.store.revive("rule-1") is self.model.killed
        self.model.killed = False

    @invariant()
    def stats_agree(self) -> None:
        assert self.store.stats("rule-1") == RuleStats(*self.model.stats)

    @invariant()
    def no_counter_passes_its_limits(self) -> None:
        limits = {spec.name.split(":")[0]: spec for spec in counters_for("x")}
        for (_, name, _, _), (count, amount) in self.model.counters.items():
            spec = limits[name.split(":")[0]]
            assert 0 <= count <= (spec.max_count or count)
            assert 0 <= amount <= (spec.max_amount or amount)

    def teardown(self) -> None:
        self.store.close()
        self._cleanup()


def _memory() -> tuple[Store, Callable[[], None]]:
    return MemoryStore(), lambda: None


def _sqlite() -> tuple[Store, Callable[[], None]]:
    folder = tempfile.mkdtemp(prefix="graylib-stateful-")
    return SQLiteStore(Path(folder) / "s.db"), lambda: shutil.rmtree(folder)


def _machine_on(open_store: Callable[[], tuple[Store, Callable[[], None]]]) -> type[StoreMachine]:
    """A StoreMachine class whose instances open their store with ``open_store``.

    run_state_machine_as_test is typed to take a class, not any factory; a subclass per store is one.
    """

    class BoundStoreMachine(StoreMachine):
        def __init__(self) -> None:
            super().__init__(open_store)

    return BoundStoreMachine


SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("open_store", [_memory, _sqlite], ids=["memory", "sqlite"])
def test_store_agrees_with_the_model(open_store: Callable[[], tuple[Store, Callable[[], None]]]) -> None:
    run_state_machine_as_test(_machine_on(open_store), settings=SETTINGS)


@pytest.mark.redis
def test_redis_store_agrees_with_the_model(redis_server: RedisServer) -> None:
    def open_store() -> tuple[Store, Callable[[], None]]:
        return RedisStore(redis_server.url, prefix=unique_prefix(), initialise=True), lambda: None

    run_state_machine_as_test(_machine_on(open_store), settings=SETTINGS)
