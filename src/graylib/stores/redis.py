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

A rule id containing ``}:`` is refused (``StoreError``): ``{prefix:a}:rec:r:x}:kill`` would be both rule
``a``'s record of payment ``x}:kill`` and the kill switch of rule ``a}:rec:r:x``, so a payment id could kill
another rule. Every other text is safe in any part of a key: after the tag, each key has a fixed shape whose
only free text (payment id, counter name) comes last.

Kill switches: the rule's own key ``{prefix:rule_id}:kill`` is what ``reserve`` obeys, inside the script.
Listing every switch across rules (an admin call) reads the index set ``{prefix}:killed``; the index is
written next to the switch, not in the same script (on Cluster it lives in another slot), and is repaired
whenever a claim meets a switch that the index may have missed. The switches themselves are then read with
one pipelined GET per rule, which a cluster client splits per node (no cross-slot MGET).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote

from graylib._errors import StoreError
from graylib._redact import redact_url
from graylib.stores import _fork
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
    new_epoch,
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
from graylib.stores._redis_wire import ClusterScriptRunner, ScriptRunner

__all__ = ["WINDOW_SLACK_MS", "RedisStore"]

WINDOW_SLACK_MS = WINDOW_SLACK * 1000
"""Windowed keys outlive their window by this much, for callers whose clocks lag a little."""
_INDEX_REPAIR_INTERVAL = 10.0
_RELEASE_ATTEMPTS = 3
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_SLOTS = 16_384
_DEFAULT_PORT = 6379


@cache
def _script(name: str) -> str:
    return resources.files("graylib.stores").joinpath(name).read_text(encoding="utf-8")


class RedisStore:
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
            msg = "RedisStore needs the redis package: pip install 'graylib[redis]'"
            raise ImportError(msg) from exc
        self._shown = redact_url(url)
        self._secrets = _secrets_of(url)
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
        if cluster or url.partition(":")[0].lower() in _CLUSTER_SCHEMES:
            self._connect_cluster = _cluster_factory(url, timeout, self._secrets)
            self._redis: Any = None  # built by the first call that needs it
            self._scripts: dict[str, ScriptRunner | ClusterScriptRunner] = {
                name: ClusterScriptRunner(self._client, _script(name))
                for name in ("reserve.lua", "release.lua")
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
            raise _bad_url(f"RedisStore: bad URL {self._shown!r}", exc, self._secrets) from None
        self._scripts = {
            name: ScriptRunner(self._redis, _script(name)) for name in ("reserve.lua", "release.lua")
        }
        if initialise:
            self.initialise()

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Check kill switch, record, every counter and the rate alarm; then count all, or change nothing.

        Amounts and caps must be between 0 and ``MAX_AMOUNT`` (else ``StoreError``): the script compares
        them as Lua numbers, which are doubles.
        """
        check_exact(request, f"RedisStore({self._shown!r}).reserve")
        tag = self._tag(request.rule_id, "reserve")
        now = request.now
        space = "s" if request.shadow else "r"
        alarm_window = request.alarm_window
        width, bucket, oldest = alarm_buckets(now, alarm_window)
        ended = lifetime_expiry(request)
        marker = self._marker(tag)
        epoch = self._seen_epoch(marker, "reserve")
        keys = [
            f"{tag}:kill",
            f"{tag}:rec:{space}:{request.payment_id}",
            f"{tag}:stats",
            f"{tag}:alarm:{alarm_window}",
            marker,
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
        ]
        for spec in request.counters:
            start = window_start(now, spec.window)
            keys.append(f"{tag}:c:{space}:{spec.window}:{start}:{spec.name}")
            args.append("" if spec.max_count is None else spec.max_count)
            args.append("" if spec.max_amount is None else spec.max_amount)
            args.append(_ttl_ms(start, spec.window, now))
        reply = self._run("reserve.lua", keys, args)
        code = reply[0]
        if code == 0:
            return GRANTED
        if code == 1:
            return ReserveResult(ReserveStatus.REPLAYED, reply[1])
        if code == 2:
            return MISMATCH
        if code == 3:
            name = request.counters[reply[1] - 1].name
            return ReserveResult(ReserveStatus.LIMIT_REACHED, limit=name, detail=f"{name} is full")
        if code == 4:
            self._index(request.rule_id, force=True)
            return ReserveResult(ReserveStatus.ALARM_TRIPPED, limit=ALARM_LIMIT, detail=reply[1])
        if code == 6:
            raise lost_data(f"RedisStore({self._shown!r}).reserve", epoch, reply[1] or None)
        self._index(request.rule_id, force=False)
        return KILLED

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        """Give back what the payment's reservation (real first, then shadow) took, and forget it.

        Two round trips: the record is read first so that the script can declare every counter key.
        """
        tag = self._tag(rule_id, "release")
        marker = self._marker(tag)
        epoch = self._seen_epoch(marker, "release")
        records = [f"{tag}:rec:r:{payment_id}", f"{tag}:rec:s:{payment_id}"]
        for _ in range(_RELEASE_ATTEMPTS):
            try:
                pipe = self._client().pipeline(transaction=False)
                for key in records:
                    pipe.hget(key, "keys")
                pipe.get(marker)
                found: list[str | None] = pipe.execute()
                if found[2] != epoch:
                    raise lost_data(f"RedisStore({self._shown!r}).release", epoch, found[2])
                shadow = 0 if found[0] is not None else 1
                key, listed = records[shadow], found[shadow]
                if listed is None:
                    return not_found(payment_id)
                counters: Sequence[str] = json.loads(listed) or ()
            except self._errors as exc:
                raise self._store_error("release", exc) from exc
            reply = self._run(
                "release.lua", [key, f"{tag}:stats", marker, *counters], [listed, str(shadow), epoch]
            )
            if reply[0] == 1:
                return ReleaseResult(True, int(reply[1]))
            if reply[0] == 3:
                raise lost_data(f"RedisStore({self._shown!r}).release", epoch, reply[1] or None)
        msg = f"RedisStore.release: the record of payment {payment_id!r} kept changing; try again"
        raise StoreError(msg)

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
            if self._connect_cluster is None:
                marker = f"{{{self._prefix}}}:epoch"
                self._client().set(marker, new_epoch(), nx=True)
                epoch: str | None = self._client().get(marker)
            else:
                markers = _slot_markers(self._prefix)
                pipe = self._client().pipeline(transaction=False)
                for marker in markers:
                    pipe.get(marker)
                found = set(pipe.execute())
                epoch = found.pop() if len(found) == 1 else None
                if epoch is None:
                    epoch = new_epoch()
                    pipe = self._client().pipeline(transaction=False)
                    for marker in markers:
                        pipe.set(marker, epoch)
                    pipe.execute()
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
        if self._connect_cluster is None:
            return f"{{{self._prefix}}}:epoch"
        from redis.crc import key_slot  # noqa: PLC0415 - the optional extra

        slot: int = key_slot(tag.encode())
        return _slot_markers(self._prefix)[slot]

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
        text = _scrub(str(exc), self._secrets)
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


def _cluster_factory(url: str, timeout: float, secrets: Sequence[str]) -> Callable[[], Any]:
    """Check a cluster URL now (``ValueError`` when it is malformed); return what connects to it later.

    ``redis+cluster://[user:password@]host:port[,host:port...][/0][?options]``: the first node and the
    options go to redis-py's URL parser, the other nodes become extra seeds. A plain ``redis://`` or
    ``rediss://`` URL (with ``cluster=True``) is read the same way.
    """
    from redis import cluster as redis_cluster  # noqa: PLC0415 - the optional extra
    from redis import connection as redis_connection  # noqa: PLC0415

    # Partly typed in redis-py; used through Any like the rest of the client.
    parse_url: Any = redis_connection.parse_url
    node: Any = redis_cluster.ClusterNode

    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    base_scheme = _CLUSTER_SCHEMES.get(scheme.lower(), scheme.lower())
    if not sep or base_scheme not in ("redis", "rediss"):
        msg = f"RedisStore: bad cluster URL {shown!r}: expected redis+cluster://host:port[,host:port...]"
        raise ValueError(msg)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at, hosts = netloc.rpartition("@")
    seeds = [_host_port(part, shown) for part in hosts.split(",")]
    host, port = seeds[0]
    first = f"{base_scheme}://{userinfo}{at}{f'[{host}]' if ':' in host else host}:{port}{tail}"
    try:
        options = parse_url(first)
    except ValueError as exc:
        raise _bad_url(f"RedisStore: bad URL {shown!r}", exc, secrets) from None
    if options.get("db", 0) != 0 or "path" in options:
        msg = f"RedisStore: bad cluster URL {shown!r}: a cluster has database 0 only, over TCP"
        raise ValueError(msg)

    def connect() -> Any:
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        # One retry of a command after a broken connection or a changed slot layout (redis-py refreshes
        # its view of the cluster first), as the single-node path retries a broken connection once.
        return _cluster_class()(
            url=first,
            startup_nodes=[node(seed, seed_port) for seed, seed_port in seeds[1:]],
            retry=Retry(NoBackoff(), 1),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=0,
            decode_responses=True,
        )

    return connect


@cache
def _cluster_class() -> Any:
    """redis-py's ``RedisCluster``, except that a timeout is not retried.

    redis-py retries a command after a timeout too, which lets one call wait twice ``timeout`` (while the
    script that timed out may still run on its node). As on a single node, a timeout fails the call at
    once; a broken connection and a changed slot layout are still retried once.
    """
    import redis  # noqa: PLC0415 - the optional extra
    from redis import cluster as redis_cluster  # noqa: PLC0415

    base: Any = redis_cluster.RedisCluster
    retried = tuple(cls for cls in base.ERRORS_ALLOW_RETRY if not issubclass(cls, redis.TimeoutError))
    return type("RedisClusterNoTimeoutRetry", (base,), {"ERRORS_ALLOW_RETRY": retried})


@cache
def _slot_markers(prefix: str) -> tuple[str, ...]:
    """The epoch marker key of every cluster slot, by slot: ``{prefix:epoch:N}`` with N chosen so that the
    key hashes to that slot (about 120,000 CRC16s, some 60 ms, once per prefix)."""
    from redis.crc import key_slot  # noqa: PLC0415 - the optional extra

    markers: list[str | None] = [None] * _SLOTS
    missing = _SLOTS
    n = 0
    while missing:
        key = f"{{{prefix}:epoch:{n}}}"
        slot = key_slot(key.encode())
        if markers[slot] is None:
            markers[slot] = key
            missing -= 1
        n += 1
    return tuple(key for key in markers if key is not None)


def _host_port(text: str, url: str) -> tuple[str, int]:
    """``host:port``, ``host`` (port 6379) or ``[v6::addr]:port`` of one cluster seed (``url``: as shown)."""
    host, port = text, ""
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            host = ""
        port = after[1:]
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not host or (port and not port.isdigit()) or not 0 < int(port or _DEFAULT_PORT) < 65_536:
        msg = f"RedisStore: bad cluster URL {url!r}: {redact_url('//' + text)[2:]!r} is not host:port"
        raise ValueError(msg)
    return host, int(port or _DEFAULT_PORT)


def _ttl_ms(start: int, window: int, now: float) -> int:
    """Milliseconds a window's key must live from ``now``: to the window's end plus slack; 0 = forever."""
    if not window:
        return 0
    return max(int((start + window - now) * 1000), 0) + WINDOW_SLACK_MS


def _secrets_of(url: str) -> tuple[str, ...]:
    """Every password ``url`` carries, as written and percent-decoded, to mask in backend error texts."""
    found: list[str] = []
    for netloc in url.partition("://")[2].split("/")[0].split(","):
        userinfo, at, _ = netloc.rpartition("@")
        if at:
            found.append(userinfo.partition(":")[2] or userinfo)
    for key, value in parse_qsl(url.partition("?")[2].partition("#")[0], keep_blank_values=True):
        if key.lower() in ("password", "pass", "pwd", "secret", "token", "auth"):
            found.append(value)
    return tuple({text for secret in found for text in (secret, unquote(secret)) if text})


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with URLs redacted and every known password replaced by ``***``."""
    text = redact_url(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _bad_url(what: str, exc: ValueError, secrets: Sequence[str]) -> ValueError:
    """The ``ValueError`` for a URL redis-py could not parse; its text (which may quote the URL) is scrubbed,
    and the caller raises it ``from None`` so that the original text does not travel along as the cause."""
    return ValueError(f"{what}: {_scrub(str(exc), secrets)}")
