"""The redis-server and cluster helpers fail loudly without their binaries: Redis tests are never skipped."""

from __future__ import annotations

import os
import shutil

import pytest

import tests.redis_server as helper


def test_a_missing_redis_server_is_an_error_that_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_SERVER", "/nonexistent/redis-server")
    # The helpers call shutil.which and os.access through the modules, so patch the modules themselves.
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(RuntimeError, match=r"apt-get install redis-server"):
        helper.RedisServer()


def test_free_port_is_a_loopback_port() -> None:
    assert 1024 <= helper.free_port() <= 65535


def test_a_missing_redis_cli_is_an_error_that_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.redis_cluster as cluster_helper

    monkeypatch.setenv("REDIS_CLI", "/nonexistent/redis-cli")
    monkeypatch.setattr(cluster_helper, "find_redis_server", lambda: "/nonexistent/redis-server")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(RuntimeError, match=r"redis-cli not found.*apt-get install redis-server"):
        cluster_helper.LocalCluster()
