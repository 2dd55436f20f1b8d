"""Facts stated once: each test here fails when a second copy of a fact drifts from the first."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graylib import Client, Context, MemoryStore, Reason, load_config
from graylib._compile import compile_rule
from graylib._evaluate import STEPS
from graylib._limits import describe_limit
from graylib._values import CONTEXT_FIELDS, MAX_MONEY, TEXT_FIELDS
from tests.claims_support import RULE, limited_config, payment
from tests.helpers import make_config


def test_every_reason_has_an_explain_step() -> None:
    assert set(STEPS) == set(Reason)
    assert all(text.strip() for text in STEPS.values())


def test_the_money_ceiling_is_one_number() -> None:
    from graylib._config._checks import MAX_MONEY as config_ceiling
    from graylib.stores._common import MAX_AMOUNT

    assert config_ceiling is MAX_MONEY and MAX_AMOUNT is MAX_MONEY and MAX_MONEY == 2**53 - 1


def test_context_fields_are_derived_from_context() -> None:
    import graylib.openfeature as provider
    from graylib._config import CONTEXT_FIELDS as config_fields

    declared = [f.name for f in msgspec.structs.fields(Context)]
    assert config_fields == CONTEXT_FIELDS == tuple(f for f in declared if f != "attributes")
    assert set(provider._TEXT_FIELDS) == set(TEXT_FIELDS) - {"account"}
    assert set(CONTEXT_FIELDS) - {"account"} == provider._FIELDS


@pytest.mark.parametrize("field", sorted(set(TEXT_FIELDS) - {"account"}))
def test_the_provider_maps_every_text_field_of_context(field: str) -> None:
    from openfeature.evaluation_context import EvaluationContext

    from graylib.openfeature import _context

    ctx = _context(EvaluationContext(targeting_key="u-1", attributes={field: "x-1"}))
    assert getattr(ctx, field) == "x-1" and ctx.attributes is None


@given(
    amount=st.integers(min_value=1, max_value=MAX_MONEY),
    percent=st.integers(min_value=1, max_value=30_0000).map(lambda n: Fraction(n, 10_000)),
    cap=st.integers(min_value=1, max_value=100_000),
)
def test_the_compiled_discount_is_the_configs_formula(amount: int, percent: Fraction, cap: int) -> None:
    number: Any = int(percent) if percent.denominator == 1 else float(percent)
    config = load_config(make_config({"discount": {"percent": number, "max_off": cap}}))
    rule = config.rules[0]
    compiled = compile_rule(rule, version=config.version, cluster="sh-small")
    decision = compiled.evaluate(Context(account="u-1", payment_type="online_purchase", amount=amount))
    expected = rule.discount.of(amount)
    assert decision.discount == (expected if decision.applies else 0)
    assert decision.applies == (expected > 0)


def test_the_policy_diff_describes_a_limit_as_the_refusal_does() -> None:
    from graylib._money import money
    from graylib._policy._diff import diff_rule

    old = load_config(limited_config()).rules[0]  # no limits
    new = load_config(limited_config({"per_account": {"count": 5, "amount": 900, "window": "1d"}})).rules[0]
    limit = new.limits.per_account
    assert limit is not None
    texts = {change.field: change.new for change in diff_rule(old, new)}
    assert describe_limit(limit) == "count 5, amount 900, per 1d"  # a refusal's detail: the file's units
    assert texts["limits.per_account"] == describe_limit(limit, amount=lambda m: money(m, exact=True))
    assert texts["limits.per_account"] == "count 5, amount 9.00 (900), per 1d"


def test_a_limit_refusal_names_its_limit_as_data() -> None:
    client = Client(
        limited_config({"per_account": {"count": 1}, "per_ip": {"count": 9}}),
        cluster="sh-small",
        store=MemoryStore(),
    )
    assert client.claim(RULE, payment("p-1", ip="1.2.3.4")).applies
    full = client.claim(RULE, payment("p-2", ip="1.2.3.4"))
    assert (full.reason, full.limit) == (Reason.LIMIT_REACHED, "per_account")
    missing = client.claim(RULE, payment("p-3", account="u-2"))  # no ip: per_ip cannot count it
    assert (missing.reason, missing.limit) == (Reason.LIMIT_REACHED, "per_ip")
    assert client.claim(RULE, payment("p-4", account="u-3", ip="1.2.3.5")).limit == ""
    client.close()
