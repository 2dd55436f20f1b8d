"""What a ``Client`` accepts: only a real ``Store``, and only a config that passed every check."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest

from graylib import Client, Config, ConfigError, Context, MemoryStore, Reason, SQLiteStore, load_config
from graylib.stores import ReleaseResult, ReserveRequest, ReserveResult, ReserveStatus
from tests.helpers import make_config

CTX = Context(account="u-1", payment_type="online_purchase", amount=54_000, payment_id="p-1")


class _NoStats:
    """Has most of the Store methods, but not ``stats``."""

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        return ReserveResult(ReserveStatus.GRANTED)

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        return ReleaseResult(False)

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        return None

    def revive(self, rule_id: str) -> bool:
        return False

    def kill_switches(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        return None


WRONG_STORES: list[object] = [42, "", "sqlite:///tmp/graylib-never.db", "memory://", object(), _NoStats()]


@pytest.mark.parametrize("store", WRONG_STORES, ids=lambda s: type(s).__name__ + repr(s)[:20])
def test_a_store_that_is_not_a_store_is_a_type_error(store: object) -> None:
    with pytest.raises(TypeError, match=r"Client\(store=\.\.\.\)") as info:
        Client(make_config(), cluster="sh-small", store=store)  # type: ignore[arg-type]
    if isinstance(store, str):
        assert "store_from_url" in str(info.value)


def test_a_store_url_is_named_without_its_password() -> None:
    with pytest.raises(TypeError) as info:
        Client(make_config(), store="redis://user:s3cret-pw@localhost:6379/0")  # type: ignore[arg-type]
    assert "s3cret-pw" not in str(info.value)


@pytest.mark.parametrize("store", WRONG_STORES[:3], ids=repr)
def test_from_file_refuses_a_store_that_is_not_a_store(store: object, tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(__import__("json").dumps(make_config()))
    with pytest.raises(TypeError, match=r"Client\(store=\.\.\.\)"):
        Client.from_file(path, cluster="sh-small", store=store)  # type: ignore[arg-type]


def test_real_stores_are_accepted(tmp_path: Path) -> None:
    sqlite = SQLiteStore(str(tmp_path / "g.db"))
    for store in (MemoryStore(), sqlite):
        with Client(make_config(), cluster="sh-small", store=store) as client:
            assert client.claim("subsidy", CTX).applies
    sqlite.close()


# -- every served config passes the checks ------------------------------------------------------------


def _checked() -> Config:
    return load_config(make_config())


def test_a_config_changed_past_its_guardrails_is_refused() -> None:
    config = _checked()
    rule = config.rules[0]
    greedy = attrs.evolve(
        rule, discount=attrs.evolve(rule.discount, percent=Fraction(90), max_off=10_000_000)
    )
    changed = attrs.evolve(config, rules=(greedy,))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.discount\.(percent|max_off)"):
        Client(changed, cluster="sh-small")


def test_a_config_with_a_forbidden_payment_type_is_refused() -> None:
    config = _checked()
    rule = attrs.evolve(config.rules[0], payment_types=frozenset({"p2p_transfer", "online_purchase"}))
    with pytest.raises(ConfigError, match="forbidden"):
        Client(attrs.evolve(config, rules=(rule,)), cluster="sh-small")


def test_a_config_whose_stages_narrow_is_refused() -> None:
    config = _checked()
    rollout = config.rules[0].rollout
    stages = tuple(reversed(rollout.stages))
    rule = attrs.evolve(config.rules[0], rollout=attrs.evolve(rollout, stages=stages))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.rollout"):
        Client(attrs.evolve(config, rules=(rule,)), cluster="sh-small")


def test_a_config_with_an_uncapped_percentage_is_refused() -> None:
    config = _checked()
    rule = config.rules[0]
    uncapped = attrs.evolve(rule, discount=attrs.evolve(rule.discount, max_off=None))
    with pytest.raises(ConfigError, match="max_off"):
        Client(attrs.evolve(config, rules=(uncapped,)), cluster="sh-small")


def test_a_config_with_a_value_of_the_wrong_type_is_refused() -> None:
    config = _checked()
    rule = attrs.evolve(config.rules[0], min_amount="100")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="min_amount"):
        Client(attrs.evolve(config, rules=(rule,)), cluster="sh-small")


def test_a_checked_config_is_served_unchanged() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "examples" / "rules.toml")
    client = Client(config, cluster="sh-small", node="sh-small-01")
    assert client.config == config
    assert client.config.source == config.source
    ctx = Context(account="u-1", payment_type="online_purchase", amount=54_000, region="CN-31")
    assert client.evaluate("appliance-subsidy", ctx).applies


def test_a_valid_config_changed_in_python_is_served() -> None:
    config = _checked()
    rule = attrs.evolve(config.rules[0], description="changed in Python")
    client = Client(attrs.evolve(config, rules=(rule,)), cluster="sh-small")
    assert client.config.rules[0].description == "changed in Python"
    assert client.evaluate("subsidy", CTX).reason is Reason.APPLIES_ROLLOUT


def test_the_unchecked_loader_is_not_public() -> None:
    import graylib

    reachable = {name for name in dir(graylib) if "unsafe" in name.lower() or "unchecked" in name.lower()}
    assert reachable == set()
    assert "load_unchecked" not in vars(graylib)


def _parse(path: Path) -> Config:
    from graylib._config import parse_config, read_file

    return parse_config(read_file(path)[0], source=str(path))


def _documents() -> list[Path]:
    root = Path(__file__).resolve().parents[1]
    found = [
        *sorted((root / "examples").glob("*.toml")),
        *sorted((root / "tests" / "fixtures").rglob("*.toml")),
    ]
    return [path for path in found if _loads(path)]


def _loads(path: Path) -> bool:
    try:
        _parse(path)
    except (ConfigError, ValueError):
        return False
    return True


@pytest.mark.parametrize("path", _documents(), ids=lambda p: p.name)
def test_every_valid_document_survives_the_round_trip(path: Path) -> None:
    from graylib._config import parse_config
    from graylib._config._dump import recheck, to_document

    config = _parse(path)
    assert parse_config(to_document(config)) == config
    assert recheck(config) is config
