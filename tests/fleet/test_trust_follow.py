"""A following client with ``trust="store"`` (real SQLite files and a real redis-server): it takes the
trust file published in the store, picks up a rotation without a restart, and refuses a trust file written
into the store past ``graylib trust publish`` (of a lower version, or unsigned)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import graylib
from graylib import Client, ConfigError, SQLiteStore
from graylib._compile import digest_text
from graylib.stores import RedisStore, Revision, Store, TrustRecord
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.trust_support import WIDENING, Team, trust_text


@pytest.fixture
def team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Team:
    return Team(tmp_path, capsys)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "follow.db")
    else:
        server: RedisServer = request.getfixturevalue("fleet_redis")
        opened = RedisStore(server.url, prefix=unique_prefix(), initialise=True)
    yield opened
    opened.close()


def sig_of(path: Path) -> Path:
    return path.parent / f"{path.name}.sig"


def written_past_publish(store: Store, path: Path, expected: int) -> Revision:
    """``path``'s text and signature file appended straight to the store: no publish checked them."""
    text = path.read_text(encoding="utf-8")
    signatures = sig_of(path).read_text(encoding="utf-8")
    return store.append_revision(Revision(0, "v2", digest_text(text), text, signatures=signatures), expected)


def rotated(team: Team) -> Path:
    """Trust file version 2: wang.fang removed, chen.jie added; signed by version 1's zhang.min and
    wang.fang."""
    people = [(n, team.public[n]) for n in ("zhang.min", "li.wei", "chen.jie")]
    path = team.dir / "trust-v2.toml"
    path.write_text(trust_text(2, 2, people))
    team.approve(path, "zhang.min", "wang.fang")
    return path


def started(team: Team, store: Store) -> tuple[Path, Client]:
    """The root of trust and a first revision published, and a client following both; new.toml unsigned."""
    old, new = team.case(WIDENING)
    team.approve(old, "zhang.min", "wang.fang")
    graylib.publish_trust(store, team.trust, root=True)
    graylib.publish(store, old, running=graylib.load_config(old))
    return new, Client.from_store(store, trust="store", follow_interval=60.0)


def test_a_following_client_picks_up_a_rotation_without_a_restart(team: Team, store: Store) -> None:
    new, client = started(team, store)
    errors: list[Exception] = []
    client._follower.on_reload_error = errors.append  # type: ignore[union-attr]
    try:
        assert client.config.version == "v1"
        graylib.publish_trust(store, rotated(team))
        team.approve(new, "zhang.min", "wang.fang")  # wang.fang was removed by version 2
        written_past_publish(store, new, 1)
        assert client.reload_now() is False
        error = client.status().last_reload_error
        assert "needs 2 valid signatures from approvers of trust file version 2" in error
        assert "wang.fang (not_an_approver)" in error
        assert client.config.version == "v1" and len(errors) == 1

        sig_of(new).unlink()
        team.approve(new, "zhang.min", "chen.jie")  # chen.jie only counts under version 2
        written_past_publish(store, new, 2)
        assert client.reload_now() is True
        assert (client.config.version, client.status().revision) == ("v2", 3)
    finally:
        client.close()


def test_a_lower_trust_version_written_into_the_store_is_refused(team: Team, store: Store) -> None:
    new, client = started(team, store)
    try:
        graylib.publish_trust(store, rotated(team))
        assert client.reload_now() is True  # version 2 taken; nothing new to serve
        # version 1's text again, written past trust publish (wang.fang back in), then an unsigned version 3
        root = store.trust_record(1)
        assert root is not None
        store.append_trust(TrustRecord(0, 1, root.digest, root.text), 2)
        assert client.reload_now() is True
        error = client.status().last_reload_error
        assert "trust file 3 in" in error and "version 1 is not higher than the version in force, 2" in error
        unsigned = trust_text(3, 1, [("wang.fang", team.public["wang.fang"])])
        store.append_trust(TrustRecord(0, 3, "", unsigned), 3)
        assert client.reload_now() is True
        assert "trust file 4 in" in client.status().last_reload_error
        assert "needs 2 valid signatures from approvers of trust file version 2" in (
            client.status().last_reload_error
        )

        team.approve(new, "zhang.min", "wang.fang")  # counts under version 1 or 3, not under 2
        written_past_publish(store, new, 1)
        assert client.reload_now() is False
        assert "wang.fang (not_an_approver)" in client.status().last_reload_error
        assert client.config.version == "v1"
        # a client started now walks the same chain: version 2 in force, the same revision refused
        with pytest.raises(graylib.PolicyError, match=r"wang.fang \(not_an_approver\)"):
            Client.from_store(store, trust="store", follow_interval=60.0)
        # publish counts against the same trust file in force
        in_force = graylib.store_trust(store)
        assert in_force is not None and (in_force.trust.version, in_force.record.number) == (2, 2)
    finally:
        client.close()


def test_a_client_refuses_a_store_with_fewer_trust_files_than_it_read(team: Team, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "restored.db")
    _, client = started(team, store)
    try:
        graylib.publish_trust(store, rotated(team))
        assert client.reload_now() is True
        # committed by the inner `db`, closed by `closing`: an old copy of the store put back
        with contextlib.closing(sqlite3.connect(tmp_path / "restored.db")) as db, db:
            db.execute("DELETE FROM trust_files WHERE number = 2")
        assert client.reload_now() is True
        assert "has 1 trust files, fewer than the 2 this client read" in client.status().last_reload_error
    finally:
        client.close()
        store.close()


def test_trust_store_needs_a_trust_file_in_the_store(team: Team, store: Store) -> None:
    old, _ = team.case(WIDENING)
    team.approve(old, "zhang.min", "wang.fang")
    graylib.publish(store, old, running=graylib.load_config(old))
    with pytest.raises(ConfigError, match=r"no trust file is published in .* trust='store' needs one"):
        Client.from_store(store, trust="store", follow_interval=60.0)
