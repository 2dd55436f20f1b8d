"""A child forked while other threads use a store can use the store at once (no inherited lock held).

``os.fork()`` copies only the forking thread: a lock another thread held at that moment stays held in the
child forever, and a SQLite connection mid-statement leaves SQLite's own mutexes locked. The stores
register fork hooks that wait for in-flight calls, then give the child fresh locks and connections.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from graylib.stores import MemoryStore, ReserveStatus, SQLiteStore, Store
from tests.stores.support import T0, counter, request

FORKS = 40
"""Forks per test: before the hooks, a MemoryStore child hung on the first few, a SQLite one on most."""
CHILD_TIMEOUT = 10.0


def _hammer(store: Store, stop: threading.Event) -> None:
    while not stop.is_set():
        result = store.reserve(request(counter("total"), amount=1))
        if result.status is ReserveStatus.GRANTED:
            store.release("rule-1", "-", T0)


def _child(store: Store) -> int:
    """What the child does: one claim and its release; the exit code says whether both worked."""
    granted = store.reserve(request(counter("total"), payment="child", amount=1))
    released = store.release("rule-1", "child", T0)
    return 0 if granted.status is ReserveStatus.GRANTED and released.released else 3


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit code, or None when it did not exit within ``timeout`` (then it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def _fork_under_load(make: Callable[[], Store]) -> None:
    store = make()
    stop = threading.Event()
    threads = [threading.Thread(target=_hammer, args=(store, stop), daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for attempt in range(FORKS):
            time.sleep(0.002)
            with warnings.catch_warnings():
                # Python warns that forking a multi-threaded process may deadlock: that is what is tested.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: never return into pytest
                code = 4
                try:
                    code = _child(store)
                finally:
                    os._exit(code)
            exit_code = _wait(pid, CHILD_TIMEOUT)
            assert exit_code is not None, f"fork {attempt}: the child hung on a lock held at the fork"
            assert exit_code == 0, f"fork {attempt}: the child's claim or release failed ({exit_code})"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        store.close()


def test_a_memory_store_works_in_a_child_forked_while_threads_use_it() -> None:
    _fork_under_load(MemoryStore)


def test_a_sqlite_store_works_in_a_child_forked_while_threads_use_it(tmp_path: Path) -> None:
    _fork_under_load(lambda: SQLiteStore(tmp_path / "fork.db"))
