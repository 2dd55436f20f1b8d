"""Client.status() and graylib status: versions, reload errors, kill switches, decisions, grants, shadow."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from graylib import Client, Context, MemoryStore, Reason, SQLiteStore
from graylib.cli import main
from graylib.stores import RuleStats
from tests.helpers import make_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rules.toml"


def ctx(
    account: str = "u-1", payment_type: str = "online_purchase", payment_id: str = "", **kw: object
) -> Context:
    return Context(account=account, payment_type=payment_type, amount=54_000, payment_id=payment_id, **kw)  # type: ignore[arg-type]


def test_decisions_by_reason_per_rule() -> None:
    client = Client(make_config({}, {"id": "other", "payment_types": ["bill_payment"]}), cluster="sh-small")
    for _ in range(3):
        client.evaluate("subsidy", ctx())
    client.evaluate("subsidy", ctx(payment_type="p2p"))
    client.evaluate("subsidy", ctx(cluster="bj-big"))
    client.evaluate("nope", ctx())  # unknown rules are not tracked
    client.evaluate_all(ctx(payment_type="bill_payment"))
    status = client.status()
    assert status.rule("subsidy") is not None
    assert status.rule("subsidy").decisions == {"APPLIES_ROLLOUT": 3, "PAYMENT_TYPE": 1, "OUT_OF_STAGE": 1}  # type: ignore[union-attr]
    assert status.rule("other").decisions == {"APPLIES_ROLLOUT": 1}  # type: ignore[union-attr]
    assert "nope" not in client._tallies
    assert status.served_from == "config" and status.version == "test-1" and status.cluster == "sh-small"
    json.dumps(status.to_dict())


def test_counts_are_exact_under_threads() -> None:
    client = Client(make_config(), cluster="sh-small")
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait(5)
        for _ in range(5_000):
            client.evaluate("subsidy", ctx())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert client.status().rules[0].decisions == {"APPLIES_ROLLOUT": 20_000}


def test_kill_switch_and_reason_in_status() -> None:
    store = MemoryStore()
    client = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.0)
    client.kill("subsidy", reason="wrong coupon type")
    assert client.evaluate("subsidy", ctx()).reason is Reason.KILLED
    rule = client.status().rules[0]
    assert rule.killed and rule.kill_reason == "wrong coupon type" and rule.killed_at is not None
    assert rule.decisions == {"KILLED": 1}
    client.revive("subsidy")
    assert not client.status().rules[0].killed


def test_shadow_rule_end_to_end() -> None:
    """A shadow rule is evaluated fully, grants nothing, and status shows what it would have granted."""
    store = MemoryStore()
    client = Client(make_config({"state": "shadow"}), cluster="sh-small", store=store)
    first = client.claim("subsidy", ctx(payment_id="p-1"))
    assert not first.applies and first.reason is Reason.SHADOW and first.discount == 8_100
    client.claim("subsidy", ctx(account="u-2", payment_id="p-2"))
    client.claim("subsidy", ctx(payment_id="p-1"))  # a replay counts once
    rule = client.status().rules[0]
    assert (rule.granted_count, rule.granted_amount) == (0, 0)
    assert (rule.shadow_count, rule.shadow_amount) == (2, 16_200)
    assert rule.state == "shadow" and rule.decisions == {"SHADOW": 3}  # each claim is evaluated once


def test_grants_of_an_active_rule() -> None:
    client = Client(make_config(), cluster="sh-small")
    assert client.claim("subsidy", ctx(payment_id="p-1")).applies
    rule = client.status().rules[0]
    assert (rule.granted_count, rule.granted_amount, rule.shadow_count) == (1, 8_100, 0)


def test_a_failing_store_does_not_break_status() -> None:
    class Down(MemoryStore):
        def stats(self, rule_id: str) -> RuleStats:
            raise OSError("store down")

        def kill_switches(self):  # type: ignore[no-untyped-def]
            raise OSError("store down")

    client = Client(make_config(), cluster="sh-small", store=Down())
    status = client.status()
    assert "store down" in status.kill_switch_error and "store down" in status.rules[0].stats_error


def test_graylib_status_reads_switches_and_grants_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "graylib.db"
    store = SQLiteStore(str(db))
    client = Client.from_file(EXAMPLE, cluster="sh-small", node="sh-small-01", store=store)
    assert client.claim("appliance-subsidy", ctx(payment_id="p-1", region="CN-31", ip="203.0.113.7")).applies
    client.kill("appliance-subsidy", reason="incident 42")
    client.close()
    store.close()
    url = f"sqlite:///{db}"
    assert main(["status", str(EXAMPLE), "--store", url]) == 0
    out = capsys.readouterr().out
    assert "config  version 2025-01-16.1" in out
    assert "rule appliance-subsidy: active, stage small-cluster, KILLED (incident 42; since" in out
    assert "granted 1 payments, 81.00 (8100) off" in out
    assert main(["status", str(EXAMPLE), "--store", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rule = data["rules"][0]
    assert rule["killed"] and rule["kill_reason"] == "incident 42" and rule["granted_amount"] == 8_100


def test_graylib_status_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAYLIB_STORE", raising=False)
    assert main(["status", str(EXAMPLE)]) == 2
    assert "--store" in capsys.readouterr().err
    assert main(["status", str(EXAMPLE), "--store", "nowhere://"]) == 2
    bad = ROOT / "tests" / "fixtures" / "broken" / "bad_window.toml"
    assert main(["status", str(bad), "--store", "memory://"]) == 2


def test_claim_refusals_are_counted_as_their_final_reason() -> None:
    """A claim that the limits refuse counts as LIMIT_REACHED, not as the evaluation that preceded it."""
    limits = {"per_account": {"count": 1}}
    client = Client(make_config({"limits": limits}), cluster="sh-small")
    assert client.claim("subsidy", ctx(payment_id="p-1")).applies
    refused = client.claim("subsidy", ctx(payment_id="p-2"))
    assert refused.reason is Reason.LIMIT_REACHED
    assert client.claim("subsidy", ctx(payment_id="p-3", payment_type="p2p")).reason is Reason.PAYMENT_TYPE
    assert client.status().rules[0].decisions == {"APPLIES_ROLLOUT": 1, "LIMIT_REACHED": 1, "PAYMENT_TYPE": 1}


def test_status_reads_version_and_reload_count_of_the_same_moment(tmp_path: Path) -> None:
    """Reloads run while status is read: every status pairs a version with the reload count that made it."""
    from tests.test_reload import rules_json

    rules = tmp_path / "rules.json"
    rules.write_text(rules_json("v0"))
    bad: list[str] = []
    done = threading.Event()
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with Client.from_file(rules, cluster="sh-small") as client:

            def read() -> None:
                while not done.is_set():
                    status = client.status()
                    if status.version != f"v{status.reloads}":
                        bad.append(f"{status.version} after {status.reloads} reloads")

            reader = threading.Thread(target=read)
            reader.start()
            for k in range(1, 30):
                rules.write_text(rules_json(f"v{k}", percent=15 + k % 10))
                assert client.reload_now()
            done.set()
            reader.join(10)
    finally:
        sys.setswitchinterval(old_interval)
    assert not bad, bad[:5]


def test_rendered_status_does_not_call_a_refused_source_broken() -> None:
    from graylib._status import Status
    from graylib.cli._status import render_status

    text = render_status(Status(version="v1", loaded_at=0.0, source="rules.toml", served_from="last_good"))
    assert "SERVING THE LAST GOOD COPY: the source file is broken or refused (see error)" in text


def test_cli_status_exits_2_when_the_store_cannot_be_read(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert main(["status", str(EXAMPLE), "--store", url]) == 2
    out = capsys.readouterr().out
    assert "kill switches unavailable" in out  # still printed, so the operator sees what is known
