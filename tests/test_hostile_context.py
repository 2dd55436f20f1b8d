"""Context values as a hostile request body gives them: lone surrogates and huge strings fail closed.

``json.loads('"\\ud800"')`` is a ``str`` that is not valid Unicode text; hashing it used to crash the
interpreter (MurmurHash3 reads its UTF-8 form without checking for an error). So the surrogate tests run
the payment path in a child process: a crash there fails the test with the child's exit status instead of
ending the test run. Every field that is hashed or stored must be refused with its name in the detail, and
nothing may be counted in the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, Context, MemoryStore, Reason, SQLiteStore
from graylib.stores import RuleStats
from tests.claims_support import RULE, limited_config, payment
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
MAX = 256
"""The documented longest text of a hashed or stored ``Context`` field (``graylib.MAX_FIELD_LENGTH``)."""
EVERY_LIMIT = {
    "per_account": {"count": 5},
    "per_ip": {"count": 5},
    "per_device": {"count": 5},
    "per_merchant": {"count": 5},
    "per_region": {"count": 5},
    "total": {"count": 100},
}
FIELDS = {"account": "u-1", "ip": "203.0.113.7", "device": "d-1", "merchant": "m-1", "region": "CN-31"}
STORED = ("account", "payment_id", "merchant", "device", "region", "ip")

_CHILD = textwrap.dedent(
    """
    import json, sys
    from graylib import Client, Context, SQLiteStore
    from tests.claims_support import RULE, limited_config

    field, path, limits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    hostile = json.loads('"\\\\ud800"')  # what a JSON request body gives for "\\ud800"
    assert hostile == "\\ud800"
    values = {"account": "u-1", "payment_id": "pay-1", "ip": "203.0.113.7", "device": "d-1",
              "merchant": "m-1", "region": "CN-31", "payment_type": "online_purchase"}
    values[field] = values[field][:1] + hostile
    store = SQLiteStore(path)
    client = Client(limited_config(limits), cluster="sh-small", store=store, kill_refresh=0)
    ctx = Context(amount=10_000, **values)
    out = {}
    for name, decision in [
        ("evaluate", client.evaluate(RULE, ctx)),
        ("evaluate_all", client.evaluate_all(ctx).get(RULE)),
        ("claim", client.claim(RULE, ctx)),
    ]:
        out[name] = None if decision is None else [decision.applies, decision.reason.value, decision.detail]
    released = client.release(RULE, values["payment_id"])
    out["release"] = [released.released, released.failed, released.detail]
    stats = store.stats(RULE)
    out["granted"] = stats.granted_count
    client.close()
    print(json.dumps(out, ensure_ascii=True))
    """
)


def _run_child(field: str, tmp_path: Path, limits: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, field, str(tmp_path / "claims.db"), json.dumps(limits)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"child crashed with status {proc.returncode}: {proc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("field", STORED)
def test_a_lone_surrogate_in_a_stored_field_fails_closed_and_counts_nothing(
    field: str, tmp_path: Path
) -> None:
    out = _run_child(field, tmp_path, EVERY_LIMIT)
    applies, reason, detail = out["claim"]
    assert not applies
    assert reason in ("ERROR", "NOT_ELIGIBLE", "LIMIT_REACHED")
    assert field in detail
    assert out["granted"] == 0
    released, _failed, _detail = out["release"]
    assert not released
    if field == "account":  # the hashed field: evaluation itself must refuse, naming it
        for name in ("evaluate", "evaluate_all"):
            applies, reason, detail = out[name]
            assert (applies, reason) == (False, "ERROR")
            assert "account" in detail


def test_a_lone_surrogate_in_the_payment_id_of_a_release_fails_closed(tmp_path: Path) -> None:
    out = _run_child("payment_id", tmp_path, EVERY_LIMIT)
    released, failed, detail = out["release"]
    assert (released, failed) == (False, False)
    assert "payment_id" in detail


def test_a_lone_surrogate_account_fails_closed_for_a_rule_without_limits(tmp_path: Path) -> None:
    out = _run_child("account", tmp_path, {})
    for name in ("evaluate", "evaluate_all", "claim"):
        applies, reason, detail = out[name]
        assert (applies, reason) == (False, "ERROR"), name
        assert "account" in detail


def test_bucket_refuses_a_lone_surrogate_with_an_error() -> None:
    code = (
        "import graylib\n"
        "try:\n"
        "    graylib.bucket('salt', '\\ud800')\n"
        "except ValueError as e:\n"
        "    print('refused', e)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused")


def test_a_utf8_account_keeps_its_bucket() -> None:
    """Hashing the UTF-8 bytes is the bucketing contract: non-ASCII accounts land where they always did."""
    import mmh3

    from graylib import bucket

    for account in ("u-1", "用户-42", "café", "\U0001f600"):
        assert bucket("subsidy", account) == mmh3.hash(f"subsidy:{account}", 0, False) % 1_000_000


# -- lengths -------------------------------------------------------------------------------------------


def _client(store: Any, limits: dict[str, Any] | None = None) -> Client:
    return Client(limited_config(limits or EVERY_LIMIT), cluster="sh-small", store=store, kill_refresh=0)


def test_the_documented_limit_is_exported() -> None:
    import graylib

    assert graylib.MAX_FIELD_LENGTH == MAX


@pytest.mark.parametrize("field", STORED)
def test_a_field_longer_than_the_limit_is_refused_by_claim_and_nothing_is_stored(
    field: str, tmp_path: Path
) -> None:
    store = SQLiteStore(str(tmp_path / "claims.db"))
    client = _client(store)
    values: dict[str, Any] = {**FIELDS, "payment_id": "pay-1"}
    values[field] = "x" * (MAX + 1) if field != "ip" else "1" * (MAX + 1)
    decision = client.claim(RULE, Context(payment_type="online_purchase", amount=10_000, **values))
    assert not decision.applies
    assert decision.reason is Reason.ERROR
    assert decision.detail.startswith(f"{field}: ")
    assert str(MAX) in decision.detail
    assert store.stats(RULE) == RuleStats()
    client.close()
    store.close()


@pytest.mark.parametrize("field", STORED)
def test_a_field_at_the_limit_is_accepted(field: str) -> None:
    client = _client(MemoryStore(), {"total": {"count": 100}})
    values: dict[str, Any] = {**FIELDS, "payment_id": "pay-1"}
    values[field] = ("1" * MAX) if field != "ip" else "203.0.113.7"
    if field == "account":
        values[field] = "u" * MAX
    decision = client.claim(RULE, Context(payment_type="online_purchase", amount=10_000, **values))
    assert decision.applies, decision


def test_evaluate_refuses_a_huge_account_naming_it() -> None:
    client = _client(MemoryStore())
    ctx = payment("pay-1", account="u" * 100_000)
    for decision in (client.evaluate(RULE, ctx), client.evaluate_all(ctx)[RULE]):
        assert (decision.applies, decision.reason) == (False, Reason.ERROR)
        assert decision.detail.startswith("account: ")
        assert "100000" in decision.detail
        assert len(decision.detail) < 300


def test_release_refuses_a_huge_payment_id_without_a_store_call() -> None:
    client = _client(MemoryStore())
    outcome = client.release(RULE, "p" * 100_000)
    assert (outcome.released, outcome.failed) == (False, False)
    assert outcome.detail.startswith("payment_id: ")
    assert len(outcome.detail) < 300


def test_a_thousand_huge_claims_add_nothing_to_redis() -> None:
    with RedisServer() as server:
        import redis

        from graylib import RedisStore

        store = RedisStore(server.url)
        client = _client(store)
        conn = redis.Redis.from_url(server.url)
        before = int(conn.info("memory")["used_memory"])
        huge = "a" * 100_000
        others: dict[str, Any] = {**FIELDS, "account": huge}
        for i in range(1_000):
            ctx = Context(payment_type="online_purchase", amount=10_000, payment_id=f"pay-{i}", **others)
            decision = client.claim(RULE, ctx)
            assert decision.reason is Reason.ERROR
        after = int(conn.info("memory")["used_memory"])
        assert after - before < 1_000_000, f"Redis grew by {after - before} bytes"
        assert conn.dbsize() == 0
        client.close()
        store.close()
        conn.close()


def test_a_salt_without_a_utf8_form_is_a_config_error_not_a_crash() -> None:
    code = textwrap.dedent(
        """
        import json
        from graylib import Client, ConfigError
        from tests.helpers import make_config

        salt = json.loads('"s\\\\ud800"')
        try:
            Client(make_config({"salt": salt}), cluster="sh-small")
        except ConfigError as exc:
            print("refused", "salt" in str(exc))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert proc.returncode == 0, f"status {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.strip() == "refused True"
