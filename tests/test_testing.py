"""graylib.testing: a client for a user's unit tests from a few keywords, with a clock the test drives."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from graylib import Client, ConfigError, Context, MemoryStore, Reason
from graylib.testing import DEFAULT_RULE, Clock, make_client, rules_for
from tests.helpers import make_config


def _pay(pid: str, account: str = "u-1", amount: int = 10_000) -> Context:
    return Context(account=account, payment_type="online_purchase", amount=amount, payment_id=pid)


def _graylib_threads(before: frozenset[threading.Thread]) -> list[str]:
    """graylib's threads started since ``before`` was taken (other tests' clients may still run theirs)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("graylib") and t not in before]


def test_a_rule_made_of_keywords_applies_to_any_account_and_counts_its_limits() -> None:
    clock = Clock()
    with make_client(
        amount_off=500, limits={"per_account": {"count": 1, "window": "1d"}}, clock=clock
    ) as client:
        first = client.claim(DEFAULT_RULE, _pay("p-1", account="anyone-at-all"))
        assert (first.applies, first.discount) == (True, 500)
        second = client.claim(DEFAULT_RULE, _pay("p-2", account="anyone-at-all"))
        assert second.reason is Reason.LIMIT_REACHED
        clock.advance(86_400)  # the next day's window
        assert client.claim(DEFAULT_RULE, _pay("p-3", account="anyone-at-all")).applies
        assert isinstance(client.store, MemoryStore)


def test_a_schedule_goes_by_the_test_clock() -> None:
    clock = Clock(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    starts = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    with make_client(percent_off=10, max_off=1_000, starts_at=starts.isoformat(), clock=clock) as client:
        assert client.evaluate(DEFAULT_RULE, _pay("p-1")).reason is Reason.NOT_ACTIVE
        clock.set(starts)
        decision = client.evaluate(DEFAULT_RULE, _pay("p-1", amount=50_000))
        assert (decision.applies, decision.discount) == (True, 1_000)


def test_kill_and_revive_show_at_once_and_no_thread_is_left_running() -> None:
    before = frozenset(threading.enumerate())
    client = make_client(rule_id="welcome")
    assert client.evaluate("welcome", _pay("p-1")).applies
    client.kill("welcome", reason="test")
    assert client.evaluate("welcome", _pay("p-1")).reason is Reason.KILLED
    assert client.revive("welcome")
    assert client.evaluate("welcome", _pay("p-1")).applies
    assert _graylib_threads(before) == []
    client.close()


def test_a_full_config_is_served_as_given_with_its_own_store() -> None:
    store = MemoryStore()
    with make_client(make_config(), cluster="sh-small", store=store) as client:
        assert client.store is store
        assert client.evaluate("subsidy", _pay("p-1")).reason is Reason.APPLIES_ROLLOUT
    with make_client(make_config()) as elsewhere:  # the base rule's stage does not reach this node
        assert elsewhere.evaluate("subsidy", _pay("p-1")).reason is Reason.OUT_OF_STAGE


def test_each_client_gets_a_fresh_store() -> None:
    with (
        make_client(limits={"total": {"count": 1}}) as one,
        make_client(limits={"total": {"count": 1}}) as two,
    ):
        assert one.claim(DEFAULT_RULE, _pay("p-1")).applies
        assert two.claim(DEFAULT_RULE, _pay("p-1")).applies


def test_mistakes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="amount_off or percent_off, not both"):
        make_client(amount_off=1, percent_off=1)
    with pytest.raises(TypeError, match="pass them or a config, not both"):
        make_client(make_config(), amount_off=5)
    with pytest.raises(ConfigError, match="percent"):
        make_client(percent_off=101)
    with pytest.raises(ValueError, match=r"Clock.advance\(seconds\): must be a number of seconds >= 0"):
        Clock().advance(-1)
    with pytest.raises(ValueError, match="needs a time zone"):
        Clock(dt.datetime(2026, 1, 1))
    assert isinstance(Client(rules_for(rule_id="r")), Client)


def test_an_async_client_for_asyncio_tests() -> None:
    import asyncio

    from graylib.testing import make_async_client

    clock = Clock()

    async def scenario() -> None:
        async with make_async_client(
            amount_off=300, limits={"per_account": {"count": 1, "window": "1h"}}, clock=clock
        ) as client:
            assert (await client.claim(DEFAULT_RULE, _pay("p-1"))).discount == 300
            assert (await client.claim(DEFAULT_RULE, _pay("p-2"))).reason is Reason.LIMIT_REACHED
            clock.advance(3_600)
            assert (await client.claim(DEFAULT_RULE, _pay("p-3"))).applies
            await client.kill(DEFAULT_RULE, reason="test")
            assert client.evaluate(DEFAULT_RULE, _pay("p-4")).reason is Reason.KILLED

    asyncio.run(scenario())
