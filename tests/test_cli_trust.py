"""graylib keygen, approve, verify and rotate: the commands approvers use, their output and exit codes, and a
trust file change that only the approvers in force can make."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from graylib.cli import main

from .trust_support import WIDENING, Team, trust_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Team:
    return Team(tmp_path, capsys)


def test_keygen_prints_a_trust_file_entry_and_keeps_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "zhang.min.key"
    assert main(["keygen", "zhang.min", "--out", str(out_file)]) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    secret = next(x for x in out_file.read_text().splitlines() if x.startswith("private_key"))
    assert secret.split('"')[1] not in printed
    entry = "\n".join(x for x in printed.splitlines())
    trust = tmp_path / "trust.toml"
    trust.write_text("version = 1\nthreshold = 1\n" + entry + "\n")  # the printed lines paste as they are
    signed = tmp_path / "rules.toml"
    signed.write_bytes((WIDENING / "new.toml").read_bytes())
    assert main(["approve", str(signed), "--key", str(out_file)]) == 0
    assert main(["verify", str(signed), "--trust", str(trust)]) == 0


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.key"
    path.write_text("an existing key")
    assert main(["keygen", "zhang.min", "--out", str(path)]) == 2
    assert "exists: a key file is never replaced" in capsys.readouterr().err
    assert path.read_text() == "an existing key"


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 200])
def test_keygen_refuses_a_name_that_cannot_be_an_approver(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", name, "--out", str(tmp_path / "k.key")]) == 2
    assert "approver name must" in capsys.readouterr().err
    assert not (tmp_path / "k.key").exists()


def test_approve_appends_one_line_per_approver_and_never_twice(team: Team) -> None:
    _, new = team.case(WIDENING)
    sig = new.parent / "new.toml.sig"
    team.approve(new, "zhang.min", "zhang.min", "wang.fang")
    lines = sig.read_text().splitlines()
    assert [json.loads(x)["approver"] for x in lines] == ["zhang.min", "wang.fang"]
    first = json.loads(lines[0])
    assert first["config_version"] == "v2" and len(first["sha256"]) == 64 and "expires_at" not in first


def test_approve_starts_a_new_line_after_a_file_without_a_final_newline(team: Team) -> None:
    _, new = team.case(WIDENING)
    team.approve(new, "zhang.min")
    sig = new.parent / "new.toml.sig"
    sig.write_text(sig.read_text().rstrip("\n"))
    team.approve(new, "wang.fang")
    assert main(["verify", str(new), "--trust", str(team.trust)]) == 0


def test_the_author_is_warned_that_the_signature_will_not_count(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    _, new = team.case(WIDENING)
    assert main(["approve", str(new), "--key", str(team.keys["li.wei"])]) == 0
    assert (
        "li.wei is this change's author: the signature is recorded but never counts"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ("no-version", [], "version: required"),
        ("missing", [], "cannot read file"),
        ("bad-key", [], "private_key: must hold 32 bytes"),
        ("bad-base64", [], "private_key: is not valid base64 after 'ed25519:'"),
        ("ok", ["--expires", "soon"], "--expires: must be a duration such as 12h or 7d"),
        ("ok", ["--expires", "2020-01-01T00:00:00Z"], "is not in the future"),
        ("ok", ["--expires", "2099-01-01T00:00:00"], "--expires: must be a duration"),
        ("not-toml", [], "TOML syntax"),
    ],
)
def test_approve_refuses_what_it_cannot_sign(
    team: Team, setup: str, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, new = team.case(WIDENING)
    key = team.keys["zhang.min"]
    if setup == "no-version":
        new.write_text(new.read_text().replace('version = "v2"', ""))
    elif setup == "missing":
        new.unlink()
    elif setup == "not-toml":
        new.write_text("[[[")
    elif setup in ("bad-key", "bad-base64"):
        text = key.read_text()
        secret = next(x for x in text.splitlines() if x.startswith("private_key")).split('"')[1]
        raw = base64.b64decode(secret.removeprefix("ed25519:"))
        # half a key, well encoded; or a cut that leaves text no Python decodes the same way
        damaged = (
            "ed25519:" + base64.b64encode(raw[:16]).decode() if setup == "bad-key" else secret[:20] + "="
        )
        key = team.dir / "truncated.key"
        key.write_text(text.replace(secret, damaged))
        key.chmod(0o600)
    assert main(["approve", str(new), "--key", str(key), *args]) == 2
    assert expected in capsys.readouterr().err
    assert not (new.parent / "new.toml.sig").exists()


def test_verify_exit_codes_and_json(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    _, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "li.wei")
    assert main(["verify", str(new), "--trust", str(team.trust)]) == 1
    out = capsys.readouterr().out
    assert "NOT ENOUGH: 1 of 2 needed count (zhang.min)" in out
    assert "no line 2 li.wei: does not count (author)" in out
    team.approve(new, "wang.fang")
    assert main(["verify", "--json", str(new), "--trust", str(team.trust)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["enough"] is True and data["approvers"] == ["wang.fang", "zhang.min"]
    assert [s["reason"] for s in data["signatures"]] == [None, "author", None]
    assert data["author"] == "li.wei" and data["version"] == "v2" and data["threshold"] == 2
    assert main(["verify", str(new), "--trust", str(team.dir / "missing.toml")]) == 2
    assert "cannot read file" in capsys.readouterr().err


# -- a trust file change is an approved act -------------------------------------------------------------


def rotation(team: Team, new_version: int = 2) -> Path:
    """trust-v2.toml: li.wei's key rotated to a new one (chen.jie's file stands in for the new key)."""
    people = [("zhang.min", team.public["zhang.min"]), ("wang.fang", team.public["wang.fang"])]
    people.append(("li.wei", team.public["chen.jie"]))
    path = team.dir / "trust-v2.toml"
    path.write_text(trust_text(new_version, 2, people))
    return path


def rotate(team: Team, new: Path, *extra: str) -> tuple[int, str]:
    code = main(["rotate", str(team.trust), str(new), *extra])
    return code, team.capsys.readouterr().out


def test_a_rotation_signed_by_the_approvers_in_force_is_accepted(team: Team) -> None:
    new = rotation(team)
    team.approve(new, "zhang.min", "wang.fang")
    code, out = rotate(team, new)
    assert code == 0, out
    assert out.rstrip().endswith("ACCEPTED")


def test_a_rotation_without_old_key_signatures_is_refused(team: Team) -> None:
    """Signed by the new key only (and by keys that are not in the trust file in force): refused."""
    new = rotation(team)
    team.approve(new, "chen.jie")  # li.wei's new key, which only the new file trusts
    other = team.dir / "keys" / "intruder.key"
    assert main(["keygen", "zhang.min", "--out", str(other)]) == 0
    team.capsys.readouterr()
    assert main(["approve", str(new), "--key", str(other)]) == 0  # a key made up for an approver's name
    code, out = rotate(team, new)
    assert code == 1, out
    assert "no line 1 chen.jie: does not count (not_an_approver)" in out
    assert "no line 2 zhang.min: does not count (unknown_key)" in out
    assert "needs 2 valid signatures from approvers of trust file version 1; 0 count (none)" in out
    assert out.rstrip().endswith("REFUSED")


def test_a_rotation_must_raise_the_version(team: Team) -> None:
    new = rotation(team, new_version=1)
    team.approve(new, "zhang.min", "wang.fang")
    code, out = rotate(team, new)
    assert code == 1 and "version 1 is not higher than the version in force, 1" in out


def test_a_signed_rotation_edited_afterwards_is_refused(team: Team) -> None:
    new = rotation(team)
    team.approve(new, "zhang.min", "wang.fang")
    new.write_text(new.read_text().replace("threshold = 2", "threshold = 1"))
    code, out = rotate(team, new, "--json")
    data = json.loads(out)
    assert code == 1 and data["accepted"] is False and data["approvers"] == []
    assert {s["reason"] for s in data["signatures"]} == {"other_bytes"}


def test_an_invalid_new_trust_file_is_refused_with_its_problems(team: Team) -> None:
    new = team.dir / "trust-v2.toml"
    new.write_text('version = "2"\nthreshold = 2\n')
    code, out = rotate(team, new)
    assert code == 1 and "invalid: version: must be an integer" in out and "approvers: required" in out


def test_the_same_trust_file_is_no_change(team: Team) -> None:
    code, out = rotate(team, team.trust)
    assert code == 0 and "unchanged" in out


def test_rotate_with_an_invalid_current_trust_file_is_invalid_input(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    new = rotation(team)
    team.trust.write_text("version = 1\n")
    assert main(["rotate", str(team.trust), str(new)]) == 2
    assert "invalid trust file" in capsys.readouterr().err


# -- without the cryptography package -------------------------------------------------------------------

BLOCK = "import sys; sys.modules['cryptography'] = None; "


def run_without_cryptography(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def test_graylib_works_without_cryptography_until_a_signature_is_needed(tmp_path: Path) -> None:
    plan = [str(WIDENING / "old.toml"), str(WIDENING / "new.toml")]
    ok = run_without_cryptography(
        "import graylib; from graylib.cli import main; "
        f"graylib.load_config({plan[1]!r}); sys.exit(main(['plan', {plan[0]!r}, {plan[1]!r}]))",
        tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "approvals are unauthenticated" in ok.stdout
    keygen = run_without_cryptography(
        "from graylib.cli import main; sys.exit(main(['keygen', 'zhang.min', '--out', 'z.key']))", tmp_path
    )
    assert keygen.returncode == 2
    assert "need the 'cryptography' package: pip install 'graylib[sign]'" in keygen.stderr
    assert not (tmp_path / "z.key").exists()


def test_plan_with_signatures_to_check_without_cryptography_names_the_extra(
    team: Team, tmp_path: Path
) -> None:
    old, new = team.case(WIDENING)
    team.approve(new, "zhang.min", "wang.fang")
    argv = ["plan", str(old), str(new), "--trust", str(team.trust)]
    run = run_without_cryptography(f"from graylib.cli import main; sys.exit(main({argv!r}))", tmp_path)
    assert run.returncode == 2, run.stdout
    assert "pip install 'graylib[sign]'" in run.stderr


def test_the_trust_file_shown_in_the_docs_is_valid() -> None:
    from graylib._trust import parse_trust

    page = (ROOT / "docs" / "approvals.md").read_text(encoding="utf-8")
    block = page.split("```toml\n", 1)[1].split("```", 1)[0]
    trust = parse_trust(block.encode(), source="docs/approvals.md")
    assert (trust.version, trust.threshold, len(trust.approvers)) == (1, 2, 3)


def test_importing_graylib_does_not_import_cryptography(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import sys, graylib, graylib.cli; print('cryptography' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
