"""Peer flag SDKs evaluating a flag equivalent to one graylib rule, fully offline.

The flag: on for the accounts in `ALLOW_LIST`; otherwise only when the attribute `payment_type` is one of
`ELIGIBLE_PAYMENT_TYPES`, and then for `ROLLOUT_PERCENT` % of accounts bucketed by the account key. Each
SDK gets it in its own native format (rules, targets, strategies) and evaluates it for real; every
`evaluate(account, payment_type)` builds the SDK's context object for that call, as a payment service does.

No network is used or attempted: flags are loaded in-process, streaming, polling, events, metrics and
registration are off, and every endpoint an SDK insists on is the loopback discard port, where nothing
listens. The SDKs come from the `bench-peers` extra; a missing one is skipped with a reason.

The flag itself, the `PeerBench` handle and which SDKs are installed are in `benchmarks/peer_flag.py`
(re-exported here). Run `python -m benchmarks.peers` (with `src` and the repository root on `sys.path`) for a
timing table.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import mmh3
from benchmarks._timing import Sample, measure
from benchmarks.peer_flag import (
    ALLOW_LIST,
    ELIGIBLE_PAYMENT_TYPES,
    FLAG_KEY,
    NOWHERE_URL,
    PEER_NAMES,
    ROLLOUT_PERCENT,
    PeerBench,
    available,
    bare_hash,
    bench_inputs,
    sdk_version,
    skipped,
)

__all__ = [
    "ALLOW_LIST",
    "ELIGIBLE_PAYMENT_TYPES",
    "FLAG_KEY",
    "PEER_NAMES",
    "ROLLOUT_PERCENT",
    "PeerBench",
    "all_peers",
    "bare_hash",
    "bench_inputs",
    "make_growthbook",
    "make_launchdarkly",
    "make_openfeature",
    "make_unleash",
    "skipped",
]

# --- GrowthBook -------------------------------------------------------------------------------------


def growthbook_features() -> dict[str, Any]:
    """The flag as a GrowthBook features payload: a forced rule for the allow list, then a 25% rollout."""
    return {
        FLAG_KEY: {
            "defaultValue": False,
            "rules": [
                {"id": "allow-list", "condition": {"id": {"$in": list(ALLOW_LIST)}}, "force": True},
                {
                    "id": "payment-type-rollout",
                    "condition": {"payment_type": {"$in": list(ELIGIBLE_PAYMENT_TYPES)}},
                    "force": True,
                    "coverage": ROLLOUT_PERCENT / 100,
                    "hashAttribute": "id",
                    "seed": FLAG_KEY,
                    "hashVersion": 2,
                },
            ],
        }
    }


def make_growthbook() -> PeerBench | None:
    """GrowthBook with the features dict in-process and no client key, so it never fetches.

    It uses the cheapest pattern, one shared instance with `set_attributes` then `is_on`; that pattern is
    not thread-safe (a service would need an instance per request or per thread, which costs more).
    """
    if not available("growthbook"):
        return None
    from growthbook import GrowthBook

    gb: Any = GrowthBook(features=growthbook_features())

    def evaluate(account: str, payment_type: str) -> bool:
        gb.set_attributes({"id": account, "payment_type": payment_type})
        return bool(gb.is_on(FLAG_KEY))

    return PeerBench(
        name="growthbook",
        version=sdk_version("growthbook"),
        evaluate=evaluate,
        close=gb.destroy,
        notes="shared instance, set_attributes + is_on per call (not thread-safe)",
    )


# --- LaunchDarkly -----------------------------------------------------------------------------------


def launchdarkly_flag() -> dict[str, Any]:
    """The flag as raw LaunchDarkly flag JSON: `targets` for the allow list, a rule with a rollout."""
    on, off = 0, 1
    in_rollout = ROLLOUT_PERCENT * 1_000  # weights are in thousandths of a percent
    return {
        "key": FLAG_KEY,
        "version": 1,
        "on": True,
        "salt": FLAG_KEY,
        "variations": [True, False],
        "offVariation": off,
        "fallthrough": {"variation": off},
        "prerequisites": [],
        "targets": [{"values": list(ALLOW_LIST), "variation": on}],
        "contextTargets": [],
        "rules": [
            {
                "id": "payment-type-rollout",
                "clauses": [
                    {
                        "attribute": "payment_type",
                        "op": "in",
                        "values": list(ELIGIBLE_PAYMENT_TYPES),
                        "negate": False,
                    }
                ],
                "rollout": {
                    "bucketBy": "key",
                    "variations": [
                        {"variation": on, "weight": in_rollout},
                        {"variation": off, "weight": 100_000 - in_rollout},
                    ],
                },
                "trackEvents": False,
            }
        ],
        "trackEvents": False,
        "trackEventsFallthrough": False,
        "clientSide": False,
        "deleted": False,
    }


def make_launchdarkly() -> PeerBench | None:
    """LaunchDarkly's server SDK fed by an in-process data source; events and diagnostics off.

    The SDK's `TestData` helper cannot express percentage rollouts, so a small data source loads the raw
    flag JSON into the SDK's store instead of streaming it.
    """
    if not available("launchdarkly"):
        return None
    from ldclient import Context, LDClient
    from ldclient.config import Config
    from ldclient.interfaces import DataSourceState, UpdateProcessor
    from ldclient.versioned_data_kind import FEATURES, SEGMENTS

    flag = launchdarkly_flag()

    class InProcessFlags(UpdateProcessor):
        """Loads the flag once at start; never opens a connection."""

        def __init__(self, config: Any, store: Any, ready: Any) -> None:
            self._sink: Any = getattr(config, "data_source_update_sink", None)
            self._target: Any = self._sink if self._sink is not None else store
            self._ready = ready
            self._loaded = False

        def start(self) -> None:
            self._target.init({FEATURES: {FLAG_KEY: flag}, SEGMENTS: {}})
            self._loaded = True
            if self._sink is not None:
                self._sink.update_status(DataSourceState.VALID, None)
            self._ready.set()

        def stop(self) -> None:
            """Nothing runs in the background."""

        def initialized(self) -> bool:
            return self._loaded

    config = Config(
        "sdk-offline-benchmark",
        send_events=False,
        diagnostic_opt_out=True,
        update_processor_class=InProcessFlags,
        base_uri=NOWHERE_URL,
        stream_uri=NOWHERE_URL,
        events_uri=NOWHERE_URL,
    )
    client: Any = LDClient(config, start_wait=1)
    if not client.is_initialized():
        client.close()
        raise RuntimeError("LaunchDarkly client did not load the in-process flag")

    def evaluate(account: str, payment_type: str) -> bool:
        context = Context.builder(account).set("payment_type", payment_type).build()
        return bool(client.variation(FLAG_KEY, context, False))

    return PeerBench(
        name="launchdarkly",
        version=sdk_version("launchdarkly"),
        evaluate=evaluate,
        close=client.close,
        notes="in-process data source; builds an event object per call even with events off",
    )


# --- Unleash ----------------------------------------------------------------------------------------


def unleash_features() -> dict[str, Any]:
    """The flag as an Unleash client-features payload: userWithId OR (flexibleRollout + constraint)."""
    return {
        "version": 2,
        "features": [
            {
                "name": FLAG_KEY,
                "type": "release",
                "project": "default",
                "enabled": True,
                "impressionData": False,
                "strategies": [
                    {
                        "name": "userWithId",
                        "parameters": {"userIds": ",".join(ALLOW_LIST)},
                        "constraints": [],
                    },
                    {
                        "name": "flexibleRollout",
                        "parameters": {
                            "rollout": str(ROLLOUT_PERCENT),
                            "stickiness": "userId",
                            "groupId": FLAG_KEY,
                        },
                        "constraints": [
                            {
                                "contextName": "payment_type",
                                "operator": "IN",
                                "values": list(ELIGIBLE_PAYMENT_TYPES),
                                "inverted": False,
                                "caseInsensitive": False,
                            }
                        ],
                    },
                ],
            }
        ],
    }


def make_unleash() -> PeerBench | None:
    """UnleashClient bootstrapped from a FileCache in a private temp dir; no fetch, metrics or registration.

    Since 6.x the strategies run in a Rust engine; most of the per-call cost is the Python wrapper.
    """
    if not available("unleash"):
        return None
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache
    from UnleashClient.utils import InstanceAllowType

    cache_dir = tempfile.mkdtemp(prefix="graylib-bench-unleash-")
    try:
        cache = FileCache("graylib-bench", directory=cache_dir)
        cache.bootstrap_from_dict(unleash_features())
        client: Any = UnleashClient(
            url=NOWHERE_URL,
            app_name="graylib-bench",
            disable_metrics=True,
            disable_registration=True,
            cache=cache,
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )
        client.initialize_client(fetch_toggles=False)
    except BaseException:
        shutil.rmtree(cache_dir, ignore_errors=True)
        raise

    def evaluate(account: str, payment_type: str) -> bool:
        context = {"userId": account, "properties": {"payment_type": payment_type}}
        return bool(client.is_enabled(FLAG_KEY, context))

    def close() -> None:
        try:
            client.destroy()
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)

    return PeerBench(
        name="unleash",
        version=sdk_version("unleash"),
        evaluate=evaluate,
        close=close,
        notes="bootstrapped FileCache, initialize_client(fetch_toggles=False)",
    )


# --- OpenFeature ------------------------------------------------------------------------------------


def make_openfeature() -> PeerBench | None:
    """OpenFeature's client over its InMemoryProvider holding the one flag.

    The in-memory provider has no rule language of its own: its flag carries a `context_evaluator`
    callback, here a minimal hand-written rule (two frozensets and the bare mmh3 bucket). So this peer
    measures the OpenFeature SDK's plumbing plus a sub-microsecond rule, not a flag service's rule engine:
    the cost any OpenFeature provider pays before its own work.
    """
    if not available("openfeature-inmemory"):
        return None
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
    from openfeature.provider.no_op_provider import NoOpProvider

    allow = frozenset(ALLOW_LIST)
    eligible = frozenset(ELIGIBLE_PAYMENT_TYPES)
    threshold = ROLLOUT_PERCENT * 10_000  # parts per million

    def resolve(flag: Any, context: Any) -> Any:
        account = context.targeting_key
        on = account in allow or (
            context.attributes.get("payment_type") in eligible
            and mmh3.hash(f"{FLAG_KEY}:{account}", 0, False) % 1_000_000 < threshold
        )
        variant = "on" if on else "off"
        return FlagResolutionDetails(value=on, reason=Reason.TARGETING_MATCH, variant=variant)

    provider = InMemoryProvider(
        {FLAG_KEY: InMemoryFlag("off", {"on": True, "off": False}, context_evaluator=resolve)}
    )
    domain = f"graylib-bench-{id(provider)}"
    api.set_provider_and_wait(provider, domain=domain)
    client: Any = api.get_client(domain=domain)

    def evaluate(account: str, payment_type: str) -> bool:
        context = EvaluationContext(targeting_key=account, attributes={"payment_type": payment_type})
        return bool(client.get_boolean_value(FLAG_KEY, False, context))

    def close() -> None:
        api.set_provider(NoOpProvider(), domain=domain)

    return PeerBench(
        name="openfeature-inmemory",
        version=sdk_version("openfeature-inmemory"),
        evaluate=evaluate,
        close=close,
        notes="SDK plumbing + hand-written context_evaluator (in-memory provider has no rule engine)",
    )


# --- all together -----------------------------------------------------------------------------------

_FACTORIES: dict[str, Callable[[], PeerBench | None]] = {
    "growthbook": make_growthbook,
    "launchdarkly": make_launchdarkly,
    "unleash": make_unleash,
    "openfeature-inmemory": make_openfeature,
}


def all_peers() -> list[PeerBench]:
    """Build every peer whose SDK is installed; see `skipped()` for the others. The caller closes them."""
    peers: list[PeerBench] = []
    try:
        for factory in _FACTORIES.values():
            peer = factory()
            if peer is not None:
                peers.append(peer)
    except BaseException:
        for peer in peers:
            peer.close()
        raise
    return peers


def main(number: int = 200_000, repeat: int = 10) -> dict[str, Sample]:
    """Time the bare hash and every installed peer in one run and print a table (µs per evaluation)."""
    inputs = bench_inputs()
    results: dict[str, Sample] = {
        "bare mmh3.hash": measure(bare_hash, number=number, repeat=repeat, inputs=inputs)
    }
    for peer in all_peers():
        with peer:
            results[f"{peer.name} {peer.version}"] = measure(
                peer.evaluate, number=number, repeat=repeat, inputs=inputs
            )
    floor = results["bare mmh3.hash"].median_us
    print(f"{'what':<34} {'median µs':>10} {'p99 µs':>8} {'x hash':>8}")
    for label, sample in results.items():
        print(f"{label:<34} {sample.median_us:>10.2f} {sample.p99_us:>8.2f} {sample.median_us / floor:>8.1f}")
    for name, reason in skipped().items():
        print(f"skipped {name}: {reason}")
    return results


if __name__ == "__main__":
    main()
