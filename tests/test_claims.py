"""Client.claim and Client.release: every answer of the store, over every kind in tests/store_kinds.py."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typing_extensions import override

from graylib import Alert, Client, Context, Decision, MemoryStore, Reason, ReleaseOutcome, Store
from graylib._runtime._served import Served
from graylib.stores import ReleaseResult, ReserveRequest, ReserveResult, RuleStats
from tests.claims_support import (  # noqa: F401 - fixtures
    DISCOUNT,
    RULE,
    client,
    close_clients_fixture,
    limited_config,
    payment,
    shared_spec_fixture,
    store_fixture,
    store_spec_fixture,
)
from tests.helpers import make_config
from tests.store_kinds import StoreSpec, unique_prefix

PER_ACCOUNT_3 = {"per_account": {"count": 3}}


def test_a_grant_is_the_evaluated_decision_and_counts_once(store: Store) -> None:
    c = client(limited_config(PER_ACCOUNT_3), store)
    decision = c.claim(RULE, payment("pay-1"))
    assert decision == c.evaluate(RULE, payment("pay-1"))
    assert decision.applies and decision.discount == DISCOUNT
    assert store.stats(RULE) == RuleStats(1, DISCOUNT)


def test_a_replay_returns_the_first_decision_and_counts_nothing(store: Store) -> None:
    first = client(limited_config(PER_ACCOUNT_3), store).claim(RULE, payment("pay-1", ip="10.0.0.1"))
    # Another client, on another config version, sees the same payment again (from another network).
    later = client(limited_config(PER_ACCOUNT_3, description="v2"), store)
    for _ in range(3):
        assert later.claim(RULE, payment("pay-1", ip="10.0.0.2")) == first
    assert store.stats(RULE) == RuleStats(1, DISCOUNT)
    assert later.claim(RULE, payment("pay-2")).applies  # the replays used none of the account's 3


@pytest.mark.parametrize("changed", [{"account": "u-2"}, {"amount": 20_000}, {"merchant": "m-2"}])
def test_a_payment_id_reused_for_another_payment_is_refused(store: Store, changed: dict[str, object]) -> None:
    c = client(limited_config(PER_ACCOUNT_3), store)
    assert c.claim(RULE, payment("pay-1")).applies
    decision = c.claim(RULE, payment("pay-1", **changed))  # type: ignore[arg-type]
    assert (decision.applies, decision.reason) == (False, Reason.ERROR)
    assert decision.detail.startswith(
        "payment id reused with a different account, amount, payment type or merchant"
    )
    assert store.stats(RULE) == RuleStats(1, DISCOUNT)


def test_a_full_limit_refuses_and_names_the_counter(store: Store) -> None:
    c = client(limited_config({"per_account": {"count": 2}, "total": {"amount": 5 * DISCOUNT}}), store)
    assert all(c.claim(RULE, payment(f"a-{i}")).applies for i in range(2))
    refused = c.claim(RULE, payment("a-3"))
    assert (refused.applies, refused.reason, refused.discount) == (False, Reason.LIMIT_REACHED, 0)
    assert refused.detail == "limit reached: per_account:u-1 is full (count 2, lifetime)"
    assert all(c.claim(RULE, payment(f"b-{i}", account="u-2")).applies for i in range(2))
    assert c.claim(RULE, payment("c-1", account="u-3")).applies
    total = c.claim(RULE, payment("c-2", account="u-3"))
    assert total.reason is Reason.LIMIT_REACHED and total.detail.startswith("limit reached: total is full")
    assert store.stats(RULE) == RuleStats(5, 5 * DISCOUNT)


def test_a_limit_on_a_missing_field_refuses_before_the_store(store: Store) -> None:
    c = client(limited_config({"per_ip": {"count": 5, "window": "1h"}}), store)
    decision = c.claim(RULE, payment("pay-1"))
    assert decision.reason is Reason.LIMIT_REACHED and "no ip" in decision.detail
    assert store.stats(RULE) == RuleStats()
    assert c.claim(RULE, payment("pay-1", ip="203.0.113.7")).applies


def test_per_ip_counts_an_address_however_it_is_written(store: Store) -> None:
    c = client(limited_config({"per_ip": {"count": 2, "window": "1h"}}), store)
    assert c.claim(RULE, payment("v6-1", ip="2001:db8::1")).applies
    assert c.claim(RULE, payment("v6-2", ip="2001:DB8:0:0::1")).applies
    refused = c.claim(RULE, payment("v6-3", ip="2001:db8::2"))  # same /64
    assert refused.reason is Reason.LIMIT_REACHED and "per_ip:2001:db8::/64" in refused.detail
    assert c.claim(RULE, payment("v4-1", ip="1.2.3.4")).applies
    assert c.claim(RULE, payment("v4-2", ip="::ffff:1.2.3.4")).applies
    assert c.claim(RULE, payment("v4-3", ip="1.2.3.4")).reason is Reason.LIMIT_REACHED
    bad = c.claim(RULE, payment("bad-1", ip="not-an-ip"))
    assert bad.reason is Reason.LIMIT_REACHED and "per_ip" in bad.detail and "ip" in bad.detail
    assert store.stats(RULE) == RuleStats(4, 4 * DISCOUNT)


def test_a_limited_rule_needs_a_payment_id(store: Store) -> None:
    decision = client(limited_config(PER_ACCOUNT_3), store).claim(RULE, payment(""))
    assert decision.reason is Reason.ERROR and "needs a payment_id" in decision.detail
    alarm_only = limited_config({"rate_alarm": {"amount": 10_000, "window": "1m"}})
    assert client(alarm_only, store).claim(RULE, payment("")).reason is Reason.ERROR
    assert store.stats(RULE) == RuleStats()


def test_a_rule_without_limits_is_idempotent_by_payment_id(store: Store) -> None:
    c = client(limited_config(), store)
    assert c.claim(RULE, payment("")).applies  # no payment id: nothing to count or remember
    assert store.stats(RULE) == RuleStats()
    first = c.claim(RULE, payment("pay-1"))
    assert first.applies and c.claim(RULE, payment("pay-1")) == first
    assert store.stats(RULE) == RuleStats(1, DISCOUNT)
    assert c.claim(RULE, payment("pay-1", amount=3)).reason is Reason.ERROR


def test_a_payment_the_rule_does_not_apply_to_counts_nothing(store: Store) -> None:
    c = client(limited_config(PER_ACCOUNT_3), store)
    transfer = Context(account="u-1", payment_type="p2p_transfer", amount=10_000, payment_id="pay-1")
    assert c.claim(RULE, transfer) == c.evaluate(RULE, transfer)
    assert c.claim("no-such-rule", payment("pay-1")).reason is Reason.UNKNOWN_RULE
    assert store.stats(RULE) == RuleStats()


def test_a_kill_switch_set_behind_the_clients_back_is_obeyed_by_the_claim(store: Store) -> None:
    c = client(limited_config(PER_ACCOUNT_3), store, kill_refresh=3600)
    assert c.evaluate(RULE, payment("pay-1")).applies  # the kill view is now fresh for an hour
    store.kill(RULE, "fraud wave", 1_700_000_000.0)
    decision = c.claim(RULE, payment("pay-1"))
    assert (decision.applies, decision.reason, decision.detail) == (
        False,
        Reason.KILLED,
        "kill switch: fraud wave",
    )
    assert c.evaluate(RULE, payment("pay-2")).reason is Reason.KILLED  # the view was refreshed at once
    assert store.stats(RULE) == RuleStats()
    c.revive(RULE)
    assert c.claim(RULE, payment("pay-1")).applies


def test_a_retry_after_a_kill_gets_its_first_answer_and_new_payments_are_refused(store: Store) -> None:
    """The same payment id gets the same answer: a discount granted while the rule was live stays granted."""
    c = client(limited_config(PER_ACCOUNT_3), store, kill_refresh=0.0)
    first = c.claim(RULE, payment("pay-1"))
    assert first.applies
    c.kill(RULE, reason="wrong coupon type")
    assert c.claim(RULE, payment("pay-1")) == first  # a retry of the same payment: its first answer
    refused = c.claim(RULE, payment("pay-2"))
    assert (refused.applies, refused.reason, refused.detail) == (
        False,
        Reason.KILLED,
        "kill switch: wrong coupon type",
    )
    assert c.claim(RULE, payment("pay-1", account="u-2")).reason is Reason.ERROR  # not the same payment
    assert store.stats(RULE) == RuleStats(1, DISCOUNT)  # nothing new was counted
    transfer = Context(account="u-1", payment_type="p2p_transfer", amount=10_000, payment_id="pay-3")
    assert c.claim(RULE, transfer).reason is Reason.KILLED  # would not apply anyway: no store call needed
    assert c.evaluate(RULE, payment("pay-1")).reason is Reason.KILLED  # evaluate reports the switch


def test_the_rate_alarm_kills_the_rule_for_every_client_and_alerts_once(store: Store) -> None:
    alerts: list[Alert] = []
    config = limited_config({"rate_alarm": {"amount": 2 * DISCOUNT + 50, "window": "1m"}})
    a = client(config, store, on_alert=alerts.append, clock=lambda: 1_700_000_040.0)
    b = client(config, store, on_alert=alerts.append, clock=lambda: 1_700_000_041.0, kill_refresh=0)
    assert a.claim(RULE, payment("pay-1")).applies and b.claim(RULE, payment("pay-2")).applies
    tripped = a.claim(RULE, payment("pay-3"))
    assert (tripped.applies, tripped.reason) == (False, Reason.KILLED)
    assert tripped.detail.startswith("kill switch: rate_alarm")
    assert alerts == [
        Alert(RULE, 60, 250, DISCOUNT, tripped.detail.removeprefix("kill switch: "), "pay-3", 1_700_000_040.0)
    ]
    for c in (a, b):
        assert c.claim(RULE, payment("pay-4")).reason is Reason.KILLED
        assert c.evaluate(RULE, payment("pay-4")).reason is Reason.KILLED
    assert len(alerts) == 1
    assert store.stats(RULE) == RuleStats(2, 2 * DISCOUNT)
    assert RULE in store.kill_switches()


def test_a_failing_alert_hook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def hook(alert: Alert) -> None:
        raise RuntimeError("pager down")

    c = client(limited_config({"rate_alarm": {"amount": 50, "window": "1m"}}), MemoryStore(), on_alert=hook)
    with caplog.at_level(logging.ERROR, logger="graylib"):
        assert c.claim(RULE, payment("pay-1")).reason is Reason.KILLED
    assert "on_alert hook failed" in caplog.text and "rate alarm tripped" in caplog.text


def test_shadow_claims_count_apart_and_never_consume_real_limits(store: Store) -> None:
    limits = {"per_account": {"count": 2}, "rate_alarm": {"amount": DISCOUNT, "window": "1m"}}
    shadow = client(limited_config(limits, state="shadow"), store)
    first = shadow.claim(RULE, payment("s-1"))
    assert (first.applies, first.reason, first.discount) == (False, Reason.SHADOW, DISCOUNT)
    assert shadow.claim(RULE, payment("s-1")) == first
    assert shadow.claim(RULE, payment("s-2")).reason is Reason.SHADOW  # past the alarm: shadow never trips it
    over = shadow.claim(RULE, payment("s-3"))
    assert over.reason is Reason.LIMIT_REACHED and over.detail.startswith(
        "shadow: limit reached: per_account:u-1"
    )
    assert store.stats(RULE) == RuleStats(0, 0, 2, 2 * DISCOUNT)
    assert not store.kill_switches()
    real = client(limited_config({"per_account": {"count": 2}}), store)
    assert real.claim(RULE, payment("s-1")).applies  # another namespace: not a replay of the shadow claim
    assert real.claim(RULE, payment("r-2")).applies
    assert store.stats(RULE) == RuleStats(2, 2 * DISCOUNT, 2, 2 * DISCOUNT)


def test_release_gives_back_exactly_once(store: Store) -> None:
    c = client(limited_config({"per_account": {"count": 1}}), store)
    assert c.claim(RULE, payment("pay-1")).applies
    assert c.claim(RULE, payment("pay-2")).reason is Reason.LIMIT_REACHED
    assert c.release(RULE, "pay-1") == ReleaseOutcome(RULE, "pay-1", released=True, amount=DISCOUNT)
    again = c.release(RULE, "pay-1")
    assert (again.released, again.failed) == (False, False) and "pay-1" in again.detail
    assert c.claim(RULE, payment("pay-2")).applies
    assert store.stats(RULE) == RuleStats(1, DISCOUNT)
    assert not c.release(RULE, "never-claimed").released
    assert c.release(RULE, "").detail.startswith("no payment id")


def test_release_of_a_shadow_claim(store: Store) -> None:
    c = client(limited_config({"per_account": {"count": 1}}, state="shadow"), store)
    assert c.claim(RULE, payment("s-1")).reason is Reason.SHADOW
    assert c.release(RULE, "s-1").released
    assert store.stats(RULE) == RuleStats()


def test_windows_follow_the_clients_clock(store: Store) -> None:
    now = [1_700_000_040.0]
    c = client(limited_config({"per_account": {"count": 1, "window": "1m"}}), store, clock=lambda: now[0])
    assert c.claim(RULE, payment("pay-1")).applies
    now[0] += 59
    assert c.claim(RULE, payment("pay-2")).reason is Reason.LIMIT_REACHED
    now[0] += 1
    assert c.claim(RULE, payment("pay-2")).applies


def test_a_store_fault_fails_closed_and_never_raises(tmp_path: Path) -> None:
    store = StoreSpec("sqlite", str(tmp_path / "closed.db")).open()
    c = client(limited_config(PER_ACCOUNT_3), store, kill_refresh=3600)
    assert c.claim(RULE, payment("pay-1")).applies
    store.close()
    decision = c.claim(RULE, payment("pay-2"))
    assert (decision.applies, decision.reason) == (False, Reason.ERROR)
    assert decision.detail.startswith("store unavailable: ")
    outcome = c.release(RULE, "pay-1")
    assert (outcome.released, outcome.failed) == (False, True)
    assert outcome.detail.startswith("store unavailable: ")


def test_any_exception_of_a_custom_store_fails_closed_too() -> None:
    class Broken(MemoryStore):
        @override
        def reserve(self, request: ReserveRequest) -> ReserveResult:
            raise RuntimeError("disk on fire")

        @override
        def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
            raise OSError("disk on fire")

    c = client(limited_config(PER_ACCOUNT_3), Broken())
    decision = c.claim(RULE, payment("pay-1"))
    assert (
        decision.reason is Reason.ERROR and decision.detail == "store unavailable: RuntimeError: disk on fire"
    )
    assert c.release(RULE, "pay-1").failed


def test_an_answer_outside_the_store_protocol_fails_closed() -> None:
    class Odd(MemoryStore):
        @override
        def reserve(self, request: ReserveRequest) -> ReserveResult:
            return ReserveResult("granted")  # type: ignore[arg-type]  # text, not a ReserveStatus

        @override
        def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
            return None  # type: ignore[return-value]

    c = client(limited_config(PER_ACCOUNT_3), Odd())
    decision = c.claim(RULE, payment("pay-1"))
    assert (decision.applies, decision.reason) == (False, Reason.ERROR)
    assert decision.detail == "unexpected answer from the store: 'granted'"
    assert c.kill_switches() == {}
    outcome = c.release(RULE, "pay-1")
    assert (outcome.released, outcome.failed) == (False, True)
    assert outcome.detail.startswith("unexpected answer from the store: ")


def test_a_bad_context_fails_closed() -> None:
    c = client(limited_config(PER_ACCOUNT_3), MemoryStore())
    assert c.claim(RULE, None).reason is Reason.ERROR  # type: ignore[arg-type]
    assert c.claim(RULE, payment(42)).reason is Reason.ERROR  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.release(RULE, 42)  # type: ignore[arg-type]


def test_hooks_must_be_callable() -> None:
    with pytest.raises(TypeError, match="on_alert"):
        client(limited_config(), MemoryStore(), on_alert="pager")
    with pytest.raises(TypeError, match="clock"):
        client(limited_config(), MemoryStore(), clock=1.0)


# -- a property: under any sequence of claims and releases no limit is passed and nothing counts twice

Op = tuple[str, int, str, int]
"""(claim, payment number, account, amount), (release, payment number, -, -) or (tick, seconds, -, -)."""
ACCOUNTS = ("a", "b", "c")
ACCOUNT_COUNT, ACCOUNT_AMOUNT, TOTAL_AMOUNT = 2, 2_500, 5_000
T0 = 1_700_000_040.0  # the start of a minute
_claim = st.tuples(
    st.just("claim"),
    st.integers(0, 11),  # payment ids are reused: replays, mismatches and releases of real claims
    st.sampled_from(ACCOUNTS),
    st.sampled_from([5_000, 10_000, 20_000]),  # 10% off: 500, 1_000 or 2_000
)
ops = st.lists(
    st.one_of(
        _claim,
        _claim,
        _claim,
        st.tuples(st.just("release"), st.integers(0, 11), st.just(""), st.just(0)),
        st.tuples(st.just("tick"), st.integers(1, 45), st.just(""), st.just(0)),
    ),
    min_size=4,
    max_size=40,
)


def _check_sequence(store: Store, sequence: list[Op]) -> None:
    """Run the operations through a client and check each answer against a model of the limits.

    The model: per account, at most 2 grants and 2,500 in each UTC minute; 5,000 in total over the
    rule's lifetime; a release gives its grant back; a repeated payment id replays or is refused.
    """
    now = [T0]
    limits = {
        "per_account": {"count": ACCOUNT_COUNT, "amount": ACCOUNT_AMOUNT, "window": "1m"},
        "total": {"amount": TOTAL_AMOUNT},
    }
    config = limited_config(limits, discount={"percent": 10, "max_off": 5_000})
    c = client(config, store, clock=lambda: now[0])
    held: dict[str, tuple[str, int, int, Decision]] = {}  # payment id -> (account, amount, minute, decision)
    for op, n, account, amount in sequence:
        pid = f"p{n}"
        if op == "tick":
            now[0] += n
            continue
        if op == "release":
            outcome = c.release(RULE, pid)
            assert outcome.released == (pid in held) and not outcome.failed
            if pid in held:
                assert outcome.amount == held.pop(pid)[3].discount
            continue
        decision = c.claim(RULE, payment(pid, account=account, amount=amount))
        if pid in held:
            first_account, first_amount, _, first = held[pid]
            if (first_account, first_amount) == (account, amount):
                assert decision == first  # a replay
            else:
                assert decision.reason is Reason.ERROR  # a reused payment id
            continue
        minute = int(now[0] // 60)
        mine = [d.discount for acc, _, m, d in held.values() if acc == account and m == minute]
        everyone = sum(d.discount for *_, d in held.values())
        fits = (
            len(mine) < ACCOUNT_COUNT
            and sum(mine) + amount // 10 <= ACCOUNT_AMOUNT
            and everyone + amount // 10 <= TOTAL_AMOUNT
        )
        assert decision.applies == fits, (decision, held)
        event("granted" if fits else "refused by a limit")
        if fits:
            held[pid] = (account, amount, minute, decision)
        else:
            assert decision.reason is Reason.LIMIT_REACHED
        # The invariants themselves, whatever the model says.
        for acc in ACCOUNTS:
            grants = [d.discount for a, _, m, d in held.values() if a == acc and m == minute]
            assert len(grants) <= ACCOUNT_COUNT and sum(grants) <= ACCOUNT_AMOUNT
        assert sum(d.discount for *_, d in held.values()) <= TOTAL_AMOUNT
    assert store.stats(RULE) == RuleStats(len(held), sum(d.discount for *_, d in held.values()))


@settings(max_examples=150, deadline=None)
@given(ops)
def test_claims_and_releases_never_pass_a_limit_nor_count_twice(sequence: list[Op]) -> None:
    _check_sequence(MemoryStore(), sequence)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_the_same_property_on_every_store(shared_spec: StoreSpec, sequence: list[Op]) -> None:
    """Every kind but memory (covered above with more examples)."""
    fresh = attrs.evolve(shared_spec, prefix=unique_prefix())  # a fresh, empty store per example
    if fresh.kind == "sqlite":
        fresh = attrs.evolve(fresh, location=str(Path(fresh.location).with_name(f"{uuid.uuid4().hex}.db")))
    opened = fresh.open()
    opened.initialise()
    try:
        _check_sequence(opened, sequence)
    finally:
        opened.close()


def test_claim_judges_the_schedule_by_the_client_clock() -> None:
    """Windows, record ages and the schedule all use one clock, so a driven clock is consistent."""
    schedule = {"starts_at": "2030-01-01T00:00:00+00:00", "ends_at": "2030-02-01T00:00:00+00:00"}
    in_window = 1_894_000_000.0  # 2030-01-08
    client = Client(make_config(schedule), cluster="sh-small", clock=lambda: in_window)
    payment = Context(account="u-1", payment_type="online_purchase", amount=54_000, payment_id="p-1")
    assert client.evaluate("subsidy", payment).applies  # evaluate judges the schedule by the clock too
    assert client.claim("subsidy", payment).applies
    client.close()


def test_a_claim_racing_a_reload_is_judged_and_limited_by_one_snapshot() -> None:
    """A reload that lands between the claim's reads must not pair the new rule with the old limits."""
    c = Client(limited_config(), cluster="sh-small")  # takes 100 off, no limits
    new_rule = limited_config({"per_ip": {"count": 1}}, discount={"amount": 200})
    reloaded = Client(new_rule, cluster="sh-small").snapshot  # takes 200 off, counted per IP
    claims = c._claims
    served = claims._served

    def served_during_a_reload() -> Served:
        current = served()
        c._swap(reloaded)  # the reloader swaps the snapshot right after the claim read it
        return current

    claims._served = served_during_a_reload
    decision = c.claim(RULE, payment("pay-1"))  # no ip: the new rule's limit cannot count it
    old_rule_whole = decision.applies and decision.discount == DISCOUNT
    new_rule_whole = decision.reason is Reason.LIMIT_REACHED and "no ip" in decision.detail
    assert old_rule_whole or new_rule_whole, decision
    assert c.snapshot is reloaded
    claims._served = served
    c.close()
