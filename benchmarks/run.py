"""graylib's benchmarks in one command: floors, graylib and its peers, measured in one run.

    python benchmarks/run.py [--quick] [--json out.json] [--check] [--write-baseline]

Every per-call time is taken with the same helper (``benchmarks/_timing.py``: a tight loop over prebuilt
arguments, garbage collector off) and reported beside two ratios: to the bare bucketing hash of the same key
(the floor, ``mmh3.hash(f"{salt}:{account}")``) and to graylib's own ``evaluate`` with a prebuilt context.

The fast cases (floors, evaluations, peers) run in interleaved rounds: each round times every case once, and
a case's ratio is the median of its per-round ratios to the floor of the same round. A machine that slows
down halfway through a run slows the floor as much as the case, so ratios stay comparable between runs and
machines where absolute times do not. Slow cases (claims through SQLite or Redis, a reload of 1,000 rules)
are timed after the rounds and divided by the floor's median.

``--check`` compares graylib's ratios with ``benchmarks/baseline.json`` and exits with status 1 when one has
regressed: when even the lower quartile of its per-round ratios is above the baseline ratio times the
margin (1.5 unless the baseline says otherwise), so a noisy round or two never fails a build. Ratios only,
never absolute times.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import mmh3  # noqa: E402 - after the path set-up above, so a checkout runs without installing
from benchmarks._timing import measure  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402 - the tests' launcher, one for both

import graylib  # noqa: E402
from benchmarks import peers  # noqa: E402

__all__ = [
    "DEFAULT_BASELINE",
    "CaseResult",
    "Settings",
    "compare",
    "main",
    "run",
]

DEFAULT_BASELINE = ROOT / "benchmarks" / "baseline.json"
DEFAULT_MARGIN = 1.5
FLOOR = "bare hash"
GRAYLIB = "evaluate, context prebuilt"
RULE_ID = peers.FLAG_KEY
AMOUNT = 54_000


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
    def quick(cls) -> Settings:
        return cls(rounds=7, sample_ms=12.0, slow_rounds=5, accounts=2_000, reloads=3)


@dataclass
class CaseResult:
    """One measured case: per-call times (µs) and per-round ratios to the floor."""

    name: str
    group: str
    samples_us: list[float]
    ratios: list[float]
    number: int
    checked: bool = False
    target: str = ""
    target_ratio: float | None = None
    target_max_us: float | None = None
    note: str = ""
    ratio_graylib: float | None = None

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_us)

    @property
    def p99_us(self) -> float:
        ordered = sorted(self.samples_us)
        return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratio_q25(self) -> float:
        return _quantile(self.ratios, 0.25)

    @property
    def ratio_q75(self) -> float:
        return _quantile(self.ratios, 0.75)

    @property
    def target_met(self) -> bool | None:
        if self.target_ratio is not None:
            return self.ratio <= self.target_ratio
        if self.target_max_us is not None:
            return self.median_us < self.target_max_us
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "median_us": round(self.median_us, 4),
            "p99_us": round(self.p99_us, 4),
            "ratio_hash": round(self.ratio, 3),
            "ratio_hash_q25": round(self.ratio_q25, 3),
            "ratio_hash_q75": round(self.ratio_q75, 3),
            "ratio_graylib": None if self.ratio_graylib is None else round(self.ratio_graylib, 3),
            "calls_per_sample": self.number,
            "samples": len(self.samples_us),
            "checked": self.checked,
            "target": self.target,
            "target_met": self.target_met,
            "note": self.note,
        }


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty sequence."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# -- configurations ------------------------------------------------------------------------------------

_GUARDRAILS = {
    "max_percent_off": 30,
    "max_amount_off": 100_000,
    "forbidden_payment_types": ["p2p_transfer", "credit_card_repayment", "withdrawal"],
}


def _rule(
    rule_id: str, payment_types: Sequence[str], percent: float = peers.ROLLOUT_PERCENT
) -> dict[str, Any]:
    """The rule equivalent to the peers' flag: an allow list, a payment-type clause, a rollout percentage."""
    return {
        "id": rule_id,
        "payment_types": list(payment_types),
        "discount": {"percent": 10, "max_off": 50_000},
        "allow": {"accounts": list(peers.ALLOW_LIST)},
        "rollout": {"stage": "rollout", "stages": [{"name": "rollout", "targets": {"*": percent}}]},
    }


def bench_config(rules: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A config mapping holding ``rules`` (default: the one rule equivalent to the peers' flag)."""
    return {
        "version": "bench-1",
        "guardrails": _GUARDRAILS,
        "rules": list(rules) if rules is not None else [_rule(RULE_ID, peers.ELIGIBLE_PAYMENT_TYPES)],
    }


def claim_config() -> dict[str, Any]:
    """One rule at 100% with three limits (per account, per region, total) that the run never fills."""
    rule = _rule("claim", peers.ELIGIBLE_PAYMENT_TYPES, percent=100)
    rule["limits"] = {
        "per_account": {"count": 1_000_000_000, "window": "1d"},
        "per_region": {"amount": 10**15, "window": "1d"},
        "total": {"amount": 10**15},
    }
    return bench_config([rule])


def evaluate_all_config(size: int, matching: int = 3) -> dict[str, Any]:
    """``size`` active rules of which ``min(size, matching)`` list the benchmarked payment type."""
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]
    rules = [_rule(f"r{i:04d}", [eligible if i < matching else f"type-{i % 97}"]) for i in range(size)]
    return bench_config(rules)


def reload_toml(count: int, version: str) -> str:
    """A TOML rules file of ``count`` rules, each with eligibility, lists, stages and limits."""
    out = [
        f'version = "{version}"',
        "[guardrails]",
        "max_percent_off = 30",
        "max_amount_off = 100_000",
        'forbidden_payment_types = ["p2p_transfer", "credit_card_repayment", "withdrawal"]',
    ]
    for i in range(count):
        out += [
            "[[rules]]",
            f'id = "rule-{i:05d}"',
            f'payment_types = ["online_purchase", "type-{i % 50}"]',
            'regions = ["CN-31", "CN-11"]',
            "min_amount = 1_000",
            "[rules.discount]",
            f"percent = {1 + i % 20}",
            "max_off = 50_000",
            "[rules.allow]",
            f'accounts = ["qa-{i}-a", "qa-{i}-b"]',
            "[rules.deny]",
            f'accounts = ["bad-{i}"]',
            'ips = ["198.51.100.0/24"]',
            "[rules.rollout]",
            'stage = "small"',
            "stages = [",
            '  { name = "smoke", targets = {} },',
            '  { name = "small", targets = { "sh-small" = 100, "*" = 5 } },',
            '  { name = "full", targets = { "*" = 100 } },',
            "]",
            "[rules.limits]",
            'per_account = { count = 3, amount = 100_000, window = "1d" }',
            "total = { amount = 2_000_000_000 }",
        ]
    return "\n".join(out) + "\n"


# -- the cases -----------------------------------------------------------------------------------------


@dataclass
class _Case:
    name: str
    group: str
    fn: Callable[..., object]
    inputs: list[tuple[Any, ...]]
    checked: bool = False
    target: str = ""
    target_ratio: float | None = None
    note: str = ""
    target_max_us: float | None = None
    number: int = 0
    samples: list[float] = field(default_factory=list)


def _accounts(n: int) -> list[str]:
    return [f"acct-{i:06d}" for i in range(n)]


def _hand_written(account: str, payment_type: str) -> bool:
    """The same rule by hand: allow list, payment-type set, bucket under the threshold."""
    return account in _ALLOW or (
        payment_type in _ELIGIBLE and mmh3.hash(f"{RULE_ID}:{account}", 0, False) % 1_000_000 < _THRESHOLD
    )


_ALLOW = frozenset(peers.ALLOW_LIST)
_ELIGIBLE = frozenset(peers.ELIGIBLE_PAYMENT_TYPES)
_THRESHOLD = peers.ROLLOUT_PERCENT * 10_000


def _fast_cases(settings: Settings, stack: contextlib.ExitStack, skipped: dict[str, str]) -> list[_Case]:
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

    example = graylib.Client.from_file(
        ROOT / "examples" / "rules.toml", cluster="sh-small", node="sh-small-01"
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
        _Case(FLOOR, "floor", peers.bare_hash, pairs, note='mmh3.hash(f"{salt}:{account}", 0, False)'),
        _Case("hand-written evaluator", "floor", _hand_written, pairs, note="allow set, type set, bucket"),
        _Case(GRAYLIB, "graylib", evaluate, prebuilt, True, "≤ 3x hash", 3.0),
        _Case(
            "compiled rule alone, prebuilt",
            "graylib",
            client.snapshot.rules[RULE_ID].evaluate,
            [(ctx,) for _, ctx in prebuilt],
            note="CompiledRule.evaluate without the Client layer",
        ),
        _Case("evaluate, context built per call", "graylib", per_call, pairs, True, "≤ 4x hash", 4.0),
        _Case(
            "evaluate example rule, prebuilt",
            "graylib",
            ex_evaluate,
            ex_prebuilt,
            True,
            note="examples/rules.toml: schedule, deny lists, regions; no IP",
        ),
        _Case(
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
            _Case(
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
                _Case(f"{peer.name} {peer.version}", "peer", peer.evaluate, pairs, note=peer.notes[:60])
            )
    return cases


def _openfeature_case(
    client: graylib.Client,
    pairs: list[tuple[str, str]],
    stack: contextlib.ExitStack,
    skipped: dict[str, str],
) -> _Case | None:
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

    return _Case("openfeature + graylib provider", "peer", resolve, pairs, note="SDK plumbing + graylib")


# -- measuring -----------------------------------------------------------------------------------------


def _calibrate(case: _Case, sample_s: float) -> int:
    """Calls per sample so that one sample lasts about ``sample_s`` seconds (at least 20 calls)."""
    probe = min(200, max(20, len(case.inputs)))
    calls = list(itertools.islice(itertools.cycle(case.inputs), probe))
    for args in calls[:20]:
        case.fn(*args)
    start = time.perf_counter()
    for args in calls:
        case.fn(*args)
    per_call = max((time.perf_counter() - start) / probe, 1e-9)
    return max(20, int(sample_s / per_call))


def _run_rounds(cases: list[_Case], settings: Settings, log: Callable[[str], None]) -> list[list[float]]:
    """Time every case once per round; return the floor-normalised ratios per case per round."""
    for case in cases:
        case.number = _calibrate(case, settings.sample_ms / 1_000)
    per_round: list[list[float]] = []
    for r in range(settings.rounds):
        times = []
        for case in cases:
            sample = measure(case.fn, number=case.number, repeat=1, inputs=case.inputs)
            case.samples.append(sample.median_us)
            times.append(sample.median_us)
        per_round.append(times)
        log(f"round {r + 1}/{settings.rounds} done")
    floor_index = next(i for i, c in enumerate(cases) if c.name == FLOOR)
    return [[times[i] / times[floor_index] for times in per_round] for i in range(len(cases))]


@contextlib.contextmanager
def _redis_server(skipped: dict[str, str]) -> Iterator[str | None]:
    """The URL of a throwaway redis-server, or None with the reason in ``skipped`` when there is none.

    The server is the tests' own launcher (``tests/redis_server.py``); where a test fails without the
    binary, the benchmark notes the Redis cases as skipped and measures the rest.
    """
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


def _claim_cases(
    settings: Settings, stack: contextlib.ExitStack, skipped: dict[str, str], tmp: Path
) -> list[_Case]:
    """``claim`` through each store: every call is a new payment that the rule grants (3 limits)."""
    if not hasattr(graylib.Client, "claim"):
        skipped["claim"] = "Client.claim does not exist in this version"
        return []
    stores: list[tuple[str, Callable[[], graylib.Store | None]]] = []
    if "memory" in settings.stores:
        stores.append(("MemoryStore", graylib.MemoryStore))
    if "sqlite" in settings.stores:
        stores.append(("SQLiteStore", lambda: graylib.SQLiteStore(tmp / "bench.db")))
    redis_url = None
    if "redis" in settings.stores:
        redis_url = url = stack.enter_context(_redis_server(skipped))
        if url is not None:
            stores.append(("RedisStore", lambda: graylib.RedisStore(url)))
    eligible = peers.ELIGIBLE_PAYMENT_TYPES[0]
    pairs = [(a, eligible) for a in _accounts(settings.accounts)]
    cases = []
    for label, make in stores:
        store = make()
        if store is None:
            continue
        client = graylib.Client(claim_config(), cluster="bench", node="bench-01", store=store)
        stack.callback(client.close)
        closer = getattr(store, "close", None)
        if callable(closer):
            stack.callback(closer)
        cases.append(_Case(f"claim, {label}, 3 limits", "claim", _claimer(client), pairs))
    if "redis" in settings.stores and redis_url is not None:
        import redis

        connection: Any = redis.Redis.from_url(redis_url)
        stack.callback(connection.close)
        cases.append(_Case("redis PING round trip", "floor", connection.ping, [()], note="Redis floor"))
    for case in cases:
        if case.name.startswith("claim, MemoryStore"):
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


def _reload_case(settings: Settings, tmp: Path, fmt: str) -> _Case:
    """``reload_now`` of a rules file of 1,000 rules: read, parse, validate, policy check, compile, swap."""
    path = tmp / f"reload.{fmt}"
    texts = [reload_toml(settings.reload_rules, f"v{i}") for i in range(2)]
    if fmt == "json":
        texts = [json.dumps(tomllib.loads(text)) for text in texts]
    path.write_text(texts[0], encoding="utf-8")
    client = graylib.Client.from_file(path, cluster="sh-small", node="sh-small-01")
    samples: list[float] = []
    try:
        for i in range(settings.reloads + 1):
            path.write_text(texts[(i + 1) % 2], encoding="utf-8")
            start = time.perf_counter()
            ok = client.reload_now()
            elapsed = time.perf_counter() - start
            if not ok:
                msg = f"reload of {settings.reload_rules} rules was refused: {client.status()}"
                raise RuntimeError(msg)
            if i:  # the first reload warms caches
                samples.append(elapsed * 1e6)
    finally:
        client.close()
    case = _Case(
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
    return case


def _time_slow(case: _Case, settings: Settings) -> None:
    case.number = _calibrate(case, settings.sample_ms / 1_000)
    for _ in range(settings.slow_rounds):
        case.samples.append(measure(case.fn, number=case.number, repeat=1, inputs=case.inputs).median_us)


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure everything in one run and return the report (what ``--json`` writes)."""
    skipped: dict[str, str] = {}
    results: list[CaseResult] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="graylib-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with contextlib.ExitStack() as fast_stack:  # peers' threads stop before the store cases start
            cases = _fast_cases(settings, fast_stack, skipped)
            ratios = _run_rounds(cases, settings, log)
        floor_median = statistics.median(cases[0].samples)
        for case, case_ratios in zip(cases, ratios, strict=True):
            results.append(_result(case, case_ratios))
        slow = _claim_cases(settings, stack, skipped, tmp)
        for case in slow:
            _time_slow(case, settings)
            log(f"{case.name} done")
        if settings.reload_rules:
            for fmt in ("toml", "json"):
                slow.append(_reload_case(settings, tmp, fmt))
                log(f"reload ({fmt}) done")
        for case in slow:
            results.append(_result(case, [s / floor_median for s in case.samples]))
    graylib_median = next(r.median_us for r in results if r.name == GRAYLIB)
    for result in results:
        result.ratio_graylib = result.median_us / graylib_median
    by_name = {r.name: r for r in results}
    derived: dict[str, Any] = {}
    sizes = settings.evaluate_all_sizes
    if len(sizes) >= 2:
        small = by_name[f"evaluate_all, {sizes[1]} rules ({min(sizes[1], 3)} match)"]
        large = by_name[f"evaluate_all, {sizes[-1]} rules ({min(sizes[-1], 3)} match)"]
        derived["evaluate_all_growth"] = round(large.ratio / small.ratio, 3)
    peer_results = [
        r for r in results if r.group == "peer" and not r.name.startswith("openfeature + graylib")
    ]
    if peer_results:
        fastest = min(peer_results, key=lambda r: r.median_us)
        per_call = by_name["evaluate, context built per call"]
        derived["fastest_peer"] = fastest.name
        derived["fastest_peer_over_graylib_per_call"] = round(fastest.median_us / per_call.median_us, 2)
    redis = by_name.get("claim, RedisStore, 3 limits")
    if redis is not None:
        derived["redis_claims_per_second"] = round(1e6 / redis.median_us)
    return {
        "machine": machine(),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
        "seconds": round(time.perf_counter() - started, 2),
        "floor": FLOOR,
        "results": [r.as_json() for r in results],
        "derived": derived,
        "skipped": skipped,
    }


def _result(case: _Case, ratios: list[float]) -> CaseResult:
    return CaseResult(
        name=case.name,
        group=case.group,
        samples_us=case.samples,
        ratios=ratios,
        number=case.number,
        checked=case.checked,
        target=case.target,
        target_ratio=case.target_ratio,
        target_max_us=case.target_max_us,
        note=case.note,
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "graylib": graylib.__version__,
        "mmh3": importlib.metadata.version("mmh3"),
    }


# -- reporting and checking ----------------------------------------------------------------------------


def table(report: Mapping[str, Any]) -> str:
    """The report as a text table."""
    rows = [("case", "median µs", "p99 µs", "x hash", "x graylib", "target", "")]
    for r in report["results"]:
        met = {True: "met", False: "NOT MET", None: ""}[r["target_met"]]
        rows.append(
            (
                r["name"],
                f"{r['median_us']:.3f}" if r["median_us"] < 1_000 else f"{r['median_us']:,.0f}",
                f"{r['p99_us']:.3f}" if r["p99_us"] < 1_000 else f"{r['p99_us']:,.0f}",
                f"{r['ratio_hash']:.2f}",
                f"{r['ratio_graylib']:.2f}",
                r["target"],
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:5], widths[1:5], strict=True))]
        cells += [row[5].ljust(widths[5]), row[6]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    m = report["machine"]
    lines.append("")
    lines.append(f"{m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}; {report['seconds']} s")
    for key, value in report["derived"].items():
        lines.append(f"{key}: {value}")
    for name, reason in report["skipped"].items():
        lines.append(f"skipped {name}: {reason}")
    return "\n".join(lines)


def baseline_from(report: Mapping[str, Any], margin: float = DEFAULT_MARGIN) -> dict[str, Any]:
    """The baseline file's content: the checked ratios of ``report``."""
    return {
        "margin": margin,
        "machine": report["machine"],
        "ratios": {r["name"]: r["ratio_hash"] for r in report["results"] if r["checked"]},
    }


def compare(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(regressions, notes)`` of the checked ratios of ``report`` against ``baseline``.

    A ratio regressed when the lower quartile of its per-round ratios is above ``baseline x margin``: most
    rounds, not a median nudged by one noisy round, must be past the margin. Cases in the baseline that did
    not run here (say, no redis-server) are noted, not failed.
    """
    margin = float(baseline.get("margin", DEFAULT_MARGIN))
    expected: Mapping[str, float] = baseline.get("ratios", {})
    measured = {r["name"]: r for r in report["results"] if r.get("checked")}
    regressions: list[str] = []
    notes: list[str] = []
    for name, base in expected.items():
        result = measured.get(name)
        if result is None:
            notes.append(f"{name}: not measured in this run")
            continue
        limit = base * margin
        low, mid = result["ratio_hash_q25"], result["ratio_hash"]
        line = f"{name}: {mid:.2f}x hash (lower quartile {low:.2f}), baseline {base:.2f}x, limit {limit:.2f}x"
        (regressions if low > limit else notes).append(line)
    for name in measured.keys() - expected.keys():
        notes.append(f"{name}: no baseline yet")
    return regressions, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (CI; < 60 s)")
    parser.add_argument("--json", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--check", action="store_true", help="fail on a ratio regression vs the baseline")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="baseline ratios file")
    parser.add_argument("--write-baseline", action="store_true", help="write this run's ratios as baseline")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer SDKs")
    parser.add_argument("--stores", default="memory,sqlite,redis", help="claim stores to measure")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--sample-ms", type=float, help="override the duration of one sample")
    parser.add_argument("--reload-rules", type=int, help="rules in the reload case (0: skip it)")
    parser.add_argument("--accounts", type=int, help="distinct accounts in the inputs")
    parser.add_argument("--evaluate-all-sizes", help="rule counts for evaluate_all, e.g. 1,10,100,1000")
    args = parser.parse_args(argv)

    settings = Settings.quick() if args.quick else Settings()
    overrides: dict[str, Any] = {
        "peers": not args.no_peers,
        "stores": tuple(s for s in args.stores.split(",") if s),
    }
    if args.rounds is not None:
        overrides["rounds"] = overrides["slow_rounds"] = args.rounds
    if args.sample_ms is not None:
        overrides["sample_ms"] = args.sample_ms
    if args.reload_rules is not None:
        overrides["reload_rules"] = args.reload_rules
    if args.accounts is not None:
        overrides["accounts"] = args.accounts
    if args.evaluate_all_sizes is not None:
        overrides["evaluate_all_sizes"] = tuple(int(n) for n in args.evaluate_all_sizes.split(",") if n)
    settings = Settings(**{**vars(settings), **overrides})

    report = run(settings, log=lambda msg: print(msg, file=sys.stderr))
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.write_baseline:
        args.baseline.write_text(json.dumps(baseline_from(report), indent=2) + "\n", encoding="utf-8")
        print(f"baseline written to {args.baseline}")
    if args.check:
        baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
        regressions, notes = compare(report, baseline)
        print()
        for line in notes:
            print(f"ok          {line}")
        for line in regressions:
            print(f"REGRESSION  {line}")
        if regressions:
            return 1
        print("no ratio regressed past the baseline margin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
