"""One evaluation case for every reason, plus the odd inputs that must fail closed without raising."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graylib import Client, Context, Reason, bucket
from graylib._bucketing import threshold
from tests.helpers import make_config

IN_STAGE = {"cluster": "sh-small", "node": "sh-small-02"}


def client(*rules: dict[str, Any], cluster: str = "sh-small", node: str = "sh-small-02") -> Client:
    return Client(make_config(*rules), cluster=cluster, node=node)


def ctx(**kw: Any) -> Context:
    base: dict[str, Any] = {
        "account": "u-1",
        "payment_type": "online_purchase",
        "amount": 54_000,
        "payment_id": "p-1",
        "region": "CN-31",
        "ip": "203.0.113.7",
    }
    base.update(kw)
    return Context(**base)


def test_applies_rollout() -> None:
    d = client().evaluate("subsidy", ctx())
    assert d.applies and d.reason is Reason.APPLIES_ROLLOUT
    assert d.discount == 8_100
    assert d.rule_id == "subsidy" and d.rule_version == "test-1" and d.stage == "small-cluster"
    assert d.bucket == bucket("subsidy", "u-1")


def test_applies_allowlisted_outside_the_stage() -> None:
    c = client(cluster="bj-big", node="bj-big-09")
    assert c.evaluate("subsidy", ctx()).reason is Reason.OUT_OF_STAGE
    d = c.evaluate("subsidy", ctx(account="qa-smoke-01"))
    assert d.applies and d.reason is Reason.APPLIES_ALLOWLISTED and d.discount == 8_100


def test_unknown_rule() -> None:
    d = client().evaluate("nope", ctx())
    assert not d.applies and d.reason is Reason.UNKNOWN_RULE and d.rule_id == "nope"


def test_killed_by_state() -> None:
    assert client({"state": "killed"}).evaluate("subsidy", ctx()).reason is Reason.KILLED


def test_killed_by_switch_and_revived() -> None:
    c = client()
    c.kill("subsidy", reason="wrong amount")
    d = c.evaluate("subsidy", ctx())
    assert d.reason is Reason.KILLED and "wrong amount" in d.detail
    assert c.revive("subsidy") is True
    assert c.evaluate("subsidy", ctx()).applies


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"starts_at": "2999-01-01T00:00:00+00:00"}, Reason.NOT_ACTIVE),
        ({"ends_at": "2000-01-01T00:00:00+00:00"}, Reason.NOT_ACTIVE),
        (
            {"starts_at": "2000-01-01T00:00:00+00:00", "ends_at": "2999-01-01T00:00:00+00:00"},
            Reason.APPLIES_ROLLOUT,
        ),
    ],
)
def test_schedule(schedule: dict[str, str], expected: Reason) -> None:
    assert client(schedule).evaluate("subsidy", ctx()).reason is expected


@pytest.mark.parametrize(
    ("deny", "kw"),
    [
        ({"accounts": ["u-1"]}, {}),
        ({"ips": ["203.0.113.0/24"]}, {}),
        ({"ips": ["203.0.113.7"]}, {}),
        ({"ips": ["203.0.113.0/24"]}, {"ip": "::ffff:203.0.113.9"}),
        ({"ips": ["2001:db8::/32"]}, {"ip": "2001:db8::1"}),
        ({"devices": ["dev-9"]}, {"device": "dev-9"}),
        ({"merchants": ["m-9"]}, {"merchant": "m-9"}),
        ({"regions": ["CN-31"]}, {}),
    ],
)
def test_denylisted(deny: dict[str, list[str]], kw: dict[str, str]) -> None:
    d = client({"deny": deny}).evaluate("subsidy", ctx(**kw))
    assert d.reason is Reason.DENYLISTED and not d.applies and d.detail


def test_deny_beats_allow() -> None:
    d = client({"deny": {"accounts": ["qa-smoke-01"]}}).evaluate("subsidy", ctx(account="qa-smoke-01"))
    assert d.reason is Reason.DENYLISTED


def test_ip_outside_deny_range_passes_and_missing_ip_is_not_a_match() -> None:
    c = client({"deny": {"ips": ["198.51.100.0/24"]}})
    assert c.evaluate("subsidy", ctx(ip="198.51.101.1")).applies
    assert c.evaluate("subsidy", ctx(ip="")).applies


def test_malformed_ip_against_an_ip_deny_list_fails_closed() -> None:
    d = client({"deny": {"ips": ["198.51.100.0/24"]}}).evaluate("subsidy", ctx(ip="not-an-ip"))
    assert not d.applies and d.reason is Reason.ERROR and "malformed" in d.detail


def test_payment_type() -> None:
    d = client().evaluate("subsidy", ctx(payment_type="p2p_transfer", account="qa-smoke-01"))
    assert d.reason is Reason.PAYMENT_TYPE


def test_region() -> None:
    c = client({"regions": ["CN-11"]})
    assert c.evaluate("subsidy", ctx()).reason is Reason.REGION
    assert c.evaluate("subsidy", ctx(region="CN-11")).applies
    assert c.evaluate("subsidy", ctx(region="")).reason is Reason.REGION


@pytest.mark.parametrize("amount", [0, -5, 9_999, 54.5, None, "100", True])
def test_not_eligible_amounts(amount: Any) -> None:
    c = client({"min_amount": 10_000})
    d = c.evaluate("subsidy", ctx(amount=amount))
    assert not d.applies and d.reason is Reason.NOT_ELIGIBLE


def test_max_amount() -> None:
    d = client({"max_amount": 1_000}).evaluate("subsidy", ctx(amount=1_001))
    assert d.reason is Reason.NOT_ELIGIBLE and "max_amount" in d.detail


@pytest.mark.parametrize("account", ["", None, 42])
def test_no_account_is_never_bucketed(account: Any) -> None:
    d = client().evaluate("subsidy", ctx(account=account))
    assert d.reason is Reason.NOT_ELIGIBLE and d.bucket == -1


def test_out_of_stage() -> None:
    d = client(cluster="bj-big", node="bj-big-01").evaluate("subsidy", ctx())
    assert d.reason is Reason.OUT_OF_STAGE


def test_out_of_rollout_and_in_rollout_match_the_bucket() -> None:
    rollout = {"stage": "everywhere-25", "stages": make_config()["rules"][0]["rollout"]["stages"]}
    c = client({"rollout": rollout}, cluster="bj-big", node="bj-big-01")
    seen = set()
    for i in range(400):
        account = f"acct-{i}"
        d = c.evaluate("subsidy", ctx(account=account))
        inside = bucket("subsidy", account) < threshold(25)
        assert d.applies is inside
        assert d.reason is (Reason.APPLIES_ROLLOUT if inside else Reason.OUT_OF_ROLLOUT)
        assert d.bucket == bucket("subsidy", account)
        seen.add(d.reason)
    assert seen == {Reason.APPLIES_ROLLOUT, Reason.OUT_OF_ROLLOUT}


def test_zero_percent_target_is_in_stage_but_out_of_rollout() -> None:
    stages = [{"name": "s", "targets": {"sh-small": 0}}]
    d = client({"rollout": {"stage": "s", "stages": stages}}).evaluate("subsidy", ctx())
    assert d.reason is Reason.OUT_OF_ROLLOUT


def test_limit_reached_needs_a_claim_and_shadow_shows_the_discount() -> None:
    d = client({"state": "shadow"}).evaluate("subsidy", ctx())
    assert not d.applies and d.reason is Reason.SHADOW and d.discount == 8_100


def test_error_on_a_context_of_the_wrong_type() -> None:
    d = client().evaluate("subsidy", None)  # type: ignore[arg-type]
    assert not d.applies and d.reason is Reason.ERROR and d.detail


def test_unhashable_values_fail_closed() -> None:
    d = client().evaluate("subsidy", ctx(payment_type=["online_purchase"]))
    assert not d.applies and d.reason is Reason.ERROR


def test_context_can_name_another_node() -> None:
    c = client(cluster="bj-big", node="bj-big-01")
    assert c.evaluate("subsidy", ctx()).reason is Reason.OUT_OF_STAGE
    assert c.evaluate("subsidy", ctx(**IN_STAGE)).applies
    assert c.evaluate("subsidy", ctx(cluster="sh-small")).applies
    canary = {"stage": "canary-node", "stages": make_config()["rules"][0]["rollout"]["stages"]}
    c2 = client({"rollout": canary}, cluster="sh-small", node="sh-small-01")
    assert c2.evaluate("subsidy", ctx()).applies
    assert c2.evaluate("subsidy", ctx(node="sh-small-02")).reason is Reason.OUT_OF_STAGE


def test_discounts() -> None:
    c = client({"discount": {"percent": 15, "max_off": 50_000}})
    assert c.evaluate("subsidy", ctx(amount=1_000_000)).discount == 50_000  # capped
    assert c.evaluate("subsidy", ctx(amount=99)).discount == 14  # 14.85 rounds down
    assert c.evaluate("subsidy", ctx(amount=6)).reason is Reason.NOT_ELIGIBLE  # 0.9 -> 0
    fixed = client({"discount": {"amount": 2_000}})
    assert fixed.evaluate("subsidy", ctx(amount=1_500)).discount == 1_500  # never above the amount
    assert fixed.evaluate("subsidy", ctx(amount=54_000)).discount == 2_000


REASONS_COVERED = {
    Reason.APPLIES_ALLOWLISTED,
    Reason.APPLIES_ROLLOUT,
    Reason.UNKNOWN_RULE,
    Reason.KILLED,
    Reason.NOT_ACTIVE,
    Reason.DENYLISTED,
    Reason.PAYMENT_TYPE,
    Reason.REGION,
    Reason.NOT_ELIGIBLE,
    Reason.OUT_OF_STAGE,
    Reason.OUT_OF_ROLLOUT,
    Reason.SHADOW,
    Reason.ERROR,
}


def test_every_reason_but_limits_has_a_case_here() -> None:
    assert set(Reason) - REASONS_COVERED == {Reason.LIMIT_REACHED}  # claims are tested with the stores


_values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=300),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    account=_values,
    payment_type=st.one_of(_values, st.sampled_from(["online_purchase"])),
    amount=_values,
    region=_values,
    ip=_values,
    device=_values,
    merchant=_values,
    cluster=_values,
    node=_values,
)
def test_evaluate_never_raises(**fields: Any) -> None:
    c = _FUZZ_CLIENT
    d = c.evaluate("subsidy", Context(**fields))
    assert d.reason in set(Reason)
    if d.applies:
        assert isinstance(d.discount, int) and 0 < d.discount <= fields["amount"]


_FUZZ_CLIENT = client({"deny": {"ips": ["198.51.100.0/24"], "accounts": ["bad"], "devices": ["d"]}})


def test_a_rule_without_max_amount_has_no_upper_bound() -> None:
    huge = (1 << 62) + 1
    d = client({"discount": {"percent": 15, "max_off": 50_000}}).evaluate("subsidy", ctx(amount=huge))
    assert d.applies and d.reason is Reason.APPLIES_ROLLOUT and d.discount == 50_000
    fixed = client({"discount": {"amount": 2_000}}).evaluate("subsidy", ctx(amount=10**30))
    assert fixed.applies and fixed.discount == 2_000
    bounded = client({"max_amount": 1_000}).evaluate("subsidy", ctx(amount=huge))
    assert bounded.reason is Reason.NOT_ELIGIBLE and "max_amount" in bounded.detail


def test_a_discount_that_rounds_to_zero_reports_the_bucket() -> None:
    d = client().evaluate("subsidy", ctx(amount=6))  # 15% of 6 is 0.9, rounded down to 0
    assert d.reason is Reason.NOT_ELIGIBLE and "rounds down to 0" in d.detail
    assert d.bucket == bucket("subsidy", "u-1")


def test_a_context_naming_its_node_by_something_other_than_text_is_in_no_stage() -> None:
    full = {"stage": "full", "stages": make_config()["rules"][0]["rollout"]["stages"]}
    c = client({"rollout": full})
    assert c.evaluate("subsidy", ctx(cluster="anywhere")).applies  # "*" = 100
    odd_names: list[dict[str, Any]] = [{"cluster": 123}, {"cluster": b"sh-small"}, {"node": 7}, {"node": 1.5}]
    for odd in odd_names:
        d = c.evaluate("subsidy", ctx(**odd))
        assert not d.applies and d.reason is Reason.OUT_OF_STAGE


def test_the_per_node_threshold_cache_stays_bounded() -> None:
    from graylib._evaluate import _CACHED_NAME_MAX, _THRESHOLD_CACHE_SIZE

    c = client({"rollout": {"stage": "full", "stages": make_config()["rules"][0]["rollout"]["stages"]}})
    rule = c.snapshot.rules["subsidy"]
    cache = rule._stage_thresholds._cache
    for i in range(_THRESHOLD_CACHE_SIZE + 10):
        assert c.evaluate("subsidy", ctx(cluster="c", node=f"n-{i}")).applies
        assert len(cache) <= _THRESHOLD_CACHE_SIZE
    cache.clear()
    long_name = "n" * (_CACHED_NAME_MAX + 1)
    assert c.evaluate("subsidy", ctx(cluster="c", node=long_name)).applies  # judged, not kept
    assert not cache
    assert c.evaluate("subsidy", ctx(cluster="c", node="short")).applies
    assert ("c", "short") in cache
