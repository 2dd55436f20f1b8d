"""Commands that read a store or flip its switches never create one: a mistyped path is "no such store"."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from graylib import SQLiteStore, StoreError
from graylib.cli import main
from graylib.stores import store_from_url
from tests.helpers import run_graylib
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")
RULE = "appliance-subsidy"


def existing_store(path: Path) -> str:
    """A store the clients already use (they create it), with one kill switch set; its URL."""
    store = SQLiteStore(path)
    store.kill("other-rule", "set by a client", 1.0)
    store.close()
    return f"sqlite:///{path}"


def test_sqlite_store_with_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "graylib-typo.db"
    with pytest.raises(StoreError, match=f"no such store: {missing}"):
        SQLiteStore(missing, create=False)
    with pytest.raises(StoreError, match="no such store"):
        store_from_url(f"sqlite:///{missing}", create=False)
    assert not missing.exists()
    store = store_from_url(f"sqlite:///{missing}")  # the default still creates: clients start this way
    store.close()
    assert missing.exists()


def test_sqlite_store_with_create_false_refuses_a_file_graylib_never_initialised(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="never initialised"):
        SQLiteStore(empty, create=False)
    assert empty.read_bytes() == b""
    other = tmp_path / "orders.db"  # another application's database, at a mistyped path
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        db.commit()
    before = other.read_bytes()
    with pytest.raises(StoreError, match=f"no such store: {other}"):
        SQLiteStore(other, create=False)
    assert other.read_bytes() == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "orders.db"]
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("x" * 200)
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteStore(not_a_database, create=False)


def test_sqlite_store_with_create_false_opens_an_existing_store(tmp_path: Path) -> None:
    url = existing_store(tmp_path / "shared.db")
    store = store_from_url(url, create=False)
    assert set(store.kill_switches()) == {"other-rule"}
    store.kill(RULE, "from the second opener", 2.0)
    store.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["kill", RULE, "--reason", "x", "--rules", EXAMPLE],
        ["kill", "anything", "--reason", "x", "--force"],
        ["revive", RULE, "--rules", EXAMPLE, "--json"],
        ["revive", RULE],
        ["switches"],
        ["switches", "--json"],
        ["status", EXAMPLE],
        ["status", EXAMPLE, "--json"],
        ["explain", EXAMPLE, RULE, "--account", "u-1", "--payment-type", "online_purchase", "--amount", "1"],
    ],
    ids=lambda argv: "-".join(a for a in argv if not a.startswith("/"))[:40],
)
def test_a_mistyped_sqlite_path_is_no_such_store(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing_store(tmp_path / "graylib.db")
    typo = tmp_path / "graylb.db"
    assert main([*argv, "--store", f"sqlite:///{typo}"]) == 2
    captured = capsys.readouterr()
    assert f"no such store: {typo}" in captured.err
    assert "killed" not in captured.out and "no kill switches set" not in captured.out
    assert not typo.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graylib.db"]


def test_init_store_creates_a_missing_sqlite_file_and_marks_it_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Initialising is the explicit act that may create a store; every other command refuses a new path."""
    path = tmp_path / "graylib.db"
    assert main(["init-store", "--store", f"sqlite:///{path}"]) == 0
    assert f"sqlite:///{path}: initialised, epoch" in capsys.readouterr().out
    store = SQLiteStore(path, create=False)  # a graylib store, initialised: it grants
    try:
        assert store.kill_switches() == {}
    finally:
        store.close()
    assert main(["switches", "--store", f"sqlite:///{path}"]) == 0
    assert main(["init-store", "--store", f"sqlite:///{tmp_path / 'no-such-dir' / 'graylib.db'}"]) == 2
    assert "no-such-dir" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graylib.db"]


def test_a_relative_mistyped_path_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRAYLIB_STORE", "sqlite:graylb.db")
    assert main(["switches"]) == 2
    assert "no such store: graylb.db" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_switches_in_a_subprocess_on_a_mistyped_path(tmp_path: Path) -> None:
    url = existing_store(tmp_path / "graylib.db")
    good = run_graylib(["switches", "--store", url])
    assert good.returncode == 0, good.stderr
    assert "other-rule" in good.stdout
    typo = tmp_path / "graylib.db.bak"
    bad = run_graylib(["switches", "--store", f"sqlite:///{typo}"])
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert f"no such store: {typo}" in bad.stderr
    assert not typo.exists()


def test_simulate_still_creates_a_fresh_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = tmp_path / "sim.db"
    assert (
        main(
            [
                "simulate",
                EXAMPLE,
                "--minutes",
                "1",
                "--payments-per-second",
                "5",
                "--store",
                f"sqlite:///{fresh}",
            ]
        )
        == 0
    )
    assert fresh.exists()
    capsys.readouterr()


def test_simulate_refuses_a_store_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "graylib.db"
    store = SQLiteStore(path)  # the services' store: no grants yet, no switches
    store.close()
    before = path.read_bytes()
    args = [
        "simulate",
        EXAMPLE,
        "--minutes",
        "1",
        "--payments-per-second",
        "50",
        "--store",
        f"sqlite:///{path}",
    ]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"refusing to simulate on sqlite:///{path}: the file {path} exists (services may share it)" in (
        captured.err
    )
    assert "Use a fresh store" in captured.err and "--use-existing-store runs anyway" in captured.err
    assert path.read_bytes() == before

    assert main([*args, "--use-existing-store"]) == 0
    captured = capsys.readouterr()
    assert "warning: simulating on sqlite:///" in captured.err
    assert "the run leaves its counters, grant statistics and any kill switch" in captured.err
    opened = SQLiteStore(path)
    assert opened.stats(RULE).granted_count > 0  # what the run left behind
    opened.close()


@pytest.mark.redis
def test_simulate_refuses_a_redis_database_with_kill_switches_or_grants(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    store = store_from_url(url)
    store._redis.flushdb()  # type: ignore[attr-defined]
    store.initialise()  # what an operator does once before first use
    store.close()
    args = ["simulate", EXAMPLE, "--minutes", "1", "--payments-per-second", "50", "--store", url]
    assert main(args) == 0  # an empty database is fresh
    capsys.readouterr()
    assert main(args) == 2  # the first run's grants are in it now
    assert f"rule {RULE!r} has grants counted in it" in capsys.readouterr().err
    store = store_from_url(url)
    store._redis.flushdb()  # type: ignore[attr-defined]
    store.initialise()
    store.kill("some-rule", "INC-9", 1.0)
    store.close()
    assert main(args) == 2
    assert "it holds kill switches (some-rule)" in capsys.readouterr().err


def test_simulate_on_a_store_in_use_in_a_subprocess(tmp_path: Path) -> None:
    url = existing_store(tmp_path / "graylib.db")
    run = run_graylib(["simulate", EXAMPLE, "--minutes", "1", "--store", url])
    assert run.returncode == 2
    assert "it holds kill switches (other-rule)" in run.stderr
