"""The OpenFeature provider's lifecycle: initialise, events on every change, status, and shutdown.

Run against every openfeature-sdk the extra allows (``.ci/run`` runs this module on the oldest, 0.8.2).
The rules are a real file reloaded by the client; the store outage is a store whose kill-switch read fails.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider import ProviderStatus
from openfeature.provider.no_op_provider import NoOpProvider

from graylib import Client, MemoryStore, StoreError
from graylib.openfeature import GraylibProvider
from graylib.stores import KillSwitch
from tests.helpers import make_config

WAIT = 10.0


def _register(provider: GraylibProvider, domain: str) -> None:
    """Register and initialise before returning (SDK 0.10 has ``set_provider_and_wait``; 0.8.2
    initialises inside ``set_provider``)."""
    register = getattr(api, "set_provider_and_wait", api.set_provider)
    register(provider, domain=domain)


class _Seen:
    """Every event the SDK hands the domain's client, in order."""

    def __init__(self, domain: str) -> None:
        self.events: list[tuple[ProviderEvent, EventDetails]] = []
        self._cond = threading.Condition()
        client = api.get_client(domain=domain)
        for event in ProviderEvent:
            client.add_handler(event, self._handler(event))

    def _handler(self, event: ProviderEvent) -> Callable[[EventDetails], None]:
        def handle(details: EventDetails) -> None:
            with self._cond:
                self.events.append((event, details))
                self._cond.notify_all()

        return handle

    def wait_for(self, event: ProviderEvent, after: int = 0) -> EventDetails:
        """The first ``event`` at index ``after`` or later, waiting for it."""
        deadline = time.monotonic() + WAIT
        with self._cond:
            while True:
                for kind, details in self.events[after:]:
                    if kind is event:
                        return details
                left = deadline - time.monotonic()
                assert left > 0, f"no {event} after #{after}; saw {[k.value for k, _ in self.events]}"
                self._cond.wait(left)


class _FlakyStore(MemoryStore):
    """A MemoryStore whose kill-switch read fails while ``down`` is set."""

    down = False

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        if self.down:
            msg = "connection refused"
            raise StoreError(msg)
        return super().kill_switches()


def _graylib_threads(before: frozenset[threading.Thread] = frozenset()) -> list[str]:
    """Names of graylib's live threads, leaving out those in ``before`` (other tests' clients)."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if t.name.startswith("graylib") and t.is_alive() and t not in before
    )


@pytest.fixture(name="rules")
def rules_fixture(tmp_path: Path) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(make_config({}, {"id": "other"}, version="v1")), encoding="utf-8")
    return path


@pytest.fixture(name="domain")
def domain_fixture(request: pytest.FixtureRequest) -> Iterator[str]:
    domain = f"graylib-lifecycle-{request.node.name}"
    yield domain
    api.set_provider(NoOpProvider(), domain=domain)


def _status(domain: str) -> ProviderStatus:
    return api.get_client(domain=domain).get_provider_status()


def _write(path: Path, **rule: Any) -> None:
    path.write_text(
        json.dumps(make_config(rule, {"id": "other"}, version=str(time.time()))), encoding="utf-8"
    )


def test_a_reload_emits_configuration_changed_naming_the_changed_rules(rules: Path, domain: str) -> None:
    client = Client.from_file(rules, cluster="sh-small")
    provider = GraylibProvider(client)
    _register(provider, domain)
    seen = _Seen(domain)
    assert _status(domain) is ProviderStatus.READY and provider.status is ProviderStatus.READY
    _write(rules, discount={"percent": 10, "max_off": 50_000})
    assert client.reload_now()
    details = seen.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert details.flags_changed == ["subsidy"]
    assert details.metadata["version"] == client.snapshot.version


def test_a_refused_reload_is_stale_until_the_source_is_good_again(rules: Path, domain: str) -> None:
    client = Client.from_file(rules, cluster="sh-small")
    provider = GraylibProvider(client)
    _register(provider, domain)
    seen = _Seen(domain)
    good = rules.read_text(encoding="utf-8")
    rules.write_text("{not json", encoding="utf-8")
    assert not client.reload_now()
    stale = seen.wait_for(ProviderEvent.PROVIDER_STALE)
    assert "refused" in (stale.message or "")
    assert _status(domain) is ProviderStatus.STALE and provider.status is ProviderStatus.STALE
    rules.write_text(good, encoding="utf-8")
    assert client.reload_now()
    seen.wait_for(ProviderEvent.PROVIDER_READY, after=len(seen.events))
    assert _status(domain) is ProviderStatus.READY


def test_an_unreachable_store_is_stale_then_error_then_ready_again(domain: str) -> None:
    store = _FlakyStore()
    client = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05, kill_max_stale=0.5)
    provider = GraylibProvider(client)
    _register(provider, domain)
    seen = _Seen(domain)
    store.down = True
    seen.wait_for(ProviderEvent.PROVIDER_STALE)
    error = seen.wait_for(ProviderEvent.PROVIDER_ERROR)
    assert "kill switches unknown" in (error.message or "")
    assert _status(domain) is ProviderStatus.ERROR
    mark = len(seen.events)
    store.down = False
    seen.wait_for(ProviderEvent.PROVIDER_READY, after=mark)
    assert _status(domain) is ProviderStatus.READY and provider.status is ProviderStatus.READY


def test_a_kill_switch_is_a_configuration_change_of_its_rule(domain: str) -> None:
    client = Client(make_config({}, {"id": "other"}), cluster="sh-small")
    _register(GraylibProvider(client), domain)
    seen = _Seen(domain)
    client.kill("other", reason="incident")
    assert seen.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED).flags_changed == ["other"]


def test_initialising_with_the_kill_switches_unknown_is_an_error_until_they_are_read(domain: str) -> None:
    store = _FlakyStore()
    store.down = True
    client = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05, kill_max_stale=0.2)
    time.sleep(0.3)  # past kill_max_stale with nothing read
    provider = GraylibProvider(client)
    seen = _Seen(domain)
    try:
        _register(provider, domain)
    except Exception as exc:  # SDK 0.10 re-raises a failed initialisation from set_provider_and_wait
        assert "kill switches unknown" in str(exc)
    assert provider.status is ProviderStatus.ERROR
    assert _status(domain) is ProviderStatus.ERROR
    store.down = False
    seen.wait_for(ProviderEvent.PROVIDER_READY, after=len(seen.events))
    assert _status(domain) is ProviderStatus.READY


def test_no_graylib_thread_survives_api_shutdown(rules: Path) -> None:
    before = frozenset(threading.enumerate())
    client = Client.from_file(rules, cluster="sh-small", reload_interval=0.05, kill_refresh=0.05)
    provider = GraylibProvider(client)
    _register(provider, "graylib-lifecycle-shutdown")
    started = _graylib_threads(before)
    assert started == ["graylib-kill-switches", "graylib-openfeature-events", "graylib-reload"]
    api.shutdown()
    assert _graylib_threads(before) == []
    assert provider.status is ProviderStatus.NOT_READY


def test_close_client_false_leaves_the_client_running(domain: str) -> None:
    before = frozenset(threading.enumerate())
    client = Client(make_config(), cluster="sh-small", kill_refresh=0.05)
    _register(GraylibProvider(client, close_client=False), domain)
    api.set_provider(NoOpProvider(), domain=domain)
    deadline = time.monotonic() + WAIT
    while "graylib-openfeature-events" in _graylib_threads(before) and time.monotonic() < deadline:
        time.sleep(0.01)  # SDK 0.10 shuts a replaced provider down on a thread of its own
    assert _graylib_threads(before) == ["graylib-kill-switches"]
    client.close()
    assert _graylib_threads(before) == []
