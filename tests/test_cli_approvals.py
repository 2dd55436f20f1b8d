"""graylib plan --trust: only valid signatures from distinct approvers other than the author approve a
widening change; forged names, the author's signature, other bytes, unknown keys and expired signatures
never do."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from graylib.cli import main

from .trust_support import NARROWING, WIDENING, Team


@pytest.fixture
def team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Team:
    return Team(tmp_path, capsys)


def plan(team: Team, old: Path, new: Path, *extra: str) -> tuple[int, str]:
    code = main(["plan", str(old), str(new), "--trust", str(team.trust), *extra])
    return code, team.capsys.readouterr().out


def test_two_valid_signatures_approve_a_widening_change(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "wang.fang")
    code, out = plan(team, old, new)
    assert code == 0, out
    assert "approvers: wang.fang, zhang.min (2 needed to widen)" in out
    assert "ok line 1 zhang.min: counts" in out and "ok line 2 wang.fang: counts" in out
    assert out.rstrip().endswith("ALLOWED (widening, approved)")


def test_forged_approved_by_names_do_not_count(team: Team) -> None:
    """The fixture's [change].approved_by names two approvers; without their signatures that is nothing."""
    old, new = team.case(WIDENING)
    assert main(["plan", str(old), str(new)]) == 0  # without a trust file the names pass, as before
    assert "approvals are unauthenticated" in team.capsys.readouterr().out
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "[change].approved_by claims wang.fang, zhang.min, not counted" in out
    assert "(no signatures)" in out
    assert "x [missing_approvals] this change widens exposure" in out and "0 (none) count" in out


def test_the_authors_own_signature_does_not_count(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "li.wei")
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "no line 2 li.wei: does not count (author)" in out
    assert "1 (zhang.min) count" in out


def test_a_signature_over_text_edited_by_one_byte_does_not_count(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "wang.fang")
    data = new.read_bytes()
    at = data.index(b"percent = 15")
    new.write_bytes(data[:at] + b"percent = 25" + data[at + len(b"percent = 15") :])  # one byte: 1 -> 2
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "no line 1 zhang.min: does not count (other_bytes)" in out
    assert "no line 2 wang.fang: does not count (other_bytes)" in out
    assert "the file changed after it was approved" in out


def test_a_signature_by_a_key_outside_the_trust_file_does_not_count(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "chen.jie")  # chen.jie has a key, but the trust file does not list him
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "no line 2 chen.jie: does not count (not_an_approver)" in out


def test_a_signature_by_another_key_of_a_trusted_name_does_not_count(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    """wang.fang's name with a key the trust file does not hold for her (a new laptop, or someone else's)."""
    old, new = team.case(WIDENING)
    other = team.dir / "other-wang.key"
    assert main(["keygen", "wang.fang", "--out", str(other)]) == 0
    capsys.readouterr()
    team.approve(new, "zhang.min")
    assert main(["approve", str(new), "--key", str(other)]) == 0
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "no line 2 wang.fang: does not count (unknown_key)" in out


def test_an_expired_signature_does_not_count(team: Team) -> None:
    """wang.fang's real key signed these very bytes eight days ago, for a week: no longer an approval."""
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min")
    old_signature = team.approve_expired(new)
    code, out = plan(team, old, new)
    assert code == 1, out
    assert f"no line 2 wang.fang: does not count (expired): expired at {old_signature.expires_at}" in out


def test_a_signature_counts_until_it_expires(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min")
    team.approve(new, "wang.fang", extra=["--expires", "1h"])
    line = json.loads((new.parent / "new.toml.sig").read_text().splitlines()[1])
    signed = dt.datetime.fromisoformat(line["signed_at"].replace("Z", "+00:00"))
    expires = dt.datetime.fromisoformat(line["expires_at"].replace("Z", "+00:00"))
    assert expires - signed == dt.timedelta(hours=1)
    code, out = plan(team, old, new)
    assert code == 0, out


def test_the_same_approver_twice_counts_once(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min")
    sig = new.parent / "new.toml.sig"
    sig.write_text(sig.read_text() * 2)
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "no line 2 zhang.min: does not count (duplicate): zhang.min already counted on line 1" in out


def test_narrowing_needs_no_signature(team: Team) -> None:
    old, new = team.case(NARROWING)
    code, out = plan(team, old, new)
    assert code == 0, out
    assert "(no signatures)" in out and out.rstrip().endswith("ALLOWED")


def test_the_trust_threshold_replaces_min_approvals(team: Team) -> None:
    """The fixture asks min_approvals = 2; a trust file with threshold 1 is what counts."""
    old, new = team.case(WIDENING)
    team.trust.write_text(team.trust.read_text().replace("threshold = 2", "threshold = 1"))
    team.approve(new, "zhang.min")
    code, out = plan(team, old, new)
    assert code == 0, out
    assert "(1 needed to widen)" in out


def test_signatures_from_another_file(team: Team) -> None:
    """--signatures naming the signature file of another config: signed other bytes, never counted."""
    old, new = team.case(WIDENING)
    team.approve(old, "zhang.min", "wang.fang")
    code, out = plan(team, old, new, "--signatures", str(old) + ".sig")
    assert code == 1, out
    assert "no line 1 zhang.min: does not count (other_bytes)" in out
    assert "no line 2 wang.fang: does not count (other_bytes)" in out


def test_a_corrupt_signature_line_is_reported_and_not_counted(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "wang.fang")
    sig = new.parent / "new.toml.sig"
    good = sig.read_text().splitlines()
    sig.write_bytes(b'{"approver": \n' + good[0].encode() + b"\n\xff\xfe\n" + good[1][:60].encode() + b"\n")
    code, out = plan(team, old, new)
    assert code == 1, out
    assert "no line 1: does not count (corrupt): not a signature line" in out
    assert "ok line 2 zhang.min: counts" in out
    assert "no line 3: does not count (corrupt): not UTF-8 text" in out
    assert "no line 4: does not count (corrupt)" in out


def test_json_plan_says_what_counted(team: Team) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "li.wei")
    code = main(["plan", "--json", str(old), str(new), "--trust", str(team.trust)])
    data = json.loads(team.capsys.readouterr().out)
    assert code == 1
    assert data["authenticated"] is True and data["approvers"] == ["zhang.min"]
    assert data["claimed_approvers"] == ["wang.fang", "zhang.min"]
    assert data["trust"] == {"version": 1, "threshold": 2} and data["required_approvals"] == 2
    reasons = [s["reason"] for s in data["signatures"]]
    assert reasons == [None, "author"]
    assert [v["kind"] for v in data["violations"]] == ["missing_approvals"]


def test_json_plan_without_trust_says_unauthenticated(team: Team) -> None:
    old, new = team.case(WIDENING)
    assert main(["plan", "--json", str(old), str(new)]) == 0
    data = json.loads(team.capsys.readouterr().out)
    assert data["authenticated"] is False and data["signatures"] is None and data["trust"] is None


@pytest.mark.parametrize(
    ("trust", "expected"),
    [
        ('version = "1"\nthreshold = 2\napprovers = []\n', "version: must be an integer (got '1')"),
        ("version = 1\nthreshold = 2\n[approvers]\nname = 'x'\n", "approvers: must be an array of tables"),
        ("version = 1\nthreshold = [2]\n", "threshold: must be an integer"),
        ("not toml at all", "TOML syntax"),
    ],
)
def test_an_invalid_trust_file_is_invalid_input(
    team: Team, trust: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = team.case(WIDENING)
    team.trust.write_text(trust)
    code = main(["plan", str(old), str(new), "--trust", str(team.trust)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "invalid trust file" in err


def test_a_missing_signatures_file_named_explicitly_is_invalid_input(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = team.case(WIDENING)
    code = main(["plan", str(old), str(new), "--trust", str(team.trust), "--signatures", "nope.sig"])
    assert code == 2 and "nope.sig: no such signature file" in capsys.readouterr().err


def test_signatures_without_trust_is_invalid_input(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = team.case(WIDENING)
    assert main(["plan", str(old), str(new), "--signatures", str(new) + ".sig"]) == 2
    assert "--signatures needs --trust" in capsys.readouterr().err


def test_signatures_cover_the_exact_bytes_line_endings_included(team: Team) -> None:
    """A file with CRLF line endings is signed and checked as the bytes on disk, not as decoded text."""
    old, new = team.case(WIDENING)
    new.write_bytes(new.read_bytes().replace(b"\n", b"\r\n"))
    team.approve(new, "zhang.min", "wang.fang")
    code, out = plan(team, old, new)
    assert code == 0, out
    new.write_bytes(new.read_bytes().replace(b"\r\n", b"\n"))  # the same text to a reader, other bytes
    code, out = plan(team, old, new)
    assert code == 1 and "no line 1 zhang.min: does not count (other_bytes)" in out
