"""``store_from_url`` and the public surface of ``graylib.stores``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import graylib.stores
from graylib.stores import MemoryStore, RedisStore, SQLiteStore, store_from_url


def test_memory_url() -> None:
    assert isinstance(store_from_url("memory://"), MemoryStore)


def test_sqlite_absolute_and_relative_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = store_from_url(f"sqlite://{tmp_path}/abs.db")
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == f"{tmp_path}/abs.db"
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = store_from_url("sqlite:rel.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == "rel.db"
    assert (tmp_path / "rel.db").exists()
    relative.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "rediss://127.0.0.1:1/2", "REDIS://127.0.0.1:1"])
def test_redis_urls_build_a_redis_store_without_connecting(url: str) -> None:
    store = store_from_url(url)
    assert isinstance(store, RedisStore)
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "memory",
        "memory://x",
        "sqlite:",
        "sqlite://",
        "sqlite:///",
        "sqlite://host/x.db",
        "redis:",
        "postgres://db/x",
        "/tmp/x.db",
    ],
)
def test_other_urls_are_refused_with_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match=r"store URL: expected one of memory://, sqlite:///") as caught:
        store_from_url(url)
    assert repr(url) in str(caught.value)


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(graylib.stores) if not name.startswith("_")}
    modules = {"memory", "redis", "sqlite"}
    assert public - modules == set(graylib.stores.__all__)
    assert graylib.stores.__all__ == sorted(graylib.stores.__all__)


def test_importing_works_without_redis_and_building_a_redis_store_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import graylib.stores as s\n"
        "s.MemoryStore()\n"
        "try:\n"
        "    s.RedisStore('redis://127.0.0.1:1/0')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "pip install redis (the 'redis' extra)" in out.stdout
