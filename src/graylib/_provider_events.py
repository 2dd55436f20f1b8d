"""The OpenFeature provider's events: what changed in a client, told to the SDK from a thread of its own.

A client tells its listeners about a change from wherever it happens: the reloader thread, the kill-switch
watcher, a payment thread, with graylib's locks held. The SDK runs the application's event handlers
synchronously on the emitting thread, and a handler may call back into the client (``status()``,
``kill``); doing that under a graylib lock could deadlock. So the client's listener only drops a token in a
queue, and ``ProviderEvents`` runs one daemon thread (``graylib-openfeature-events``, started by the
provider's ``initialize`` and joined by its ``shutdown``) that compares what the client serves with what it
last told the SDK and emits the difference:

- a new config version: ``PROVIDER_CONFIGURATION_CHANGED``, ``flags_changed`` listing the rules added,
  removed or changed; a kill switch set or cleared: the same event, naming the rule;
- the health of the client (``Client._health``) changing: ``PROVIDER_STALE`` while a reload is refused
  (the last good rules are served) or the kill switches cannot be read (the last ones are obeyed),
  ``PROVIDER_ERROR`` once they are unknown (every rule fails closed), ``PROVIDER_READY`` when all is well
  again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping

from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode

from ._client import Client
from ._compile import Snapshot
from .stores import KillSwitch

__all__ = ["ProviderEvents", "changed_rules"]

log = logging.getLogger("graylib")

Emit = Callable[[ProviderEvent, ProviderEventDetails], object]

_JOIN_TIMEOUT = 5.0
_STOP = object()
_HEALTH_EVENTS = {
    "ready": ProviderEvent.PROVIDER_READY,
    "stale": ProviderEvent.PROVIDER_STALE,
    "error": ProviderEvent.PROVIDER_ERROR,
}


def changed_rules(before: Snapshot, after: Snapshot) -> list[str]:
    """Rule ids added, removed or changed between two snapshots, sorted."""
    old = {rule.id: rule for rule in before.config.rules}
    new = {rule.id: rule for rule in after.config.rules}
    return sorted(rid for rid in old.keys() | new.keys() if old.get(rid) != new.get(rid))


def _switched(before: Mapping[str, KillSwitch], after: Mapping[str, KillSwitch]) -> list[str]:
    return sorted(rid for rid in before.keys() | after.keys() if before.get(rid) != after.get(rid))


class ProviderEvents:
    """Watches one client for the provider and emits the SDK's events (see the module docstring)."""

    def __init__(self, client: Client, emit: Emit) -> None:
        self._client = client
        self._emit = emit
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._remove: Callable[[], None] | None = None
        self._snapshot = client.snapshot
        self._switches: Mapping[str, KillSwitch] = client.kill_switches()
        self.health = "ready"

    def start(self, health: str) -> None:
        """Begin watching; ``health`` is what the SDK believes now (``ready``, or ``error`` after a failed
        initialisation)."""
        if self._thread is not None:
            return
        self._snapshot = self._client.snapshot
        self._switches = self._client.kill_switches()
        self.health = health
        self._remove = self._client._listen(self._changed)
        thread = threading.Thread(target=self._run, name="graylib-openfeature-events", daemon=True)
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Stop watching, and wait for the thread (unless called from it: a handler may shut down)."""
        if self._remove is not None:
            self._remove()
            self._remove = None
        thread = self._thread
        self._thread = None
        if thread is None:
            return
        self._queue.put(_STOP)
        if thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)

    def _changed(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            token = self._queue.get()
            while token is not _STOP and not self._queue.empty():
                token = self._queue.get()  # one look covers every change queued meanwhile
            if token is _STOP:
                return
            try:
                self._look()
            except Exception:  # never let the thread die: the next change is looked at again
                log.exception("graylib OpenFeature provider could not emit an event")

    def _look(self) -> None:
        client = self._client
        snapshot = client.snapshot
        if snapshot is not self._snapshot:
            flags = changed_rules(self._snapshot, snapshot)
            self._snapshot = snapshot
            details = ProviderEventDetails(
                flags_changed=flags,
                message=f"config version {snapshot.version} served",
                metadata={"version": snapshot.version},
            )
            self._emit(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, details)
        switches = client.kill_switches()
        flipped = _switched(self._switches, switches)
        self._switches = switches
        if flipped:
            message = "kill switches changed: " + ", ".join(flipped)
            details = ProviderEventDetails(flags_changed=flipped, message=message)
            self._emit(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, details)
        health, why = client._health()
        if health != self.health:
            self.health = health
            error_code = ErrorCode.GENERAL if health == "error" else None
            self._emit(
                _HEALTH_EVENTS[health], ProviderEventDetails(message=why or None, error_code=error_code)
            )
