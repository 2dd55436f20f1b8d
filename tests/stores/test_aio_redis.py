"""AsyncRedisStore's pipelined connection under faults: a real redis-server that drops its clients, stalls,
or is reached with a password and a database number."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from graylib import StoreError
from graylib.stores import RedisStore, ReserveStatus
from graylib.stores.aio import AsyncRedisStore
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import T0, counter, request

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--enable-debug-command", "yes"]) as server:
        yield server


def _run(coro: Any) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def test_dropped_connections_fail_the_claims_in_flight_and_the_next_claim_reconnects(
    server: RedisServer,
) -> None:
    async def scenario() -> list[Any]:
        store = AsyncRedisStore(server.url, prefix=unique_prefix(), timeout=2.0, initialise=True)
        first = await store.reserve(request(counter("total", count=100), now=T0))
        admin: Any = redis.Redis.from_url(server.url)
        assert admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") >= 1
        admin.close()
        after: list[Any] = []
        for _ in range(3):
            try:
                after.append((await store.reserve(request(counter("total", count=100), now=T0))).status)
            except StoreError as exc:
                after.append(exc)
        await store.close()
        return [first.status, after]

    first, after = _run(scenario())
    assert first is ReserveStatus.GRANTED
    assert after[-1] is ReserveStatus.GRANTED  # reconnected by itself
    assert all(isinstance(a, StoreError) or a is ReserveStatus.GRANTED for a in after)


def test_a_stalled_server_fails_the_claim_within_the_timeout_then_recovers(server: RedisServer) -> None:
    async def scenario() -> tuple[Any, float, Any]:
        store = AsyncRedisStore(server.url, prefix=unique_prefix(), timeout=0.2, initialise=True)
        await store.reserve(request(counter("total", count=100), now=T0))
        admin: Any = redis.Redis.from_url(server.url)
        sleeper = asyncio.create_task(asyncio.to_thread(admin.execute_command, "DEBUG", "SLEEP", "0.8"))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        with pytest.raises(StoreError, match="TimeoutError"):
            await store.reserve(request(counter("total", count=100), now=T0))
        waited = time.perf_counter() - started
        await sleeper
        admin.close()
        later = await store.reserve(request(counter("total", count=100), now=T0))
        await store.close()
        return None, waited, later.status

    _, waited, later = _run(scenario())
    assert waited < 0.6
    assert later is ReserveStatus.GRANTED


def test_a_password_and_a_database_number_are_used() -> None:
    with RedisServer(extra_args=["--requirepass", "s3cret-pw"]) as server:
        url = f"redis://:s3cret-pw@127.0.0.1:{server.port}/3"

        async def scenario() -> Any:
            store = AsyncRedisStore(url, prefix="p", initialise=True)
            result = await store.reserve(request(counter("total", count=1), now=T0))
            await store.close()
            return result.status

        assert _run(scenario()) is ReserveStatus.GRANTED
        sync = RedisStore(url, prefix="p")
        assert sync.stats("rule-1").granted_count == 1  # the same keys, in database 3
        sync.close()
        bad = AsyncRedisStore(f"redis://:wrong@127.0.0.1:{server.port}/3", prefix="p")
        bad._sync._epoch = "x"  # skip the epoch read: the script connection itself must refuse

        async def refused() -> None:
            with pytest.raises(StoreError, match=r"AuthenticationError|WRONGPASS|invalid"):
                await bad.reserve(request(counter("total", count=1), now=T0))
            await bad.close()

        _run(refused())


def test_a_cancelled_claim_leaves_the_deadline_of_the_others_standing(server: RedisServer) -> None:
    async def scenario() -> tuple[list[Any], float]:
        store = AsyncRedisStore(server.url, prefix=unique_prefix(), timeout=0.2, initialise=True)
        await store.reserve(request(counter("total", count=100), now=T0))
        admin: Any = redis.Redis.from_url(server.url)
        sleeper = asyncio.create_task(asyncio.to_thread(admin.execute_command, "DEBUG", "SLEEP", "0.8"))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        claims = [
            asyncio.create_task(store.reserve(request(counter("total", count=100), now=T0))) for _ in range(3)
        ]
        await asyncio.sleep(0.01)  # all written: the first alone (its own deadline), two as a batch
        claims[0].cancel()  # the deadline of the first...
        claims[2].cancel()  # ...and of the batch belong to cancelled claims; the middle one still waits
        outcomes = await asyncio.gather(claims[1], return_exceptions=True)
        waited = time.perf_counter() - started
        await sleeper
        admin.close()
        await store.close()
        return list(outcomes), waited

    outcomes, waited = _run(scenario())
    assert all(isinstance(o, StoreError) and "TimeoutError" in str(o) for o in outcomes), outcomes
    assert waited < 0.6
