"""``graylib kill``, ``revive`` and ``switches``: operators stop a rule for every client sharing the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graylib import Reason, SQLiteStore
from graylib.cli import main
from tests.claims_support import (  # noqa: F401 - fixtures
    RULE,
    client,
    close_clients_fixture,
    limited_config,
    payment,
    redis_server_fixture,
)
from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(name="store_url", params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming a fresh shared store (Redis: a database number of its own, flushed first)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    from graylib.stores import store_from_url

    url = server.url.rsplit("/", 1)[0] + "/3"
    store = store_from_url(url)
    store._redis.flushdb()  # type: ignore[attr-defined]
    store.initialise()
    store.close()
    return url


def test_kill_list_and_revive(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["switches", "--store", store_url]) == 0
    assert capsys.readouterr().out == "no kill switches set\n"
    assert main(["kill", RULE, "--reason", "wrong coupon type", "--store", store_url]) == 0
    assert "subsidy: killed at " in capsys.readouterr().out
    assert main(["kill", RULE, "--reason", "second thoughts", "--store", store_url]) == 0
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
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from graylib.stores import store_from_url

    config = limited_config({"total": {"count": 100}})
    clients = [client(config, store_from_url(store_url)) for _ in range(2)]  # kill_refresh: 1 s (default)
    for n, c in enumerate(clients):
        assert c.claim(RULE, payment(f"before-{n}")).applies
    assert main(["kill", RULE, "--reason", "runaway subsidy", "--store", store_url]) == 0
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
    monkeypatch.setenv("GRAYLIB_STORE", f"sqlite:///{path}")
    assert main(["kill", RULE, "--reason", "from env"]) == 0
    store = SQLiteStore(str(path))
    assert store.kill_switches()[RULE].reason == "from env"
    store.close()
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["switches"], "no store: pass --store URL or set GRAYLIB_STORE"),
        (["switches", "--store", "memory://"], "no client would see its kill switches"),
        (["kill", RULE, "--reason", "x", "--store", "postgres://db"], "store URL: expected one of"),
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
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GRAYLIB_STORE": f"sqlite:///{tmp_path / 'x.db'}"}
    run = subprocess.run(
        [sys.executable, "-m", "graylib", "kill", RULE, "--reason", "from a shell"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("subsidy: killed at ")
