"""Client.from_file(trust=...): a reloading client counts only valid signatures beside the rules file, the
same way graylib plan --trust does; forged names, the author's signature, an edited byte, an unknown key and
an expired signature never let a widening change go live, and narrowing needs none."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, ConfigError, PolicyError
from graylib.aio import AsyncClient

from .trust_support import NARROWING, WIDENING, Team


@pytest.fixture
def team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Team:
    return Team(tmp_path, capsys)


def running(team: Team, source: Path = WIDENING, **options: Any) -> tuple[Client, Path, Path]:
    """A client serving a signed copy of ``source``'s old.toml as rules.toml, with a last good copy."""
    rules = team.dir / "rules.toml"
    shutil.copy(source / "old.toml", rules)
    team.approve(rules, "zhang.min", "wang.fang")
    client = Client.from_file(rules, trust=team.trust, last_good_path=team.dir / "last-good.toml", **options)
    return client, rules, source / "new.toml"


def ship(rules: Path, new: Path) -> None:
    """Put the new version in place, with no signatures yet (the old ones signed other bytes)."""
    (rules.parent / "rules.toml.sig").unlink(missing_ok=True)
    rules.write_bytes(new.read_bytes())


def test_a_reloading_client_refuses_forged_approved_by_names(team: Team) -> None:
    client, rules, new = running(team)
    try:
        ship(rules, new)  # [change].approved_by names zhang.min and wang.fang: names, no signatures
        assert client.reload_now() is False
        assert client.config.version == "v1"
        error = client.status().last_reload_error
        assert "needs 2 valid signatures from approvers of trust file version 1" in error
        assert "[change].approved_by names are not signatures" in error
    finally:
        client.close()


def one_byte(team: Team, rules: Path) -> None:
    team.approve(rules, "zhang.min", "wang.fang")
    data = rules.read_bytes()
    rules.write_bytes(data.replace(b"percent = 15", b"percent = 14"))


def authors(team: Team, rules: Path) -> None:
    team.approve(rules, "zhang.min", "li.wei")


def unknown_key(team: Team, rules: Path) -> None:
    team.approve(rules, "zhang.min", "chen.jie")


def expired(team: Team, rules: Path) -> None:
    team.approve(rules, "zhang.min")
    team.approve_expired(rules)


@pytest.mark.parametrize(
    ("sign", "reason"),
    [(authors, "author"), (one_byte, "other_bytes"), (unknown_key, "not_an_approver"), (expired, "expired")],
)
def test_a_reloading_client_counts_only_valid_signatures(
    team: Team, sign: Callable[[Team, Path], None], reason: str
) -> None:
    client, rules, new = running(team)
    try:
        ship(rules, new)
        sign(team, rules)
        assert client.reload_now() is False
        assert client.config.version == "v1"
        assert f"({reason})" in client.status().last_reload_error
    finally:
        client.close()


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_change_refused_for_want_of_signatures_goes_live_once_they_are_added(team: Team) -> None:
    """The polling thread checks the file again when only its signatures changed."""
    client, rules, new = running(team, reload_interval=0.05)
    try:
        ship(rules, new)
        assert eventually(lambda: "valid signatures" in client.status().last_reload_error)
        assert client.config.version == "v1"
        team.approve(rules, "zhang.min", "wang.fang")
        assert eventually(lambda: client.config.version == "v2")
    finally:
        client.close()


def test_narrowing_needs_no_signature_in_a_reloading_client(team: Team) -> None:
    client, rules, new = running(team, source=NARROWING)
    try:
        ship(rules, new)
        assert client.reload_now() is True
        assert client.config.rules[0].state == "killed"
    finally:
        client.close()


def test_an_unsigned_narrowing_change_survives_a_restart_with_a_last_good_copy(team: Team) -> None:
    client, rules, new = running(team, source=NARROWING)
    ship(rules, new)
    assert client.reload_now() is True
    client.close()
    again = Client.from_file(rules, trust=team.trust, last_good_path=team.dir / "last-good.toml")
    try:
        assert again.config.rules[0].state == "killed" and again.status().last_reload_error == ""
    finally:
        again.close()


def test_an_unsigned_widening_change_made_while_stopped_is_refused_at_start(team: Team) -> None:
    client, rules, new = running(team)
    client.close()
    ship(rules, new)
    again = Client.from_file(rules, trust=team.trust, last_good_path=team.dir / "last-good.toml")
    try:
        assert again.config.version == "v1"  # the last good copy, and the reason
        assert "valid signatures" in again.status().last_reload_error
    finally:
        again.close()


def test_a_start_with_nothing_to_compare_with_needs_the_threshold(team: Team) -> None:
    rules = team.dir / "rules.toml"
    shutil.copy(WIDENING / "old.toml", rules)
    team.approve(rules, "zhang.min")
    with pytest.raises(PolicyError, match=r"needs 2 valid signatures .* 1 count \(zhang.min\).*: none\)"):
        Client.from_file(rules, trust=team.trust)
    team.approve(rules, "wang.fang")
    Client.from_file(rules, trust=team.trust).close()


def test_a_bad_trust_argument_is_refused_at_once(team: Team) -> None:
    rules = team.dir / "rules.toml"
    shutil.copy(WIDENING / "old.toml", rules)
    team.trust.write_text("version = 1\n")
    with pytest.raises(ConfigError, match="threshold: required"):
        Client.from_file(rules, trust=team.trust)
    with pytest.raises(TypeError, match="must be a trust file's path, not int"):
        Client.from_file(rules, trust=3)  # type: ignore[arg-type]


def test_a_client_with_a_trust_file_but_no_cryptography_says_which_extra(team: Team) -> None:
    from .test_cli_trust import run_without_cryptography

    rules = team.dir / "rules.toml"
    shutil.copy(WIDENING / "old.toml", rules)
    code = (
        "import graylib\n"
        "try:\n"
        f"    graylib.Client.from_file({str(rules)!r}, trust={str(team.trust)!r})\n"
        "except graylib.GraylibError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    run = run_without_cryptography(code, team.dir)
    assert run.returncode == 0, run.stderr
    assert "SigningUnavailable" in run.stdout and "pip install 'graylib[sign]'" in run.stdout


def test_a_widened_file_written_as_the_last_good_copy_too_does_not_start(team: Team) -> None:
    """Someone with write access to the machine puts the widened file in both places and restarts the
    service: the last good copy is not its approved copy nor a narrowing of it, so it vouches for nothing."""
    client, rules, new = running(team)
    client.close()
    last_good = team.dir / "last-good.toml"
    assert (team.dir / "last-good.toml.approved").read_bytes() == rules.read_bytes()
    ship(rules, new)
    last_good.write_bytes(new.read_bytes())
    with pytest.raises(PolicyError) as info:
        Client.from_file(rules, trust=team.trust, last_good_path=last_good)
    message = str(info.value)
    assert "needs 2 valid signatures" in message
    assert "is neither its approved copy nor a change of it that needs no signature" in message


def test_a_forged_approved_copy_vouches_for_nothing(team: Team) -> None:
    client, rules, new = running(team)
    client.close()
    last_good = team.dir / "last-good.toml"
    ship(rules, new)
    for path in (last_good, team.dir / "last-good.toml.approved"):
        path.write_bytes(new.read_bytes())
    with pytest.raises(PolicyError, match=r"its approved copy .* does not verify"):
        Client.from_file(rules, trust=team.trust, last_good_path=last_good)


def test_the_approved_copy_follows_each_signed_reload(team: Team) -> None:
    client, rules, new = running(team)
    try:
        ship(rules, new)
        team.approve(rules, "zhang.min", "wang.fang")
        assert client.reload_now() is True
        assert (team.dir / "last-good.toml.approved").read_bytes() == new.read_bytes()
        sig = (team.dir / "last-good.toml.approved.sig").read_bytes()
        assert sig == (team.dir / "rules.toml.sig").read_bytes()
    finally:
        client.close()


def test_an_async_client_from_a_signed_file_counts_only_valid_signatures(team: Team) -> None:
    """``AsyncClient.from_file(trust=...)`` starts and reloads through the same checks as ``Client``."""
    rules = team.dir / "rules.toml"
    shutil.copy(WIDENING / "old.toml", rules)
    team.approve(rules, "zhang.min", "wang.fang")

    async def main() -> tuple[bool, str, str, bool, str]:
        async with AsyncClient.from_file(
            rules, trust=team.trust, last_good_path=team.dir / "last-good.toml"
        ) as client:
            ship(rules, WIDENING / "new.toml")  # forged approved_by names, no signatures
            refused = await client.reload_now()
            error = (await client.status()).last_reload_error
            kept = client.config.version
            team.approve(rules, "zhang.min", "wang.fang")
            return refused, error, kept, await client.reload_now(), client.config.version

    refused, error, kept, taken, version = asyncio.run(main())
    assert (refused, kept) == (False, "v1")
    assert "[change].approved_by names are not signatures" in error
    assert (taken, version) == (True, "v2")
