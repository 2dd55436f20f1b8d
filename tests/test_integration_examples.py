"""The integration guide's service code, run without a web framework: the module its Flask and FastAPI
handlers call (examples/integration/discounts.py, shown whole in docs/integration.md), driven the way the
handlers drive it, against the example rules and real stores."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.integration import discounts

import graylib

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "integration.md"
MODULE = ROOT / "examples" / "integration" / "discounts.py"
RULES = ROOT / "examples" / "rules.toml"
RULE = "appliance-subsidy"
BALANCER = "10.0.0.1"
TRUSTED = discounts.trusted_networks("10.0.0.0/8, fd00::/8")
PAYMENT = {"account": "u-1", "payment_type": "online_purchase", "amount": 54_000, "region": "CN-31"}


@pytest.fixture
def client() -> Iterator[graylib.Client]:
    with graylib.Client.from_file(RULES, cluster="sh-small", node="sh-small-01") as c:
        yield c


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def test_the_guide_shows_the_module_as_it_is() -> None:
    module = MODULE.read_text(encoding="utf-8")
    blocks = _python_blocks(GUIDE.read_text(encoding="utf-8"))
    assert module in blocks, "docs/integration.md: show examples/integration/discounts.py whole, as it is"


def test_the_handlers_call_only_what_the_module_has() -> None:
    """The Flask, FastAPI and gunicorn snippets name functions of the module; each one exists."""
    text = GUIDE.read_text(encoding="utf-8")
    called = set(re.findall(r"\bdiscounts\.(\w+)\(", text))
    assert {"store_path", "payment_context", "decision_body", "client_ip", "trusted_networks"} <= called
    assert [name for name in called if not callable(getattr(discounts, name, None))] == []


# -- the Flask example's store -------------------------------------------------------------------------------


def test_default_store_path_works_on_a_fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without GRAYLIB_DB the store goes into the app's instance folder, created on first use."""
    monkeypatch.delenv("GRAYLIB_DB", raising=False)
    instance = tmp_path / "instance"  # Flask's app.instance_path does not exist until something creates it
    path = discounts.store_path(instance)
    assert Path(path) == instance / "graylib.db"
    store = graylib.SQLiteStore(path)
    try:
        with graylib.Client.from_file(RULES, cluster="sh-small", node="sh-small-01", store=store) as c:
            ctx = discounts.payment_context(PAYMENT, payment_id="pay-1", ip="203.0.113.7")
            assert discounts.decision_body(c.claim(RULE, ctx))["applies"] is True
    finally:
        store.close()


def test_store_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYLIB_DB", str(tmp_path / "data" / "shared.db"))
    assert discounts.store_path(tmp_path / "instance") == str(tmp_path / "data" / "shared.db")
    assert (tmp_path / "data").is_dir()


# -- request fields to a Context, a Decision to the response -------------------------------------------------


def test_claim_answers_with_reason_and_detail(client: graylib.Client) -> None:
    ctx = discounts.payment_context(PAYMENT, payment_id="pay-1", ip="203.0.113.7")
    assert discounts.decision_body(client.claim(RULE, ctx)) == {
        "applies": True,
        "discount": 8100,
        "reason": "APPLIES_ROLLOUT",
        "detail": "",
    }
    banned = discounts.payment_context(PAYMENT, payment_id="pay-2", ip="198.51.100.9")
    body = discounts.decision_body(client.claim(RULE, banned))
    assert body == {
        "applies": False,
        "discount": 0,
        "reason": "DENYLISTED",
        "detail": "ip '198.51.100.9' is in deny list entry 198.51.100.0/24",
    }
    transfer = discounts.payment_context({**PAYMENT, "payment_type": "p2p_transfer"}, payment_id="pay-3")
    body = discounts.decision_body(client.claim(RULE, transfer))
    assert (body["applies"], body["reason"]) == (False, "PAYMENT_TYPE")


def test_offer_for_the_example_rule_needs_the_region(client: graylib.Client) -> None:
    """The FastAPI /offers endpoint passes the region: the example rule is limited to two regions."""
    query = {"account": "u-1", "payment_type": "online_purchase", "amount": 54_000, "region": "CN-31"}
    offer = discounts.decision_body(client.evaluate(RULE, discounts.payment_context(query)))
    assert (offer["applies"], offer["discount"]) == (True, 8100)
    without = {k: v for k, v in query.items() if k != "region"}
    refused = discounts.decision_body(client.evaluate(RULE, discounts.payment_context(without)))
    assert (refused["applies"], refused["reason"]) == (False, "REGION")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["u-1"], "the body must be a JSON object"),
        (None, "the body must be a JSON object"),
        ({**PAYMENT, "amount": "54000"}, "amount: must be an integer"),
        ({**PAYMENT, "amount": 540.0}, "amount: must be an integer"),
        ({**PAYMENT, "amount": True}, "amount: must be an integer"),
        ({**PAYMENT, "account": ["u-1"]}, "account: must be a string"),
        ({**PAYMENT, "region": {"$ne": ""}}, "region: must be a string"),
        ({**PAYMENT, "merchant": None}, "merchant: must be a string"),
    ],
)
def test_malformed_bodies_are_refused_by_name(body: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        discounts.payment_context(body, payment_id="pay-1")


def test_hostile_strings_reach_graylib_and_fail_closed(client: graylib.Client) -> None:
    """Strings of the right type are not the service's to judge: graylib refuses them with a reason."""
    hostile = {**PAYMENT, "payment_type": "online_purchase\x00", "region": "CN-31' OR 1=1 --"}
    body = discounts.decision_body(client.claim(RULE, discounts.payment_context(hostile, payment_id="p")))
    assert body["applies"] is False
    assert body["discount"] == 0


# -- the client's address behind proxies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # Straight from the internet: the peer is the client, and its own header is ignored.
        ("203.0.113.7", None, "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # One load balancer.
        (BALANCER, "203.0.113.7", "203.0.113.7"),
        # The client forged a first hop; the balancer appended the real address.
        (BALANCER, "1.2.3.4, 203.0.113.7", "203.0.113.7"),
        # Two proxies of ours: skip both.
        (BALANCER, "203.0.113.7, 10.0.0.5", "203.0.113.7"),
        (BALANCER, "203.0.113.7,10.0.0.5,10.0.0.6", "203.0.113.7"),
        # Ports and IPv6 as proxies write them.
        (BALANCER, "203.0.113.7:5123", "203.0.113.7"),
        (BALANCER, "[2001:db8::1]:443", "2001:db8::1"),
        ("fd00::1", "2001:db8::1", "2001:db8::1"),
        # A health check from the balancer itself, or a request that stayed inside.
        (BALANCER, None, BALANCER),
        (BALANCER, "10.0.0.5", "10.0.0.5"),
        # Unknown or garbage where the client should be: unknown, so per_ip limits refuse.
        (BALANCER, "unknown", ""),
        (BALANCER, "203.0.113.7, not-an-ip", ""),
        (BALANCER, "1.2.3.4, '; DROP TABLE", ""),
        ("", None, ""),
        ("garbage", "203.0.113.7", ""),
    ],
)
def test_client_ip(peer: str, forwarded_for: str | None, expected: str) -> None:
    assert discounts.client_ip(peer, forwarded_for, TRUSTED) == expected


def test_trusted_networks_names_a_bad_entry() -> None:
    assert discounts.trusted_networks("") == []
    assert discounts.trusted_networks("10.1.2.3") == [ipaddress.ip_network("10.1.2.3/32")]
    with pytest.raises(ValueError, match=r"TRUSTED_PROXIES: 'lb\.internal' is not an address or network"):
        discounts.trusted_networks("10.0.0.0/8, lb.internal")


def test_behind_a_balancer_the_peer_address_makes_every_customer_share_one_limit(
    client: graylib.Client,
) -> None:
    """The example rule allows 50 claims an hour per IP. Keyed on the balancer, the 51st customer of the hour
    is refused; keyed on each customer's own address, nobody is."""
    customers = [(f"u-{i}", f"203.0.113.{i}") for i in range(1, 52)]
    naive = [
        client.claim(
            RULE, discounts.payment_context({**PAYMENT, "account": account}, payment_id=f"a{i}", ip=BALANCER)
        )
        for i, (account, _) in enumerate(customers)
    ]
    assert [d.applies for d in naive].count(True) == 50
    assert naive[-1].reason is graylib.Reason.LIMIT_REACHED
    assert "per_ip" in naive[-1].detail

    with graylib.Client.from_file(RULES, cluster="sh-small", node="sh-small-01") as fresh:
        right = [
            fresh.claim(
                RULE,
                discounts.payment_context(
                    {**PAYMENT, "account": account},
                    payment_id=f"b{i}",
                    ip=discounts.client_ip(BALANCER, f"1.2.3.4, {address}", TRUSTED),
                ),
            )
            for i, (account, address) in enumerate(customers)
        ]
    assert all(d.applies for d in right), [d.detail for d in right if not d.applies]
