"""What the benchmarks measure: each case is a callable and the prebuilt arguments it is called with.

- fast cases (``fast_cases``): the floors, graylib's evaluations, ``evaluate_all`` at several rule counts,
  the OpenFeature provider and the peer SDKs; timed in interleaved rounds;
- slow cases (``claim_cases``, ``reload_case``): ``claim`` through each store and ``reload_now`` of a large
  rules file; timed after the rounds.

The Redis cases run against a throwaway redis-server started by ``tests/redis_server.py``, the launcher the
tests use; where the tests fail without the binary, the benchmark notes the cases as skipped and goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import mmh3
from benchmarks.configs import AMOUNT, RULE_ID, bench_config, claim_config, evaluate_all_config, reload_toml
from tests.redis_server import RedisServer
from typing_extensions import Self

import graylib
from benchmarks import peers

__all__ = [
    "CLAIM_MEMORY",
    "FLOOR",
    "GRAYLIB",
    "PER_CALL",
    "Case",
    "Settings",
    "claim_cases",
    "fast_cases",
    "redis_server",
    "reload_case",
]

FLOOR = "bare hash"
GRAYLIB = "evaluate, context prebuilt"
PER_CALL = "evaluate, context built per call"
CLAIM_MEMORY = "claim, MemoryStore, 3 limits"


@dataclass(frozen=True)
class Settings:
    """How long and how much to measure."""

    rounds: int = 15
    sample_ms: float = 60.0
    """Target duration of one timed sample; the number of calls per sample is calibrated to it."""
    slow_rounds: int = 7
    accounts: int = 10_000
    reload_rules: int = 1_000
    reloads: int = 7
    peers: bool = True
    stores: tuple[str, ...] = ("memory", "sqlite", "redis")
    evaluate_all_sizes: tuple[int, ...] = (1, 10, 100, 1_000)

    @classmethod
    def quick(cls) -> Self:
        return cls(rounds=7, sample_ms=12.0, slow_rounds=5, accounts=2_000, reloads=3)


@dataclass
class Case:
    """One thing to time: ``fn(*args)`` for each ``args`` of ``inputs``, and what it is compared with."""

    name: str
    group: str
    fn: Callable[..., object]
    inputs: list[tuple[Any, ...]]
    checked: bool = False
    """Compared with the baseline by ``--check``."""
    target: str = ""
    target_ratio: float | None = None
    note: str = ""
    target_max_us: float | None = None
    number: int = 0
    samples: list[float] = field(default_factory=list)


def _accounts(n: int) -> list[str]:
    return [f"acct-{i:06d}" for i in range(n)]


_ALLOW = frozenset(peers.ALLOW_LIST)
_ELIGIBLE = frozenset(peers.ELIGIBLE_PAYMENT_TYPES)
_THRESHOLD = peers.ROLLOUT_PERCENT * 10_000


def _hand_written(account: str, payment_type: str) -> bool:
    """The same rule by hand: allow list, payment-type set, bucket under the threshold."""
    return account in _ALLOW or (
        payment_type in _ELIGIBLE and mmh3.hash(f"{RULE_ID}:{account}", 0, False) % 1_000_000 < _THRESHOLD
    )


def fast_cases(settings: Settings, stack: contextlib.ExitStack, skipped: dict[str, str]) -> list[Case]:
    """The cases timed in interleaved rounds; the floor comes first."""
    Context = graylib.Context
    accounts = _accounts(settings.accounts)
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]
    pairs = [(a, eligible) for a in accounts]
    client = graylib.Client(bench_config(), cluster="bench", node="bench-01")
    stack.callback(client.close)
    evaluate = client.evaluate
    prebuilt = [(RULE_ID, Context(account=a, payment_type=eligible, amount=AMOUNT)) for a in accounts]

    def per_call(account: str, payment_type: str) -> graylib.Decision:
        return evaluate(
            RULE_ID,
            Context(account=account, payment_type=payment_type, amount=AMOUNT, payment_id="pay-1"),
        )

    root = Path(__file__).resolve().parents[1]
    example = graylib.Client.from_file(
        root / "examples" / "rules.toml", cluster="sh-small", node="sh-small-01"
    )
    stack.callback(example.close)
    ex_evaluate = example.evaluate
    ex_id = "appliance-subsidy"
    ex_prebuilt = [
        (ex_id, Context(account=a, payment_type=eligible, amount=AMOUNT, region="CN-31")) for a in accounts
    ]

    def example_per_call(account: str, payment_type: str) -> graylib.Decision:
        ctx = Context(
            account=account,
            payment_type=payment_type,
            amount=AMOUNT,
            payment_id="pay-1",
            region="CN-31",
            ip="203.0.113.7",
            merchant="m-1",
        )
        return ex_evaluate(ex_id, ctx)

    cases = [
        Case(FLOOR, "floor", peers.bare_hash, pairs, note='mmh3.hash(f"{salt}:{account}", 0, False)'),
        Case("hand-written evaluator", "floor", _hand_written, pairs, note="allow set, type set, bucket"),
        Case(GRAYLIB, "graylib", evaluate, prebuilt, True, "≤ 3x hash", 3.0),
        Case(
            "compiled rule alone, prebuilt",
            "graylib",
            client.snapshot.rules[RULE_ID].evaluate,
            [(ctx,) for _, ctx in prebuilt],
            note="CompiledRule.evaluate without the Client layer",
        ),
        Case(PER_CALL, "graylib", per_call, pairs, True, "≤ 4x hash", 4.0),
        Case(
            "evaluate example rule, prebuilt",
            "graylib",
            ex_evaluate,
            ex_prebuilt,
            True,
            note="examples/rules.toml: schedule, deny lists, regions; no IP",
        ),
        Case(
            "evaluate example rule + IP, built per call",
            "graylib",
            example_per_call,
            pairs,
            True,
            note="IP checked against the deny ranges",
        ),
    ]
    ctxs = [(Context(account=a, payment_type=eligible, amount=AMOUNT),) for a in accounts]
    for size in settings.evaluate_all_sizes:
        c = graylib.Client(evaluate_all_config(size), cluster="bench", node="bench-01")
        stack.callback(c.close)
        cases.append(
            Case(
                f"evaluate_all, {size} rules ({min(size, 3)} match)",
                "evaluate_all",
                c.evaluate_all,
                ctxs,
                True,
                note="cost should follow the matching rules",
            )
        )
    provider_case = _openfeature_case(client, pairs, stack, skipped)
    if provider_case is not None:
        cases.append(provider_case)
    if settings.peers:
        for name, reason in peers.skipped().items():
            skipped[name] = reason
        for peer in peers.all_peers():
            stack.callback(peer.close)
            cases.append(
                Case(f"{peer.name} {peer.version}", "peer", peer.evaluate, pairs, note=peer.notes[:60])
            )
    return cases


def _openfeature_case(
    client: graylib.Client,
    pairs: list[tuple[str, str]],
    stack: contextlib.ExitStack,
    skipped: dict[str, str],
) -> Case | None:
    """graylib's OpenFeature provider through the OpenFeature SDK client, when the extra is installed."""
    try:
        from openfeature import api
        from openfeature.evaluation_context import EvaluationContext
        from openfeature.provider.no_op_provider import NoOpProvider

        from graylib.openfeature import GraylibProvider
    except ImportError as exc:
        skipped["openfeature-graylib"] = f"openfeature-sdk or graylib.openfeature not importable ({exc})"
        return None
    domain = f"graylib-bench-provider-{id(client)}"
    api.set_provider_and_wait(GraylibProvider(client), domain=domain)
    stack.callback(lambda: api.set_provider(NoOpProvider(), domain=domain))
    of_client: Any = api.get_client(domain=domain)

    def resolve(account: str, payment_type: str) -> bool:
        context = EvaluationContext(
            targeting_key=account, attributes={"payment_type": payment_type, "amount": AMOUNT}
        )
        return bool(of_client.get_boolean_value(RULE_ID, False, context))

    return Case("openfeature + graylib provider", "peer", resolve, pairs, note="SDK plumbing + graylib")


@contextlib.contextmanager
def redis_server(skipped: dict[str, str]) -> Iterator[str | None]:
    """The URL of a throwaway redis-server, or None with the reason in ``skipped`` when there is none."""
    try:
        server = RedisServer()
    except RuntimeError:
        skipped["claim, RedisStore"] = "redis-server not found"
        yield None
        return
    try:
        server.start()
    except RuntimeError as exc:
        server.close()
        skipped["claim, RedisStore"] = f"redis-server did not start ({str(exc).splitlines()[0]})"
        yield None
        return
    try:
        yield server.url
    finally:
        server.close()


def claim_cases(
    settings: Settings, stack: contextlib.ExitStack, skipped: dict[str, str], tmp: Path
) -> list[Case]:
    """``claim`` through each store: every call is a new payment that the rule grants (3 limits)."""
    stores: list[tuple[str, Callable[[], graylib.Store]]] = []
    if "memory" in settings.stores:
        stores.append(("MemoryStore", graylib.MemoryStore))
    if "sqlite" in settings.stores:
        stores.append(("SQLiteStore", lambda: graylib.SQLiteStore(tmp / "bench.db")))
    redis_url = None
    if "redis" in settings.stores:
        redis_url = url = stack.enter_context(redis_server(skipped))
        if url is not None:
            stores.append(("RedisStore", lambda: graylib.RedisStore(url, initialise=True)))
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]
    pairs = [(a, eligible) for a in _accounts(settings.accounts)]
    cases = []
    for label, make in stores:
        store = make()
        client = graylib.Client(claim_config(), cluster="bench", node="bench-01", store=store)
        stack.callback(client.close)
        stack.callback(store.close)
        cases.append(Case(f"claim, {label}, 3 limits", "claim", _claimer(client), pairs))
    if redis_url is not None:
        import redis

        connection: Any = redis.Redis.from_url(redis_url)
        stack.callback(connection.close)
        cases.append(Case("redis PING round trip", "floor", connection.ping, [()], note="Redis floor"))
    for case in cases:
        if case.name == CLAIM_MEMORY:
            case.checked, case.target, case.target_ratio = True, "≤ 10x hash", 10.0
    return cases


def _claimer(client: graylib.Client) -> Callable[[str, str], graylib.Decision]:
    Context, claim, ids = graylib.Context, client.claim, itertools.count()

    def claim_one(account: str, payment_type: str) -> graylib.Decision:
        ctx = Context(
            account=account,
            payment_type=payment_type,
            amount=AMOUNT,
            payment_id=f"pay-{next(ids)}",
            region="CN-31",
        )
        return claim("claim", ctx)

    return claim_one


def reload_case(
    settings: Settings, tmp: Path, fmt: str, floor_sample: Callable[[], float]
) -> tuple[Case, list[float]]:
    """``reload_now`` of a rules file of 1,000 rules: read, parse, validate, policy check, compile, swap.

    Returns the case and, for each timed reload, the floor sample ``floor_sample()`` took just before it.
    """
    path = tmp / f"reload.{fmt}"
    texts = [reload_toml(settings.reload_rules, f"v{i}") for i in range(2)]
    if fmt == "json":
        texts = [json.dumps(tomllib.loads(text)) for text in texts]
    path.write_text(texts[0], encoding="utf-8")
    client = graylib.Client.from_file(path, cluster="sh-small", node="sh-small-01")
    samples: list[float] = []
    floors: list[float] = []
    try:
        for i in range(settings.reloads + 1):
            path.write_text(texts[(i + 1) % 2], encoding="utf-8")
            if i:  # the first reload warms caches and is not timed
                floors.append(floor_sample())
            start = time.perf_counter()
            ok = client.reload_now()
            elapsed = time.perf_counter() - start
            if not ok:
                msg = f"reload of {settings.reload_rules} rules was refused: {client.status()}"
                raise RuntimeError(msg)
            if i:
                samples.append(elapsed * 1e6)
    finally:
        client.close()
    case = Case(
        f"reload, {settings.reload_rules} rules, {fmt.upper()}",
        "reload",
        lambda: None,
        [()],
        True,
        "< 200 ms",
        note="read + parse + validate + smoke + policy + compile + swap",
        target_max_us=200_000.0,
    )
    case.samples = samples
    case.number = 1
    return case, floors
