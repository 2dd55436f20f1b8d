"""``graylib init-store``: the operator's explicit act that lets a new (or wiped) shared store grant."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from graylib import Reason
from graylib.cli import main
from tests.claims_support import (  # noqa: F401 - fixtures
    RULE,
    client,
    close_clients_fixture,
    limited_config,
    payment,
)
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--requirepass", "s3cr3t-pw"]) as started:
        yield started


def test_claims_fail_closed_until_the_store_is_initialised_from_the_command_line(
    server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from graylib.stores import store_from_url

    url = f"redis://:s3cr3t-pw@127.0.0.1:{server.port}/0"
    c = client(limited_config({"total": {"count": 5}}), store_from_url(url), kill_refresh=0)
    refused = c.claim(RULE, payment("p-1"))
    assert (refused.applies, refused.reason) == (False, Reason.ERROR)
    assert "never initialised" in refused.detail
    assert main(["switches", "--store", url]) == 2  # no answer is better than "nothing is killed"
    capsys.readouterr()
    assert main(["init-store", "--store", url, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["store"] == f"redis://:***@127.0.0.1:{server.port}/0"
    assert c.claim(RULE, payment("p-1")).applies
    # Again: nothing changes, the same epoch, and the password is never printed.
    done = subprocess.run(
        [sys.executable, "-m", "graylib", "init-store", "--store", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"epoch {first['epoch']}" in done.stdout
    assert "graylib kill" in done.stdout
    assert "s3cr3t" not in done.stdout + done.stderr
    assert c.claim(RULE, payment("p-2")).applies
