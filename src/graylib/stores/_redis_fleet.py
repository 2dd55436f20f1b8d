"""Published revisions and fleet records of ``RedisStore``.

Every key carries the hash tag ``{prefix}`` (that of the kill-switch index and of the single-node epoch
marker), so each operation stays in one slot on Redis Cluster:

- ``{prefix}:rev:head``: the current number; ``{prefix}:rev:N``: revision N as JSON (kept for good);
- ``{prefix}:rev:versions``: a hash from each config version to ``"number digest"`` of its first text;
- ``{prefix}:fleet:KEY``: one follower's record as JSON, expiring (``PX``) ``ttl`` after it is written;
- ``{prefix}:fleet``: a sorted set of record keys scored by their expiry (ms), to list them.

Publishing is one script (``publish.lua``): the compare-and-set of the current number, the version check and
the writes happen atomically, after the epoch marker of the slot is found to be the one this store saw. A
follower's poll (``head_revision``) is one pipelined round trip reading the current number and that marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from graylib._errors import ConflictError, StoreError
from graylib.stores._common import lost_data
from graylib.stores._redis_wire import ClusterScriptRunner, ScriptRunner
from graylib.stores._revisions import (
    MAX_HISTORY,
    Instance,
    Revision,
    check_instance,
    check_revision,
    decode_instance,
    decode_revision,
    encode_instance,
    encode_record,
    meanwhile,
    version_taken,
)

__all__ = ["RedisRevisions"]

_Call = tuple[str, tuple[Any, ...], dict[str, Any]]
"""(redis-py method, positional arguments, keyword arguments) of one pipelined command."""


class RedisRevisions:
    """The revision and fleet operations of ``RedisStore`` (which provides the attributes below)."""

    _prefix: str
    _shown: str
    _redis: Any
    _connect_cluster: Callable[[], Any] | None
    _errors: tuple[type[BaseException], ...]
    _scripts: dict[str, ScriptRunner | ClusterScriptRunner]

    if TYPE_CHECKING:  # RedisStore's own

        def _client(self) -> Any: ...
        def _marker(self, tag: str) -> str: ...
        def _seen_epoch(self, marker: str, what: str) -> str: ...
        def _store_error(self, what: str, exc: BaseException) -> StoreError: ...

    def _rev_key(self, part: str) -> str:
        return f"{{{self._prefix}}}:{part}"

    def _pipelined(
        self, what: str, calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]
    ) -> list[Any]:
        try:
            pipe = self._client().pipeline(transaction=False)
            for command, args, kwargs in calls:
                getattr(pipe, command)(*args, **kwargs)
            return list(pipe.execute())
        except self._errors as exc:
            raise self._store_error(what, exc) from exc

    def head_revision(self) -> int:
        """The current number, read with the slot's epoch marker in one round trip."""
        marker = self._marker(f"{{{self._prefix}}}")
        epoch = self._seen_epoch(marker, "head_revision")
        head, found = self._pipelined(
            "head_revision", [("get", (self._rev_key("rev:head"),), {}), ("get", (marker,), {})]
        )
        if found != epoch:
            raise lost_data(f"RedisStore({self._shown!r}).head_revision", epoch, found)
        return int(head or 0)

    def revision(self, number: int) -> Revision | None:
        if not isinstance(number, int) or number < 1:
            return None
        raw = self._pipelined("revision", [("get", (self._rev_key(f"rev:{number}"),), {})])[0]
        return None if raw is None else self._decoded(raw)

    def revisions(self, limit: int = 100) -> list[Revision]:
        limit = max(0, min(int(limit), MAX_HISTORY))
        head = self.head_revision()
        numbers = range(head, max(head - limit, 0), -1)
        if not numbers:
            return []
        raws = self._pipelined("revisions", [("get", (self._rev_key(f"rev:{n}"),), {}) for n in numbers])
        return [self._decoded(raw) for raw in raws if raw is not None]

    def append_revision(self, revision: Revision, expected: int) -> Revision:
        what = f"RedisStore({self._shown!r}).append_revision"
        check_revision(revision, expected, what)
        marker = self._marker(f"{{{self._prefix}}}")
        epoch = self._seen_epoch(marker, "append_revision")
        stored = attrs.evolve(revision, number=expected + 1)
        keys = [
            self._rev_key("rev:head"),
            self._rev_key("rev:versions"),
            self._rev_key(f"rev:{stored.number}"),
            marker,
        ]
        args: list[str | int] = [expected, stored.version, stored.digest, encode_record(stored), epoch]
        try:
            reply = self._scripts["publish.lua"](keys, args)
        except self._errors as exc:
            raise self._store_error("append_revision", exc) from exc
        code = int(reply[0])
        if code == 0:
            return stored
        if code == 1:
            raise meanwhile(expected, int(reply[1]))
        if code == 2:
            raise version_taken(stored.version, int(reply[1]))
        if code == 3:
            raise lost_data(what, epoch, str(reply[1]) or None)
        msg = f"{what}: unexpected reply {reply!r}"
        raise ConflictError(msg)

    def report_instance(self, instance: Instance, ttl: float) -> None:
        check_instance(instance, ttl, f"RedisStore({self._shown!r}).report_instance")
        key = self._rev_key(f"fleet:{instance.key}")
        expires_ms = int((instance.last_seen + ttl) * 1000)
        self._pipelined(
            "report_instance",
            [
                ("set", (key, encode_instance(instance)), {"px": max(int(ttl * 1000), 1)}),
                ("zadd", (self._rev_key("fleet"), {key: expires_ms}), {}),
                ("zremrangebyscore", (self._rev_key("fleet"), "-inf", int(instance.last_seen * 1000)), {}),
            ],
        )

    def remove_instance(self, key: str) -> None:
        record = self._rev_key(f"fleet:{key}")
        self._pipelined(
            "remove_instance",
            [("delete", (record,), {}), ("zrem", (self._rev_key("fleet"), record), {})],
        )

    def instances(self, now: float) -> list[Instance]:
        index = self._rev_key("fleet")
        keys = self._pipelined("instances", [("zrangebyscore", (index, int(now * 1000) + 1, "+inf"), {})])[0]
        if not keys:
            return []
        raws = self._pipelined("instances", [("get", (key,), {}) for key in keys])
        try:
            found = [decode_instance(raw) for raw in raws if raw is not None]
        except (ValueError, TypeError) as exc:
            raise self._store_error("instances", exc) from exc
        return sorted(found, key=lambda i: (i.cluster, i.node, i.host, i.pid))

    def _decoded(self, raw: str) -> Revision:
        try:
            return decode_revision(raw)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise self._store_error("revision", exc) from exc
