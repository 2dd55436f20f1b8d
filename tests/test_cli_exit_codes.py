"""Exit codes mean the same in every command (0 done, 1 refused or a discrepancy, 2 invalid input or no usable
store), and the runbook's table lists every command."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from graylib import SQLiteStore
from graylib.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "rules.toml")
BROKEN = str(ROOT / "tests" / "fixtures" / "broken" / "bad_window.toml")
FAILING_SMOKE = str(ROOT / "tests" / "fixtures" / "broken" / "failing_smoke_case.toml")
PLANS = ROOT / "tests" / "fixtures" / "plans"
NAIVE = str(ROOT / "examples" / "incident" / "naive.toml")
RULE = "appliance-subsidy"
PAYMENT = ["--account", "u-1", "--payment-type", "online_purchase", "--amount", "54000"]


def plan(case: str) -> list[str]:
    return ["plan", str(PLANS / case / "old.toml"), str(PLANS / case / "new.toml")]


Case = Callable[[str, str], list[str]]
"""Given a store URL in use (one kill switch set on RULE) and one that does not exist: the argv."""

CASES: list[tuple[str, Case, int]] = [
    ("validate ok", lambda used, missing: ["validate", EXAMPLE], 0),
    ("validate invalid", lambda used, missing: ["validate", BROKEN], 1),
    ("validate unreadable", lambda used, missing: ["validate", missing.replace("sqlite:///", "")], 1),
    (
        "smoke ok",
        lambda used, missing: ["smoke", EXAMPLE, "--cluster", "sh-small", "--node", "sh-small-01"],
        0,
    ),
    ("smoke failing case", lambda used, missing: ["smoke", FAILING_SMOKE], 1),
    ("smoke invalid", lambda used, missing: ["smoke", BROKEN], 2),
    ("plan allowed", lambda used, missing: plan("allowed_next_stage_with_approvals"), 0),
    ("plan refused", lambda used, missing: plan("stage_skipped"), 1),
    ("plan invalid", lambda used, missing: ["plan", EXAMPLE, BROKEN], 2),
    ("status ok", lambda used, missing: ["status", EXAMPLE, "--store", used], 0),
    ("status invalid file", lambda used, missing: ["status", BROKEN, "--store", used], 2),
    ("status no such store", lambda used, missing: ["status", EXAMPLE, "--store", missing], 2),
    (
        "kill ok",
        lambda used, missing: ["kill", RULE, "--reason", "x", "--rules", EXAMPLE, "--store", used],
        0,
    ),
    (
        "kill typo",
        lambda used, missing: ["kill", "x" + RULE, "--reason", "x", "--rules", EXAMPLE, "--store", used],
        2,
    ),
    ("kill unchecked", lambda used, missing: ["kill", RULE, "--reason", "x", "--store", used], 2),
    (
        "kill no such store",
        lambda used, missing: ["kill", RULE, "--reason", "x", "--force", "--store", missing],
        2,
    ),
    ("revive ok", lambda used, missing: ["revive", RULE, "--rules", EXAMPLE, "--store", used], 0),
    ("revive nothing set", lambda used, missing: ["revive", "other", "--store", used], 1),
    ("revive typo", lambda used, missing: ["revive", RULE + "s", "--rules", EXAMPLE, "--store", used], 2),
    ("switches ok", lambda used, missing: ["switches", "--store", used], 0),
    ("switches no such store", lambda used, missing: ["switches", "--store", missing], 2),
    ("explain ok", lambda used, missing: ["explain", EXAMPLE, RULE, *PAYMENT], 0),
    ("explain unknown rule", lambda used, missing: ["explain", EXAMPLE, "subsidy", *PAYMENT], 2),
    ("explain invalid file", lambda used, missing: ["explain", BROKEN, RULE, *PAYMENT], 2),
    (
        "explain no such store",
        lambda used, missing: ["explain", EXAMPLE, RULE, *PAYMENT, "--store", missing],
        2,
    ),
    (
        "simulate ok",
        lambda used, missing: ["simulate", EXAMPLE, "--minutes", "1", "--payments-per-second", "5"],
        0,
    ),
    ("simulate invalid", lambda used, missing: ["simulate", NAIVE, "--minutes", "1"], 2),
    (
        "publish ok",
        lambda used, missing: ["publish", EXAMPLE, "--running", EXAMPLE, "--store", used],
        0,
    ),
    ("publish refused", lambda used, missing: ["publish", EXAMPLE, "--store", used], 1),
    ("publish invalid", lambda used, missing: ["publish", BROKEN, "--store", used], 2),
    ("publish no such store", lambda used, missing: ["publish", EXAMPLE, "--store", missing], 2),
    ("plan against the store", lambda used, missing: ["plan", EXAMPLE, "--store", used], 1),
    ("plan no such store", lambda used, missing: ["plan", EXAMPLE, "--store", missing], 2),
    ("history ok", lambda used, missing: ["history", "--store", used], 0),
    ("history no such store", lambda used, missing: ["history", "--store", missing], 2),
    ("show nothing published", lambda used, missing: ["show", "--store", used], 2),
    ("rollback nothing published", lambda used, missing: ["rollback", "--store", used], 2),
    ("fleet ok", lambda used, missing: ["fleet", "--store", used], 0),
    ("fleet no such store", lambda used, missing: ["fleet", "--store", missing], 2),
    (
        "simulate store in use",
        lambda used, missing: ["simulate", EXAMPLE, "--minutes", "1", "--store", used],
        2,
    ),
]


@pytest.mark.parametrize(("name", "argv", "code"), CASES, ids=[c[0] for c in CASES])
def test_exit_code(
    name: str, argv: Case, code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SQLiteStore(tmp_path / "graylib.db")
    store.kill(RULE, "INC-1", 1.0)
    store.close()
    used, missing = f"sqlite:///{tmp_path / 'graylib.db'}", f"sqlite:///{tmp_path / 'missing.db'}"
    assert main(argv(used, missing)) == code, capsys.readouterr()


def test_the_runbook_lists_every_command() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    table = re.findall(r"^\| `graylib ([\w-]+)", text, flags=re.MULTILINE)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(set(table)) == sorted(sub.choices)  # type: ignore[arg-type]  # ledger, ledger trim
