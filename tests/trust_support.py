"""Keys, trust files and signed rules files for the approval tests, made through the real commands."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from graylib._trust import Signature, approve, read_private_key
from graylib.cli import main

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "tests" / "fixtures" / "plans"
WIDENING = PLANS / "allowed_next_stage_with_approvals"
"""old -> new advances a stage (widening); author li.wei, approved_by zhang.min and wang.fang (names only)."""
NARROWING = PLANS / "allowed_emergency_kill_without_approvals"
"""old -> new kills the rule (narrowing), with no approvals at all."""
PEOPLE = ("zhang.min", "wang.fang", "li.wei", "chen.jie")


def keygen(directory: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A new key file for ``name`` and its public key text, through ``graylib keygen``."""
    path = directory / f"{name}.key"
    assert main(["keygen", name, "--out", str(path)]) == 0
    out = capsys.readouterr().out
    key = next(line for line in out.splitlines() if line.startswith("key = "))
    return path, key.split('"')[1]


def trust_text(version: int, threshold: int, approvers: Iterable[tuple[str, str]]) -> str:
    lines = [f"version = {version}", f"threshold = {threshold}", ""]
    for name, key in approvers:
        lines += ["[[approvers]]", f'name = "{name}"', f'key = "{key}"', ""]
    return "\n".join(lines)


class Team:
    """Key files for ``PEOPLE`` in ``tmp_path/keys``, and a trust file (version 1, threshold 2) trusting the
    first three (li.wei, the author of the fixtures, is an approver too; chen.jie is not)."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.dir = tmp_path
        keys = tmp_path / "keys"
        keys.mkdir()
        self.capsys = capsys
        self.keys: dict[str, Path] = {}
        self.public: dict[str, str] = {}
        for name in PEOPLE:
            self.keys[name], self.public[name] = keygen(keys, name, capsys)
        self.trust = tmp_path / "trust.toml"
        self.trust.write_text(trust_text(1, 2, [(n, self.public[n]) for n in PEOPLE[:3]]))

    def case(self, source: Path, name: str = "case") -> tuple[Path, Path]:
        """A copy of a plan fixture's old.toml and new.toml in a fresh directory."""
        where = self.dir / name
        where.mkdir()
        shutil.copy(source / "old.toml", where / "old.toml")
        shutil.copy(source / "new.toml", where / "new.toml")
        return where / "old.toml", where / "new.toml"

    def approve(self, path: Path, *names: str, extra: Iterable[str] = ()) -> None:
        for name in names:
            assert main(["approve", str(path), "--key", str(self.keys[name]), *extra]) == 0
        self.capsys.readouterr()

    def approve_expired(self, path: Path, name: str = "wang.fang") -> Signature:
        """Append to ``FILE.sig`` ``name``'s real signature of ``path``'s bytes (version v2), made eight days
        ago for a week: expired yesterday."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        signature = approve(
            path.read_bytes(),
            read_private_key(self.keys[name]),
            version="v2",
            now=now - dt.timedelta(days=8),
            expires_at=now - dt.timedelta(days=1),
        )
        with (path.parent / f"{path.name}.sig").open("a") as file:
            file.write(signature.to_line() + "\n")
        return signature
