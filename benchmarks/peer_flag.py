"""The flag every peer SDK evaluates, the handle a benchmark holds on a peer, and which SDKs are installed.

The flag: on for the accounts in `ALLOW_LIST`; otherwise only when the attribute `payment_type` is one of
`ELIGIBLE_PAYMENT_TYPES`, and then for `ROLLOUT_PERCENT` % of accounts bucketed by the account key; graylib's
benchmark rule (`benchmarks/configs.py`) is the same flag. `benchmarks/peers.py` builds each SDK on it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import mmh3
from typing_extensions import Self

__all__ = [
    "ALLOW_LIST",
    "ELIGIBLE_PAYMENT_TYPES",
    "FLAG_KEY",
    "NOWHERE_URL",
    "PEER_NAMES",
    "ROLLOUT_PERCENT",
    "PeerBench",
    "available",
    "bare_hash",
    "bench_inputs",
    "sdk_version",
    "skipped",
]

FLAG_KEY = "discount"
ALLOW_LIST: tuple[str, ...] = ("qa-smoke-01", "qa-smoke-02")
ELIGIBLE_PAYMENT_TYPES: tuple[str, ...] = ("online_purchase", "offline_merchant")
ROLLOUT_PERCENT = 25

# Endpoints that some SDKs require even when they never call them: loopback port 9 (discard), where
# nothing listens, so a stray connection attempt is refused at once instead of hanging.
NOWHERE_URL = "http://127.0.0.1:9"

# peer name -> (module to import, distribution name on PyPI)
_SDKS: dict[str, tuple[str, str]] = {
    "growthbook": ("growthbook", "growthbook"),
    "launchdarkly": ("ldclient", "launchdarkly-server-sdk"),
    "unleash": ("UnleashClient", "UnleashClient"),
    "openfeature-inmemory": ("openfeature", "openfeature-sdk"),
}
PEER_NAMES: tuple[str, ...] = tuple(_SDKS)

_skip_reasons: dict[str, str] = {}


@dataclass(frozen=True)
class PeerBench:
    """One peer SDK, configured with the equivalent flag and ready to evaluate it.

    `evaluate(account, payment_type)` makes one real SDK evaluation with a context built for that call.
    `close()` stops the SDK's background machinery; the object is also a context manager.
    """

    name: str
    version: str
    evaluate: Callable[[str, str], bool]
    close: Callable[[], None] = field(repr=False)
    notes: str = ""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _unavailable(name: str) -> str | None:
    """Return why peer `name` cannot run here (its SDK does not import), or None when it can."""
    module, distribution = _SDKS[name]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"{distribution} is not installed ({exc}); install the bench-peers extra"
    return None


def available(name: str) -> bool:
    """Record and report whether peer `name` can be built."""
    reason = _unavailable(name)
    if reason is None:
        _skip_reasons.pop(name, None)
        return True
    _skip_reasons[name] = reason
    return False


def sdk_version(name: str) -> str:
    return importlib.metadata.version(_SDKS[name][1])


def skipped() -> dict[str, str]:
    """Map each peer whose SDK is not installed to the reason it is skipped."""
    for name in PEER_NAMES:
        available(name)
    return dict(_skip_reasons)


def bench_inputs(
    accounts: int = 10_000, payment_type: str = ELIGIBLE_PAYMENT_TYPES[0]
) -> list[tuple[str, str]]:
    """`(account, payment_type)` pairs for timing; an eligible type so every call reaches the rollout."""
    return [(f"acct-{i:06d}", payment_type) for i in range(accounts)]


def bare_hash(account: str, payment_type: str) -> int:
    """The floor: the bare bucketing hash of the same key (the payment type is ignored)."""
    return mmh3.hash(f"{FLAG_KEY}:{account}", 0, False)
