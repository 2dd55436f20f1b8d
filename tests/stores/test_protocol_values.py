"""The values built on every claim are cheap frozen structs that compare, hash and copy by value."""

from __future__ import annotations

import gc

import msgspec
import pytest

from graylib.stores import (
    NO_ORIGIN,
    CounterSpec,
    LedgerOrigin,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    ReserveStatus,
)


def _request(amount: int = 500) -> ReserveRequest:
    counters = (CounterSpec("per_account:u-1", 86_400, 3, None), CounterSpec("total", 0, None, 10**6))
    return ReserveRequest("rule-1", "pay-1", "fp", amount, counters, "{}", 1_700_000_000.0)


@pytest.mark.parametrize(
    "value",
    [
        CounterSpec("total", 0, None, None),
        _request(),
        ReserveResult(ReserveStatus.LIMIT_REACHED, limit="total", detail="total is full"),
        ReleaseResult(True, 500),
    ],
    ids=lambda value: type(value).__name__,
)
def test_per_claim_values_are_untracked_frozen_structs(value: object) -> None:
    assert isinstance(value, msgspec.Struct)
    assert not gc.is_tracked(value)  # no garbage-collector bookkeeping per claim
    with pytest.raises(AttributeError):
        value.detail = "changed"  # type: ignore[attr-defined]


def test_requests_compare_hash_and_copy_by_value() -> None:
    request = _request()
    assert request == _request()
    assert hash(request) == hash(_request())
    assert request != _request(amount=501)
    origin = LedgerOrigin("v2", "sha256:ab", "sh-prod", "node-01")
    copy = msgspec.structs.replace(request, origin=origin, account="u-1")
    assert (copy.origin, copy.account, copy.amount, copy.counters) == (origin, "u-1", 500, request.counters)
    assert request.origin is NO_ORIGIN  # the original is unchanged
    assert (request.alarm_amount, request.alarm_window, request.shadow, request.ends_at) == (
        None,
        0,
        False,
        None,
    )
    assert (request.payment_amount, request.account) == (0, "")


def test_results_keep_their_defaults_and_positional_order() -> None:
    assert ReserveResult(ReserveStatus.REPLAYED, "{}") == ReserveResult(
        status=ReserveStatus.REPLAYED, payload="{}"
    )
    assert (ReserveResult(ReserveStatus.GRANTED).limit, ReserveResult(ReserveStatus.GRANTED).detail) == (
        "",
        "",
    )
    assert ReleaseResult(False) == ReleaseResult(released=False, amount=0, detail="")
