"""``store_from_url``: one string (a CLI flag, an environment variable) names a store."""

from __future__ import annotations

from graylib._redact import redact_url
from graylib.stores._protocol import Store
from graylib.stores.memory import MemoryStore
from graylib.stores.redis import RedisStore
from graylib.stores.sqlite import SQLiteStore

__all__ = ["sqlite_path", "store_from_url"]

_FORMS = (
    "memory://, sqlite:///absolute/path.db, sqlite:relative/path.db, redis://host:port/db, rediss://..., "
    "redis+cluster://host:port[,host:port...] or rediss+cluster://..."
)
_REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite:`` URL names (``sqlite:////abs`` is ``/abs`` too); None for any other URL."""
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() != "sqlite":
        return None
    if rest.startswith("///") and len(rest) > 3:
        return "/" + rest.lstrip("/")
    if rest and not rest.startswith("/"):
        return rest
    return None


def store_from_url(url: str, *, create: bool = True) -> Store:
    """Build the store a URL names.

    - ``memory://``: a new ``MemoryStore`` (this process only);
    - ``sqlite:///abs/path.db`` (absolute path) or ``sqlite:relative.db`` (relative to the working
      directory): a ``SQLiteStore``;
    - ``redis://host:port/db`` or ``rediss://...`` (TLS): a ``RedisStore``; the URL goes to redis-py as is,
      so its query options (``?password=...``) work;
    - ``redis+cluster://host:port[,host:port...]`` or ``rediss+cluster://...``: a ``RedisStore`` on a Redis
      Cluster, the listed nodes being seeds.

    ``create=False`` opens only a store that exists: a SQLite file that is missing (or that graylib never
    initialised) raises ``StoreError`` instead of becoming a new empty store, so a mistyped path fails
    loudly. A Redis database always exists; ``create`` changes nothing there.

    Anything else raises ``ValueError`` naming the accepted forms (and the URL, its passwords masked).
    """
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if colon and scheme == "memory" and rest in ("//", ""):
        return MemoryStore()
    path = sqlite_path(url)
    if path is not None:
        return SQLiteStore(path, create=create)
    if colon and scheme in _REDIS_SCHEMES and rest.startswith("//") and len(rest) > 2:
        return RedisStore(f"{scheme}:{rest}")
    msg = f"store URL: expected one of {_FORMS} (got {_shown(url)!r})"
    raise ValueError(msg)


def _shown(url: str) -> str:
    """``url`` as an error may show it: redacted, and for text too malformed for that (``rediss:/u:pw@h``)
    everything between the scheme and the last ``@`` masked."""
    shown = redact_url(url)
    if "@" in shown and "***@" not in shown:
        shown = f"{shown.partition(':')[0]}:***@{shown.rpartition('@')[2]}"
    return shown
