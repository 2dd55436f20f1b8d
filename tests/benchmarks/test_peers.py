"""The peer SDKs in benchmarks/peers.py evaluate a flag equivalent to the graylib rule, offline.

Each installed peer must: turn the allow list on whatever the payment type, keep every other account off
for an ineligible payment type, and turn on 25% (±3%) of 10,000 accounts for an eligible one, bucketed by
the account alone. It must do so without attempting any network connection and must stop its background
threads on close. The SDKs come from the bench-peers extra; a missing one is skipped, not passed.
"""

from __future__ import annotations

import gc
import importlib.util
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from benchmarks import _timing, peers

ACCOUNTS = [f"acct-{i:06d}" for i in range(10_000)]
INELIGIBLE_PAYMENT_TYPES = ("cash", "bank_transfer", "")
TOLERANCE = 0.03

# peer name -> (module to import, factory)
FACTORIES: dict[str, tuple[str, Callable[[], peers.PeerBench | None]]] = {
    "growthbook": ("growthbook", peers.make_growthbook),
    "launchdarkly": ("ldclient", peers.make_launchdarkly),
    "unleash": ("UnleashClient", peers.make_unleash),
    "openfeature-inmemory": ("openfeature", peers.make_openfeature),
}


class _NetworkGuard:
    """Refuses and records every name lookup and outgoing connection while active."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []

    def _refuse(self, what: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            self.attempts.append((what, args[1:] if what.startswith("socket.") else args))
            raise OSError(f"network access attempted in a test: {what}")

        return refuse

    def install(self, mp: pytest.MonkeyPatch) -> None:
        mp.setattr(socket.socket, "connect", self._refuse("socket.connect"))
        mp.setattr(socket.socket, "connect_ex", self._refuse("socket.connect_ex"))
        mp.setattr(socket, "getaddrinfo", self._refuse("getaddrinfo"))
        mp.setattr(socket, "create_connection", self._refuse("create_connection"))


@pytest.fixture(scope="module", params=list(FACTORIES), ids=list(FACTORIES))
def peer(request: pytest.FixtureRequest) -> Iterator[peers.PeerBench]:
    """One peer built, exercised and closed under a network guard; skipped when its SDK is missing."""
    module, factory = FACTORIES[request.param]
    pytest.importorskip(module, reason=f"{request.param} SDK not installed (bench-peers extra)")
    guard = _NetworkGuard()
    threads_before = set(threading.enumerate())
    with pytest.MonkeyPatch.context() as mp:
        guard.install(mp)
        bench = factory()
        assert bench is not None, peers.skipped().get(request.param)
        try:
            yield bench
        finally:
            bench.close()
    assert guard.attempts == [], f"{bench.name} attempted network access: {guard.attempts}"
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    for thread in leftover:
        thread.join(timeout=5)
    assert [t.name for t in leftover if t.is_alive()] == [], f"{bench.name} left threads running"


def test_peer_identifies_itself(peer: peers.PeerBench) -> None:
    assert peer.name in FACTORIES
    assert peer.version[0].isdigit()


@pytest.mark.parametrize("payment_type", [*peers.ELIGIBLE_PAYMENT_TYPES, *INELIGIBLE_PAYMENT_TYPES])
def test_allow_list_is_on_for_any_payment_type(peer: peers.PeerBench, payment_type: str) -> None:
    for account in peers.ALLOW_LIST:
        assert peer.evaluate(account, payment_type) is True


def test_ineligible_payment_type_is_off(peer: peers.PeerBench) -> None:
    for payment_type in INELIGIBLE_PAYMENT_TYPES:
        on = [a for a in ACCOUNTS[:2_000] if peer.evaluate(a, payment_type)]
        assert on == [], f"{peer.name} turned on {len(on)} accounts for payment type {payment_type!r}"


def test_rollout_is_a_quarter_bucketed_by_account(peer: peers.PeerBench) -> None:
    chosen = {
        payment_type: frozenset(a for a in ACCOUNTS if peer.evaluate(a, payment_type))
        for payment_type in peers.ELIGIBLE_PAYMENT_TYPES
    }
    share = len(chosen[peers.ELIGIBLE_PAYMENT_TYPES[0]]) / len(ACCOUNTS)
    assert abs(share - peers.ROLLOUT_PERCENT / 100) <= TOLERANCE, f"{peer.name}: {share:.2%} on"
    # The bucket depends on the account alone: every eligible payment type picks the same accounts.
    assert len(set(chosen.values())) == 1


def test_each_call_is_deterministic(peer: peers.PeerBench) -> None:
    payment_type = peers.ELIGIBLE_PAYMENT_TYPES[1]
    first = [peer.evaluate(a, payment_type) for a in ACCOUNTS[:500]]
    assert [peer.evaluate(a, payment_type) for a in ACCOUNTS[:500]] == first


@pytest.mark.parametrize("name", list(FACTORIES))
def test_missing_sdks_are_skipped_with_a_reason(name: str) -> None:
    """Runs in every environment: a peer is skipped exactly when its SDK cannot be found."""
    module, factory = FACTORIES[name]
    missing = importlib.util.find_spec(module) is None
    reasons = peers.skipped()
    assert (name in reasons) == missing
    if missing:
        assert "bench-peers" in reasons[name]
        assert factory() is None


def test_measure_reports_per_call_times_with_gc_off_while_timing() -> None:
    seen: list[tuple[int, bool]] = []

    def record(value: int) -> None:
        seen.append((value, gc.isenabled()))

    sample = _timing.measure(record, number=300, repeat=5, inputs=[(1,), (2,), (3,)])
    assert gc.isenabled()
    assert len(sample.samples_us) == 5
    assert sample.number == 300
    assert sample.repeat == 5
    assert 0 < min(sample.samples_us) <= sample.median_us <= sample.p99_us == max(sample.samples_us)
    # an untimed warm-up pass (here all 300 calls) with GC on, then 5 timed samples with GC off
    assert len(seen) == 300 * 6
    assert [value for value, _ in seen[:6]] == [1, 2, 3, 1, 2, 3]
    assert all(enabled for _, enabled in seen[:300])
    assert not any(enabled for _, enabled in seen[300:])


def test_measure_without_inputs_calls_with_no_argument() -> None:
    calls = 0

    def tick() -> None:
        nonlocal calls
        calls += 1

    sample = _timing.measure(tick, number=2_000, repeat=3)
    assert calls == 1_000 + 2_000 * 3
    assert sample.median_us > 0


def test_measure_rejects_empty_work() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        _timing.measure(lambda: None, number=0, repeat=1)
    with pytest.raises(ValueError, match="empty"):
        _timing.measure(lambda: None, number=1, repeat=1, inputs=[])
