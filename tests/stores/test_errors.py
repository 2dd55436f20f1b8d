"""Every backend exception a store can meet reaches the caller as StoreError, with the cause chained."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import pytest

from graylib import StoreError
from graylib.stores import RedisStore, SQLiteStore, Store
from graylib.stores._common import MAX_AMOUNT
from graylib.stores._redis_wire import ScriptRunner
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import counter, request
from tests.stores.support import request as make_request

OPERATIONS: dict[str, Callable[[Store], object]] = {
    "reserve": lambda store: store.reserve(request(counter("total"))),
    "release": lambda store: store.release("rule-1", "p-1", 0.0),
    "kill": lambda store: store.kill("rule-1", "x", 0.0),
    "revive": lambda store: store.revive("rule-1"),
    "kill_switches": lambda store: store.kill_switches(),
    "stats": lambda store: store.stats("rule-1"),
}

SQLITE_ERRORS = [
    sqlite3.Error,
    sqlite3.DatabaseError,
    sqlite3.OperationalError,
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
    sqlite3.InternalError,
]


def _redis_errors() -> list[type[BaseException]]:
    import redis.exceptions

    found = [
        cls
        for cls in vars(redis.exceptions).values()
        if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "redis.exceptions"
    ]
    return [*found, OSError, ConnectionRefusedError, TimeoutError]


def _make(cls: type[BaseException]) -> BaseException:
    return cls("1 127.0.0.1:7000")  # AskError / MovedError parse "slot host:port"; others keep the text


class _Failing:
    """Stands in for a backend client or connection: every method raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self._error = error
        self.in_transaction = False

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def fail(*args: object, **kwargs: object) -> NoReturn:
            raise self._error

        return fail


class _FailingPool:
    """A connection pool whose connections fail to send; counts what the store did with them."""

    def __init__(self, error: BaseException) -> None:
        self.connection = _Failing(error)
        self.connection.disconnect = lambda: None  # type: ignore[attr-defined]
        self.released = 0

    def get_connection(self) -> _Failing:
        return self.connection

    def release(self, connection: object) -> None:
        self.released += 1


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("error", SQLITE_ERRORS, ids=lambda cls: cls.__name__)
def test_sqlite_errors_become_store_errors(
    tmp_path: Path, error: type[sqlite3.Error], operation: str
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    raised = error("boom")
    store._local.db, store._local.pid = _Failing(raised), os.getpid()
    with pytest.raises(StoreError, match="boom") as caught:
        OPERATIONS[operation](store)
    assert caught.value.__cause__ is raised


@pytest.mark.redis
@pytest.mark.parametrize("operation", [*OPERATIONS, "close"])
@pytest.mark.parametrize("error", _redis_errors(), ids=lambda cls: cls.__name__)
def test_redis_errors_become_store_errors(error: type[BaseException], operation: str) -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    raised = _make(error)
    store._redis = _Failing(raised)
    for runner in store._scripts.values():  # scripts go through the pool's connections directly
        assert isinstance(runner, ScriptRunner)  # a redis:// URL: not a cluster
        runner._client = store._redis
        runner._pool = _FailingPool(raised)
    call: Callable[[Store], object] = OPERATIONS.get(operation, lambda store: store.close())
    with pytest.raises(StoreError) as caught:
        call(store)
    assert caught.value.__cause__ is raised


def test_a_locked_database_is_a_store_error_after_the_timeout(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "locked.db", timeout=0.05)
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked") as caught:
            store.reserve(request(counter("total")))
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert store.stats("rule-1").granted_count == 0  # reads do not wait for the writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.reserve(request(counter("total"))).status.value == "granted"  # the store is usable again
    store.close()


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite file" * 200)
    with pytest.raises(StoreError, match=r"garbage\.db") as caught:
        SQLiteStore(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_closed_sqlite_store_raises_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.stats("rule-1")


def test_a_bad_redis_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad URL"):
        RedisStore("redis://127.0.0.1:notaport/0")


UNSTORABLE: dict[str, Callable[[Store], object]] = {
    "reserve (payment id)": lambda store: store.reserve(request(counter("total"), payment="p-\ud800")),
    "reserve (counter name)": lambda store: store.reserve(request(counter("per_ip:\udcff"))),
    "release": lambda store: store.release("rule-1", "p-\ud800", 0.0),
    "kill": lambda store: store.kill("rule-\ud800", "x", 0.0),
    "revive": lambda store: store.revive("rule-\ud800"),
    "stats": lambda store: store.stats("rule-\ud800"),
}


@pytest.mark.parametrize("operation", UNSTORABLE)
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_text_a_backend_cannot_store_is_a_store_error(
    kind: str, operation: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A lone surrogate (what json.loads makes of "\ud800") cannot be encoded as UTF-8 for the backend.
    store: Store
    if kind == "sqlite":
        store = SQLiteStore(tmp_path / "u.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=unique_prefix(), initialise=True)
    with pytest.raises(StoreError, match="surrogate") as caught:
        UNSTORABLE[operation](store)
    assert isinstance(caught.value.__cause__, UnicodeEncodeError)
    assert store.stats("rule-1").granted_count == 0  # and the store still works
    store.close()


def test_an_integer_sqlite_cannot_hold_is_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "big.db")
    with pytest.raises(StoreError) as caught:
        store.reserve(request(counter("total", 2**64)))  # a window of 2**64 seconds
    assert isinstance(caught.value.__cause__, OverflowError)
    assert store.reserve(request(counter("total"))).status.value == "granted"
    store.close()


@pytest.mark.redis
def test_an_unreadable_stored_value_is_a_store_error(redis_server: RedisServer) -> None:
    import redis

    store = RedisStore(redis_server.url, prefix=unique_prefix(), initialise=True)
    admin = redis.Redis.from_url(redis_server.url)
    admin.hset(f"{{{store._prefix}:rule-1}}:rec:r:p-1", "keys", "not json")
    admin.set(f"{{{store._prefix}:rule-2}}:kill", "not json")
    admin.sadd(f"{{{store._prefix}}}:killed", "rule-2")
    admin.close()
    with pytest.raises(StoreError, match="release"):
        store.release("rule-1", "p-1", 0.0)
    with pytest.raises(StoreError, match="kill_switches"):
        store.kill_switches()
    store.close()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"amount": MAX_AMOUNT + 1}, "amount 9007199254740992"),
        ({"amount": -1}, "amount -1"),
        ({"alarm_amount": 2**60}, "alarm_amount"),
        ({"counters": (counter("total", amount=MAX_AMOUNT + 1),)}, "total: max_amount"),
        ({"counters": (counter("total", count=2**63),)}, "total: max_count"),
        ({"counters": (counter("total", -60),)}, "total: window"),
    ],
    ids=["amount", "negative", "alarm", "cap", "count", "window"],
)
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_numbers_a_store_cannot_count_exactly_are_refused(
    kind: str, changes: dict[str, Any], named: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: Store
    if kind == "sqlite":
        store = SQLiteStore(tmp_path / "n.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=unique_prefix(), initialise=True)
    refused = msgspec.structs.replace(make_request(counter("total")), **changes)
    with pytest.raises(StoreError, match=named):
        store.reserve(refused)
    assert store.stats("rule-1").granted_count == 0
    store.close()


@pytest.mark.parametrize("record_ttl", [0, -1.0, float("nan")])
def test_a_record_ttl_that_is_not_positive_is_refused(record_ttl: float, tmp_path: Path) -> None:
    # Records that expire at once would make every retry of a claim count again.
    with pytest.raises(ValueError, match="record_ttl"):
        SQLiteStore(tmp_path / "ttl.db", record_ttl=record_ttl)
    with pytest.raises(ValueError, match="record_ttl"):
        RedisStore("redis://127.0.0.1:1/0", record_ttl=record_ttl)


@pytest.mark.redis
def test_a_sub_millisecond_redis_record_ttl_still_keeps_the_record(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, prefix=unique_prefix(), record_ttl=0.0004, initialise=True)
    assert store._record_ttl_ms == 1
    store.close()
