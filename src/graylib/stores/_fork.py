"""Fork safety: every live store is told about ``os.fork()`` so that a child never inherits a held lock.

``os.fork()`` copies only the forking thread. A lock another thread held at that moment stays held in the
child, where no thread will ever release it, and a SQLite call in progress leaves SQLite's own mutexes
locked. So, through ``os.register_at_fork``, every live store (a weak set: tracking a store never keeps it
alive) is asked to quiesce before the fork (take its locks, wait for calls in flight), to resume in the
parent, and to start afresh in the child (new locks, no inherited connection in use).
"""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType
from typing import Protocol

__all__ = ["InFlight", "track"]


class _ForkAware(Protocol):
    def _before_fork(self) -> None: ...
    def _after_fork_in_parent(self) -> None: ...
    def _after_fork_in_child(self) -> None: ...


_LIVE: weakref.WeakSet[_ForkAware] = weakref.WeakSet()
_REGISTRY_LOCK = threading.Lock()
_FORKING: list[list[_ForkAware]] = []
"""The stores quiesced by the fork in progress (strong references until it is done), innermost last."""


def track(store: _ForkAware) -> None:
    """Have ``store`` take part in every later fork of this process."""
    with _REGISTRY_LOCK:
        _LIVE.add(store)


def _before() -> None:
    _REGISTRY_LOCK.acquire()  # released after the fork, in the parent and in the child
    stores = list(_LIVE)
    _FORKING.append(stores)
    for store in stores:
        store._before_fork()


def _after_in_parent() -> None:
    stores = _FORKING.pop()
    for store in reversed(stores):
        store._after_fork_in_parent()
    _REGISTRY_LOCK.release()


def _after_in_child() -> None:
    stores = _FORKING.pop()
    for store in stores:
        store._after_fork_in_child()
    _REGISTRY_LOCK.release()  # taken by this very thread in ``_before``


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)


class InFlight:
    """Counts the calls of one store in progress, so that a fork can wait until none is.

    ``with in_flight:`` around every call that uses the backend. ``hold`` (before a fork) closes the gate
    and waits until the calls in progress have finished; ``resume`` (in the parent) opens it again. A
    child builds a new ``InFlight``: the old one's lock may have been held by a thread that is not there.
    """

    __slots__ = ("_busy", "_calls", "_held")

    def __init__(self) -> None:
        self._busy = threading.Condition(threading.Lock())
        self._calls = 0
        self._held = False

    def __enter__(self) -> None:
        with self._busy:
            while self._held:
                self._busy.wait()
            self._calls += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._busy:
            self._calls -= 1
            if self._held and not self._calls:
                self._busy.notify_all()

    def hold(self, timeout: float) -> None:
        """Let no new call start, and wait up to ``timeout`` seconds for those in progress to end."""
        with self._busy:
            self._held = True
            self._busy.wait_for(lambda: not self._calls, timeout)

    def resume(self) -> None:
        """Let calls start again."""
        with self._busy:
            self._held = False
            self._busy.notify_all()
