"""The kill switches a client obeys: read from the store, kept fresh by a watcher thread, bounded in age.

Kill switches live in the store so that every client sharing it obeys them. A ``KillView`` keeps this
process's copy: ``read`` (the store's ``kill_switches``) is called at most every ``refresh`` seconds, by a
daemon thread (``KillWatch``) once the first evaluation has started it, or by the payment path itself
while no thread runs here ("polling": before the first evaluation, after ``close``, in a forked child
until its first evaluation, and always with ``refresh=0``).

What the payment path obeys is ``state``, an immutable ``KillState``. It changes only when the switches
that are set change, when the view goes stale or fresh again, or when polling starts or stops; each change
calls ``on_change`` so that the owner rebuilds what it serves (``_runtime._served.compose``). The payment
path therefore never checks a flag or a clock: a killed rule is served as a killed rule.

Staleness: when reads keep failing, the last state is kept for at most ``max_stale`` seconds after the
last good read; then the state says ``stale`` and every rule fails closed until a read succeeds again.
The check runs after each failed read, so the bound holds within one ``refresh`` plus the store's own
timeout.

Fork safety: after ``os.fork()`` the child has no watcher thread; the watch's fork hook calls
``_forked`` here, which replaces the lock (a parent thread may have held it), goes back to polling and
calls ``on_fork`` so the owner can do the same for its own locks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._redact import describe_error
from ..stores import KillSwitch
from ._killwatch import KillWatch

__all__ = ["DEFAULT_MAX_STALE", "KillState", "KillView", "max_stale_seconds"]

log = logging.getLogger("graylib")

DEFAULT_MAX_STALE = 5.0
"""Seconds the kill switches may stay unread before every rule fails closed (or 3 refresh intervals)."""


@attrs.frozen
class KillState:
    """What the payment path obeys: the switches that are set, and whether they can be trusted.

    ``stale``: not read for longer than the bound, so every rule fails closed. ``polling``: no watcher
    thread runs in this process, so the payment path refreshes the view itself when it is due.
    """

    switches: Mapping[str, KillSwitch] = attrs.field(factory=dict)
    stale: bool = False
    polling: bool = True


def max_stale_seconds(value: float | None, refresh: float) -> float:
    """``kill_max_stale``: positive seconds; None picks 5 s, or 3 refresh intervals when that is longer."""
    if value is None:
        return max(DEFAULT_MAX_STALE, 3 * refresh)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        msg = f"Client(kill_max_stale=...) must be a positive number of seconds or None (got {value!r})"
        raise ValueError(msg)
    return float(value)


def _weak(method: Callable[[], object]) -> Callable[[], object]:
    """Call a bound ``method`` through a weak reference: the view must not keep its owner alive (a plain
    function is held as it is)."""
    if not hasattr(method, "__self__"):
        return method
    ref = weakref.WeakMethod(method)

    def call() -> object:
        target = ref()
        return None if target is None else target()

    return call


class KillView:
    """This process's view of the store's kill switches (see the module docstring)."""

    __slots__ = (
        "__weakref__",
        "_closed",
        "_due",
        "_lock",
        "_on_change",
        "_on_fork",
        "_read",
        "_read_at",
        "_state_lock",
        "error",
        "max_stale",
        "refresh_interval",
        "state",
        "watch",
    )

    def __init__(
        self,
        read: Callable[[], Mapping[str, KillSwitch]],
        *,
        refresh: float,
        max_stale: float | None,
        on_change: Callable[[], object],
        on_fork: Callable[[], object],
    ) -> None:
        self._read = read
        self.refresh_interval = float(refresh)
        self.max_stale = max_stale_seconds(max_stale, self.refresh_interval)
        self._on_change = _weak(on_change)
        self._on_fork = _weak(on_fork)
        self.state = KillState()
        self.error = ""
        """Why the last read failed (redacted); empty after a good read."""
        self._read_at = time.monotonic()  # the staleness budget counts from construction
        self._due = 0.0
        self._lock = threading.Lock()
        """Held while the store is read (one refresh at a time)."""
        self._state_lock = threading.Lock()
        """Held for a change of ``state`` (never during store I/O)."""
        self._closed = False
        self.watch = (
            KillWatch(self._tick, self._watch_forked, interval=self.refresh_interval)
            if self.refresh_interval > 0
            else None
        )
        _views.add(self)

    @property
    def switches(self) -> Mapping[str, KillSwitch]:
        """The kill switches obeyed now, as last read from the store."""
        return self.state.switches

    @property
    def age(self) -> float:
        """Seconds since the last good read (or since construction, before the first)."""
        return time.monotonic() - self._read_at

    # -- the payment path's side ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Called by the payment path while polling: refresh when due, then hand over to a watcher thread."""
        if time.monotonic() >= self._due:
            self.refresh()
        watch = self.watch
        if watch is not None and not self._closed and not watch.running:
            watch.start()
        self._update(polling=watch is None or not watch.running)

    def stale_detail(self) -> str:
        """The detail of a decision refused because the kill switches are unknown."""
        detail = (
            f"kill switches unknown: not read from the store for {self.age:.1f} s "
            f"(kill_max_stale={self.max_stale:g} s), failing closed; {self.error}"
        )
        return detail[:300]

    # -- refreshing ----------------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the store's kill switches; on a failure keep the last view until it is too old."""
        if force:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return  # another thread is refreshing; the current view serves meanwhile
        try:
            if not force and time.monotonic() < self._due:
                return
            try:
                switches = dict(self._read())
            except Exception as exc:
                self._failed(describe_error(exc))
            else:
                self._read_at = time.monotonic()
                self.error = ""
                if self.state.stale:
                    log.warning("kill switches read from the store again: rules are served again")
                self._update(switches=switches, stale=False)
            self._due = time.monotonic() + self.refresh_interval
        finally:
            self._lock.release()

    def _failed(self, error: str) -> None:
        self.error = error
        age = self.age
        if age < self.max_stale:
            log.warning("could not read kill switches from the store; keeping the last known: %s", error)
        elif not self.state.stale:
            log.error(
                "kill switches not read from the store for %.1f s (kill_max_stale=%g s): every rule fails "
                "closed until the store answers: %s",
                age,
                self.max_stale,
                error,
            )
            self._update(stale=True)

    def _update(self, **changes: Any) -> None:
        """Change the state (one transition at a time: each starts from the one before) and tell the owner.

        Nothing happens when nothing changes, so that an unchanged read does not rebuild what is served.
        """
        with self._state_lock:
            state = attrs.evolve(self.state, **changes)
            if state != self.state:
                self.state = state
                self._on_change()

    def _tick(self) -> None:
        self.refresh(force=True)

    # -- lifecycle -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the watcher thread; the payment path polls again from now on."""
        self._closed = True
        if self.watch is not None:
            self.watch.stop()
        self._update(polling=True)

    def _watch_forked(self) -> None:
        """The watch's own fork callback: nothing to do, every view is reset by ``_after_fork_in_child``."""

    def _forked(self) -> None:
        """In a forked child: no watcher thread, and the lock may have been held by one at the fork."""
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._due = 0.0
        self._on_fork()
        self._update(polling=True)


_views: weakref.WeakSet[KillView] = weakref.WeakSet()
"""Every kill view of this process, watched or not: each is reset in a forked child."""


def _after_fork_in_child() -> None:
    for view in list(_views):
        try:
            view._forked()
        except Exception:  # a hook must not break the child
            log.exception("kill view could not reset after fork")


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
