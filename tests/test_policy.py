"""plan_change: every violation kind refused, every narrowing allowed without approvals, blast radius."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest

from graylib import load_config
from graylib._config import Config
from graylib._policy import Direction, Plan, ViolationKind, plan_change, read_traffic_sample, spend_per_minute
from graylib._values import Context

PLANS = Path(__file__).resolve().parent / "fixtures" / "plans"
CASES = sorted(p for p in PLANS.iterdir() if p.is_dir())


def expectation(case: Path) -> tuple[set[str], str]:
    """(violation kinds, substring of the violations) from the ``# expect:`` line of ``new.toml``."""
    line = (case / "new.toml").read_text().splitlines()[0]
    assert line.startswith("# expect: "), case
    text = line.removeprefix("# expect: ")
    if text == "allowed":
        return set(), ""
    kinds, _, substring = text.partition(": ")
    return {k.strip() for k in kinds.split(",")}, substring


def plan_of(case: Path) -> Plan:
    old = load_config(case / "old.toml") if (case / "old.toml").exists() else None
    return plan_change(old, load_config(case / "new.toml"))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_plan_fixture(case: Path) -> None:
    kinds, substring = expectation(case)
    plan = plan_of(case)
    assert {v.kind.value for v in plan.violations} == kinds, [str(v) for v in plan.violations]
    assert plan.allowed is (not kinds)
    assert substring in "\n".join(str(v) for v in plan.violations)
    json.dumps(plan.to_dict())  # plain types only


def test_every_violation_kind_has_a_fixture() -> None:
    covered = set().union(*(expectation(case)[0] for case in CASES))
    assert covered == {k.value for k in ViolationKind}


def _base() -> Config:
    return load_config(PLANS / "allowed_next_stage_with_approvals" / "old.toml")


def _with_rule(config: Config, **changes: Any) -> Config:
    return attrs.evolve(config, rules=(attrs.evolve(config.rules[0], **changes),), version="v2")


def test_unchanged_config_is_an_empty_allowed_plan() -> None:
    config = _base()
    plan = plan_change(config, config)
    assert plan.allowed and not plan.changed and not plan.widens
    assert not plan.warnings


def test_directions_of_field_changes() -> None:
    old = _base()
    rule = old.rules[0]
    new = _with_rule(
        old,
        discount=attrs.evolve(rule.discount, percent=Fraction(20)),
        regions=frozenset({"CN-31"}),
        deny=attrs.evolve(rule.deny, accounts=frozenset({"bad"})),
        allow=attrs.evolve(rule.allow, accounts=rule.allow.accounts | {"qa-smoke-02"}),
        min_amount=1_000,
    )
    changes = {c.field: c.direction for c in plan_change(old, new).rules[0].changes}
    assert changes == {
        "discount.percent": Direction.WIDENING,
        "regions": Direction.NARROWING,
        "deny.accounts added": Direction.NARROWING,
        "allow.accounts added": Direction.WIDENING,
        "min_amount": Direction.NARROWING,
    }


def test_stage_change_lists_each_target_percentage() -> None:
    old = _base()
    new = _with_rule(old, rollout=attrs.evolve(old.rules[0].rollout, stage="big-node"))
    change = plan_change(old, new).rules[0]
    fields = {c.field: (c.old, c.new) for c in change.changes}
    assert fields["rollout.stage"] == ("small-cluster", "big-node")
    assert fields["percent at node bj-big/bj-big-01"] == ("0%", "100%")
    assert change.direction == "widening"


def test_blast_radius_from_traffic_shares() -> None:
    old = _base()  # sh-small = 4% of payments, bj-big = 55% over 40 nodes
    big_node = _with_rule(old, rollout=attrs.evolve(old.rules[0].rollout, stage="big-node"))
    blast = plan_change(old, big_node).rules[0].blast
    assert blast is not None and blast.share_source == "traffic"
    assert blast.newly_exposed_share == pytest.approx(0.55 / 40)
    everywhere = _with_rule(big_node, rollout=attrs.evolve(old.rules[0].rollout, stage="everywhere-5"))
    blast = plan_change(big_node, everywhere).rules[0].blast
    assert blast is not None
    # 5% of the rest of bj-big (39 nodes) and of the 41% of payments outside both clusters.
    assert blast.newly_exposed_share == pytest.approx(0.05 * (0.55 * 39 / 40 + 0.41))


def test_blast_radius_from_a_traffic_sample(tmp_path: Path) -> None:
    old = _base()
    new = _with_rule(old, rollout=attrs.evolve(old.rules[0].rollout, stage="big-node"))
    sample = tmp_path / "sample.csv"
    sample.write_text(
        "cluster,node,account,payment_type,amount,extra\n"
        "sh-small,sh-small-02,u-1,online_purchase,10000,x\n"  # already reached
        "bj-big,bj-big-01,u-2,online_purchase,20000,x\n"  # newly reached: 15% of 200.00
        "bj-big,bj-big-01,u-3,p2p_transfer,20000,x\n"  # not eligible
        "bj-big,bj-big-02,u-4,online_purchase,20000,x\n"  # not in the stage
    )
    payments = read_traffic_sample(sample)
    assert payments[1] == Context(
        cluster="bj-big", node="bj-big-01", account="u-2", payment_type="online_purchase", amount=20000
    )
    blast = plan_change(old, new, traffic_sample=payments).rules[0].blast
    assert blast is not None and blast.share_source == "sample"
    assert (blast.sample_payments, blast.sample_newly_applying, blast.sample_new_discount) == (4, 1, 3_000)
    assert blast.newly_exposed_share == pytest.approx(0.25)


def test_traffic_sample_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("account,payment_type,amount\nu-1,online_purchase,12.50\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: amount must be an integer"):
        read_traffic_sample(bad)
    bad.write_text("account,amount\n")
    with pytest.raises(ValueError, match="missing payment_type"):
        read_traffic_sample(bad)
    huge = "x" * 200_000  # past the csv module's field size limit
    bad.write_text(f"account,payment_type,amount\nu-1,online_purchase,100\n{huge},online_purchase,100\n")
    with pytest.raises(ValueError, match=r"bad.csv: after line 2: not a CSV row: field larger"):
        read_traffic_sample(bad)


def _spend(limits: dict[str, object]) -> tuple[int | None, str]:
    data = {
        "version": "x",
        "guardrails": {"max_percent_off": 30, "max_amount_off": 100_000},
        "rules": [
            {
                "id": "r",
                "payment_types": ["a"],
                "regions": ["CN-31", "CN-11"],
                "discount": {"amount": 500},
                "rollout": {"stage": "s", "stages": [{"name": "s", "targets": {}}]},
                "limits": limits,
            }
        ],
    }
    amount, bounded_by, _notes = spend_per_minute(load_config(data).rules[0])
    return amount, bounded_by


def test_worst_case_spend_per_minute() -> None:
    assert _spend({}) == (
        None,
        "nothing: no total limit, per_region limit over listed regions, or rate_alarm",
    )
    assert _spend({"per_account": {"count": 1}})[0] is None
    assert _spend({"total": {"amount": 1_000_000}}) == (1_000_000, "limits.total")  # lifetime: once
    # A 1h window: one minute can straddle two windows.
    assert _spend({"total": {"amount": 1_000_000, "window": "1h"}}) == (2_000_000, "limits.total")
    # 10 payments of at most 500 per 30s: three windows touch one minute.
    assert _spend({"total": {"count": 10, "window": "30s"}}) == (15_000, "limits.total")
    assert _spend({"per_region": {"amount": 1_000, "window": "1d"}}) == (
        4_000,
        "limits.per_region x 2 regions",
    )
    assert _spend({"total": {"amount": 10**9}, "rate_alarm": {"amount": 5_000, "window": "1m"}}) == (
        10_000,
        "limits.rate_alarm",
    )


def test_unbounded_spend_is_a_warning() -> None:
    old = _base()
    rule = old.rules[0]
    new = _with_rule(old, limits=attrs.evolve(rule.limits, total=None, rate_alarm=None))
    plan = plan_change(old, new)
    assert plan.rules[0].blast is not None and plan.rules[0].blast.spend_per_minute is None
    assert any("nothing bounds what it can spend" in w for w in plan.warnings)


def test_same_version_with_different_content_is_a_warning() -> None:
    old = _base()
    new = attrs.evolve(_with_rule(old, description="x"), version=old.version)
    assert any("version stays" in w for w in plan_change(old, new).warnings)


def test_salt_change_reshuffles_buckets_and_widens() -> None:
    old = _base()
    plan = plan_change(old, _with_rule(old, salt="new-salt"))
    assert plan.rules[0].widens
    assert plan.allowed  # approved by two people other than the author


def test_a_rate_alarm_with_a_bigger_burst_widens_even_at_the_same_rate() -> None:
    old = _base()  # rate_alarm 5_000_000 per 1m
    alarm = old.rules[0].limits.rate_alarm
    assert alarm is not None and alarm.window == 60

    def with_alarm(amount: int, window: int, text: str) -> Config:
        changed = attrs.evolve(alarm, amount=amount, window=window, window_text=text)
        limits = attrs.evolve(old.rules[0].limits, rate_alarm=changed)
        return _with_rule(old, limits=limits)

    def direction(new: Config) -> Direction:
        (change,) = plan_change(old, new).rules[0].changes
        return change.direction

    assert direction(with_alarm(300_000_000, 3600, "1h")) is Direction.WIDENING  # same rate, 60x the burst
    assert direction(with_alarm(1_000_000, 5, "5s")) is Direction.WIDENING  # smaller burst, 2.4x the rate
    assert direction(with_alarm(2_500_000, 60, "1m")) is Direction.NARROWING  # half the burst and rate
    # A new window length starts an empty alarm window (the store keeps one per length): widening, even
    # at a lower rate or a smaller burst.
    assert direction(with_alarm(5_000_000, 120, "2m")) is Direction.WIDENING
    assert direction(with_alarm(2_500_000, 30, "30s")) is Direction.WIDENING
