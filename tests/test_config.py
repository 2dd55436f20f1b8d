from __future__ import annotations

import json
from pathlib import Path

import pytest

import graylib
from graylib import ConfigError, load_config
from tests.helpers import make_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BROKEN = sorted((HERE / "fixtures" / "broken").glob("*.toml"))


def _expectations(path: Path) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    ]


def test_there_are_broken_fixtures() -> None:
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_config_gives_its_error(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} names no expected error"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{path.name}: {fragment!r} not in:\n{message}"


def test_example_config_loads_with_the_design_values() -> None:
    config = load_config(ROOT / "examples" / "rules.toml")
    rule = config.rule("appliance-subsidy")
    assert rule is not None
    assert rule.rollout.stage == "small-cluster"
    assert rule.rollout.stages[0].name == "smoke"
    assert rule.limits.per_account is not None and rule.limits.per_account.window == 86400
    assert rule.limits.rate_alarm is not None and rule.limits.rate_alarm.window == 60
    assert rule.discount.of(54_000) == 8_100
    assert config.guardrails.min_approvals == 2
    assert config.change.approved_by == ("zhang.min", "wang.fang")


def test_every_problem_is_reported_at_once() -> None:
    data = make_config(
        {"discount": {"percent": 50, "max_off": 500_000}, "payment_types": ["p2p_transfer"]},
        {"id": "b", "rollout": {"stage": "x", "stages": [{"name": "s", "targets": {"*": 120}}]}},
    )
    with pytest.raises(ConfigError) as info:
        load_config(data)
    problems = info.value.problems
    assert "rules[0].discount.percent: must be at most guardrails.max_percent_off = 30 (got 50)" in problems
    assert (
        "rules[0].discount.max_off: must be at most guardrails.max_amount_off = 100000 (got 500000)"
        in problems
    )
    assert (
        "rules[0].payment_types[0]: 'p2p_transfer' is forbidden by guardrails.forbidden_payment_types"
        in problems
    )
    assert 'rules[1].rollout.stages[0].targets["*"]: must be between 0 and 100 (got 120)' in problems
    assert len(problems) >= 4


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_json_file_and_mapping_give_the_same_config(tmp_path: Path) -> None:
    data = make_config()
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    from_json = load_config(path)
    assert from_json == load_config(data)


def test_yaml_is_read(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(make_config()))
    assert load_config(path).rule_ids == ("subsidy",)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "rules.ini"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"unsupported file extension '\.ini'"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "nope.toml")


def test_iso_timestamps_in_json() -> None:
    data = make_config({"starts_at": "2025-01-16T00:00:00Z", "ends_at": "2025-03-31T23:59:59+08:00"})
    rule = load_config(data).rules[0]
    assert rule.starts_at is not None and rule.starts_at.utcoffset() is not None


def test_fractional_percentages_are_exact() -> None:
    data = make_config({"discount": {"percent": 12.5, "max_off": 100_000}})
    rule = load_config(data).rules[0]
    assert rule.discount.of(1_000) == 125
    assert rule.discount.of(7) == 0  # 0.875 rounds down


def test_booleans_are_not_money() -> None:
    with pytest.raises(
        ConfigError, match=r"rules\[0\].discount.amount: must be an integer number of minor units"
    ):
        load_config(make_config({"discount": {"amount": True}}))


def test_top_level_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="config: must be a table"):
        graylib._config.parse_config([1, 2])


def test_widening_checks_nodes_of_named_clusters() -> None:
    stages = [
        {"name": "a", "targets": {"c": 50}},
        {"name": "b", "targets": {"c/n1": 100, "*": 10}},
    ]
    with pytest.raises(ConfigError, match=r"narrows exposure at cluster 'c' \(nodes not named\)"):
        load_config(make_config({"rollout": {"stage": "a", "stages": stages}}))


def test_traffic_section() -> None:
    data = make_config(traffic={"clusters": {"sh-small": {"share": 0.05, "nodes": 4}}})
    config = load_config(data)
    assert config.traffic["sh-small"].nodes == 4
    bad = make_config(
        traffic={"clusters": {"a": {"share": 0.7, "nodes": 1}, "b": {"share": 0.7, "nodes": 0}}}
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "traffic.clusters.b.nodes: must be at least 1 (got 0)" in info.value.problems


def test_smoke_case_problems_are_config_problems() -> None:
    data = make_config({"smoke": [{"name": "n", "context": {"acount": "x"}, "expect": {"reason": "NOPE"}}]})
    with pytest.raises(ConfigError) as info:
        load_config(data)
    text = str(info.value)
    assert "rules[0].smoke[0].context.acount: unknown key; did you mean 'account'?" in text
    assert "rules[0].smoke[0].expect.reason: unknown reason 'NOPE'" in text
