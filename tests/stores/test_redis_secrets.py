"""A Redis password in the store URL never leaves the process through a store: not in errors, not in repr."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator

import pytest

from graylib import StoreError
from graylib.stores import RedisStore, Store, store_from_url
from tests.redis_server import RedisServer, free_port
from tests.store_kinds import unique_prefix
from tests.stores.support import counter, request

pytestmark = pytest.mark.redis

SECRET = "pa55-Wo%2Frd%21-s3cr3t"
"""A password with characters a URL escapes; the test looks for its recognisable core too."""
CORE = "s3cr3t"

OPERATIONS: dict[str, Callable[[Store], object]] = {
    "reserve": lambda store: store.reserve(request(counter("total"))),
    "release": lambda store: store.release("rule-1", "p-1", 0.0),
    "kill": lambda store: store.kill("rule-1", "x", 0.0),
    "revive": lambda store: store.revive("rule-1"),
    "kill_switches": lambda store: store.kill_switches(),
    "stats": lambda store: store.stats("rule-1"),
    "initialise": lambda store: store.initialise(),
    "bad rule id": lambda store: store.reserve(request(counter("total"), rule_id="a}:b")),
    "inexact amount": lambda store: store.reserve(request(counter("total"), amount=-1)),
}


@pytest.fixture(scope="module")
def guarded_server() -> Iterator[RedisServer]:
    """A real redis-server that requires a password (``requirepass``)."""
    with RedisServer(extra_args=["--requirepass", "the-right-one"]) as server:
        yield server


def _everything_shown(store: Store, error: BaseException) -> str:
    """What a log line, a traceback or a status page could show of the store and the error."""
    return "\n".join([repr(store), str(store), *traceback.format_exception(error)])


def _urls(port: int) -> list[str]:
    return [
        f"redis://:{SECRET}@127.0.0.1:{port}/0",
        f"redis://admin:{SECRET}@127.0.0.1:{port}/0",
        f"redis://127.0.0.1:{port}/0?password={SECRET}",
        f"redis+cluster://admin:{SECRET}@127.0.0.1:{port},127.0.0.1:{free_port()}",
    ]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("which", range(4))
def test_a_wrong_password_never_appears_in_errors_or_repr(
    guarded_server: RedisServer, operation: str, which: int
) -> None:
    url = _urls(guarded_server.port)[which]
    store = RedisStore(url, prefix=unique_prefix(), timeout=1.0)
    with pytest.raises(StoreError) as caught:
        OPERATIONS[operation](store)
    shown = _everything_shown(store, caught.value)
    assert CORE not in shown
    assert "***" in shown  # the URL is still named, redacted
    store.close()


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("which", range(4))
def test_an_unreachable_redis_never_shows_the_password(operation: str, which: int) -> None:
    store = store_from_url(_urls(free_port())[which])
    assert isinstance(store, RedisStore)
    with pytest.raises(StoreError) as caught:
        OPERATIONS[operation](store)
    assert CORE not in _everything_shown(store, caught.value)


def test_the_right_password_works(guarded_server: RedisServer) -> None:
    url = f"redis://:the-right-one@127.0.0.1:{guarded_server.port}/0"
    store = RedisStore(url, prefix=unique_prefix(), initialise=True)
    assert store.reserve(request(counter("total"))).status.value == "granted"
    assert "the-right-one" not in repr(store)
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@127.0.0.1:notaport/0",
        f"redis+cluster://u:{SECRET}@127.0.0.1:1,:bad",
        f"redis+cluster://u:{SECRET}@127.0.0.1:6379/3",
        f"redis://127.0.0.1:notaport/0?password={SECRET}",
    ],
)
def test_a_malformed_url_is_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="bad") as caught:
        RedisStore(url)
    assert CORE not in "".join(traceback.format_exception(caught.value))


@pytest.mark.parametrize(
    "url",
    [f"redis+clusterx://:{SECRET}@127.0.0.1:1", f"rediss:/admin:{SECRET}@h", f"memory://?password={SECRET}"],
)
def test_a_store_url_of_no_known_form_is_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ValueError, match=r"store URL|bad") as caught:
        store_from_url(url)
    assert CORE not in "".join(traceback.format_exception(caught.value))
