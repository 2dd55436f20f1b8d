"""RedisStore: counters shared by every machine that talks to one Redis or one Redis Cluster.

A claim is one round trip: ``reserve.lua`` checks the kill switch, the idempotency record, every counter and
the rate alarm, then increments and records, all inside one script (Redis runs a script atomically). Every
key of a rule carries the hash tag ``{prefix:rule_id}``, so all of them live in one slot, and every key a
script touches is passed in ``KEYS``: the scripts are fit for Redis Cluster. A single Redis (``redis://``)
is reached through redis-py's connection pool with a hand-packed EVALSHA (``_redis_wire``); a cluster
(``redis+cluster://`` or ``cluster=True``) through redis-py's ``RedisCluster``, which sends each script to
the primary that owns its keys' slot and follows ``MOVED``/``ASK`` redirections.

Time comes from the callers (``request.now``), not from the Redis server, so tests can drive windows and
every machine must keep its clock NTP-synced: a machine whose clock is off counts into the wrong window.
Windowed counter keys expire at their window's end plus ``WINDOW_SLACK_MS``; lifetime counter keys at the
rule's ``ends_at`` plus ``ENDED_RETENTION`` (set again by every claim, so the latest end wins), and never
when the rule has no end.

Data loss: ``initialise`` (an explicit act, never done by a service on start) writes an epoch marker; every
claim and release script reads the marker of its own slot first and refuses (``StoreError``, the claim
fails closed) when it is missing or is not the epoch this instance saw, and ``kill_switches`` reads the
markers in its pipelines. A Redis restarted empty or flushed would otherwise grant every budget again and
forget every kill switch. On a cluster each slot holds its own marker (a script may touch one slot only).

A rule id containing ``}:`` is refused (``StoreError``): ``{prefix:a}:rec:r:x}:kill`` would be both rule
``a``'s record of payment ``x}:kill`` and the kill switch of rule ``a}:rec:r:x``, so a payment id could kill
another rule. Every other text is safe in any part of a key: after the tag, each key has a fixed shape whose
only free text (payment id, counter name) comes last.

Kill switches: the rule's own key ``{prefix:rule_id}:kill`` is what ``reserve`` obeys, inside the script.
Listing every switch across rules (an admin call) reads the index set ``{prefix}:killed``; the index is
written next to the switch, not in the same script (on Cluster it lives in another slot), and is repaired
whenever a claim meets a switch that the index may have missed. The switches themselves are then read with
one pipelined GET per rule, which a cluster client splits per node (no cross-slot MGET).

Published revisions and fleet records: see ``_redis_fleet``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from graylib._errors import StoreError
from graylib._redact import redact_url
from graylib.stores import _fork, _redis_ledger
from graylib.stores._common import (
    ALARM_LIMIT,
    DEFAULT_RECORD_TTL,
    GRANTED,
    KILLED,
    MISMATCH,
    WINDOW_SLACK,
    alarm_buckets,
    check_exact,
    check_record_ttl,
    lifetime_expiry,
    lost_data,
    not_found,
    window_start,
)
from graylib.stores._protocol import (
    KillSwitch,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    ReserveStatus,
    RuleStats,
)
from graylib.stores._redis_connect import (
    CLUSTER_SCHEMES,
    bad_url,
    cluster_factory,
    marker_of,
    scrub,
    secrets_of,
    write_epoch,
)
from graylib.stores._redis_fleet import RedisRevisions
from graylib.stores._redis_trust import RedisTrust
from graylib.stores._redis_wire import ClusterScriptRunner, ScriptRunner

__all__ = ["WINDOW_SLACK_MS", "RedisStore"]

WINDOW_SLACK_MS = WINDOW_SLACK * 1000
"""Windowed keys outlive their window by this much, for callers whose clocks lag a little."""
_INDEX_REPAIR_INTERVAL = 10.0
_RELEASE_ATTEMPTS = 3
_SCRIPTS = (
    "reserve.lua",
    "release.lua",
    "ledger_trim.lua",
    "ledger_page.lua",
    "publish.lua",
    "trust_publish.lua",
)


@cache
def _script(name: str) -> str:
    return resources.files("graylib.stores").joinpath(name).read_text(encoding="utf-8")


class RedisStore(_redis_ledger.RedisLedger, RedisRevisions, RedisTrust):
    """Counters, records, kill switches and statistics in Redis, shared by every client of that Redis.

    ``url`` is a redis-py URL (``redis://host:port/db``, ``rediss://`` for TLS). For a Redis Cluster, use
    ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://`` for TLS), or pass ``cluster=True``
    with a ``redis://`` URL: the listed nodes are only seeds from which the client learns the cluster's
    layout, and it connects on first use (so a store can be built while the cluster is down). A cluster has
    one database, so a path other than ``/0`` is refused.

    ``timeout`` bounds each connect and each reply (seconds): a slow or absent Redis becomes
    ``StoreError`` quickly, never a hung payment. A connection that broke is replaced on the next call, so
    the store recovers by itself when Redis comes back. ``prefix`` namespaces every key; ``record_ttl`` is
    how long (seconds) a claim's record is kept for replays and releases. Needs the ``graylib[redis]``
    extra.
    """

    def __init__(
        self,
        url: str,
        *,
        cluster: bool = False,
        timeout: float = 0.25,
        prefix: str = "graylib",
        record_ttl: float = DEFAULT_RECORD_TTL,
        initialise: bool = False,
    ) -> None:
        try:
            import redis  # noqa: PLC0415 - an optional extra: imported only when a RedisStore is built
            from redis.backoff import NoBackoff  # noqa: PLC0415
            from redis.retry import Retry  # noqa: PLC0415
        except ImportError as exc:
            msg = "RedisStore needs the redis package: pip install redis (the 'redis' extra)"
            raise ImportError(msg) from exc
        self._shown = redact_url(url)
        self._secrets = secrets_of(url)
        # Every exception class redis-py defines (a few cluster and fork errors do not derive from
        # RedisError), OSError for sockets, and ValueError for text that cannot be sent as UTF-8 (a lone
        # surrogate in an id) or a stored value that does not parse: all of them become StoreError.
        self._errors: tuple[type[BaseException], ...] = (
            *(
                cls
                for cls in vars(redis.exceptions).values()
                if isinstance(cls, type) and issubclass(cls, Exception)
            ),
            OSError,
            ValueError,
        )
        check_record_ttl(record_ttl, "RedisStore")
        self._prefix = prefix
        # At least 1 ms: PEXPIRE with 0 would delete the record as soon as it is written.
        self._record_ttl_ms = max(int(record_ttl * 1000), 1)
        self._index_key = f"{{{prefix}}}:killed"
        self._epoch: str | None = None
        """The epoch this instance saw (read once, on first use); every claim must find it again."""
        self._index_repaired: dict[str, float] = {}
        self._index_lock = threading.Lock()
        self._cluster_lock = threading.Lock()
        _fork.track(self)
        self._connect_cluster: Callable[[], Any] | None = None
        if cluster or url.partition(":")[0].lower() in CLUSTER_SCHEMES:
            self._connect_cluster = cluster_factory(url, timeout, self._secrets)
            self._redis: Any = None  # built by the first call that needs it
            self._scripts: dict[str, ScriptRunner | ClusterScriptRunner] = {
                name: ClusterScriptRunner(self._client, _script(name)) for name in _SCRIPTS
            }
            if initialise:
                self.initialise()
            return
        try:
            # One retry, on a broken connection only (e.g. a pooled socket that Redis closed on restart):
            # the retry opens a fresh one. Timeouts are not retried, so a call never waits much past
            # ``timeout`` plus one connect.
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                health_check_interval=0,
                decode_responses=True,
            )
        except ValueError as exc:  # redis-py's URL parser: a configuration mistake, not a failing backend
            raise bad_url(f"RedisStore: bad URL {self._shown!r}", exc, self._secrets) from None
        self._scripts = {name: ScriptRunner(self._redis, _script(name)) for name in _SCRIPTS}
        if initialise:
            self.initialise()

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Check kill switch, record, every counter and the rate alarm; then count all, or change nothing.

        Amounts and caps must be between 0 and ``MAX_AMOUNT`` (else ``StoreError``): the script compares
        them as Lua numbers, which are doubles.
        """
        tag = self._tag(request.rule_id, "reserve")
        epoch = self._seen_epoch(self._marker(tag), "reserve")
        keys, args = self._reserve_command(request, tag, epoch)
        result, index = self._reserve_result(request, self._run("reserve.lua", keys, args), epoch)
        if index is not None:
            self._index(request.rule_id, force=index)
        return result

    def _reserve_command(
        self, request: ReserveRequest, tag: str, epoch: str
    ) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of ``reserve.lua`` for ``request``; no I/O (an async store sends them)."""
        check_exact(request, f"RedisStore({self._shown!r}).reserve")
        now = request.now
        space = "s" if request.shadow else "r"
        alarm_window = request.alarm_window
        width, bucket, oldest = alarm_buckets(now, alarm_window)
        ended = lifetime_expiry(request)
        keys = [
            f"{tag}:kill",
            f"{tag}:rec:{space}:{request.payment_id}",
            f"{tag}:stats",
            f"{tag}:alarm:{alarm_window}",
            self._marker(tag),
            f"{tag}:ledger",
        ]
        args: list[str | int] = [
            "1" if request.shadow else "0",
            request.fingerprint,
            request.payload,
            request.amount,
            repr(now),
            self._record_ttl_ms,
            "" if request.alarm_amount is None else request.alarm_amount,
            # the alarm's key lives until its newest bucket leaves the window
            _ttl_ms(bucket, width + alarm_window, now) if alarm_window else 0,
            alarm_window,
            epoch,
            bucket,
            oldest,
            oldest - WINDOW_SLACK,
            "" if ended is None else int(ended * 1000),
            # what the grant's ledger entry records
            request.payment_id,
            request.account,
            request.payment_amount,
            request.origin.rule_version,
            request.origin.digest,
            request.origin.cluster,
            request.origin.node,
        ]
        for spec in request.counters:
            start = window_start(now, spec.window)
            keys.append(f"{tag}:c:{space}:{spec.window}:{start}:{spec.name}")
            args.append("" if spec.max_count is None else spec.max_count)
            args.append("" if spec.max_amount is None else spec.max_amount)
            args.append(_ttl_ms(start, spec.window, now))
        return keys, args

    def _reserve_result(
        self, request: ReserveRequest, reply: Any, epoch: str
    ) -> tuple[ReserveResult, bool | None]:
        """What ``reserve.lua`` answered, and whether the kill index needs repair (forced or not; None: no).

        Raises ``StoreError`` when the store lost its data.
        """
        code = reply[0]
        if code == 0:
            return GRANTED, None
        if code == 1:
            return ReserveResult(ReserveStatus.REPLAYED, reply[1]), None
        if code == 2:
            return MISMATCH, None
        if code == 3:
            name = request.counters[reply[1] - 1].name
            return ReserveResult(ReserveStatus.LIMIT_REACHED, limit=name, detail=f"{name} is full"), None
        if code == 4:
            return ReserveResult(ReserveStatus.ALARM_TRIPPED, limit=ALARM_LIMIT, detail=reply[1]), True
        if code == 6:
            raise lost_data(f"RedisStore({self._shown!r}).reserve", epoch, reply[1] or None)
        return KILLED, False

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        """Give back what the payment's reservation (real first, then shadow) took, and forget it.

        Two round trips: the record is read first so that the script can declare every counter key.
        """
        tag = self._tag(rule_id, "release")
        marker = self._marker(tag)
        epoch = self._seen_epoch(marker, "release")
        records = self._release_records(tag, payment_id)
        for _ in range(_RELEASE_ATTEMPTS):
            try:
                pipe = self._client().pipeline(transaction=False)
                for key in records:
                    pipe.hget(key, "keys")
                pipe.get(marker)
                found = self._release_found(pipe.execute(), tag, payment_id, epoch, now)
            except self._errors as exc:
                raise self._store_error("release", exc) from exc
            if isinstance(found, ReleaseResult):
                return found
            result = self._release_result(self._run("release.lua", *found), epoch)
            if result is not None:
                return result
        raise self._release_kept_changing(payment_id)

    def _release_records(self, tag: str, payment_id: str) -> list[str]:
        """The two records a release looks for (real, then shadow): read first with the epoch marker."""
        return [f"{tag}:rec:r:{payment_id}", f"{tag}:rec:s:{payment_id}"]

    def _release_found(
        self, found: Sequence[Any], tag: str, payment_id: str, epoch: str, now: float
    ) -> ReleaseResult | tuple[list[str], list[str]]:
        """From the records and the marker read: nothing to release, or the keys and arguments of
        ``release.lua``. Raises ``StoreError`` when the store lost its data."""
        if found[2] != epoch:
            raise lost_data(f"RedisStore({self._shown!r}).release", epoch, found[2])
        shadow = 0 if found[0] is not None else 1
        key, listed = self._release_records(tag, payment_id)[shadow], found[shadow]
        if listed is None:
            return not_found(payment_id)
        counters: Sequence[str] = json.loads(listed) or ()
        keys = [key, f"{tag}:stats", self._marker(tag), f"{tag}:ledger", *counters]
        return keys, [listed, str(shadow), epoch, payment_id, repr(now)]

    def _release_result(self, reply: Any, epoch: str) -> ReleaseResult | None:
        """What ``release.lua`` answered; None: the record changed meanwhile (try again)."""
        if reply[0] == 1:
            return ReleaseResult(True, int(reply[1]))
        if reply[0] == 3:
            raise lost_data(f"RedisStore({self._shown!r}).release", epoch, reply[1] or None)
        return None

    def _release_kept_changing(self, payment_id: str) -> StoreError:
        msg = f"RedisStore.release: the record of payment {payment_id!r} kept changing; try again"
        return StoreError(msg)

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        """Set the rule's kill switch; an existing switch keeps its first reason and time."""
        value = json.dumps({"reason": reason, "at": now})
        self._call("kill", "set", f"{self._tag(rule_id, 'kill')}:kill", value, nx=True)
        self._index(rule_id, force=True)

    def revive(self, rule_id: str) -> bool:
        """Clear the rule's kill switch; True when one was set."""
        removed = self._call("revive", "delete", f"{self._tag(rule_id, 'revive')}:kill")
        self._call("revive", "srem", self._index_key, rule_id)
        return bool(removed)

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        """Every kill switch that is set, by rule id (read through the index of killed rules).

        Raises StoreError when the store lost its data (its epoch marker is gone or another): an empty
        answer would tell every client that no rule is killed. The markers are read in the same pipelines.
        """
        what = f"RedisStore({self._shown!r}).kill_switches"
        index_marker = self._marker(f"{{{self._prefix}}}")
        epoch = self._seen_epoch(index_marker, "kill_switches")
        try:
            pipe = self._client().pipeline(transaction=False)
            pipe.smembers(self._index_key)
            pipe.get(index_marker)
            members, found = pipe.execute()
        except self._errors as exc:
            raise self._store_error("kill_switches", exc) from exc
        if found != epoch:
            raise lost_data(what, epoch, found)
        rule_ids = sorted(members)
        if not rule_ids:
            return {}
        tags = [f"{{{self._prefix}:{rule_id}}}" for rule_id in rule_ids]
        markers = sorted({self._marker(tag) for tag in tags} - {index_marker})
        try:  # one GET per rule, pipelined: the switches live in different slots on a cluster
            pipe = self._client().pipeline(transaction=False)
            for tag in tags:
                pipe.get(f"{tag}:kill")
            for marker in markers:
                pipe.get(marker)
            values = pipe.execute()
            for found in values[len(tags) :]:
                if found != epoch:
                    raise lost_data(what, epoch, found)
            switches = {}
            for rule_id, value in zip(rule_ids, values[: len(tags)], strict=True):
                if value is not None:  # revived after the index was read
                    data = json.loads(value)
                    switches[rule_id] = KillSwitch(rule_id, str(data["reason"]), float(data["at"]))
        except self._errors as exc:
            raise self._store_error("kill_switches", exc) from exc
        return switches

    def stats(self, rule_id: str) -> RuleStats:
        """Grant statistics of one rule, net of releases."""
        fields = ("granted_count", "granted_amount", "shadow_count", "shadow_amount")
        values = self._call("stats", "hmget", f"{self._tag(rule_id, 'stats')}:stats", fields)
        return RuleStats(*(int(value or 0) for value in values))

    def initialise(self) -> str:
        """Write the epoch marker if it is missing (on a cluster: into every slot); return the epoch.

        Markers already in place are kept and their epoch returned. On a cluster, markers missing from
        some slots (a shard that lost its data) or disagreeing are all replaced by a new epoch, so every
        instance that saw the old one refuses until restarted. This instance adopts the epoch it returns.
        """
        try:
            epoch = write_epoch(self._client(), self._prefix, cluster=self._connect_cluster is not None)
        except self._errors as exc:
            raise self._store_error("initialise", exc) from exc
        if epoch is None:  # deleted between the SET and the GET: an operator is at work; say so
            msg = f"RedisStore({self._shown!r}).initialise: the epoch marker vanished as it was written"
            raise StoreError(msg)
        self._epoch = epoch
        return epoch

    def close(self) -> None:
        """Close the connection pool (every node's, on a cluster)."""
        if self._redis is None:
            return
        try:
            if self._connect_cluster is not None:  # closing a cluster client leaves its nodes' pools open
                for node in self._redis.get_nodes():
                    if node.redis_connection is not None:
                        node.redis_connection.connection_pool.disconnect()
            self._redis.close()
        except self._errors as exc:
            raise self._store_error("close", exc) from exc

    # -- fork hooks (see ``_fork``); redis-py itself opens new connections in a child -------------------

    def _before_fork(self) -> None:
        """Nothing to wait for: the locks guard only bookkeeping, and the child replaces them."""

    def _after_fork_in_parent(self) -> None:
        """Nothing was held back."""

    def _after_fork_in_child(self) -> None:
        self._index_lock = threading.Lock()
        self._cluster_lock = threading.Lock()

    # -- internals ---------------------------------------------------------------------------------------

    def _client(self) -> Any:
        """The redis-py client; a cluster client is built on first use, and again after a failed attempt.

        Building a ``RedisCluster`` asks the seeds for the slot layout, so it fails while the cluster is
        unreachable: that failure surfaces as the calling operation's ``StoreError``.
        """
        client = self._redis
        if client is not None:
            return client
        assert self._connect_cluster is not None  # a single-node client is built in __init__
        with self._cluster_lock:
            if self._redis is None:
                self._redis = self._connect_cluster()
            return self._redis

    def _marker(self, tag: str) -> str:
        """The epoch marker a script touching keys of hash tag ``tag`` reads: the one key on a single
        Redis; on a cluster, the marker that lives in that tag's slot (a script may only use one slot)."""
        return marker_of(self._prefix, tag, cluster=self._connect_cluster is not None)

    def _seen_epoch(self, marker: str, what: str) -> str:
        """The epoch this instance works with, read from ``marker`` the first time (one round trip, once)."""
        epoch = self._epoch
        if epoch is None:
            found = self._call(what, "get", marker)
            if found is None:
                raise lost_data(f"RedisStore({self._shown!r}).{what}", None, None)
            epoch = self._epoch = str(found)
        return epoch

    def _tag(self, rule_id: str, what: str) -> str:
        """``{prefix:rule_id}``, the hash tag that starts every key of the rule."""
        if "}:" in rule_id:
            msg = (
                f"RedisStore({self._shown!r}).{what}: rule id {rule_id!r} contains '}}:', so its keys could"
                " be another rule's keys; rename the rule"
            )
            raise StoreError(msg)
        return f"{{{self._prefix}:{rule_id}}}"

    def _run(self, name: str, keys: list[str], args: Sequence[str | int]) -> Any:
        try:
            return self._scripts[name](keys, args)
        except self._errors as exc:
            raise self._store_error(name, exc) from exc

    def _call(self, what: str, command: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client(), command)(*args, **kwargs)
        except self._errors as exc:
            raise self._store_error(what, exc) from exc

    def _store_error(self, what: str, exc: BaseException) -> StoreError:
        """``StoreError`` naming the call and the backend error, with every password of the URL masked."""
        text = scrub(str(exc), self._secrets)
        return StoreError(f"RedisStore({self._shown!r}).{what}: {type(exc).__name__}: {text}")

    def __repr__(self) -> str:
        return f"RedisStore({self._shown!r}, prefix={self._prefix!r})"

    def _index(self, rule_id: str, *, force: bool) -> None:
        """Add ``rule_id`` to the index of killed rules; unforced, at most once per interval per rule.

        Best effort: a failure here must not turn a refusal into an error, and the next refusal retries.
        """
        clock = time.monotonic()
        with self._index_lock:
            last = self._index_repaired.get(rule_id)
            if not force and last is not None and clock - last < _INDEX_REPAIR_INTERVAL:
                return
            self._index_repaired[rule_id] = clock
        try:
            self._client().sadd(self._index_key, rule_id)
        except self._errors:
            with self._index_lock:
                self._index_repaired.pop(rule_id, None)


def _ttl_ms(start: int, window: int, now: float) -> int:
    """Milliseconds a window's key must live from ``now``: to the window's end plus slack; 0 = forever."""
    if not window:
        return 0
    return max(int((start + window - now) * 1000), 0) + WINDOW_SLACK_MS
