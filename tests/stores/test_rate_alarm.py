"""The rate alarm watches every span of its window, not fixed windows: no span grants past it unnoticed.

With fixed windows, a rule could grant its alarm amount at the end of one window and again at the start
of the next: twice the amount within two seconds, and no alert. The alarm now sums the trailing window
(in 60 sub-buckets), identically in every store.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graylib.stores import MemoryStore, ReserveStatus, Store
from graylib.stores._common import ALARM_BUCKETS, alarm_buckets
from tests.stores.support import T0, request

GRANTED = ReserveStatus.GRANTED
TRIPPED = ReserveStatus.ALARM_TRIPPED


@pytest.mark.parametrize("window", [60, 3600, 86_400, 7])
def test_grants_straddling_a_window_boundary_trip_the_alarm(store: Store, window: int) -> None:
    boundary = T0 // 86_400 * 86_400 + 86_400  # a multiple of every window above: a fixed-window boundary
    before = store.reserve(request(amount=600, alarm_amount=1_000, alarm_window=window, now=boundary - 0.5))
    assert before.status is GRANTED
    after = store.reserve(request(amount=600, alarm_amount=1_000, alarm_window=window, now=boundary + 0.5))
    assert after.status is TRIPPED, "1,200 granted within one second passed an alarm of 1,000 unnoticed"
    assert "would take 1200 past 1000 within" in after.detail


def test_a_grant_leaves_the_alarm_once_its_window_and_one_bucket_have_passed(store: Store) -> None:
    assert store.reserve(request(amount=1_000, alarm_amount=1_000, now=T0 + 0.5)).status is GRANTED
    assert store.reserve(request(amount=1, alarm_amount=1_000, now=T0 + 60.4)).status is TRIPPED
    store.revive("rule-1")
    assert store.reserve(request(amount=1, alarm_amount=1_000, now=T0 + 61)).status is GRANTED


def test_the_buckets_never_miss_a_grant_of_the_trailing_window() -> None:
    for window in (1, 7, 59, 60, 61, 3600, 86_400):
        width = -(-window // ALARM_BUCKETS)
        for now in (T0, T0 + 0.25, T0 + window - 0.5, T0 + 12_345.678):
            _, bucket, oldest = alarm_buckets(now, window)
            assert bucket <= now < bucket + width
            # a grant at any time in (now - window, now] lies in a bucket that is summed
            for at in (now - window + 1e-6, now - window / 2, now):
                assert at // width * width >= oldest
            # and the sum spans at most one bucket more than the window
            assert now - oldest <= window + width


Grant = tuple[float, int]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=5, allow_nan=False), st.integers(1, 400)),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([7, 60]),
)
def test_no_span_of_the_window_grants_past_the_alarm_and_every_store_agrees(
    store: Store, steps: list[Grant], window: int
) -> None:
    rule_id = f"alarm-{uuid.uuid4().hex[:8]}"
    reference = MemoryStore()
    now = float(T0)
    granted: list[Grant] = []
    for gap, amount in steps:
        now += gap
        ask = request(rule_id=rule_id, amount=amount, alarm_amount=1_000, alarm_window=window, now=now)
        result, expected = store.reserve(ask), reference.reserve(ask)
        assert result.status is expected.status
        if result.status is GRANTED:
            granted.append((now, amount))
            in_window = sum(got for at, got in granted if now - window < at <= now)
            assert in_window <= 1_000
        elif result.status is TRIPPED:
            assert store.revive(rule_id) and reference.revive(rule_id)
    reference.close()
