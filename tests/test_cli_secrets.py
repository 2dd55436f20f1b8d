"""A Redis password in ``--store`` or ``GRAYLIB_STORE`` never appears in what a command prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graylib.cli import main
from tests.helpers import run_graylib
from tests.redis_server import PasswordRedisServer, RedisServer, free_port

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")
RULE = "appliance-subsidy"
PASSWORD = "Hunter2-s3cret%21"
"""As written in the URL; redis-py decodes it to ``Hunter2-s3cret!``, the server's password."""
DECODED = "Hunter2-s3cret!"


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[RedisServer]:
    with PasswordRedisServer(DECODED) as server:
        yield server


def commands(url: str) -> list[list[str]]:
    """Every command that takes a store, each with the store ``url``."""
    explain = ["explain", EXAMPLE, RULE, "--account", "u-1", "--payment-type", "online_purchase"]
    explain += ["--amount", "54000", "--region", "CN-31", "--cluster", "sh-small", "--node", "sh-small-01"]
    return [
        ["switches", "--store", url],
        ["switches", "--json", "--store", url],
        ["kill", RULE, "--reason", "INC-1", "--rules", EXAMPLE, "--store", url],
        ["kill", RULE, "--reason", "INC-1", "--rules", EXAMPLE, "--json", "--store", url],
        ["status", EXAMPLE, "--store", url],
        ["status", EXAMPLE, "--json", "--store", url],
        [*explain, "--store", url],
        [*explain, "--json", "--store", url],
        ["revive", RULE, "--json", "--store", url],
        ["revive", RULE, "--store", url],
        ["simulate", EXAMPLE, "--minutes", "1", "--payments-per-second", "2", "--store", url],
    ]


def run_all(url: str, capsys: pytest.CaptureFixture[str]) -> list[tuple[list[str], int, str]]:
    """Run every command on ``url``; (argv, exit code, stdout + stderr) of each."""
    results = []
    for argv in commands(url):
        code = main(argv)
        captured = capsys.readouterr()
        results.append((argv, code, captured.out + captured.err))
    return results


def assert_no_secret(results: list[tuple[list[str], int, str]]) -> None:
    for argv, _code, output in results:
        assert PASSWORD not in output and DECODED not in output, f"{argv[0]} showed the password:\n{output}"


def test_a_reachable_store_with_a_password(server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/5"
    assert main(["init-store", "--store", url]) == 0  # once, before first use
    assert_no_secret([(["init-store"], 0, capsys.readouterr().out)])
    results = run_all(url, capsys)
    assert_no_secret(results)
    codes = {" ".join(argv[:2]): code for argv, code, _ in results}
    assert codes["switches --store"] == 0 and codes[f"kill {RULE}"] == 0
    assert codes[f"revive {RULE}"] == 1  # cleared by the --json revive just before
    status = next(output for argv, _, output in results if argv[:2] == ["status", EXAMPLE])
    assert f"store   redis://:***@127.0.0.1:{server.port}/5" in status


def test_a_wrong_password(server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    for url in (
        f"redis://:not-{PASSWORD}@127.0.0.1:{server.port}/5",
        f"redis://127.0.0.1:{server.port}/5?password=not-{PASSWORD}",
    ):
        results = run_all(url, capsys)
        assert_no_secret(results)
        for argv, code, output in results:
            assert code == 2, (argv, output)


def test_an_unreachable_store_with_a_password(capsys: pytest.CaptureFixture[str]) -> None:
    for url in (
        f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0",
        f"redis://admin:{PASSWORD}@127.0.0.1:{free_port()}/0",
        f"redis://127.0.0.1:{free_port()}/0?password={PASSWORD}",
        f"redis+cluster://:{PASSWORD}@127.0.0.1:{free_port()},:{PASSWORD}@127.0.0.1:{free_port()}",
        f"rediss+cluster://:{PASSWORD}@",  # not even a valid URL
    ):
        results = run_all(url, capsys)
        assert_no_secret(results)
        for argv, code, output in results:
            assert code == 2, (argv, output)
            assert "***" in output or "store URL" in output, (argv, output)


def test_the_environment_variable_in_a_subprocess(server: RedisServer) -> None:
    for argv, code in ((["init-store"], 0), (["switches"], 0), (["status", EXAMPLE, "--json"], 0)):
        run = run_graylib(argv, store=f"redis://:{PASSWORD}@127.0.0.1:{server.port}/6")
        assert run.returncode == code, run.stderr
        assert DECODED not in run.stdout + run.stderr and PASSWORD not in run.stdout + run.stderr
    run = run_graylib(["status", EXAMPLE], store=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/6")
    assert run.returncode == 2
    assert "redis://:***@127.0.0.1:" in run.stdout + run.stderr
    assert DECODED not in run.stdout + run.stderr and PASSWORD not in run.stdout + run.stderr
