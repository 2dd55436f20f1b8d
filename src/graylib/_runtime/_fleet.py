"""The fleet record of a following client: ``FleetReporter`` writes what this process serves to the store.

After each poll of the follower, ``beat`` builds the record (cluster, node, host, pid, revision and version
served, healthy, last error) from the follower's view and writes it when it changed, or when the last write
is ``heartbeat`` seconds old. The store forgets it ``ttl`` seconds after it was written, so a process that
died leaves the fleet view by itself; ``graylib.fleet`` calls a record silent after three missed
heartbeats, and ``leave`` removes it when the client closes. A write that fails is logged (at most once a
minute) and retried one heartbeat later, so a store that is down adds no timeout to every poll. The record
is never on the payment path.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .._compile import Snapshot
from .._redact import describe_error
from .._status import is_healthy
from ..stores import Instance, Store
from ._throttle import LogThrottle

__all__ = ["FleetReporter"]

log = logging.getLogger("graylib")

_LIVE: weakref.WeakSet[FleetReporter] = weakref.WeakSet()
"""Reporters whose lock is replaced in a forked child."""

View = Callable[[], tuple[Snapshot | None, dict[str, Any]]]


class FleetReporter:
    """Writes this process's fleet record for one following client."""

    def __init__(
        self,
        store: Store,
        *,
        cluster: str,
        node: str,
        view: View,
        stale: Callable[[], bool],
        heartbeat: float,
        ttl: float,
    ) -> None:
        self._store = store
        self._cluster = cluster
        self._node = node
        self._view = view
        self._stale = stale
        self.heartbeat = heartbeat
        self.ttl = ttl
        self._host = socket.gethostname()
        self._started = time.time()
        self._lock = threading.Lock()
        self._last: tuple[object, ...] | None = None
        self._last_key = ""
        self._written_at = 0.0
        self._failed_at = 0.0
        self.last_error = ""
        self._throttle = LogThrottle(log, interval=60.0)
        _LIVE.add(self)

    def record(self, now: float) -> Instance | None:
        """This process's record as of now; None when nothing is served (the client is gone)."""
        snapshot, fields = self._view()
        if snapshot is None:
            return None
        healthy = is_healthy(
            fields["served_from"], self._stale(), fields["last_reload_at"], fields["last_reload_error_at"]
        )
        return Instance(
            cluster=self._cluster,
            node=self._node,
            host=self._host,
            pid=os.getpid(),
            revision=fields.get("revision"),
            version=snapshot.version,
            digest=snapshot.digest,
            healthy=healthy,
            last_error="" if healthy else str(fields["last_reload_error"])[:500],
            last_seen=now,
            heartbeat=self.heartbeat,
            started_at=self._started,
        )

    def beat(self, *, force: bool = False) -> bool:
        """Write the record if it changed or is due (``force``: now). True when a record was written."""
        now = time.time()
        record = self.record(now)
        if record is None:
            return False
        what = (record.pid, record.revision, record.digest, record.healthy, record.last_error)
        with self._lock:
            if not force and what == self._last and now - self._written_at < self.heartbeat:
                return False
            if not force and now - self._failed_at < self.heartbeat:
                return False  # the store refused a moment ago: do not add a timeout to every poll
            try:
                self._store.report_instance(record, self.ttl)
            except Exception as exc:  # the record is advisory: never stop following because of it
                self._failed_at = now
                self.last_error = describe_error(exc)
                self._throttle.warning(
                    "fleet", "graylib could not write its fleet record: %s", self.last_error
                )
                return False
            self._last, self._written_at, self.last_error = what, now, ""
            self._last_key = record.key
        return True

    def leave(self) -> None:
        """Remove this process's record (the client closed): a stopped process is not a silent one."""
        with self._lock:
            if self._last is None or self._last[0] != os.getpid():
                return
            key = self._last_key
            self._last = None
        try:
            self._store.remove_instance(key)
        except Exception as exc:  # the record expires by itself
            self._throttle.warning(
                "fleet", "graylib could not remove its fleet record: %s", describe_error(exc)
            )

    def after_fork_in_child(self) -> None:
        """A thread of the parent may have held the lock at the fork; the child writes its own record."""
        self._lock = threading.Lock()
        self._last = None


def _reset_in_child() -> None:
    for reporter in list(_LIVE):
        reporter.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_in_child)
