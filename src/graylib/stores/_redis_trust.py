"""The trust files published into ``RedisStore`` (``_trust_records``).

Keys carry the hash tag ``{prefix}`` like the revisions', so each operation stays in one slot:
``{prefix}:trust:head`` is the number in force and ``{prefix}:trust:N`` trust file N as JSON (kept for
good). Storing one is a script (``trust_publish.lua``): the compare-and-set of the number in force and the
writes happen atomically, after the slot's epoch marker is found to be the one this store saw.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from graylib._errors import ConflictError, StoreError
from graylib.stores._common import lost_data
from graylib.stores._redis_wire import ClusterScriptRunner, ScriptRunner
from graylib.stores._revisions import encode_record
from graylib.stores._trust_records import (
    TrustRecord,
    check_trust_record,
    decode_trust_record,
    trust_meanwhile,
)

__all__ = ["RedisTrust"]


class RedisTrust:
    """The trust file operations of ``RedisStore`` (which provides the attributes below)."""

    _prefix: str
    _shown: str
    _redis: Any
    _connect_cluster: Callable[[], Any] | None
    _errors: tuple[type[BaseException], ...]
    _scripts: dict[str, ScriptRunner | ClusterScriptRunner]

    if TYPE_CHECKING:  # RedisStore's and RedisRevisions' own

        def _client(self) -> Any: ...
        def _marker(self, tag: str) -> str: ...
        def _seen_epoch(self, marker: str, what: str) -> str: ...
        def _store_error(self, what: str, exc: BaseException) -> StoreError: ...
        def _rev_key(self, part: str) -> str: ...
        def _pipelined(
            self, what: str, calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]
        ) -> list[Any]: ...

    def head_trust(self) -> int:
        """The number of the trust file in force (0: none), read with the slot's epoch marker."""
        marker = self._marker(f"{{{self._prefix}}}")
        epoch = self._seen_epoch(marker, "head_trust")
        head, found = self._pipelined(
            "head_trust", [("get", (self._rev_key("trust:head"),), {}), ("get", (marker,), {})]
        )
        if found != epoch:
            raise lost_data(f"RedisStore({self._shown!r}).head_trust", epoch, found)
        return int(head or 0)

    def trust_record(self, number: int) -> TrustRecord | None:
        """The trust file numbered ``number``, or None."""
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            return None
        raw = self._pipelined("trust_record", [("get", (self._rev_key(f"trust:{number}"),), {})])[0]
        if raw is None:
            return None
        try:
            return decode_trust_record(raw)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise self._store_error("trust_record", exc) from exc

    def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        """Store ``record`` as ``expected + 1`` atomically, or raise ``ConflictError``."""
        what = f"RedisStore({self._shown!r}).append_trust"
        check_trust_record(record, expected, what)
        marker = self._marker(f"{{{self._prefix}}}")
        epoch = self._seen_epoch(marker, "append_trust")
        stored = attrs.evolve(record, number=expected + 1)
        keys = [self._rev_key("trust:head"), self._rev_key(f"trust:{stored.number}"), marker]
        try:
            reply = self._scripts["trust_publish.lua"](keys, [expected, encode_record(stored), epoch])
        except self._errors as exc:
            raise self._store_error("append_trust", exc) from exc
        code = int(reply[0])
        if code == 0:
            return stored
        if code == 1:
            raise trust_meanwhile(expected, int(reply[1]))
        if code == 3:
            raise lost_data(what, epoch, str(reply[1]) or None)
        msg = f"{what}: unexpected reply {reply!r}"
        raise ConflictError(msg)
