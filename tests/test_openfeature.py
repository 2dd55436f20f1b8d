"""graylib's OpenFeature provider, exercised through the real OpenFeature SDK client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, cast

import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider.no_op_provider import NoOpProvider

from graylib import Client, Context, Reason
from graylib._evaluate import CompiledRule
from graylib.openfeature import REASONS, GraylibProvider
from tests.helpers import make_config

if TYPE_CHECKING:  # a type alias only, which SDKs before 0.10 do not export
    from openfeature.evaluation_context import EvaluationContextAttribute


class Payment(TypedDict):
    """The payment fields every test context carries: Context keyword arguments and OpenFeature attributes."""

    payment_type: str
    amount: int
    region: str


PAYMENT: Payment = {"payment_type": "online_purchase", "amount": 54_000, "region": "CN-31"}


@pytest.fixture
def graylib_client() -> Iterator[Client]:
    client = Client(
        make_config(
            {},
            {"id": "killed", "state": "killed"},
            {"id": "shadow", "state": "shadow"},
            {"id": "denying", "deny": {"ips": ["198.51.100.0/24"], "merchants": ["m-bad"]}},
            {"id": "quarter", "rollout": {"stage": "s", "stages": [{"name": "s", "targets": {"*": 25}}]}},
        ),
        cluster="sh-small",
        node="sh-small-02",
    )
    yield client
    client.close()


def set_provider_and_wait(provider: GraylibProvider, domain: str) -> None:
    """Register ``provider`` for ``domain``, initialised before this returns.

    SDK 0.10 initialises a provider in a background thread unless asked to wait; the older SDKs the extra
    allows (0.8.2 and 0.9) have no ``set_provider_and_wait`` and initialise inside ``set_provider``.
    """
    register = getattr(api, "set_provider_and_wait", api.set_provider)
    register(provider, domain=domain)


@pytest.fixture
def flags(graylib_client: Client, request: pytest.FixtureRequest) -> Iterator[Any]:
    domain = f"graylib-test-{request.node.name}"
    set_provider_and_wait(GraylibProvider(graylib_client), domain=domain)
    yield api.get_client(domain=domain)
    api.set_provider(NoOpProvider(), domain=domain)


def ctx(account: str | None = "u-1", **attributes: EvaluationContextAttribute) -> EvaluationContext:
    # A Payment's values are str and int, both attributes; mypy only sees a TypedDict's values as object.
    payment = cast("Mapping[str, EvaluationContextAttribute]", PAYMENT)
    return EvaluationContext(targeting_key=account, attributes={**payment, **attributes})


def test_boolean_tells_whether_the_rule_applies(flags: Any, graylib_client: Client) -> None:
    details = flags.get_boolean_details("subsidy", False, ctx())
    assert details.value is True and details.error_code is None
    assert details.reason == OFReason.SPLIT
    assert details.variant == "applies"
    assert details.flag_metadata["reason"] == "APPLIES_ROLLOUT"
    assert details.flag_metadata["discount"] == 8_100
    assert details.flag_metadata["rule_version"] == "test-1"
    expected = graylib_client.evaluate("subsidy", Context(account="u-1", **PAYMENT))
    assert details.flag_metadata["bucket"] == expected.bucket


def test_integer_gives_the_discount(flags: Any) -> None:
    assert flags.get_integer_value("subsidy", -1, ctx()) == 8_100
    assert flags.get_integer_value("subsidy", -1, ctx(amount=1_000_000)) == 50_000  # capped
    refused = flags.get_integer_details("subsidy", -1, ctx(payment_type="p2p_transfer"))
    assert refused.value == 0 and refused.reason == OFReason.DEFAULT and refused.error_code is None


def test_allow_list_is_a_targeting_match(flags: Any) -> None:
    details = flags.get_boolean_details("quarter", False, ctx("qa-smoke-01"))
    assert details.value is True and details.reason == OFReason.TARGETING_MATCH
    assert details.flag_metadata["reason"] == "APPLIES_ALLOWLISTED"


def test_rollout_split_matches_graylib(flags: Any, graylib_client: Client) -> None:
    seen = set()
    for i in range(200):
        account = f"acct-{i}"
        details = flags.get_boolean_details("quarter", False, ctx(account))
        decision = graylib_client.evaluate("quarter", Context(account=account, **PAYMENT))
        assert details.value is decision.applies
        assert details.reason == OFReason.SPLIT
        seen.add(details.value)
    assert seen == {True, False}


@pytest.mark.parametrize(
    ("flag", "attributes", "graylib_reason", "of_reason"),
    [
        ("killed", {}, "KILLED", OFReason.DISABLED),
        ("shadow", {}, "SHADOW", OFReason.DISABLED),
        ("denying", {"ip": "198.51.100.9"}, "DENYLISTED", OFReason.TARGETING_MATCH),
        ("denying", {"merchant": "m-bad"}, "DENYLISTED", OFReason.TARGETING_MATCH),
        ("subsidy", {"payment_type": "p2p_transfer"}, "PAYMENT_TYPE", OFReason.DEFAULT),
        ("subsidy", {"amount": 0}, "NOT_ELIGIBLE", OFReason.DEFAULT),
    ],
)
def test_refusals_keep_graylib_reason_and_detail(
    flags: Any, flag: str, attributes: dict[str, Any], graylib_reason: str, of_reason: OFReason
) -> None:
    details = flags.get_boolean_details(flag, True, ctx(**attributes))
    assert details.value is False and details.error_code is None
    assert details.reason == of_reason
    assert details.flag_metadata["reason"] == graylib_reason
    if graylib_reason in {"KILLED", "DENYLISTED"}:
        assert details.flag_metadata["detail"]


def test_shadow_metadata_shows_the_would_be_discount(flags: Any) -> None:
    details = flags.get_integer_details("shadow", -1, ctx())
    assert details.value == 0 and details.flag_metadata["discount"] == 8_100


def test_out_of_stage_is_disabled(graylib_client: Client) -> None:
    far = Client(make_config(), cluster="bj-big", node="bj-big-09")
    set_provider_and_wait(GraylibProvider(far), domain="graylib-far")
    try:
        details = api.get_client(domain="graylib-far").get_boolean_details("subsidy", True, ctx())
        assert details.value is False and details.reason == OFReason.DISABLED
        assert details.flag_metadata["reason"] == "OUT_OF_STAGE"
    finally:
        api.set_provider(NoOpProvider(), domain="graylib-far")
        far.close()


def test_unknown_rule_is_flag_not_found(flags: Any) -> None:
    details = flags.get_boolean_details("nope", True, ctx())
    assert details.value is True  # the caller's default
    assert details.reason == OFReason.ERROR and details.error_code == ErrorCode.FLAG_NOT_FOUND
    assert "nope" in (details.error_message or "")


def test_missing_targeting_key(flags: Any) -> None:
    for context in (ctx(None), ctx(""), None):
        details = flags.get_boolean_details("subsidy", True, context)
        assert details.value is True and details.error_code == ErrorCode.TARGETING_KEY_MISSING


@pytest.mark.parametrize(
    "attributes",
    [{"amount": 540.0}, {"amount": "54000"}, {"amount": True}, {"region": 31}, {"payment_type": ["x"]}],
)
def test_bad_attribute_types_are_invalid_context(flags: Any, attributes: dict[str, Any]) -> None:
    details = flags.get_integer_details("subsidy", 7, ctx(**attributes))
    assert details.value == 7 and details.error_code == ErrorCode.INVALID_CONTEXT
    assert details.reason == OFReason.ERROR and details.error_message


def test_other_flag_types_are_type_mismatch(flags: Any) -> None:
    assert flags.get_string_details("subsidy", "d", ctx()).error_code == ErrorCode.TYPE_MISMATCH
    assert flags.get_float_details("subsidy", 1.5, ctx()).error_code == ErrorCode.TYPE_MISMATCH
    details = flags.get_object_details("subsidy", {"a": 1}, ctx())
    assert details.error_code == ErrorCode.TYPE_MISMATCH and details.value == {"a": 1}


def test_graylib_error_is_general(flags: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: CompiledRule, ctx: Context, now: float | None = None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(CompiledRule, "evaluate", broken)
    details = flags.get_boolean_details("subsidy", True, ctx())
    assert details.value is True and details.error_code == ErrorCode.GENERAL
    assert "boom" in (details.error_message or "")
    assert details.flag_metadata["reason"] == "ERROR"


def test_extra_attributes_go_to_context_attributes(graylib_client: Client) -> None:
    seen: list[Context] = []

    class Spy(Client):
        def evaluate(self, rule_id: str, ctx: Context) -> Any:
            seen.append(ctx)
            return graylib_client.evaluate(rule_id, ctx)

    spy = Spy(make_config(), cluster="sh-small")
    provider = GraylibProvider(spy)
    context = ctx(ip="203.0.113.7", device="d-1", merchant="m-1", payment_id="p-9", channel="app")
    assert provider.resolve_boolean_details("subsidy", False, context).value is True
    assert seen[0] == Context(
        account="u-1",
        ip="203.0.113.7",
        device="d-1",
        merchant="m-1",
        payment_id="p-9",
        attributes={"channel": "app"},
        **PAYMENT,
    )
    spy.close()


def test_async_resolution(flags: Any) -> None:
    assert asyncio.run(flags.get_integer_value_async("subsidy", -1, ctx())) == 8_100


def test_every_reason_is_mapped_and_metadata_names_the_provider(graylib_client: Client) -> None:
    assert set(REASONS) == set(Reason)
    assert GraylibProvider(graylib_client).get_metadata().name == "graylib"
    with pytest.raises(TypeError):
        GraylibProvider(object())  # type: ignore[arg-type]
