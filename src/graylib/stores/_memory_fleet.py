"""Published revisions and fleet records of ``MemoryStore``, under the store's own lock."""

from __future__ import annotations

import threading

import attrs

from graylib.stores._revisions import (
    MAX_HISTORY,
    Instance,
    Revision,
    check_instance,
    check_revision,
    meanwhile,
    version_taken,
)
from graylib.stores._trust_records import TrustRecord, check_trust_record, trust_meanwhile

__all__ = ["MemoryRevisions"]


class MemoryRevisions:
    """The revision log (a list), the version names, the trust files, and the fleet records with their
    expiry."""

    _lock: threading.Lock

    def _init_revisions(self) -> None:
        self._revisions: list[Revision] = []
        self._versions: dict[str, tuple[str, int]] = {}
        self._instances: dict[str, tuple[Instance, float]] = {}
        self._trusts: list[TrustRecord] = []

    def head_revision(self) -> int:
        with self._lock:
            return len(self._revisions)

    def revision(self, number: int) -> Revision | None:
        with self._lock:
            if isinstance(number, int) and 1 <= number <= len(self._revisions):
                return self._revisions[number - 1]
            return None

    def revisions(self, limit: int = 100) -> list[Revision]:
        limit = max(0, min(int(limit), MAX_HISTORY))
        with self._lock:
            return list(reversed(self._revisions[-limit:])) if limit else []

    def append_revision(self, revision: Revision, expected: int) -> Revision:
        check_revision(revision, expected, "MemoryStore.append_revision")
        with self._lock:
            current = len(self._revisions)
            if current != expected:
                raise meanwhile(expected, current)
            named = self._versions.get(revision.version)
            if named is not None and named[0] != revision.digest:
                raise version_taken(revision.version, named[1])
            stored = attrs.evolve(revision, number=current + 1)
            self._revisions.append(stored)
            self._versions.setdefault(revision.version, (revision.digest, stored.number))
            return stored

    def head_trust(self) -> int:
        with self._lock:
            return len(self._trusts)

    def trust_record(self, number: int) -> TrustRecord | None:
        with self._lock:
            if isinstance(number, int) and 1 <= number <= len(self._trusts):
                return self._trusts[number - 1]
            return None

    def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        check_trust_record(record, expected, "MemoryStore.append_trust")
        with self._lock:
            current = len(self._trusts)
            if current != expected:
                raise trust_meanwhile(expected, current)
            stored = attrs.evolve(record, number=current + 1)
            self._trusts.append(stored)
            return stored

    def report_instance(self, instance: Instance, ttl: float) -> None:
        check_instance(instance, ttl, "MemoryStore.report_instance")
        with self._lock:
            self._instances[instance.key] = (instance, instance.last_seen + ttl)

    def remove_instance(self, key: str) -> None:
        with self._lock:
            self._instances.pop(key, None)

    def instances(self, now: float) -> list[Instance]:
        with self._lock:
            for key in [k for k, (_, until) in self._instances.items() if until <= now]:
                del self._instances[key]
            found = [instance for instance, _ in self._instances.values()]
        return sorted(found, key=lambda i: (i.cluster, i.node, i.host, i.pid))
