"""graylib.otel: what an OpenTelemetry SDK reader sees, and that no value of one payment is ever a label.

A real SDK ``MeterProvider`` with an ``InMemoryMetricReader`` collects what the clients report; the store
outage runs against a real redis-server that is stopped mid-test.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import graylib
from graylib import Client, Context, MemoryStore, Reason, RedisStore
from graylib.otel import Metrics
from tests.claims_support import CLUSTER, DISCOUNT, RULE, limited_config, payment
from tests.fleet.support import rules_text, write
from tests.helpers import make_config
from tests.redis_server import RedisServer

ALLOWED = {"rule", "reason", "op", "store"}
ACCOUNT = "acct-5521-private"
PAYMENT = "pay-7781-private"
IP = "203.0.113.77"


@pytest.fixture(name="metrics")
def metrics_fixture() -> Iterator[tuple[Metrics, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield Metrics(provider), reader
    provider.shutdown()


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Every data point collected now, by instrument name: ``(attributes, point)``."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return out
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    out.setdefault(metric.name, []).append((dict(point.attributes or {}), point))
    return out


def _value(points: dict[str, list[tuple[dict[str, Any], Any]]], name: str, **attributes: str) -> int:
    return sum(int(p.value) for a, p in points.get(name, []) if a == attributes)


def test_decisions_grants_and_durations_reach_the_reader_with_rule_reason_op_store_only(
    metrics: tuple[Metrics, InMemoryMetricReader],
) -> None:
    recorder, reader = metrics
    config = limited_config({"total": {"count": 2}})
    with Client(config, cluster=CLUSTER, store=MemoryStore(), metrics=recorder) as client:
        ctx = Context(
            account=ACCOUNT, payment_type="online_purchase", amount=10_000, payment_id=PAYMENT, ip=IP
        )
        assert client.evaluate(RULE, ctx).applies
        assert (
            client.evaluate(RULE, Context(account=ACCOUNT, payment_type="p2p_x")).reason
            is Reason.PAYMENT_TYPE
        )
        assert client.claim(RULE, ctx).applies
        assert client.claim(RULE, ctx).applies  # a replay: no second grant
        assert client.claim(RULE, payment("pay-2")).applies
        assert client.claim(RULE, payment("pay-3")).reason is Reason.LIMIT_REACHED
        points = _points(reader)
    assert _value(points, "graylib.decisions", rule=RULE, reason="APPLIES_ROLLOUT", op="evaluate") == 1
    assert _value(points, "graylib.decisions", rule=RULE, reason="PAYMENT_TYPE", op="evaluate") == 1
    assert _value(points, "graylib.decisions", rule=RULE, reason="APPLIES_ROLLOUT", op="claim") == 3
    assert _value(points, "graylib.decisions", rule=RULE, reason="LIMIT_REACHED", op="claim") == 1
    assert _value(points, "graylib.granted", rule=RULE) == 2 * DISCOUNT
    durations = points["graylib.claim.duration"]
    assert [a for a, _ in durations] == [{"store": "MemoryStore"}]
    assert durations[0][1].count == 4  # every claim that reached the store: 2 grants, 1 replay, 1 full
    loaded = points["graylib.config.loaded_at"]
    assert len(loaded) == 1 and loaded[0][1].value == client.snapshot.loaded_at
    for name, found in points.items():
        for attributes, _ in found:
            assert set(attributes) <= ALLOWED, (name, attributes)
            for value in attributes.values():
                assert value not in {ACCOUNT, PAYMENT, IP, "pay-2", "pay-3"}, (name, attributes)


def test_a_store_outage_shows_as_a_warning_and_a_metric(
    metrics: tuple[Metrics, InMemoryMetricReader], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, reader = metrics
    caplog.set_level(logging.WARNING, logger="graylib")
    with RedisServer() as server:
        store = RedisStore(server.url, initialise=True)
        client = Client(
            limited_config({"total": {"count": 100}}), cluster=CLUSTER, store=store, metrics=recorder
        )
        assert client.claim(RULE, payment("before")).applies
        server.stop()
        decisions = [client.claim(RULE, payment(f"during-{i}", account=ACCOUNT)) for i in range(5)]
        released = client.release(RULE, "before")
        client.close()
        store.close()
    assert all(d.reason is Reason.ERROR for d in decisions)
    assert released.failed
    points = _points(reader)
    assert _value(points, "graylib.store.errors", op="claim") == 5
    assert _value(points, "graylib.store.errors", op="release") == 1
    assert _value(points, "graylib.decisions", rule=RULE, reason="ERROR", op="claim") == 5
    durations = points["graylib.claim.duration"]
    assert [a for a, _ in durations] == [{"store": "RedisStore"}]
    assert durations[0][1].count == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    claim_lines = [m for m in warnings if m.startswith("claim for rule")]
    assert len(claim_lines) == 1 and "RedisStore" in claim_lines[0], warnings
    assert all(ACCOUNT not in m for m in warnings)


def test_clients_sharing_metrics_add_up_and_a_dropped_client_is_forgotten(
    metrics: tuple[Metrics, InMemoryMetricReader],
) -> None:
    recorder, reader = metrics
    config = make_config()
    first = Client(config, cluster=CLUSTER, metrics=recorder)
    second = Client(config, cluster=CLUSTER, metrics=recorder)
    ctx = Context(account="u-1", payment_type="online_purchase", amount=10_000)
    for client in (first, second, second):
        client.evaluate(RULE, ctx)
    assert (
        _value(_points(reader), "graylib.decisions", rule=RULE, reason="APPLIES_ROLLOUT", op="evaluate") == 3
    )
    first.close()
    second.close()
    del first, second, client
    gc.collect()
    assert recorder._readings() == []


def test_status_still_counts_evaluations_and_claims_together() -> None:
    with Client(limited_config(), cluster=CLUSTER) as client:
        client.evaluate(RULE, payment("p-1"))
        client.claim(RULE, payment("p-2"))
        assert client.status().rules[0].decisions == {"APPLIES_ROLLOUT": 2}


def test_without_metrics_the_claims_talk_to_the_store_itself() -> None:
    store = MemoryStore()
    with Client(limited_config(), cluster=CLUSTER, store=store) as client:
        assert client._claims._store is store
        assert client._kills._read == store.kill_switches  # the kill view reads the store itself too
    with Client(limited_config(), cluster=CLUSTER, store=store, metrics=Metrics()) as metered:
        assert metered._claims._store is not store  # a MeteredStore, only when metrics are on


def test_an_async_client_reports_the_same_metrics(metrics: tuple[Metrics, InMemoryMetricReader]) -> None:
    import asyncio

    from graylib.aio import AsyncClient

    recorder, reader = metrics

    async def scenario() -> None:
        config = limited_config({"total": {"count": 1}})
        async with AsyncClient(config, cluster=CLUSTER, metrics=recorder) as client:
            assert (await client.claim(RULE, payment("a-1"))).applies
            assert (await client.claim(RULE, payment("a-2"))).reason is Reason.LIMIT_REACHED
            assert client.evaluate(RULE, payment("a-3")).applies

    asyncio.run(scenario())
    points = _points(reader)
    assert _value(points, "graylib.decisions", rule=RULE, reason="LIMIT_REACHED", op="claim") == 1
    assert _value(points, "graylib.decisions", rule=RULE, reason="APPLIES_ROLLOUT", op="evaluate") == 1
    assert _value(points, "graylib.granted", rule=RULE) == DISCOUNT
    assert [a for a, _ in points["graylib.claim.duration"]] == [{"store": "AsyncMemoryStore"}]


def test_a_client_following_a_store_is_metered_and_reports_to_the_fleet(
    metrics: tuple[Metrics, InMemoryMetricReader], tmp_path: Path
) -> None:
    """``from_store(..., metrics=...)``: the metered store is a whole ``Store`` (revisions included)."""
    recorder, reader = metrics
    store = MemoryStore()
    graylib.publish(store, write(tmp_path, "v1.toml", rules_text(version="v1")))
    with Client.from_store(store, cluster="sh-small", node="sh-small-01", metrics=recorder) as client:
        assert client.config.version == "v1"
        assert [i.version for i in store.instances(time.time())] == ["v1"]
        rule = next(iter(client.snapshot.rules))
        client.kill(rule, reason="metered")  # through the metered store
        assert rule in client.kill_switches()
        loaded = _points(reader)["graylib.config.loaded_at"]
    assert len(loaded) == 1 and loaded[0][1].value == client.snapshot.loaded_at
    assert store.instances(time.time()) == []  # closed: the fleet record is gone
