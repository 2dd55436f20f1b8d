"""Config builders shared by the tests (a small valid config, changed one key at a time), and the command
line run in a child process."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

BASE_RULE: dict[str, Any] = {
    "id": "subsidy",
    "payment_types": ["online_purchase", "offline_merchant"],
    "discount": {"percent": 15, "max_off": 50_000},
    "allow": {"accounts": ["qa-smoke-01"]},
    "rollout": {
        "stage": "small-cluster",
        "stages": [
            {"name": "smoke", "targets": {}},
            {"name": "canary-node", "targets": {"sh-small/sh-small-01": 100}},
            {"name": "small-cluster", "targets": {"sh-small": 100}},
            {"name": "everywhere-25", "targets": {"sh-small": 100, "*": 25}},
            {"name": "full", "targets": {"*": 100}},
        ],
    },
}


def make_config(*rules: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A valid config mapping; each rule given is merged over ``BASE_RULE`` (a key set to None is removed)."""
    out_rules = []
    for overrides in rules or ({},):
        rule = copy.deepcopy(BASE_RULE)
        for key, value in overrides.items():
            if value is None:
                rule.pop(key, None)
            else:
                rule[key] = value
        out_rules.append(rule)
    config: dict[str, Any] = {
        "version": "test-1",
        "guardrails": {
            "max_percent_off": 30,
            "max_amount_off": 100_000,
            "forbidden_payment_types": ["p2p_transfer", "credit_card_repayment", "withdrawal"],
        },
        "rules": out_rules,
    }
    config.update(top)
    return config


def run_graylib(argv: Sequence[str], *, store: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m graylib ARGV`` in a child process running this tree's ``src``, its output captured as
    text; ``store`` is put in ``GRAYLIB_STORE``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if store is not None:
        env["GRAYLIB_STORE"] = store
    return subprocess.run(
        [sys.executable, "-m", "graylib", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
