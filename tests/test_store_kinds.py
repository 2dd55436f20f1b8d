"""tests/store_kinds.py: the one list of store kinds covers every store class, and the claim tests use it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import graylib
import graylib.stores
from graylib.stores import Store
from tests.store_kinds import (
    SHARED_KINDS,
    STORE_KINDS,
    StoreSpec,
    open_store,
    spec_for,
    store_params,
)

ROOT = Path(__file__).resolve().parents[1]
KIND_NAMES = [kind.name for kind in STORE_KINDS]


def _store_classes(module: object, names: list[str]) -> set[type]:
    """The classes among ``names`` of ``module`` that implement the ``Store`` protocol."""
    classes = set()
    for name in names:
        value = getattr(module, name)
        if isinstance(value, type) and value is not Store and issubclass(value, Store):
            classes.add(value)
    return classes


def test_every_exported_store_class_has_a_kind() -> None:
    exported = _store_classes(graylib.stores, list(graylib.stores.__all__))
    assert len(exported) >= 3  # memory, SQLite, Redis at least: the check itself found them
    assert {kind.store_class for kind in STORE_KINDS} == exported
    assert _store_classes(graylib, list(graylib.__all__)) == exported


def test_kind_names_are_unique_and_redis_kinds_are_marked() -> None:
    assert len(KIND_NAMES) == len(set(KIND_NAMES))
    params = store_params()
    assert [p.values[0] for p in params] == KIND_NAMES
    for param, kind in zip(params, STORE_KINDS, strict=True):
        assert any(mark.name == "redis" for mark in param.marks) == kind.needs_redis
    assert [p.values[0] for p in store_params(shared_only=True)] == list(SHARED_KINDS)
    assert [p.values[0] for p in store_params(exclude=["memory"])] == KIND_NAMES[1:]


@pytest.mark.parametrize("bad", [["redis-sentinel"], ["Memory"]])
def test_an_unknown_kind_is_an_error_that_names_it(bad: list[str]) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad[0]))):
        store_params(exclude=bad)
    with pytest.raises(ValueError, match=f"unknown store kind {re.escape(repr(bad[0]))}"):
        open_store(bad[0])


@pytest.mark.parametrize("kind", store_params())
def test_each_kind_opens_its_class_and_shared_kinds_share(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec = spec_for(kind, request, tmp_path)
    first, second = spec.open(), spec.open()
    try:
        expected = next(k.store_class for k in STORE_KINDS if k.name == kind)
        assert type(first) is expected and type(second) is expected
        first.kill("rule-1", "seen by the other handle?", 1_700_000_000.0)
        assert ("rule-1" in second.kill_switches()) == spec.shared == (kind in SHARED_KINDS)
    finally:
        first.close()
        second.close()


def test_a_spec_opens_in_another_process_too(tmp_path: Path) -> None:
    spec = StoreSpec("sqlite", str(tmp_path / "other.db"))
    code = (
        "import sys; from tests.store_kinds import StoreSpec; "
        "s = StoreSpec(*sys.argv[1:]).open(); s.kill('rule-1', 'from a child', 1.0); s.close()"
    )
    subprocess.run([sys.executable, "-c", code, spec.kind, spec.location], cwd=ROOT, check=True, timeout=60)
    store = spec.open()
    try:
        assert store.kill_switches()["rule-1"].reason == "from a child"
    finally:
        store.close()


_KIND_IN_ID = re.compile(
    r"(?:^|-)(" + "|".join(sorted(map(re.escape, KIND_NAMES), key=len)[::-1]) + r")(?=-|$)"
)


def test_the_claim_tests_run_on_every_kind() -> None:
    """Each claim test that runs on stores runs on all of them (every kind, or every shared kind)."""
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_claims.py",
            "tests/test_claims_concurrency.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    kinds: dict[str, set[str]] = {}
    for line in collected.stdout.splitlines():
        match = re.fullmatch(r"(tests/\S+::\w+)\[(.+)\]", line.strip())
        if match is None:
            continue
        found = _KIND_IN_ID.findall(match[2])
        if found:
            kinds.setdefault(match[1], set()).update(found)
    assert len(kinds) >= 20, sorted(kinds)  # the store-parametrised claim tests were found
    for test, seen in kinds.items():
        assert seen in (set(KIND_NAMES), set(SHARED_KINDS)), (test, seen)
    assert any(seen == set(SHARED_KINDS) for seen in kinds.values())  # the process races


def _connected_clients(ports: list[int]) -> int:
    """Connections the Redis servers on ``ports`` hold, not counting the one asking."""
    import redis

    total = 0
    for port in ports:
        probe = redis.Redis(port=port)
        try:
            total += int(probe.info("clients")["connected_clients"]) - 1
        finally:
            probe.close()
    return total


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
def test_closing_a_redis_store_lets_go_of_its_connections(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``close()`` hangs up every connection now, not when the garbage collector finds the store.

    (``store`` stays referenced until the end, so only ``close()`` can have hung up.)
    """
    spec = spec_for(kind, request, tmp_path)
    if kind == "redis":
        ports = [request.getfixturevalue("redis_server").port]
    else:
        ports = request.getfixturevalue("redis_cluster").ports
    before = _connected_clients(ports)
    store = spec.open()
    for rule in ("rule-1", "rule-2"):  # on a cluster, two nodes besides the index's
        store.kill(rule, "x", 1.0)
        store.stats(rule)
    assert set(store.kill_switches()) == {"rule-1", "rule-2"}
    assert _connected_clients(ports) > before
    store.close()
    deadline = time.monotonic() + 2.0
    while _connected_clients(ports) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connected_clients(ports) == before, "connections still open after close()"
