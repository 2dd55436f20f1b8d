"""Shared by the claim tests: rule configs with limits, store fixtures, and the racing worker.

The worker runs in child processes started with ``spawn``, so it lives in an importable module. The store
fixtures are imported by the test modules that use them (``from tests.claims_support import store_fixture``);
their kinds come from the one list in ``tests/store_kinds.py`` (memory, SQLite, Redis and a Redis Cluster,
where the claimed rule lives on another node than the kill-switch index) and their servers from the
session fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, Context, Store
from tests.helpers import make_config
from tests.store_kinds import StoreSpec, spec_for, store_params

RULE = "subsidy"
CLUSTER = "sh-small"
"""The base rule's current stage targets this cluster at 100%, so every account is in."""
DISCOUNT = 100
"""The fixed discount of ``limited_config`` rules (minor units)."""


def limited_config(
    limits: dict[str, Any] | None = None, *, state: str = "active", **rule: Any
) -> dict[str, Any]:
    """A config whose rule takes ``DISCOUNT`` off every online purchase at ``CLUSTER``, with ``limits``."""
    overrides: dict[str, Any] = {"discount": {"amount": DISCOUNT}, "state": state, **rule}
    if limits:
        overrides["limits"] = limits
    return make_config(overrides)


def payment(pid: str, account: str = "u-1", amount: int = 10_000, **fields: Any) -> Context:
    """An online purchase the base rule applies to."""
    return Context(account=account, payment_type="online_purchase", amount=amount, payment_id=pid, **fields)


_opened: list[Client] = []


def client(config: dict[str, Any], store: Store, **options: Any) -> Client:
    """A client at ``CLUSTER`` on ``store``; closed after the test by ``close_clients``."""
    made = Client(config, cluster=CLUSTER, store=store, **options)
    _opened.append(made)
    return made


@pytest.fixture(autouse=True, name="close_clients")
def close_clients_fixture() -> Iterator[None]:
    """Close the clients a test made (stops their background work) once it is done."""
    yield
    while _opened:
        _opened.pop().close()


@pytest.fixture(name="store_spec", params=store_params())
def store_spec_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """How to open a fresh, empty store of each kind."""
    return spec_for(request.param, request, tmp_path, rules=(RULE,))


@pytest.fixture(name="shared_spec", params=store_params(shared_only=True))
def shared_spec_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """A fresh, empty store of each kind that other processes (and other opens) see too."""
    return spec_for(request.param, request, tmp_path, rules=(RULE,))


@pytest.fixture(name="store")
def store_fixture(store_spec: StoreSpec) -> Iterator[Store]:
    opened = store_spec.open()
    yield opened
    opened.close()


def race_claims(  # noqa: PLR0917 - a multiprocessing target takes its arguments positionally
    open_store: Any,
    config: dict[str, Any],
    name: str,
    threads: int,
    attempts: int,
    go: Event | None,
    results: Queue[tuple[str, list[tuple[str, int]]]] | None,
) -> list[tuple[str, int]]:
    """Claim from ``threads`` threads released together; returns the (payment id, discount) granted.

    Every refusal must be ``LIMIT_REACHED`` on the ``total`` counter; anything else fails the worker.
    """
    claimer = client(config, open_store())
    granted: list[tuple[str, int]] = []
    problems: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads, timeout=60)

    def run(thread: int) -> None:
        mine = []
        try:
            barrier.wait()
            for attempt in range(attempts):
                pid = f"{name}-{thread}-{attempt}"
                decision = claimer.claim(RULE, payment(pid, account=f"{name}-{thread % 3}"))
                if decision.applies:
                    mine.append((pid, decision.discount))
                elif not decision.detail.startswith("limit reached: total"):
                    problems.append(f"{pid}: {decision}")
        except threading.BrokenBarrierError as exc:
            problems.append(repr(exc))
        with lock:
            granted.extend(mine)

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    if results is not None:
        results.put(("ready", []))
    if go is not None and not go.wait(timeout=60):
        problems.append("never released")
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    claimer.close()
    claimer.store.close()
    if problems:
        raise AssertionError("\n".join(problems[:5]))
    if results is not None:
        results.put((name, granted))
    return granted
