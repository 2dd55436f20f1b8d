"""One meaning for every store: the same suite runs against MemoryStore, SQLiteStore and RedisStore."""

from __future__ import annotations

from graylib.stores import (
    KillSwitch,
    ReleaseResult,
    ReserveStatus,
    RuleStats,
    Store,
)
from graylib.stores._common import MAX_AMOUNT
from tests.stores.support import T0, counter, request

GRANTED = ReserveStatus.GRANTED


def test_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_grant_then_replay_returns_the_first_payload_and_counts_once(store: Store) -> None:
    total = counter("total", count=2)
    first = request(total, payment="p-1", payload="first decision: 1500 off")
    assert store.reserve(first).status is GRANTED
    replay = store.reserve(request(total, payment="p-1", payload="second decision"))
    assert replay.status is ReserveStatus.REPLAYED
    assert replay.payload == "first decision: 1500 off"
    assert store.stats("rule-1") == RuleStats(granted_count=1, granted_amount=1_000)
    # Only one of the two count slots was used.
    assert store.reserve(request(total)).status is GRANTED
    assert store.reserve(request(total)).status is ReserveStatus.LIMIT_REACHED


def test_same_payment_id_with_another_fingerprint_is_a_mismatch(store: Store) -> None:
    total = counter("total", count=5)
    assert store.reserve(request(total, payment="p-1", fingerprint="u-1/1000")).status is GRANTED
    result = store.reserve(request(total, payment="p-1", fingerprint="u-2/9999"))
    assert result.status is ReserveStatus.MISMATCH
    assert store.stats("rule-1").granted_count == 1


def test_payment_ids_are_per_rule(store: Store) -> None:
    assert store.reserve(request(rule_id="a", payment="p-1")).status is GRANTED
    assert store.reserve(request(rule_id="b", payment="p-1", fingerprint="other")).status is GRANTED


def test_count_limit_names_the_counter(store: Store) -> None:
    account = counter("per_account:u-1", 86_400, count=2)
    for _ in range(2):
        assert store.reserve(request(account)).status is GRANTED
    result = store.reserve(request(account))
    assert result.status is ReserveStatus.LIMIT_REACHED
    assert result.limit == "per_account:u-1"


def test_amount_limit_allows_exactly_up_to_the_cap(store: Store) -> None:
    total = counter("total", amount=2_500)
    assert store.reserve(request(total, amount=1_000)).status is GRANTED
    assert store.reserve(request(total, amount=1_500)).status is GRANTED
    result = store.reserve(request(total, amount=1))
    assert (result.status, result.limit) == (ReserveStatus.LIMIT_REACHED, "total")
    assert store.reserve(request(total, amount=0)).status is GRANTED


def test_a_refusal_counts_nothing_on_the_counters_that_fitted(store: Store) -> None:
    roomy = counter("per_region:CN-31", 3600, amount=10_000)
    tight = counter("per_account:u-1", 3600, count=1)
    assert store.reserve(request(roomy, tight, amount=4_000)).status is GRANTED
    for _ in range(3):  # refused by the tight counter: the roomy one must not move
        assert store.reserve(request(roomy, tight, amount=4_000)).status is ReserveStatus.LIMIT_REACHED
    assert store.reserve(request(roomy, amount=6_000)).status is GRANTED
    assert store.reserve(request(roomy, amount=1)).status is ReserveStatus.LIMIT_REACHED
    assert store.stats("rule-1").granted_count == 2


def test_unlimited_dimensions(store: Store) -> None:
    free = counter("per_ip:203.0.113.7", 60)
    for _ in range(20):
        assert store.reserve(request(free, amount=10**12)).status is GRANTED


def test_windows_roll_over_with_now(store: Store) -> None:
    minute = counter("per_account:u-1", 60, count=1)
    assert store.reserve(request(minute, now=T0)).status is GRANTED
    assert store.reserve(request(minute, now=T0 + 59.999)).status is ReserveStatus.LIMIT_REACHED
    assert store.reserve(request(minute, now=T0 + 60)).status is GRANTED
    assert store.reserve(request(minute, now=T0 + 119)).status is ReserveStatus.LIMIT_REACHED
    assert store.reserve(request(minute, now=T0 + 3600)).status is GRANTED


def test_windows_are_aligned_to_the_epoch(store: Store) -> None:
    minute = counter("per_account:u-1", 60, count=1)
    assert store.reserve(request(minute, now=T0 + 50)).status is GRANTED
    # Ten seconds later is the next aligned window, although 60 s have not passed since the grant.
    assert store.reserve(request(minute, now=T0 + 60)).status is GRANTED


def test_lifetime_counters_never_roll_over(store: Store) -> None:
    total = counter("total", count=1)
    assert store.reserve(request(total, now=T0)).status is GRANTED
    assert store.reserve(request(total, now=T0 + 86_400 * 5)).status is ReserveStatus.LIMIT_REACHED


def test_release_gives_the_budget_back_once(store: Store) -> None:
    total = counter("total", count=1, amount=1_000)
    assert store.reserve(request(total, payment="p-1")).status is GRANTED
    assert store.reserve(request(total)).status is ReserveStatus.LIMIT_REACHED
    assert store.release("rule-1", "p-1", T0 + 1) == ReleaseResult(True, 1_000)
    again = store.release("rule-1", "p-1", T0 + 2)
    assert (again.released, again.amount) == (False, 0)
    assert "p-1" in again.detail
    assert store.stats("rule-1") == RuleStats()
    assert store.reserve(request(total, payment="p-2")).status is GRANTED
    assert store.reserve(request(total)).status is ReserveStatus.LIMIT_REACHED


def test_a_released_payment_id_counts_afresh(store: Store) -> None:
    total = counter("total", count=5)
    assert store.reserve(request(total, payment="p-1", payload="one")).status is GRANTED
    assert store.release("rule-1", "p-1", T0).released
    result = store.reserve(request(total, payment="p-1", fingerprint="changed", payload="two"))
    assert result.status is GRANTED
    assert store.reserve(request(total, payment="p-1", fingerprint="changed")).payload == "two"
    assert store.stats("rule-1").granted_count == 1


def test_release_of_an_unknown_payment_is_a_no_op(store: Store) -> None:
    result = store.release("rule-1", "never-seen", T0)
    assert result == ReleaseResult(False, 0, result.detail)
    assert "never-seen" in result.detail


def test_release_after_the_window_rolled_leaves_the_new_window_alone(store: Store) -> None:
    minute = counter("per_account:u-1", 60, count=1)
    assert store.reserve(request(minute, payment="old", now=T0)).status is GRANTED
    assert store.reserve(request(minute, payment="new", now=T0 + 60)).status is GRANTED
    assert store.release("rule-1", "old", T0 + 61).released
    # The new window's count of one is untouched: still full.
    assert store.reserve(request(minute, now=T0 + 62)).status is ReserveStatus.LIMIT_REACHED


def test_shadow_claims_have_their_own_counters_records_and_stats(store: Store) -> None:
    total = counter("total", count=1)
    assert store.reserve(request(total, payment="p-1", shadow=True, amount=700)).status is GRANTED
    assert store.reserve(request(total, payment="p-2", shadow=True)).status is ReserveStatus.LIMIT_REACHED
    # The real namespace has its own budget and records: the same payment id is new there.
    assert store.reserve(request(total, payment="p-1", fingerprint="other")).status is GRANTED
    assert store.stats("rule-1") == RuleStats(1, 1_000, 1, 700)
    # release looks for the real reservation first, then the shadow one.
    assert store.release("rule-1", "p-1", T0) == ReleaseResult(True, 1_000)
    assert store.release("rule-1", "p-1", T0) == ReleaseResult(True, 700)
    assert store.stats("rule-1") == RuleStats()


def test_kill_switch_refuses_real_claims_but_not_shadow_ones(store: Store) -> None:
    store.kill("rule-1", "operator: wrong discount", T0)
    result = store.reserve(request(counter("total")))
    assert result.status is ReserveStatus.KILLED
    assert store.reserve(request(counter("total"), shadow=True)).status is GRANTED
    assert store.stats("rule-1") == RuleStats(0, 0, 1, 1_000)
    assert store.reserve(request(counter("total"), rule_id="rule-2")).status is GRANTED


def test_kill_is_idempotent_and_keeps_the_first_reason(store: Store) -> None:
    store.kill("rule-1", "first", T0)
    store.kill("rule-1", "second", T0 + 5)
    store.kill("rule-2", "other", T0 + 1)
    assert store.kill_switches() == {
        "rule-1": KillSwitch("rule-1", "first", T0),
        "rule-2": KillSwitch("rule-2", "other", T0 + 1),
    }
    assert store.revive("rule-1") is True
    assert store.revive("rule-1") is False
    assert store.revive("never-killed") is False
    assert set(store.kill_switches()) == {"rule-2"}
    assert store.reserve(request(counter("total"))).status is GRANTED


def test_a_killed_rule_still_replays_what_it_granted_but_takes_nothing_new(store: Store) -> None:
    total = counter("total", amount=10_000)
    assert store.reserve(request(total, payment="p-1", payload="first")).status is GRANTED
    store.kill("rule-1", "stop", T0)
    replay = store.reserve(request(total, payment="p-1", payload="second"))
    assert (replay.status, replay.payload) == (ReserveStatus.REPLAYED, "first")
    assert store.reserve(request(total, payment="p-1", fingerprint="other")).status is ReserveStatus.MISMATCH
    assert store.reserve(request(total, payment="p-2")).status is ReserveStatus.KILLED
    assert store.stats("rule-1") == RuleStats(1, 1_000)  # the replay counted nothing
    assert store.release("rule-1", "p-1", T0).released  # refunds still work on a killed rule
    assert store.reserve(request(total, payment="p-1")).status is ReserveStatus.KILLED  # released: new again


def test_rate_alarm_trips_the_kill_switch_and_counts_nothing(store: Store) -> None:
    total = counter("total", amount=10**9)
    for _ in range(3):
        result = store.reserve(request(total, amount=1_500, alarm_amount=5_000, now=T0 + 10))
        assert result.status is GRANTED
    tripped = store.reserve(request(total, amount=1_500, alarm_amount=5_000, now=T0 + 20))
    reason = "rate_alarm: granting 1500 would take 6000 past 5000 within 60s"
    assert (tripped.status, tripped.limit, tripped.detail) == (
        ReserveStatus.ALARM_TRIPPED,
        "rate_alarm",
        reason,
    )
    assert store.kill_switches() == {"rule-1": KillSwitch("rule-1", reason, T0 + 20)}
    assert store.stats("rule-1") == RuleStats(3, 4_500)
    assert (
        store.reserve(request(total, amount=1, alarm_amount=5_000, now=T0 + 21)).status
        is ReserveStatus.KILLED
    )


def test_rate_alarm_measures_grants_in_the_trailing_window(store: Store) -> None:
    for now in (T0, T0 + 59, T0 + 61):  # T0 + 61: the grant at T0 has left the last 60 s
        assert store.reserve(request(amount=2_500, alarm_amount=5_000, now=now)).status is GRANTED
    # At T0 + 119 the last 60 s hold the grants of T0 + 59 and T0 + 61: 5,000, full.
    assert (
        store.reserve(request(amount=1, alarm_amount=5_000, now=T0 + 119)).status
        is ReserveStatus.ALARM_TRIPPED
    )


def test_releases_do_not_hide_a_runaway_from_the_rate_alarm(store: Store) -> None:
    assert store.reserve(request(payment="p-1", amount=4_000, alarm_amount=5_000)).status is GRANTED
    assert store.release("rule-1", "p-1", T0 + 1).released
    result = store.reserve(request(amount=4_000, alarm_amount=5_000, now=T0 + 2))
    assert result.status is ReserveStatus.ALARM_TRIPPED
    assert "would take 8000 past 5000" in result.detail


def test_shadow_claims_never_trip_the_alarm(store: Store) -> None:
    for _ in range(5):
        result = store.reserve(request(amount=4_000, alarm_amount=5_000, shadow=True))
        assert result.status is GRANTED
    assert store.kill_switches() == {}


def test_lifetime_rate_alarm(store: Store) -> None:
    assert store.reserve(request(amount=3_000, alarm_amount=5_000, alarm_window=0)).status is GRANTED
    late = store.reserve(request(amount=3_000, alarm_amount=5_000, alarm_window=0, now=T0 + 10**6))
    assert late.status is ReserveStatus.ALARM_TRIPPED
    assert late.detail.endswith("over the rule's lifetime")


def test_text_round_trips_unchanged(store: Store) -> None:
    payload = '{"discount": 8100, "reason": "APPLIES_ROLLOUT", "note": "满减 \u2013 ok\\n"}'
    name = "per_merchant:商户:7/{x}"
    assert store.reserve(request(counter(name, count=1), payment="支付-1", payload=payload)).status is GRANTED
    assert store.reserve(request(counter(name, count=1), payment="支付-1")).payload == payload
    assert store.reserve(request(counter(name, count=1))).limit == name
    assert store.release("rule-1", "支付-1", T0).released


def test_stats_of_an_unknown_rule_are_zero(store: Store) -> None:
    assert store.stats("nobody") == RuleStats()


def test_counters_of_one_name_with_different_windows_count_apart(store: Store) -> None:
    # Two clients sharing a store may disagree on a limit's window while a config change rolls out.
    day = T0 - T0 % 86_400
    hourly = counter("per_account:u-1", 3_600, count=1)
    daily = counter("per_account:u-1", 86_400, count=1)
    lifetime = counter("per_account:u-1", count=1)
    for spec in (hourly, daily, lifetime):
        assert store.reserve(request(spec, payment=f"p-{spec.window}", now=day)).status is GRANTED
    for spec in (hourly, daily, lifetime, hourly):
        assert store.reserve(request(spec, now=day)).status is ReserveStatus.LIMIT_REACHED
    # Releasing the hourly claim gives back the hourly window only, though the daily one starts alike.
    assert store.release("rule-1", "p-3600", day).released
    assert store.reserve(request(daily, now=day)).status is ReserveStatus.LIMIT_REACHED
    assert store.reserve(request(hourly, now=day)).status is GRANTED


def test_rate_alarms_of_different_windows_count_apart(store: Store) -> None:
    for window in (60, 3_600, 60, 3_600):
        result = store.reserve(request(amount=2_000, alarm_amount=5_000, alarm_window=window))
        assert result.status is GRANTED
    result = store.reserve(request(amount=2_000, alarm_amount=5_000, alarm_window=60))
    assert result.status is ReserveStatus.ALARM_TRIPPED


def test_a_claim_stamped_before_the_window_ended_still_sees_the_window_full(store: Store) -> None:
    minute = counter("per_account:u-1", 60, count=1)
    assert store.reserve(request(minute, now=T0)).status is GRANTED
    # Other payments in the next window give the store its chance to tidy up ended windows...
    for i in range(3):
        assert store.reserve(request(counter(f"per_account:u-{i + 2}", 60), now=T0 + 61)).status is GRANTED
    # ...while a claim whose clock read T0 + 59.5 was still on its way (waiting for a lock, a slow link).
    assert store.reserve(request(minute, now=T0 + 59.5)).status is ReserveStatus.LIMIT_REACHED


def test_amounts_up_to_two_to_the_53_count_exactly(store: Store) -> None:
    top = MAX_AMOUNT
    total = counter("total", amount=top)
    free = counter("per_ip:203.0.113.7")  # no caps: its sums may pass 2**53
    assert store.reserve(request(total, free, payment="big", amount=top - 1)).status is GRANTED
    assert store.reserve(request(total, free, payment="one", amount=1)).status is GRANTED
    # The cap is reached exactly: 2**53 - 1 + 1 must not round down to fit.
    result = store.reserve(request(total, free, amount=1))
    assert (result.status, result.limit) == (ReserveStatus.LIMIT_REACHED, "total")
    assert store.reserve(request(free, payment="two", amount=2)).status is GRANTED
    assert store.stats("rule-1") == RuleStats(3, top + 2)
    assert store.release("rule-1", "two", T0) == ReleaseResult(True, 2)
    assert store.stats("rule-1") == RuleStats(2, top)  # 2**53 + 1 - 2, not a rounded neighbour
    assert store.release("rule-1", "one", T0) == ReleaseResult(True, 1)
    assert store.reserve(request(total, payment="last", amount=1)).status is GRANTED
