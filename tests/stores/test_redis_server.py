"""The redis-server helper fails loudly when there is no binary: Redis tests must never be skipped."""

from __future__ import annotations

import pytest

import tests.redis_server as helper


def test_a_missing_redis_server_is_an_error_that_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_SERVER", "/nonexistent/redis-server")
    monkeypatch.setattr(helper.shutil, "which", lambda name: None)
    monkeypatch.setattr(helper.os, "access", lambda path, mode: False)
    with pytest.raises(RuntimeError, match=r"apt-get install redis-server"):
        helper.RedisServer()


def test_free_port_is_a_loopback_port() -> None:
    assert 1024 <= helper.free_port() <= 65535
