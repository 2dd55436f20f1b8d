"""One money format in every command's text: decimals, with the exact minor units where they are compared."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graylib import Client, Context, SQLiteStore
from graylib._money import money
from graylib.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rules.toml"
PAYMENT = Context(
    account="u-1",
    payment_type="online_purchase",
    amount=54_000,
    region="CN-31",
    payment_id="p-1",
    ip="203.0.113.7",
)
"""15% of 540.00 is 81.00: 8100 minor units."""


@pytest.mark.parametrize(
    ("minor", "text", "exact"),
    [
        (0, "0.00", "0.00 (0)"),
        (5, "0.05", "0.05 (5)"),
        (8_100, "81.00", "81.00 (8100)"),
        (-150, "-1.50", "-1.50 (-150)"),
        (123_456_789, "1,234,567.89", "1,234,567.89 (123456789)"),
    ],
)
def test_money(minor: int, text: str, exact: str) -> None:
    assert money(minor) == text
    assert money(minor, exact=True) == exact


def test_explain_status_and_plan_write_the_same_amount_the_same_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "graylib.db"
    store = SQLiteStore(db)
    with Client.from_file(EXAMPLE, cluster="sh-small", node="sh-small-01", store=store) as client:
        assert client.claim("appliance-subsidy", PAYMENT).discount == 8_100
    store.close()

    explain = ["explain", str(EXAMPLE), "appliance-subsidy", "--account", "u-1", "--payment-type"]
    explain += ["online_purchase", "--amount", "54000", "--region", "CN-31", "--cluster", "sh-small"]
    assert main([*explain, "--node", "sh-small-01"]) == 0
    assert "discount  81.00 (8100)\n" in capsys.readouterr().out

    assert main(["status", str(EXAMPLE), "--store", f"sqlite:///{db}"]) == 0
    assert "granted 1 payments, 81.00 (8100) off" in capsys.readouterr().out

    new = tmp_path / "new.toml"
    new.write_text(EXAMPLE.read_text().replace("amount = 5_000_000, window", "amount = 8_100, window"))
    assert main(["plan", str(EXAMPLE), str(new)]) == 0  # narrowing
    out = capsys.readouterr().out
    assert re.search(
        r"- limits\.rate_alarm +amount 50,000\.00 \(5000000\) per 1m -> amount 81\.00 \(8100\) per 1m", out
    )


def test_simulate_writes_its_totals_with_the_same_function(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", str(EXAMPLE), "--minutes", "2", "--payments-per-second", "50"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["granted_amount"] > 0
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f", {money(summary['granted_amount'])} given away" in out
    assert f"would have given away {money(summary['unguarded_exposure'])};" in out


def test_plan_in_a_subprocess_writes_money_with_the_minor_units(tmp_path: Path) -> None:
    new = tmp_path / "new.toml"
    text = EXAMPLE.read_text().replace("max_off = 50_000", "max_off = 60_000")
    new.write_text(text.replace("discount = 50_000 }", "discount = 60_000 }"))
    run = subprocess.run(
        [sys.executable, "-m", "graylib", "plan", str(EXAMPLE), str(new)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr  # widening, approved by the example's [change]
    assert "+ discount.max_off  500.00 (50000) -> 600.00 (60000)  (widening)" in run.stdout
