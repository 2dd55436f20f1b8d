"""LimitPlan: a rule's limits, prepared once per snapshot, turned into one ReserveRequest per payment."""

from __future__ import annotations

from typing import Any

import pytest

from graylib import Client, Decision, Reason, load_config
from graylib._limits import LimitPlan, decode_decision, encode_decision
from graylib.stores import CounterSpec
from tests.claims_support import CLUSTER, RULE, limited_config, payment

ALL_LIMITS = {
    "per_account": {"count": 3, "amount": 100_000, "window": "1d"},
    "per_ip": {"count": 50, "window": "1h"},
    "per_device": {"count": 5},
    "per_merchant": {"amount": 7_000, "window": "5m"},
    "per_region": {"amount": 50_000_000, "window": "1d"},
    "total": {"amount": 2_000_000_000},
    "rate_alarm": {"amount": 5_000_000, "window": "1m"},
}
FULL = payment("pay-1", ip="203.0.113.7", device="dev-9", merchant="m-3", region="CN-31")


def _plan(limits: dict[str, object] | None) -> LimitPlan:
    (rule,) = load_config(limited_config(limits)).rules
    return LimitPlan(rule)


def _decision(discount: int = 100) -> Decision:
    return Decision(applies=True, reason=Reason.APPLIES_ROLLOUT, discount=discount, rule_id=RULE, bucket=7)


def test_one_counter_per_limit_in_reservation_order() -> None:
    plan = _plan(ALL_LIMITS)
    request = plan.request(FULL, _decision(), 1_700_000_000.0, shadow=False)
    assert not isinstance(request, str)
    assert request.counters == (
        CounterSpec("per_account:u-1", 86_400, 3, 100_000),
        CounterSpec("per_ip:203.0.113.7", 3_600, 50, None),
        CounterSpec("per_device:dev-9", 0, 5, None),
        CounterSpec("per_merchant:m-3", 300, None, 7_000),
        CounterSpec("per_region:CN-31", 86_400, None, 50_000_000),
        CounterSpec("total", 0, None, 2_000_000_000),
    )
    assert (request.rule_id, request.payment_id, request.amount, request.now) == (RULE, "pay-1", 100, 1.7e9)
    assert (request.alarm_amount, request.alarm_window, request.shadow) == (5_000_000, 60, False)


def test_what_does_not_depend_on_the_payment_is_built_once() -> None:
    plan = _plan(ALL_LIMITS)
    first = plan.request(FULL, _decision(), 1.0, shadow=False)
    second = plan.request(
        payment("pay-2", account="u-2", ip="192.0.2.1", device="d", merchant="m", region="r"),
        _decision(),
        1.0,
        shadow=True,
    )
    assert not isinstance(first, str) and not isinstance(second, str)
    assert first.counters[-1] is second.counters[-1]  # the total counter is one object
    assert second.shadow


@pytest.mark.parametrize("field", ["ip", "device", "merchant", "region"])
def test_a_limit_on_a_missing_field_refuses_and_names_it(field: str) -> None:
    present: dict[str, Any] = {"ip": "203.0.113.7", "device": "dev-9", "merchant": "m-3", "region": "CN-31"}
    missing = payment("pay-1", **{f: value for f, value in present.items() if f != field})
    answer = _plan(ALL_LIMITS).request(missing, _decision(), 1.0, shadow=False)
    assert answer == f"per_{field}: the payment has no {field}, so the limit cannot count it"


def test_a_field_of_the_wrong_type_counts_as_missing() -> None:
    odd = payment("p", ip=123)
    answer = _plan({"per_ip": {"count": 1}}).request(odd, _decision(), 1.0, shadow=False)
    assert isinstance(answer, str) and "no ip" in answer


@pytest.mark.parametrize(
    ("ips", "counted"),
    [
        (["2001:db8::1", "2001:DB8:0:0::1", "2001:db8:0:0:0:0:0:1", " 2001:db8::1 "], "2001:db8::/64"),
        (["2001:db8::1", "2001:db8::ffff:1", "2001:db8:0:0:abcd::7"], "2001:db8::/64"),  # one /64
        (["1.2.3.4", "::ffff:1.2.3.4", "::FFFF:102:304", " 1.2.3.4"], "1.2.3.4"),
    ],
)
def test_per_ip_counts_one_canonical_address_however_it_is_written(ips: list[str], counted: str) -> None:
    plan = _plan({"per_ip": {"count": 5, "window": "1h"}})
    names = set()
    for ip in ips:
        request = plan.request(payment("p", ip=ip), _decision(), 1.0, shadow=False)
        assert not isinstance(request, str)
        names.add(request.counters[0].name)
    assert names == {f"per_ip:{counted}"}


def test_per_ip_keeps_other_64s_and_addresses_apart() -> None:
    plan = _plan({"per_ip": {"count": 5}})
    names = set()
    for ip in ["2001:db8::1", "2001:db8:0:1::1", "1.2.3.4", "1.2.3.5"]:
        request = plan.request(payment("p", ip=ip), _decision(), 1.0, shadow=False)
        assert not isinstance(request, str)
        names.add(request.counters[0].name)
    assert len(names) == 4


@pytest.mark.parametrize("ip", ["x", "1.2.3", "1.2.3.4.5", "2001:db8::g", "1.2.3.4\x00", "fe80::1%eth0"])
def test_per_ip_refuses_an_ip_that_does_not_parse_and_names_the_field(ip: str) -> None:
    answer = _plan({"per_ip": {"count": 5}}).request(payment("p", ip=ip), _decision(), 1.0, shadow=False)
    assert isinstance(answer, str)
    assert answer.startswith("per_ip: the payment's ip ") and "not an IP address" in answer


def test_fields_without_a_limit_are_not_needed() -> None:
    request = _plan({"total": {"count": 10}}).request(payment("p"), _decision(), 1.0, shadow=False)
    assert not isinstance(request, str)
    assert request.counters == (CounterSpec("total", 0, 10, None),)


def test_guarded_means_a_limit_or_a_rate_alarm() -> None:
    assert not _plan(None).guarded
    assert _plan({"per_account": {"count": 1}}).guarded
    assert _plan({"rate_alarm": {"amount": 10, "window": "1m"}}).guarded
    unguarded = _plan(None).request(payment("p"), _decision(), 1.0, shadow=False)
    assert not isinstance(unguarded, str) and unguarded.counters == () and unguarded.alarm_amount is None


def _fingerprint(ctx: object) -> str:
    request = _plan(None).request(ctx, _decision(), 1.0, shadow=False)  # type: ignore[arg-type]
    assert not isinstance(request, str)
    return request.fingerprint


def test_fingerprint_is_the_payment_not_where_it_came_from() -> None:
    base = _fingerprint(payment("p", ip="1.1.1.1", device="a", region="CN-31", merchant="m"))
    assert base == _fingerprint(payment("p", ip="2.2.2.2", device="b", region="CN-11", merchant="m"))
    assert base != _fingerprint(payment("p", account="u-2", ip="1.1.1.1", merchant="m"))
    assert base != _fingerprint(payment("p", amount=10_001, merchant="m"))
    assert base != _fingerprint(payment("p", merchant="m2"))
    # Fields cannot bleed into each other.
    assert _fingerprint(payment("p", account="a,b")) != _fingerprint(payment("p", account="a", merchant="b"))


def test_payload_round_trips_the_decision_exactly() -> None:
    decision = Decision(
        applies=False,
        reason=Reason.SHADOW,
        discount=8_100,
        rule_id=RULE,
        rule_version="v1",
        stage="full",
        bucket=123_456,
        detail="would apply (APPLIES_ROLLOUT)",
    )
    assert decode_decision(encode_decision(decision)) == decision
    request = _plan(None).request(payment("p"), decision, 1.0, shadow=True)
    assert not isinstance(request, str)
    assert decode_decision(request.payload) == decision
    assert len(request.payload) < 200  # compact: no indentation, no spaces


def test_full_names_the_counter_and_its_caps() -> None:
    plan = _plan(ALL_LIMITS)
    detail = "limit reached: per_account:u-1 is full (count 3, amount 100000, per 1d)"
    assert plan.full("per_account:u-1") == detail
    assert plan.full("total") == "limit reached: total is full (amount 2000000000, lifetime)"
    assert plan.full("something:else") == "limit reached: something:else is full"


def test_the_client_builds_each_plan_once_per_snapshot() -> None:
    client = Client(limited_config({"total": {"count": 10}}), cluster=CLUSTER)
    snapshot = client.snapshot
    plan = snapshot.rules[RULE].plan
    assert plan is not None and snapshot.rules[RULE].plan is plan
    assert "no-such-rule" not in snapshot.rules
    other = Client(limited_config({"total": {"count": 10}}), cluster=CLUSTER).snapshot
    rebuilt = other.rules[RULE].plan
    assert rebuilt is not None and rebuilt is not plan  # a new snapshot gets new plans


def test_the_request_carries_the_rules_end_so_stores_can_drop_its_lifetime_counters() -> None:
    import datetime as dt

    (ending,) = load_config(
        limited_config({"per_account": {"count": 1}}, ends_at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    ).rules
    request = LimitPlan(ending).request(FULL, _decision(), 1_700_000_000.0, shadow=False)
    assert not isinstance(request, str)
    assert request.ends_at == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    endless = _plan({"per_account": {"count": 1}}).request(FULL, _decision(), 1_700_000_000.0, shadow=False)
    assert not isinstance(endless, str)
    assert endless.ends_at is None
