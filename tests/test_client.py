from __future__ import annotations

import threading
from pathlib import Path

import pytest

from graylib import Client, ConfigError, Context, MemoryStore, Reason, load_config
from graylib._config import parse_config
from tests.helpers import make_config

ROOT = Path(__file__).resolve().parents[1]
CTX = Context(account="u-1", payment_type="online_purchase", amount=54_000, region="CN-31")


def test_from_file_with_the_design_example() -> None:
    c = Client.from_file(ROOT / "examples" / "rules.toml", cluster="sh-small", node="sh-small-01")
    d = c.evaluate("appliance-subsidy", CTX)
    assert d.applies and d.discount == 8_100 and d.rule_version == "2025-01-16.1"


def test_client_accepts_a_loaded_config_and_a_mapping() -> None:
    data = make_config()
    assert Client(load_config(data), cluster="sh-small").evaluate("subsidy", CTX).applies
    assert Client(data, cluster="sh-small").evaluate("subsidy", CTX).applies


def test_bad_config_raises_config_error() -> None:
    with pytest.raises(ConfigError):
        Client(make_config({"discount": {"percent": 99, "max_off": 10}}))


def test_smoke_cases_run_for_this_client_identity() -> None:
    smoke = [
        {
            "name": "in stage here",
            "expect": {"applies": True},
            "context": {"account": "u-1", "payment_type": "online_purchase", "amount": 1000},
        }
    ]
    data = make_config({"smoke": smoke})
    with pytest.raises(ConfigError, match="in stage here"):
        load_config(data)  # no cluster in the case and none given: the current stage does not reach it
    config = parse_config(data)  # valid on its own; the smoke case decides per identity
    assert Client(config, cluster="sh-small").evaluate("subsidy", CTX).applies
    with pytest.raises(ConfigError, match="in stage here"):
        Client(config, cluster="bj-big")


def test_kill_switch_is_shared_through_the_store() -> None:
    store = MemoryStore()
    a = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.0)
    b = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.0)
    assert b.evaluate("subsidy", CTX).applies
    a.kill("subsidy", reason="bad amount")
    d = b.evaluate("subsidy", CTX)
    assert d.reason is Reason.KILLED and "bad amount" in d.detail
    a.revive("subsidy")
    assert b.evaluate("subsidy", CTX).applies


def test_store_failure_keeps_the_last_known_kill_switches() -> None:
    class Flaky(MemoryStore):
        fail = False

        def kill_switches(self):  # type: ignore[no-untyped-def]
            if self.fail:
                raise OSError("store down")
            return super().kill_switches()

    store = Flaky()
    c = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.0)
    c.kill("subsidy", reason="x")
    store.fail = True
    assert c.evaluate("subsidy", CTX).reason is Reason.KILLED


def test_evaluate_all_only_looks_at_rules_of_the_payment_type() -> None:
    rules = [
        {"id": f"r{i}", "payment_types": ["online_purchase" if i < 2 else f"type-{i}"]} for i in range(50)
    ]
    c = Client(make_config(*rules), cluster="sh-small")
    out = c.evaluate_all(CTX)
    assert set(out) == {"r0", "r1"}
    assert all(d.applies for d in out.values())
    assert c.evaluate_all(Context(account="u", payment_type="nothing", amount=1)) == {}


def test_threads_evaluating_concurrently() -> None:
    c = Client(make_config(), cluster="sh-small")
    barrier = threading.Barrier(8, timeout=10)
    results: list[bool] = []

    def work() -> None:
        barrier.wait()
        results.extend(c.evaluate("subsidy", CTX).applies for _ in range(2_000))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 16_000 and all(results)


def test_from_file_runs_smoke_cases_as_this_node(tmp_path: Path) -> None:
    import json

    smoke = [
        {
            "name": "in stage here",
            "expect": {"applies": True},
            "context": {"account": "u-1", "payment_type": "online_purchase", "amount": 1000},
        }
    ]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(make_config({"smoke": smoke})))
    assert Client.from_file(path, cluster="sh-small").evaluate("subsidy", CTX).applies
    with pytest.raises(ConfigError, match="in stage here"):
        Client.from_file(path, cluster="bj-big")
