"""How a RedisStore reaches Redis: cluster URLs and client, the epoch markers of a cluster's slots, and
keeping the URL's password out of every message.

``redis+cluster://[user:password@]host:port[,host:port...]`` names a Redis Cluster by its seed nodes. A
message that quotes a URL or a backend error shows the URL redacted (``redact_url``) and every password
of the URL masked, so that no password leaves the process through an error, a log line or a status page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from graylib._redact import redact_url
from graylib.stores._common import new_epoch

__all__ = [
    "CLUSTER_SCHEMES",
    "bad_url",
    "cluster_factory",
    "marker_of",
    "scrub",
    "secrets_of",
    "slot_markers",
    "write_epoch",
]

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_SLOTS = 16_384
_DEFAULT_PORT = 6379


def cluster_factory(url: str, timeout: float, secrets: Sequence[str]) -> Callable[[], Any]:
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
    base_scheme = CLUSTER_SCHEMES.get(scheme.lower(), scheme.lower())
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
        raise bad_url(f"RedisStore: bad URL {shown!r}", exc, secrets) from None
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
def slot_markers(prefix: str) -> tuple[str, ...]:
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


def marker_of(prefix: str, tag: str, *, cluster: bool) -> str:
    """The epoch marker a script touching keys of hash tag ``tag`` reads: the one key on a single Redis;
    on a cluster, the marker that lives in that tag's slot (a script may only use keys of one slot)."""
    if not cluster:
        return f"{{{prefix}}}:epoch"
    from redis.crc import key_slot  # noqa: PLC0415 - the optional extra

    slot: int = key_slot(tag.encode())
    return slot_markers(prefix)[slot]


def write_epoch(client: Any, prefix: str, *, cluster: bool) -> str | None:
    """Write the epoch marker where it is missing; the epoch now in place (None: deleted meanwhile).

    A single Redis: ``SET NX``, then read it back. A cluster: read every slot's marker; when all agree
    they stay, else (some missing, or two epochs) every slot gets a new one.
    """
    if not cluster:
        marker = f"{{{prefix}}}:epoch"
        client.set(marker, new_epoch(), nx=True)
        found: str | None = client.get(marker)
        return found
    markers = slot_markers(prefix)
    pipe = client.pipeline(transaction=False)
    for marker in markers:
        pipe.get(marker)
    seen = set(pipe.execute())
    if len(seen) == 1 and None not in seen:
        return str(seen.pop())
    epoch = new_epoch()
    pipe = client.pipeline(transaction=False)
    for marker in markers:
        pipe.set(marker, epoch)
    pipe.execute()
    return epoch


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


def secrets_of(url: str) -> tuple[str, ...]:
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


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with URLs redacted and every known password replaced by ``***``."""
    text = redact_url(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def bad_url(what: str, exc: ValueError, secrets: Sequence[str]) -> ValueError:
    """The ``ValueError`` for a URL redis-py could not parse; its text (which may quote the URL) is scrubbed,
    and the caller raises it ``from None`` so that the original text does not travel along as the cause."""
    return ValueError(f"{what}: {scrub(str(exc), secrets)}")
