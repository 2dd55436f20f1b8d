"""graylib.aio.AsyncClient against real stores: a real redis-server, real SQLite files.

Concurrency is real too: hundreds of tasks claim on one budget in one event loop, and a ticker task
measures how long the loop was kept from running while a store was slow (a SQLite file locked by another
connection, a Redis server busy in ``DEBUG SLEEP``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, Context, Reason, RedisStore, SQLiteStore
from graylib.aio import AsyncClient, AsyncMemoryStore, AsyncRedisStore, AsyncSQLiteStore, AsyncStore
from tests.claims_support import CLUSTER, DISCOUNT, RULE, limited_config, payment
from tests.helpers import make_config
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix

BUDGET = 50
TASKS = 200


@pytest.fixture(scope="module", name="redis_server")
def redis_server_fixture() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--enable-debug-command", "yes"]) as server:  # DEBUG SLEEP: a busy server
        yield server


def _open(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncStore:
    if kind == "memory":
        return AsyncMemoryStore()
    if kind == "sqlite":
        return AsyncSQLiteStore(tmp_path / "graylib.db")
    server: RedisServer = request.getfixturevalue("redis_server")
    return AsyncRedisStore(server.url, prefix=unique_prefix(), timeout=2.0, initialise=True)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)], name="kind")
def kind_fixture(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def test_claims_are_awaited_and_evaluate_stays_synchronous(kind: str, tmp_path: Path, request: Any) -> None:
    async def scenario() -> None:
        store = _open(kind, tmp_path, request)
        config = limited_config({"per_account": {"count": 1}})
        async with AsyncClient(config, cluster=CLUSTER, store=store) as client:
            assert client.evaluate(RULE, payment("p-1")).applies  # no await: pure
            first = await client.claim(RULE, payment("p-1"))
            assert (first.applies, first.discount) == (True, DISCOUNT)
            assert await client.claim(RULE, payment("p-1")) == first  # a replay
            assert (await client.claim(RULE, payment("p-2"))).reason is Reason.LIMIT_REACHED
            released = await client.release(RULE, "p-1")
            assert released.released and released.amount == DISCOUNT
            assert (await client.claim(RULE, payment("p-3"))).applies
            status = await client.status()
            assert status.rules[0].granted_count == 1
            assert status.rules[0].decisions == {
                "APPLIES_ROLLOUT": 4,
                "LIMIT_REACHED": 1,
            }  # 1 evaluate, 3 claims
            await client.kill(RULE, reason="incident")
            assert client.evaluate(RULE, payment("p-4")).reason is Reason.KILLED
            assert (await client.claim(RULE, payment("p-4"))).reason is Reason.KILLED
            assert await client.revive(RULE)
            assert client.evaluate(RULE, payment("p-4")).applies
        await store.close()

    run(scenario())


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_200_tasks_on_one_budget_grant_exactly_the_budget(kind: str, tmp_path: Path, request: Any) -> None:
    async def scenario() -> list[Any]:
        store = _open(kind, tmp_path, request)
        async with AsyncClient(
            limited_config({"total": {"count": BUDGET}}), cluster=CLUSTER, store=store
        ) as c:
            go = asyncio.Event()

            async def one(i: int) -> Any:
                await go.wait()
                return await c.claim(RULE, payment(f"p-{i}", account=f"u-{i}"))

            tasks = [asyncio.create_task(one(i)) for i in range(TASKS)]
            await asyncio.sleep(0)
            go.set()
            decisions = await asyncio.gather(*tasks)
            stats = await store.stats(RULE)
        await store.close()
        return [decisions, stats]

    decisions, stats = run(scenario())
    granted = [d for d in decisions if d.applies]
    assert len(granted) == BUDGET
    assert sorted({d.reason for d in decisions if not d.applies}) == [Reason.LIMIT_REACHED]
    assert (stats.granted_count, stats.granted_amount) == (BUDGET, BUDGET * DISCOUNT)


async def _max_lag(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    """Run ``work`` beside a ticker; return its result and the longest the loop kept the ticker waiting."""
    lag = 0.0
    done = False

    async def ticker() -> None:
        nonlocal lag
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lag = max(lag, time.perf_counter() - before - 0.005)

    tick = asyncio.create_task(ticker())
    try:
        result = await work()
    finally:
        done = True
        await tick
    return result, lag


def test_a_locked_sqlite_file_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "graylib.db"
    SQLiteStore(path).close()  # the schema exists before another connection locks the file

    def hold_lock(ready: threading.Event) -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(0.6)
        connection.execute("ROLLBACK")
        connection.close()

    async def scenario() -> tuple[Any, float]:
        store = AsyncSQLiteStore(path)
        async with AsyncClient(limited_config({"total": {"count": 5}}), cluster=CLUSTER, store=store) as c:
            ready = threading.Event()
            holder = threading.Thread(target=hold_lock, args=(ready,))
            holder.start()
            await asyncio.to_thread(ready.wait)
            started = time.perf_counter()
            result, lag = await _max_lag(lambda: c.claim(RULE, payment("p-1")))
            waited = time.perf_counter() - started
            await asyncio.to_thread(holder.join)
        await store.close()
        return (result, waited), lag

    (decision, waited), lag = run(scenario())
    assert decision.applies
    assert waited >= 0.4  # the claim did wait for the lock...
    assert lag < 0.2  # ...but the loop kept running meanwhile


@pytest.mark.redis
def test_a_busy_redis_does_not_block_the_loop(redis_server: RedisServer) -> None:
    import redis

    async def scenario() -> tuple[Any, float]:
        store = AsyncRedisStore(redis_server.url, prefix=unique_prefix(), timeout=2.0, initialise=True)
        async with AsyncClient(limited_config({"total": {"count": 5}}), cluster=CLUSTER, store=store) as c:
            busy = redis.Redis.from_url(redis_server.url)
            sleeper = asyncio.create_task(asyncio.to_thread(busy.execute_command, "DEBUG", "SLEEP", "0.5"))
            await asyncio.sleep(0.05)
            result, lag = await _max_lag(lambda: c.claim(RULE, payment("p-1")))
            await sleeper
            busy.close()
        await store.close()
        return result, lag

    decision, lag = run(scenario())
    assert decision.applies
    assert lag < 0.2


def test_rules_fail_closed_until_started_and_after_aclose() -> None:
    async def scenario() -> None:
        client = AsyncClient(limited_config(), cluster=CLUSTER)
        before = client.evaluate(RULE, payment("p-1"))
        assert before.reason is Reason.ERROR and "kill switches unknown" in before.detail
        assert (await client.claim(RULE, payment("p-1"))).reason is Reason.ERROR
        await client.start()
        assert client.evaluate(RULE, payment("p-1")).applies
        await client.aclose()
        assert client.evaluate(RULE, payment("p-1")).reason is Reason.ERROR
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("graylib")] == []

    run(scenario())


@pytest.mark.redis
def test_a_kill_through_another_client_reaches_the_refresh_task(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    RedisStore(redis_server.url, prefix=prefix, initialise=True).close()

    async def scenario() -> None:
        store = AsyncRedisStore(redis_server.url, prefix=prefix)
        async with AsyncClient(limited_config(), cluster=CLUSTER, store=store, kill_refresh=0.05) as client:
            assert client.evaluate(RULE, payment("p-1")).applies
            other = Client(
                limited_config(), cluster=CLUSTER, store=RedisStore(redis_server.url, prefix=prefix)
            )
            await asyncio.to_thread(other.kill, RULE, reason="from elsewhere")
            deadline = time.monotonic() + 5
            while client.evaluate(RULE, payment("p-1")).reason is not Reason.KILLED:
                assert time.monotonic() < deadline, "the kill never reached the async client"
                await asyncio.sleep(0.02)
            other.close()
            other.store.close()
        await store.close()

    run(scenario())


def test_the_reload_task_follows_the_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(make_config(version="v1")), encoding="utf-8")

    async def scenario() -> None:
        async with AsyncClient.from_file(path, cluster=CLUSTER, reload_interval=0.05) as client:
            assert client.snapshot.version == "v1"
            path.write_text(json.dumps(make_config(version="v2")), encoding="utf-8")
            deadline = time.monotonic() + 5
            while client.snapshot.version != "v2":
                assert time.monotonic() < deadline, "the reload task never took v2"
                await asyncio.sleep(0.02)
            path.write_text("{broken", encoding="utf-8")
            assert not await client.reload_now()
            assert client.snapshot.version == "v2"
            assert "v2" in repr(client)

    run(scenario())


@pytest.mark.redis
def test_a_store_outage_fails_claims_closed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="graylib")

    async def scenario() -> list[Any]:
        with RedisServer() as server:
            store = AsyncRedisStore(server.url, prefix=unique_prefix(), initialise=True)
            async with AsyncClient(
                limited_config({"total": {"count": 9}}), cluster=CLUSTER, store=store
            ) as c:
                assert (await c.claim(RULE, payment("p-0"))).applies
                server.stop()
                out: list[Any] = [
                    await c.claim(RULE, payment(f"p-{i}", account="acct-secret")) for i in range(1, 4)
                ]
                out.append(await c.release(RULE, "p-0"))
            await store.close()
        return out

    *decisions, released = run(scenario())
    assert all(d.reason is Reason.ERROR and "store unavailable" in d.detail for d in decisions)
    assert released.failed
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("claim for rule")]
    assert len(lines) == 1 and "AsyncRedisStore" in lines[0] and "acct-secret" not in lines[0]


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="must be a graylib AsyncStore"):
        AsyncClient(limited_config(), store=SQLiteStore.__new__(SQLiteStore))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kill_refresh=\.\.\.\) must be a positive"):
        AsyncClient(limited_config(), kill_refresh=0)
    with pytest.raises(ValueError, match="Redis Cluster is not supported"):
        AsyncRedisStore("redis+cluster://127.0.0.1:7000")
    ctx = Context(account="u", payment_type="online_purchase")
    assert AsyncClient(limited_config()).evaluate("nope", ctx).reason is Reason.UNKNOWN_RULE
