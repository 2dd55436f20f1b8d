"""MemoryStore specifics: bounded idempotency records, counters that expire by themselves."""

from __future__ import annotations

import pytest

from graylib.stores import MemoryStore, ReserveStatus
from graylib.stores._common import PURGE_BATCH
from tests.stores.support import T0, counter, request

GRANTED = ReserveStatus.GRANTED


def test_records_are_bounded_in_number_oldest_first() -> None:
    store = MemoryStore(max_records=3)
    for i in range(5):
        assert store.reserve(request(payment=f"p-{i}")).status is GRANTED
    # p-0 and p-1 were forgotten: a replay counts again; p-2..p-4 are remembered.
    assert store.reserve(request(payment="p-4")).status is ReserveStatus.REPLAYED
    assert store.reserve(request(payment="p-0")).status is GRANTED
    assert not store.release("rule-1", "p-1", T0).released


def test_records_expire_with_the_callers_clock() -> None:
    store = MemoryStore(record_ttl=100)
    assert store.reserve(request(payment="old", now=T0)).status is GRANTED
    assert store.reserve(request(payment="young", now=T0 + 60)).status is GRANTED
    assert store.reserve(request(payment="old", now=T0 + 99)).status is ReserveStatus.REPLAYED
    # 100 s later the record of "old" is gone: a replay counts again, under any fingerprint.
    assert store.reserve(request(payment="old", now=T0 + 100, fingerprint="new")).status is GRANTED
    assert store.reserve(request(payment="young", now=T0 + 159)).status is ReserveStatus.REPLAYED
    assert not store.release("rule-1", "young", T0 + 160).released
    assert store.release("rule-1", "old", T0 + 160).released


def test_idle_windowed_counters_are_dropped_and_lifetime_ones_kept() -> None:
    store = MemoryStore()
    for i in range(500):
        assert (
            store.reserve(request(counter(f"per_account:u-{i}", 60), counter("total"), now=T0)).status
            is GRANTED
        )
    for _ in range(500 // PURGE_BATCH + 1):  # each claim drops at most PURGE_BATCH idle counters
        assert store.reserve(request(counter("per_account:late", 60), now=T0 + 120)).status is GRANTED
    remaining = set(store._tables[("rule-1", False)].counters)
    assert remaining == {("total", 0), ("per_account:late", 60)}


def test_a_caller_whose_clock_lags_counts_against_the_newer_window() -> None:
    store = MemoryStore()
    minute = counter("per_account:u-1", 60, count=1)
    assert store.reserve(request(minute, now=T0 + 60)).status is GRANTED
    assert store.reserve(request(minute, now=T0 + 59)).status is ReserveStatus.LIMIT_REACHED


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"max_records": 0}, "max_records"), ({"record_ttl": 0}, "record_ttl")]
)
def test_bad_bounds_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MemoryStore(**kwargs)
