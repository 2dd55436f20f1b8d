"""Signed approvals through the store (real SQLite files and a real redis-server): publish with a trust file
counts only valid signatures over the exact bytes it publishes and stores them with the revision; rollback
counts the stored ones; a following client with a trust file checks every revision's signatures itself, so a
revision written straight into the store without valid signatures is never served."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import graylib
from graylib import Client, PolicyError, SQLiteStore
from graylib._compile import digest_text
from graylib.cli import main
from graylib.stores import RedisStore, Revision, Store
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.trust_support import NARROWING, WIDENING, Team, trust_text


@pytest.fixture
def team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Team:
    return Team(tmp_path, capsys)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "graylib.db")
    yield opened
    opened.close()


def signed_case(team: Team, source: Path = WIDENING, name: str = "case") -> tuple[Path, Path]:
    """old.toml signed by two approvers (what the first publish needs: every rule is new), new.toml
    unsigned."""
    old, new = team.case(source, name)
    team.approve(old, "zhang.min", "wang.fang")
    return old, new


def first(store: Store, old: Path, **options: object) -> Revision:
    """The first publish of ``old``, planned against itself as what the fleet runs (its rule is not new)."""
    return graylib.publish(store, old, running=graylib.load_config(old), **options)  # type: ignore[arg-type]


def sig_of(path: Path) -> Path:
    return path.parent / f"{path.name}.sig"


def test_publish_with_a_trust_file_counts_only_valid_signatures(team: Team, store: SQLiteStore) -> None:
    old, new = signed_case(team)
    first_rev = first(store, old, trust=team.trust)
    assert first_rev.approvers == ("wang.fang", "zhang.min")
    assert first_rev.signatures == sig_of(old).read_text(encoding="utf-8")

    # [change].approved_by names zhang.min and wang.fang: names, no signatures
    with pytest.raises(PolicyError, match="approved_by names are not signatures"):
        graylib.publish(store, new, trust=team.trust)
    team.approve(new, "zhang.min", "li.wei")  # li.wei is the author
    with pytest.raises(PolicyError, match=r"1 \(zhang.min\) count; not counted: line 2 li.wei \(.*author"):
        graylib.publish(store, new, trust=team.trust)
    sig_of(new).unlink()
    team.approve(new, "zhang.min", "wang.fang")
    signed = new.read_bytes()
    new.write_bytes(signed.replace(b"percent = 15", b"percent = 14"))  # the signatures sign other bytes
    with pytest.raises(PolicyError, match=r"needs 2 valid signatures.*0 \(none\) count"):
        graylib.publish(store, new, trust=team.trust)
    assert store.head_revision() == 1

    new.write_bytes(signed)
    second = graylib.publish(store, new, trust=team.trust, by="li.wei")
    assert (second.number, second.version, second.approvers) == (2, "v2", ("wang.fang", "zhang.min"))
    assert second.signatures == sig_of(new).read_text(encoding="utf-8")
    assert store.revision(2) == second


def test_without_a_trust_file_the_names_count_and_the_signatures_are_still_stored(
    team: Team, store: SQLiteStore
) -> None:
    old, new = team.case(WIDENING)
    first(store, old)
    team.approve(new, "zhang.min")
    rev = graylib.publish(store, new)
    assert rev.approvers == ("wang.fang", "zhang.min")  # the names, unauthenticated
    assert rev.signatures == sig_of(new).read_text(encoding="utf-8")


def test_a_narrowing_publish_needs_no_signature(team: Team, store: SQLiteStore) -> None:
    old, kill = signed_case(team, NARROWING)
    first(store, old, trust=team.trust)
    rev = graylib.publish(store, kill, trust=team.trust)
    assert (rev.number, rev.approvers, rev.signatures) == (2, (), "")


def test_a_widening_rollback_counts_the_signatures_stored_with_the_revision(
    team: Team, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    old, kill = signed_case(team, NARROWING)
    first(store, old, trust=team.trust)
    graylib.publish(store, kill, trust=team.trust)
    others = team.dir / "others.toml"  # a trust file in which zhang.min and wang.fang no longer approve
    others.write_text(
        trust_text(2, 2, [("li.wei", team.public["li.wei"]), ("chen.jie", team.public["chen.jie"])])
    )
    with pytest.raises(PolicyError, match="needs 2 valid signatures from approvers of trust file version 2"):
        graylib.rollback(store, to=1, trust=others)
    assert store.head_revision() == 2
    back = graylib.rollback(store, to=1, trust=team.trust, by="oncall")
    assert (back.number, back.rollback_of, back.approvers) == (3, 1, ("wang.fang", "zhang.min"))
    assert back.signatures == store.revision(1).signatures  # type: ignore[union-attr]


def test_the_publish_and_rollback_commands_take_a_trust_file(
    team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["init-store", "--store", url]) == 0
    old, new = signed_case(team)
    trust = ["--trust", str(team.trust)]
    assert main(["publish", str(old), "--store", url, *trust, "--running", str(old)]) == 0
    capsys.readouterr()
    assert main(["publish", str(new), "--store", url, *trust]) == 1
    out, err = capsys.readouterr()
    assert "approvals are signatures checked against trust file version 1" in out
    assert "not published" in err and "needs 2 valid signatures" in err
    elsewhere = tmp_path / "approvals.sig"
    team.approve(new, "zhang.min", "wang.fang")
    shutil.move(sig_of(new), elsewhere)
    assert main(["publish", str(new), "--store", url, *trust, "--signatures", str(elsewhere)]) == 0
    assert "published revision 2" in capsys.readouterr().out
    assert main(["publish", str(new), "--store", url, *trust, "--signatures", str(tmp_path / "no.sig")]) == 2
    assert "no such signature file" in capsys.readouterr().err
    broken = tmp_path / "broken-trust.toml"
    broken.write_text("version = 0\n")
    assert main(["rollback", "--store", url, "--trust", str(broken)]) == 2
    assert "invalid trust file" in capsys.readouterr().err
    assert main(["rollback", "--store", url, *trust]) == 0  # back to v1: narrowing
    assert "published revision 3" in capsys.readouterr().out


def redis_store(server: RedisServer) -> RedisStore:
    return RedisStore(server.url, prefix=unique_prefix(), initialise=True)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "follow.db")
        yield opened
        opened.close()
        return
    server: RedisServer = request.getfixturevalue("fleet_redis")
    opened = redis_store(server)
    yield opened
    opened.close()


def written_past_publish(store: Store, path: Path, signatures: str, expected: int) -> Revision:
    """``path``'s text appended straight to the store, with ``signatures``: no publish checked it."""
    text = path.read_text(encoding="utf-8")
    revision = Revision(0, "v2", digest_text(text), text, signatures=signatures)
    return store.append_revision(revision, expected)


def test_a_following_client_with_a_trust_file_checks_each_revisions_signatures(
    team: Team, any_store: Store
) -> None:
    old, new = signed_case(team)
    first(any_store, old, trust=team.trust)
    last_good = team.dir / "last-good.toml"
    errors: list[Exception] = []
    client = Client.from_store(
        any_store,
        trust=team.trust,
        last_good_path=last_good,
        follow_interval=60.0,
        on_reload_error=errors.append,
    )
    unsigned = Client.from_store(any_store, follow_interval=60.0)
    try:
        assert client.config.version == "v1"
        team.approve(new, "zhang.min", "li.wei")  # one approver and the author
        written_past_publish(any_store, new, sig_of(new).read_text(encoding="utf-8"), 1)
        assert client.reload_now() is False
        assert client.config.version == "v1" and client.status().revision == 1
        error = client.status().last_reload_error
        assert "needs 2 valid signatures from approvers of trust file version 1" in error
        assert "1 (zhang.min) count; not counted: line 2 li.wei (author)" in error
        assert len(errors) == 1
        assert unsigned.reload_now() is True  # without a trust file the approved_by names count
        assert unsigned.config.version == "v2"

        sig_of(new).unlink()
        team.approve(new, "zhang.min", "wang.fang")
        written_past_publish(any_store, new, sig_of(new).read_text(encoding="utf-8"), 2)
        assert client.reload_now() is True
        assert (client.config.version, client.status().revision) == ("v2", 3)
        assert client.status().healthy
        assert (team.dir / "last-good.toml.approved").read_bytes() == new.read_bytes()
    finally:
        client.close()
        unsigned.close()


def test_a_client_with_a_trust_file_does_not_start_from_an_unsigned_revision(
    team: Team, store: SQLiteStore
) -> None:
    old, _ = team.case(WIDENING)
    first(store, old)  # no trust file: the names counted, nothing signed
    with pytest.raises(PolicyError, match="there is no last good copy to check it against"):
        Client.from_store(store, trust=team.trust, follow_interval=60.0)
    with pytest.raises(TypeError, match=r"Client.from_store\(trust=...\) must be a trust file's path"):
        Client.from_store(store, trust=3, follow_interval=60.0)  # type: ignore[arg-type]


def test_a_revision_whose_stored_signatures_sign_other_bytes_is_refused(
    team: Team, store: SQLiteStore
) -> None:
    old, new = signed_case(team)
    first_rev = first(store, old, trust=team.trust)
    with Client.from_store(store, trust=team.trust, follow_interval=60.0) as client:
        team.approve(new, "zhang.min", "wang.fang")
        edited = new.read_text(encoding="utf-8").replace("percent = 15", "percent = 14")
        forged = attrs.evolve(
            Revision(0, "v2", digest_text(edited), edited),
            signatures=sig_of(new).read_text(encoding="utf-8"),
        )
        store.append_revision(forged, first_rev.number)
        assert client.reload_now() is False
        assert client.config.version == "v1"
        assert "0 (none) count" in client.status().last_reload_error


def test_publish_refuses_an_unknown_key_and_an_expired_signature(
    team: Team, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two refusals not covered above, through publish: wang.fang's name with a key the trust file does
    not hold for her, then her real key over these very bytes, expired."""
    old, new = signed_case(team)
    first(store, old, trust=team.trust)
    other = team.dir / "other-wang.key"
    assert main(["keygen", "wang.fang", "--out", str(other)]) == 0
    capsys.readouterr()
    team.approve(new, "zhang.min")
    assert main(["approve", str(new), "--key", str(other)]) == 0
    counted = r"1 \(zhang.min\) count; not counted: line 2 wang.fang "
    with pytest.raises(PolicyError, match=counted + r"\(unknown_key"):
        graylib.publish(store, new, trust=team.trust)

    sig_of(new).unlink()
    team.approve(new, "zhang.min")
    team.approve_expired(new)
    with pytest.raises(PolicyError, match=counted + r"\(expired"):
        graylib.publish(store, new, trust=team.trust)
    assert store.head_revision() == 1
