"""Claim throughput on Redis: AsyncClient with 1 and 64 tasks against the sync Client with 1 and 64 threads.

    python benchmarks/aio_throughput.py [--claims 20000] [--rounds 3]

One process, one redis-server on loopback (started here). Every claim is a new payment id that the rule
grants, under the three limits of ``benchmarks/run.py``'s claim case, so every claim is one script call.
Cases: the sync ``Client`` on ``RedisStore`` from 1 and from 64 threads; the sync client called through
``asyncio.to_thread`` from 64 tasks (the way async services used it before ``AsyncClient``); and
``AsyncClient`` on ``AsyncRedisStore`` from 1 and from 64 tasks of one event loop. Each case runs
``--rounds`` times, interleaved; the table shows the median claims per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from benchmarks.run import claim_config  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

import graylib  # noqa: E402
from benchmarks import peers  # noqa: E402
from graylib.aio import AsyncClient, AsyncRedisStore  # noqa: E402

_ids = itertools.count()


def _ctx() -> graylib.Context:
    n = next(_ids)
    return graylib.Context(
        account=f"u-{n % 10_000}",
        payment_type=peers.ELIGIBLE_PAYMENT_TYPES[0],
        amount=54_000,
        payment_id=f"pay-{n}",
        region="CN-31",
    )


def _threads(client: graylib.Client, claims: int, workers: int) -> float:
    per = claims // workers
    barrier = threading.Barrier(workers + 1)
    contexts = [[_ctx() for _ in range(per)] for _ in range(workers)]
    bad: list[graylib.Decision] = []

    def work(mine: list[graylib.Context]) -> None:
        barrier.wait()
        for ctx in mine:
            decision = client.claim("claim", ctx)
            if not decision.applies:
                bad.append(decision)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in contexts]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not bad, bad[:3]
    return per * workers / elapsed


async def _tasks(
    claim: Callable[[graylib.Context], Awaitable[graylib.Decision]], claims: int, workers: int
) -> float:
    per = claims // workers
    contexts = [[_ctx() for _ in range(per)] for _ in range(workers)]

    async def work(mine: list[graylib.Context]) -> None:
        for ctx in mine:
            decision = await claim(ctx)
            assert decision.applies, decision

    started = time.perf_counter()
    await asyncio.gather(*(work(mine) for mine in contexts))
    return per * workers / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(RedisServer())
        store = graylib.RedisStore(server.url, initialise=True)
        stack.callback(store.close)
        sync = graylib.Client(claim_config(), cluster="bench", node="bench-01", store=store)
        stack.callback(sync.close)

        async def run_async() -> dict[str, float]:
            astore = AsyncRedisStore(server.url)
            out: dict[str, float] = {}
            async with AsyncClient(claim_config(), cluster="bench", node="bench-01", store=astore) as client:

                async def claim(ctx: graylib.Context) -> graylib.Decision:
                    return await client.claim("claim", ctx)

                out["AsyncClient, 1 task"] = await _tasks(claim, args.claims // 4, 1)
                out["AsyncClient, 64 tasks"] = await _tasks(claim, args.claims, 64)

                async def in_thread(ctx: graylib.Context) -> graylib.Decision:
                    return await asyncio.to_thread(sync.claim, "claim", ctx)

                out["Client via asyncio.to_thread, 64 tasks"] = await _tasks(in_thread, args.claims, 64)
            await astore.close()
            return out

        for round_ in range(args.rounds):
            found = {
                "Client, 1 thread": _threads(sync, args.claims // 4, 1),
                "Client, 64 threads": _threads(sync, args.claims, 64),
                **asyncio.run(run_async()),
            }
            for name, rate in found.items():
                results.setdefault(name, []).append(rate)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    base = statistics.median(results["Client, 1 thread"])
    print("| case | claims/s | x sync, 1 thread |\n| --- | --- | --- |")
    for name, rates in results.items():
        rate = statistics.median(rates)
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
