"""A limit change that restarts its counters widens: the spent budget would come back without approval.

A store names a counter by the rule, the limit kind (and the value it counts by) and the window length, so a
limit whose window changes, in either direction, starts from empty counters. ``graylib plan`` and every
reloading client classify such a change as widening (they share ``plan_change``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, Context, Reason, load_config
from graylib._policy import Direction, plan_change
from graylib.stores import MemoryStore
from tests.helpers import make_config

GUARDRAILS = {
    "max_percent_off": 30,
    "max_amount_off": 100_000,
    "forbidden_payment_types": ["p2p_transfer"],
    "min_approvals": 1,
}
UNAPPROVED = {"author": "li.wei", "approved_by": [], "ticket": "MKT-2"}
FULL = {"stage": "full", "stages": [{"name": "full", "targets": {"*": 100}}]}


def _config(version: str, limits: dict[str, Any]) -> dict[str, Any]:
    return make_config(
        {"rollout": FULL, "limits": limits, "discount": {"amount": 1_000}},
        version=version,
        guardrails=GUARDRAILS,
        change=UNAPPROVED,
    )


def _directions(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Direction]:
    plan = plan_change(load_config(_config("v1", old)), load_config(_config("v2", new)))
    return {c.field: c.direction for r in plan.rules for c in r.changes}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"per_account": {"count": 1, "window": "1d"}}, {"per_account": {"count": 1, "window": "2d"}}),
        ({"per_account": {"count": 1, "window": "2d"}}, {"per_account": {"count": 1, "window": "1d"}}),
        ({"total": {"amount": 5_000}}, {"total": {"amount": 5_000, "window": "366d"}}),
        ({"total": {"amount": 5_000, "window": "1h"}}, {"total": {"amount": 5_000}}),
    ],
    ids=["1d->2d", "2d->1d", "lifetime->366d", "1h->lifetime"],
)
def test_a_window_change_widens(old: dict[str, Any], new: dict[str, Any]) -> None:
    directions = _directions(old, new)
    kind = next(iter(old))
    assert directions == {f"limits.{kind}.window": Direction.WIDENING}, directions


def test_a_tighter_cap_over_the_same_window_still_narrows() -> None:
    directions = _directions(
        {"per_account": {"count": 2, "window": "1d"}}, {"per_account": {"count": 1, "window": "1d"}}
    )
    assert directions == {"limits.per_account.count": Direction.NARROWING}


def test_the_same_window_written_another_way_is_no_change() -> None:
    directions = _directions(
        {"per_account": {"count": 1, "window": "1d"}}, {"per_account": {"count": 1, "window": "24h"}}
    )
    assert directions == {}


def test_a_rate_alarm_window_change_widens_even_at_a_lower_rate() -> None:
    old = {"rate_alarm": {"amount": 10_000, "window": "1h"}}
    new = {"rate_alarm": {"amount": 10_000, "window": "2h"}}  # half the rate, but an empty window
    assert _directions(old, new) == {"limits.rate_alarm": Direction.WIDENING}


def test_moving_a_limit_to_another_subject_widens() -> None:
    directions = _directions(
        {"per_account": {"count": 1, "window": "1d"}}, {"per_device": {"count": 1, "window": "1d"}}
    )
    assert directions["limits.per_account"] is Direction.WIDENING


def test_reloads_that_change_a_window_cannot_hand_a_spent_budget_back(tmp_path: Path) -> None:
    """Unapproved reloads lengthening the window (1d, 2d, ... 6d) used to grant a budget of one each time."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(_config("v0", {"per_account": {"count": 1, "window": "1d"}})))
    granted = 0
    with Client.from_file(path, store=MemoryStore()) as client:
        for i in range(1, 6):
            granted += client.claim("subsidy", _ctx(f"p-{i}")).applies
            limits = {"per_account": {"count": 1, "window": f"{i + 1}d"}}
            path.write_text(json.dumps(_config(f"v{i}", limits)))
            assert not client.reload_now()
            assert "needs 1 approvers" in client.status().last_reload_error
        last = client.claim("subsidy", _ctx("p-last"))
    assert granted + last.applies == 1
    assert last.reason is Reason.LIMIT_REACHED


def _ctx(payment_id: str) -> Context:
    return Context(account="u-1", payment_type="online_purchase", amount=10_000, payment_id=payment_id)
