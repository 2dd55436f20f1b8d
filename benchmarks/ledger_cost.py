"""What the grant ledger costs: a claim with its entry against the same claim without, export speed, growth.

    python benchmarks/ledger_cost.py claims [--claims 5000] [--rounds 5] [--base REV]
    python benchmarks/ledger_cost.py export [--entries 1000000]
    python benchmarks/ledger_cost.py export-redis [--entries 1000000]
    python benchmarks/ledger_cost.py growth [--grants 100000]

``claims`` times ``Store.reserve`` (CPU time on SQLite, wall time on Redis; two counters: a windowed
per-account limit and a lifetime total, a real decision payload) on SQLite and on a local redis-server,
for this tree and for ``--base`` (the last commit without the ledger, unpacked with ``git archive``), each
in a fresh child process, alternating the two ``--rounds`` times; the median per claim of each is reported
with their ratio, and on Redis the script's own time inside the server.

``export`` fills a SQLite ledger with ``--entries`` entries (written directly, as claims would leave them),
then times ``graylib ledger --store ... --format csv`` (and jsonl) into /dev/null in a child process and
reports entries per second and the child's peak memory (it must not grow with the ledger).

``growth`` claims ``--grants`` times and reports what the ledger adds per grant: on SQLite the file size
against the base tree's, on Redis the stream's ``MEMORY USAGE`` (and the larger reservation record, kept
``record_ttl``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "45733bd"
"""The last commit before the ledger."""
DIGEST = "9f" * 32


def _requests(n: int, tag: str) -> list[object]:
    import msgspec

    from graylib.stores import CounterSpec, ReserveRequest

    payload = '{"applies":true,"reason":"applied","discount":1500,"rule_id":"subsidy","rule_version":"v1"}'
    fields = set(ReserveRequest.__struct_fields__)
    out = []
    for i in range(n):
        counters = (
            CounterSpec(f"per_account:acct-{i % 5000}", 3600, 100, None),
            CounterSpec("total", 0, None, None),
        )
        request = ReserveRequest(
            "subsidy", f"{tag}-pay-{i:08d}", '["acct",10000]', 1_500, counters, payload, time.time()
        )
        if "origin" in fields:  # this tree: the request carries what the ledger entry records
            from graylib.stores import LedgerOrigin

            origin = LedgerOrigin("v1", DIGEST, "sh-prod", "node-01")
            request = msgspec.structs.replace(
                request, account=f"acct-{i % 5000}", payment_amount=10_000, origin=origin
            )
        out.append(request)
    return out


def child(kind: str, url: str, claims: int) -> None:
    """In a fresh process: microseconds per claim on a fresh store (printed)."""
    import gc
    import uuid

    from graylib.stores import RedisStore, SQLiteStore

    tag = uuid.uuid4().hex[:8]
    if kind == "sqlite":
        store: object = SQLiteStore(Path(url) / f"{tag}.db")
    else:
        store = RedisStore(url, prefix=f"b{tag}", initialise=True, timeout=5.0)
    warm = _requests(500, f"warm{tag}")
    timed = _requests(claims, tag)
    for request in warm:
        store.reserve(request)  # type: ignore[attr-defined]
    if kind == "redis":
        store._client().config_resetstat()  # type: ignore[attr-defined]
    gc.disable()
    # SQLite works in this process: its CPU time is the cost, free of the other processes' scheduling;
    # a Redis claim waits for the server, so its wall time is.
    clock = time.process_time_ns if kind == "sqlite" else time.perf_counter_ns
    started = clock()
    for request in timed:
        store.reserve(request)  # type: ignore[attr-defined]
    elapsed = clock() - started
    server = 0.0
    if kind == "redis":  # the script's own time inside Redis, free of the client's scheduling noise
        server = float(store._client().info("commandstats")["cmdstat_evalsha"]["usec_per_call"])  # type: ignore[attr-defined]
    print(elapsed / claims / 1000, server)


def _base_src(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _run_child(src: Path, kind: str, url: str, claims: int) -> tuple[float, float]:
    """(microseconds per claim at the client, inside Redis: 0 for SQLite)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, __file__, "child", kind, url, str(claims)], env=env, capture_output=True, check=True
    )
    client, server = out.stdout.decode().split()[-2:]
    return float(client), float(server)


def claims(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.redis_server import RedisServer

    with tempfile.TemporaryDirectory() as tmp, RedisServer() as server:
        base = _base_src(args.base, Path(tmp))
        this = ROOT / "src"
        for kind, url in (("sqlite", tmp), ("redis", server.url)):
            if kind not in args.stores.split(","):
                continue
            with_ledger, without = [], []
            for _ in range(args.rounds):
                without.append(_run_child(base, kind, url, args.claims))
                with_ledger.append(_run_child(this, kind, url, args.claims))
            for label, pick in (("median", statistics.median), ("best", min)):
                a, b = pick(x[0] for x in with_ledger), pick(x[0] for x in without)
                print(
                    f"{kind:6} {label:6}: with the ledger {a:6.1f} us/claim, without {b:6.1f}: {a / b:.2f}x"
                )
            if kind == "redis":
                a, b = statistics.median(x[1] for x in with_ledger), statistics.median(x[1] for x in without)
                print(
                    f"{kind:6} inside Redis (median): with {a:5.2f} us/script, without {b:5.2f}: {a / b:.2f}x"
                )
            print(
                f"  rounds with {[round(x[0], 1) for x in with_ledger]};"
                f" without {[round(x[0], 1) for x in without]}"
            )


def export(args: argparse.Namespace) -> None:
    from graylib.stores import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        store = SQLiteStore(path)
        n = args.entries
        started = time.perf_counter()

        def fill(db: object) -> None:
            db.execute("INSERT INTO ledger_origins VALUES (1, 'v1', ?, 'sh-prod', 'node-01')", (DIGEST,))  # type: ignore[attr-defined]
            rows = (
                ("subsidy", i, 1_700_000_000.0 + i * 0.01, "grant", 1, f"pay-{i:010d}",
                 f"acct-{i % 100_000:08d}", 10_000, 1_500)
                for i in range(1, n + 1)
            )  # fmt: skip
            db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)  # type: ignore[attr-defined]

        store._transaction(fill)  # type: ignore[arg-type]
        store.close()
        print(
            f"filled {n} entries in {time.perf_counter() - started:.1f}s;"
            f" file {path.stat().st_size / n:.0f} B/entry"
        )
        for fmt in ("csv", "jsonl"):
            command = [
                sys.executable,
                "-m",
                "graylib",
                "ledger",
                "--store",
                f"sqlite:///{path}",
                "--format",
                fmt,
            ]
            started = time.perf_counter()
            with open(os.devnull, "w") as sink:
                subprocess.run(
                    command, stdout=sink, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
                )
            took = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(
                f"export {fmt:5}: {n / took:,.0f} entries/s ({took:.1f}s);"
                f" peak RSS of the children so far {peak:.0f} MB"
            )


def export_redis(args: argparse.Namespace) -> None:
    """The same export from a Redis stream filled with ``--entries`` entries (pipelined XADDs)."""
    sys.path.insert(0, str(ROOT))
    from tests.redis_server import RedisServer

    from graylib.stores import RedisStore

    n = args.entries
    with RedisServer() as server:
        store = RedisStore(server.url, initialise=True, timeout=30.0)
        client = store._client()
        key = "{graylib:subsidy}:ledger"
        for start in range(1, n + 1, 10_000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + 10_000, n + 1)):
                pipe.xadd(key, {"at": 1_700_000_000.0 + i * 0.01, "kind": "grant", "payment": f"pay-{i:010d}",
                                "account": f"acct-{i % 100_000:08d}", "amount": 10_000, "discount": 1_500,
                                "version": "v1", "digest": DIGEST, "cluster": "sh-prod", "node": "node-01"},
                          id=f"{i}-0")  # fmt: skip
            pipe.execute()
        client.hset("{graylib:subsidy}:stats", "ledger_seq", n)
        store.close()
        command = [sys.executable, "-m", "graylib", "ledger", "--store", server.url, "--format", "csv"]
        started = time.perf_counter()
        with open(os.devnull, "w") as sink:
            subprocess.run(
                command, stdout=sink, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
            )
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"export from Redis, csv: {n / took:,.0f} entries/s ({took:.1f}s);"
            f" peak RSS of the children so far {peak:.0f} MB"
        )


def growth(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.redis_server import RedisServer

    from graylib.stores import RedisStore

    n = args.grants
    with tempfile.TemporaryDirectory() as tmp:
        base = _base_src(args.base, Path(tmp))
        sizes = {}
        for name, src in (("without", base), ("with", ROOT / "src")):
            path = Path(tmp) / f"{name}.db"
            code = (
                "import sys, time; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]);"
                "from benchmarks.ledger_cost import _requests; from graylib.stores import SQLiteStore;"
                "s = SQLiteStore(sys.argv[3]); [s.reserve(r) for r in _requests(int(sys.argv[4]), 'g')];"
                "db = s._connection(); db.execute('PRAGMA wal_checkpoint(TRUNCATE)');"
                "print(db.execute('PRAGMA page_count').fetchone()[0]"
                " * db.execute('PRAGMA page_size').fetchone()[0])"
            )
            out = subprocess.run(
                [sys.executable, "-c", code, str(src), str(ROOT), str(path), str(n)],
                capture_output=True,
                check=True,
            )
            sizes[name] = int(out.stdout.decode().split()[-1])
        extra = (sizes["with"] - sizes["without"]) / n
        print(
            f"SQLite: {sizes['with'] / n:.0f} B/grant with the ledger, {sizes['without'] / n:.0f} without:"
            f" ledger {extra:.0f} B/grant"
        )
    with RedisServer() as server:
        store = RedisStore(server.url, initialise=True, timeout=5.0)
        client = store._client()
        for request in _requests(n, "g"):
            store.reserve(request)  # type: ignore[arg-type]
        stream = int(client.memory_usage("{graylib:subsidy}:ledger", samples=0))
        record = int(client.memory_usage("{graylib:subsidy}:rec:r:g-pay-00000001", samples=0))
        print(
            f"Redis: the ledger stream holds {stream / n:.0f} B/grant;"
            f" a reservation record is {record} B (kept record_ttl)"
        )
        store.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("claims")
    p.add_argument("--claims", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--stores", default="sqlite,redis")
    p.add_argument("--base", default=BASE)
    p = sub.add_parser("export")
    p.add_argument("--entries", type=int, default=1_000_000)
    p = sub.add_parser("export-redis")
    p.add_argument("--entries", type=int, default=1_000_000)
    p = sub.add_parser("growth")
    p.add_argument("--grants", type=int, default=100_000)
    p.add_argument("--base", default=BASE)
    args = parser.parse_args()
    {"claims": claims, "export": export, "export-redis": export_redis, "growth": growth}[args.what](args)


if __name__ == "__main__":
    main()
