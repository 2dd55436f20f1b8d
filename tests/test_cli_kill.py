"""``graylib kill``, ``revive`` and ``switches``: operators stop a rule for every client sharing the store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from graylib import Client, Context, Reason, SQLiteStore
from graylib.cli import main
from tests.claims_support import (  # noqa: F401 - fixtures
    RULE,
    client,
    close_clients_fixture,
    limited_config,
    payment,
)
from tests.helpers import run_graylib
from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")
IN_STAGE = Context(account="u-1", payment_type="online_purchase", amount=54_000, region="CN-31")
"""A payment ``appliance-subsidy`` of the example applies to at sh-small."""


@pytest.fixture(name="rules_file")
def rules_file_fixture(tmp_path: Path) -> str:
    """A rules file in force whose only rule is ``RULE``."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(limited_config()))
    return str(path)


@pytest.fixture(name="store_url", params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming a fresh shared store (Redis: a database number of its own, flushed first)."""
    if request.param == "sqlite":
        SQLiteStore(tmp_path / "shared.db").close()  # the clients sharing it created it
        return f"sqlite:///{tmp_path / 'shared.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    from graylib.stores import store_from_url

    url = server.url.rsplit("/", 1)[0] + "/3"
    store = store_from_url(url)
    store._redis.flushdb()  # type: ignore[attr-defined]
    store.initialise()
    store.close()
    return url


def test_kill_list_and_revive(store_url: str, rules_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["switches", "--store", store_url]) == 0
    assert capsys.readouterr().out == "no kill switches set\n"
    kill = ["kill", RULE, "--rules", rules_file, "--store", store_url]
    assert main([*kill, "--reason", "wrong coupon type"]) == 0
    assert "subsidy: killed at " in capsys.readouterr().out
    assert main([*kill, "--reason", "second thoughts"]) == 0
    assert "(first reason kept)" in capsys.readouterr().out
    assert main(["switches", "--store", store_url, "--json"]) == 0
    (switch,) = json.loads(capsys.readouterr().out)
    assert (switch["rule_id"], switch["reason"]) == (RULE, "wrong coupon type")
    assert abs(switch["at"] - time.time()) < 60 and switch["at_utc"].endswith("Z")
    assert main(["switches", "--store", store_url]) == 0
    assert "wrong coupon type" in capsys.readouterr().out
    assert main(["revive", RULE, "--store", store_url]) == 0
    assert "kill switch cleared" in capsys.readouterr().out
    assert main(["revive", RULE, "--store", store_url]) == 1  # nothing to clear: maybe a typo in RULE
    assert "no kill switch was set" in capsys.readouterr().out


def test_a_kill_from_the_command_line_stops_every_client_within_a_second(
    store_url: str, rules_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from graylib.stores import store_from_url

    config = limited_config({"total": {"count": 100}})
    clients = [client(config, store_from_url(store_url)) for _ in range(2)]  # kill_refresh: 1 s (default)
    for n, c in enumerate(clients):
        assert c.claim(RULE, payment(f"before-{n}")).applies
    assert (
        main(["kill", RULE, "--reason", "runaway subsidy", "--rules", rules_file, "--store", store_url]) == 0
    )
    killed_at = time.monotonic()
    for n, c in enumerate(clients):
        while c.evaluate(RULE, payment("x")).reason is not Reason.KILLED:
            assert time.monotonic() - killed_at < 1.5, "the kill did not reach the client within a second"
            time.sleep(0.02)
        decision = c.claim(RULE, payment(f"during-{n}"))
        assert (decision.applies, decision.reason) == (False, Reason.KILLED)
        assert decision.detail == "kill switch: runaway subsidy"
    assert main(["revive", RULE, "--store", store_url]) == 0
    revived_at = time.monotonic()
    for n, c in enumerate(clients):
        while not c.claim(RULE, payment(f"after-{n}")).applies:
            assert time.monotonic() - revived_at < 1.5, "the revive did not reach the client within a second"
            time.sleep(0.02)
        c.store.close()
    capsys.readouterr()


def test_the_store_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "env.db"
    SQLiteStore(path).close()
    monkeypatch.setenv("GRAYLIB_STORE", f"sqlite:///{path}")
    assert main(["kill", RULE, "--reason", "from env", "--force"]) == 0
    store = SQLiteStore(str(path))
    assert store.kill_switches()[RULE].reason == "from env"
    store.close()
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["switches"], "no store: pass --store URL or set GRAYLIB_STORE"),
        (["switches", "--store", "memory://"], "no client would see its kill switches"),
        (
            ["kill", RULE, "--reason", "x", "--force", "--store", "postgres://db"],
            "store URL: expected one of",
        ),
        (["revive", RULE, "--store", f"redis://127.0.0.1:{free_port()}/0"], "store unavailable: "),
    ],
)
def test_store_problems_exit_2_with_a_message(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAYLIB_STORE", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_kill_needs_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["kill", RULE, "--store", "sqlite:x.db"])
    assert exit_info.value.code == 2
    assert "--reason" in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "x.db").close()
    run = run_graylib(
        ["kill", RULE, "--reason", "from a shell", "--force"], store=f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("subsidy: killed at ")


def test_a_mistyped_rule_id_is_refused_and_the_real_rule_is_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    SQLiteStore(tmp_path / "shared.db").close()
    running = Client.from_file(
        EXAMPLE,
        cluster="sh-small",
        node="sh-small-01",
        store=SQLiteStore(tmp_path / "shared.db"),
        kill_refresh=0,
    )
    try:
        typo = ["kill", "applience-subsidy", "--reason", "INC-311", "--rules", EXAMPLE, "--store", url]
        assert main(typo) == 2
        err = capsys.readouterr().err
        assert "no rule 'applience-subsidy' in " in err and "(did you mean 'appliance-subsidy'?)" in err
        assert "nothing changed" in err and "--force" in err
        assert main(["switches", "--store", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == []
        assert running.evaluate("appliance-subsidy", IN_STAGE).applies  # the real rule keeps granting

        assert main([*typo[:-2], "--store", url, "--force"]) == 0  # an id of the operator's choosing
        assert "warning: no rule 'applience-subsidy'" in capsys.readouterr().err

        real = ["kill", "appliance-subsidy", "--reason", "INC-311", "--rules", EXAMPLE, "--store", url]
        assert main(real) == 0
        assert "appliance-subsidy: killed at " in capsys.readouterr().out
        assert running.evaluate("appliance-subsidy", IN_STAGE).reason is Reason.KILLED
    finally:
        running.close()
        running.store.close()


def test_kill_needs_rules_or_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    assert main(["kill", "applience-subsidy", "--reason", "x", "--store", f"sqlite:///{path}"]) == 2
    err = capsys.readouterr().err
    assert "kill needs --rules FILE" in err and "--force" in err
    store = SQLiteStore(path)
    assert dict(store.kill_switches()) == {}
    store.close()
    assert main(["kill", "anything", "--reason", "x", "--force", "--store", f"sqlite:///{path}"]) == 0
    captured = capsys.readouterr()
    assert "warning: 'anything' not checked against a rules file (--force)" in captured.err
    assert captured.out.startswith("anything: killed at ")


def test_an_unreadable_rules_file_refuses_the_kill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    broken = str(ROOT / "tests" / "fixtures" / "broken" / "bad_window.toml")
    for rules in (broken, str(tmp_path / "no-such-rules.toml")):
        assert main(["kill", RULE, "--reason", "x", "--rules", rules, "--store", f"sqlite:///{path}"]) == 2
        err = capsys.readouterr().err
        assert f"cannot check 'subsidy' against {rules}" in err and "add --force" in err


def test_revive_checks_the_rules_file_and_names_the_switches_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}"
    store = SQLiteStore(path)
    store.kill("appliance-subsidy", "INC-311", 1_700_000_000.0)
    store.close()
    assert main(["revive", "applience-subsidy", "--rules", EXAMPLE, "--store", url]) == 2
    assert "(did you mean 'appliance-subsidy'?)" in capsys.readouterr().err
    assert main(["revive", "applience-subsidy", "--store", url]) == 1  # unchecked: nothing to clear
    assert "applience-subsidy: no kill switch was set (did you mean 'appliance-subsidy'?)" in (
        capsys.readouterr().out
    )
    assert main(["revive", "appliance-subsidy", "--rules", EXAMPLE, "--store", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rule_id"] == "appliance-subsidy" and data["revived"] is True
    assert data["switch"]["reason"] == "INC-311" and data["switch"]["at_utc"] == "2023-11-14T22:13:20Z"
    assert main(["revive", "appliance-subsidy", "--store", url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "rule_id": "appliance-subsidy",
        "revived": False,
        "switch": None,
        "switches_set": [],
    }


def test_a_mistyped_kill_in_a_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    run = run_graylib(
        ["kill", "applience-subsidy", "--reason", "INC", "--rules", EXAMPLE], store=f"sqlite:///{path}"
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert "did you mean 'appliance-subsidy'?" in run.stderr
    store = SQLiteStore(path)
    assert dict(store.kill_switches()) == {}
    store.close()
