"""Trust files published into the store beside the revisions (real SQLite files and a real redis-server):
the root of trust is an explicit act, a rotation needs the signatures of the approvers in force, two racing
rotations have one winner, and publish and rollback check approvals against the trust file in force."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import graylib
from graylib import ConflictError, PolicyError, SQLiteStore
from graylib.stores import RedisStore, Store, TrustRecord
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.trust_support import WIDENING, Team, trust_text


@pytest.fixture
def team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Team:
    return Team(tmp_path, capsys)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, where): a fresh SQLite file or a fresh prefix on the session's redis-server."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "trust.db")
    server: RedisServer = request.getfixturevalue("fleet_redis")
    return "redis", f"{server.url}|{unique_prefix()}"


def opened(spec: tuple[str, str]) -> Store:
    kind, where = spec
    if kind == "sqlite":
        return SQLiteStore(where)
    url, prefix = where.split("|")
    return RedisStore(url, prefix=prefix, initialise=True)


@pytest.fixture
def store(spec: tuple[str, str]) -> Iterator[Store]:
    made = opened(spec)
    yield made
    made.close()


def rotation(team: Team, name: str = "trust-v2.toml", version: int = 2, *, drop: str = "li.wei") -> Path:
    """A trust file of ``version`` without ``drop`` (chen.jie in their place), not yet signed."""
    people = [(n, team.public[n]) for n in ("zhang.min", "wang.fang", "li.wei", "chen.jie") if n != drop]
    path = team.dir / name
    path.write_text(trust_text(version, 2, people))
    return path


def test_the_root_of_trust_is_accepted_only_by_an_explicit_act(team: Team, store: Store) -> None:
    with pytest.raises(PolicyError, match="root of trust and is accepted only by an explicit act"):
        graylib.publish_trust(store, team.trust)
    assert store.head_trust() == 0
    root = graylib.publish_trust(store, team.trust, root=True, by="security")
    assert (root.number, root.version, root.published_by, root.signatures) == (1, 1, "security", "")
    assert root.text == team.trust.read_text(encoding="utf-8")
    with pytest.raises(PolicyError, match="already has a root of trust"):
        graylib.publish_trust(store, rotation(team), root=True)
    assert graylib.publish_trust(store, team.trust) == root  # the same bytes: nothing changes
    assert store.head_trust() == 1


def test_a_rotation_without_old_key_signatures_is_refused_by_the_store(team: Team, store: Store) -> None:
    graylib.publish_trust(store, team.trust, root=True)
    new = rotation(team)
    team.approve(new, "chen.jie")  # only trusted by the new file
    with pytest.raises(PolicyError, match=r"needs 2 valid signatures from approvers of trust file version 1"):
        graylib.publish_trust(store, new)
    team.approve(new, "zhang.min")
    with pytest.raises(PolicyError, match=r"1 count \(zhang.min\)"):
        graylib.publish_trust(store, new)
    assert store.head_trust() == 1
    team.approve(new, "wang.fang")
    second = graylib.publish_trust(store, new, note="li.wei left")
    assert (second.number, second.version, second.note) == (2, 2, "li.wei left")
    assert second.signatures == (team.dir / "trust-v2.toml.sig").read_text(encoding="utf-8")
    # the next one needs version 2's approvers: li.wei (removed) no longer counts
    third = rotation(team, "trust-v3.toml", 3, drop="zhang.min")
    team.approve(third, "li.wei", "wang.fang")
    with pytest.raises(PolicyError, match=r"1 count \(wang.fang\)"):
        graylib.publish_trust(store, third)
    lower = rotation(team, "trust-v1b.toml", 1, drop="wang.fang")
    team.approve(lower, "zhang.min", "wang.fang")
    with pytest.raises(PolicyError, match="version 1 is not higher than the version in force, 2"):
        graylib.publish_trust(store, lower)
    assert [store.trust_record(n).version for n in (1, 2)] == [1, 2]  # type: ignore[union-attr]
    assert store.trust_record(3) is None and store.head_trust() == 2


def test_two_racing_rotations_have_one_winner(team: Team, spec: tuple[str, str], store: Store) -> None:
    graylib.publish_trust(store, team.trust, root=True)
    first, second = rotation(team, "a.toml"), rotation(team, "b.toml", drop="wang.fang")
    for path in (first, second):
        team.approve(path, "zhang.min", "wang.fang")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(path: Path) -> None:
        mine = opened(spec)
        try:
            barrier.wait()
            outcomes[path.name] = graylib.publish_trust(mine, path)
        except (ConflictError, PolicyError) as exc:
            outcomes[path.name] = exc
        finally:
            mine.close()

    threads = [threading.Thread(target=run, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [o for o in outcomes.values() if isinstance(o, TrustRecord)]
    lost = [o for o in outcomes.values() if not isinstance(o, TrustRecord)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert store.head_trust() == 2 and store.trust_record(2) == won[0]

    # the compare-and-set itself: two records checked against the same trust file in force
    record = TrustRecord(0, 3, "d", "version = 3\n")
    assert store.append_trust(record, 2).number == 3
    with pytest.raises(ConflictError, match="trust file 3 is in force in the store, not 2"):
        store.append_trust(record, 2)


def test_publish_uses_the_stores_trust_file_and_refuses_forged_approvals(team: Team, store: Store) -> None:
    old, new = team.case(WIDENING)
    team.approve(old, "zhang.min", "wang.fang")
    graylib.publish_trust(store, team.trust, root=True)
    graylib.publish(store, old, running=graylib.load_config(old))
    # [change].approved_by names two approvers, without signatures: under the store's trust file, no count
    with pytest.raises(PolicyError, match="approved_by names are not signatures"):
        graylib.publish(store, new)
    forger = team.dir / "keys" / "forger.key"
    assert graylib.cli.main(["keygen", "wang.fang", "--out", str(forger)]) == 0
    team.approve(new, "zhang.min")
    assert graylib.cli.main(["approve", str(new), "--key", str(forger)]) == 0
    with pytest.raises(PolicyError, match=r"1 \(zhang.min\) count"):
        graylib.publish(store, new)
    other = team.dir / "other-trust.toml"
    other.write_text(trust_text(1, 1, [("zhang.min", team.public["zhang.min"])]))
    with pytest.raises(PolicyError, match="not the trust file in force in the store"):
        graylib.publish(store, new, trust=other)
    assert store.head_revision() == 1
    team.approve(new, "wang.fang")
    assert graylib.publish(store, new, trust=team.trust).number == 2  # the same text as the store's: fine
    with pytest.raises(PolicyError, match="not the trust file in force in the store"):
        graylib.rollback(store, trust=other)


def test_the_trust_commands(team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    main = graylib.cli.main
    assert main(["init-store", "--store", url]) == 0
    capsys.readouterr()
    assert main(["trust", "show", "--store", url]) == 2
    assert "no trust file is published in this store" in capsys.readouterr().err
    assert main(["trust", "publish", str(team.trust), "--store", url]) == 1
    assert "root of trust and is accepted only by an explicit act" in capsys.readouterr().err
    assert main(["trust", "publish", str(team.trust), "--store", url, "--root", "--by", "security"]) == 0
    assert "root of trust 1 (version 1) in force since" in capsys.readouterr().out
    assert main(["trust", "show", "--store", url]) == 0
    assert capsys.readouterr().out == team.trust.read_text(encoding="utf-8")

    new = rotation(team)
    team.approve(new, "chen.jie", "li.wei")  # chen.jie is not an approver of version 1
    assert main(["trust", "publish", str(new), "--store", url]) == 1
    assert "not published" in capsys.readouterr().err
    team.approve(new, "zhang.min")
    sig = tmp_path / "trust-v2.toml.sig"
    assert main(["trust", "publish", str(new), "--store", url, "--signatures", str(sig), "--json"]) == 0
    assert '"number": 2' in capsys.readouterr().out
    assert main(["trust", "publish", str(tmp_path / "missing.toml"), "--store", url]) == 2
    assert "cannot read file" in capsys.readouterr().err
    assert main(["trust", "show", "--store", url, "--history"]) == 0
    out = capsys.readouterr().out
    assert "trust file 2 (in force): version 2" in out and "trust file 1: version 1" in out
    assert "by security" in out

    old, widening = team.case(WIDENING)
    team.approve(old, "zhang.min", "li.wei")
    assert main(["publish", str(old), "--store", url, "--running", str(old)]) == 0
    capsys.readouterr()
    assert main(["plan", str(widening), "--store", url]) == 1  # approved_by names: not signatures
    assert "approvals are signatures checked against trust file version 2" in capsys.readouterr().out
    assert main(["plan", str(widening), "--store", url, "--trust", str(team.trust)]) == 2
    assert "is not the trust file in force in the store (version 2)" in capsys.readouterr().err
    assert main(["publish", str(widening), "--store", url]) == 1
    assert "approvals are signatures checked against trust file version 2" in capsys.readouterr().out
    assert main(["publish", str(widening), "--store", url, "--trust", str(team.trust)]) == 1
    assert "is not the trust file in force in the store" in capsys.readouterr().err
