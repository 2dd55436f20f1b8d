"""graylib for asyncio services: ``AsyncClient`` and the async stores it awaits.

::

    from graylib.aio import AsyncClient, AsyncRedisStore

    store = AsyncRedisStore("redis://db:6379/0")
    async with AsyncClient.from_file("rules.toml", store=store, reload_interval=5.0) as client:
        offer = client.evaluate("welcome", ctx)        # synchronous and pure, as in Client
        decision = await client.claim("welcome", ctx)  # one awaited store call

See ``graylib._aio_client`` and ``graylib.stores.aio`` for how each part avoids blocking the loop.
"""

from ._aio_client import AsyncClient
from .stores.aio import AsyncMemoryStore, AsyncRedisStore, AsyncSQLiteStore, AsyncStore

__all__ = ["AsyncClient", "AsyncMemoryStore", "AsyncRedisStore", "AsyncSQLiteStore", "AsyncStore"]
