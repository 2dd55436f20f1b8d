"""``graylib simulate``: the traffic model, the simulated run, its outputs and the incident examples."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from graylib import ConfigError, MemoryStore, load_config
from graylib._simulate._payments import PaymentStream
from graylib._simulate._report import CSV_COLUMNS, money
from graylib._simulate._run import Simulation, run_simulation
from graylib._simulate._traffic import DEFAULT_TRAFFIC, load_traffic, parse_traffic
from graylib._simulate._unsafe import UNCAPPED, load_unchecked
from graylib.cli import main

ROOT = Path(__file__).resolve().parents[1]
NAIVE = str(ROOT / "examples" / "incident" / "naive.toml")
GUARDED = str(ROOT / "examples" / "incident" / "guarded.toml")
RULES = str(ROOT / "examples" / "rules.toml")


def _payments(seed: int, seconds: int, pps: int = 200) -> list[Any]:
    stream = PaymentStream(load_traffic(None), seed=seed, payments_per_second=pps)
    return [ctx for _ in range(seconds) for ctx in stream.second()]


def _config(**limits: Any) -> dict[str, Any]:
    """A valid one-rule config at full rollout, with the given limits."""
    return {
        "version": "t1",
        "guardrails": {"max_percent_off": 15, "max_amount_off": 5_000},
        "rules": [
            {
                "id": "promo",
                "payment_types": ["online_purchase"],
                "discount": {"percent": 10, "max_off": 5_000},
                "rollout": {"stage": "full", "stages": [{"name": "full", "targets": {"*": 100}}]},
                "limits": limits,
            }
        ],
    }


# -- traffic -------------------------------------------------------------------------------------------------


def test_traffic_is_deterministic_per_seed() -> None:
    first, again, other = _payments(7, 5), _payments(7, 5), _payments(8, 5)
    assert first == again
    assert first != other
    assert len({ctx.payment_id for ctx in first}) == len(first)


def test_traffic_has_the_configured_mix() -> None:
    model = load_traffic(None)
    payments = _payments(3, 60)
    ordinary = [c for c in payments if c.account.startswith("u-")]
    kinds = Counter(c.payment_type for c in ordinary)
    for name, share in model.mix().items():
        assert kinds[name] / len(ordinary) == pytest.approx(share, abs=0.015), name
    assert {"p2p_transfer", "credit_card_repayment"} <= set(kinds)
    abusive = [c for c in payments if c.account.startswith("x-")]
    assert len(abusive) / len(payments) == pytest.approx(0.01, abs=0.004)
    assert len({c.ip for c in abusive}) <= 3
    clusters = Counter(c.cluster for c in payments)
    for name, spec in DEFAULT_TRAFFIC["clusters"].items():
        assert clusters[name] / len(payments) == pytest.approx(spec["share"], abs=0.015), name
    assert {c.node for c in payments if c.cluster == "sh-small"} == {f"sh-small-0{i}" for i in range(1, 5)}
    testers = [c for c in payments if c.account.startswith("qa-")]
    assert len(testers) == 6  # six a minute
    amounts = sorted(c.amount for c in ordinary if c.payment_type == "online_purchase")
    median = amounts[len(amounts) // 2]
    assert 7_000 < median < 11_000  # log-normal around 89.00, mean well above the median
    assert sum(amounts) / len(amounts) > 1.3 * median


def test_traffic_file_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "traffic.toml"
    path.write_text(
        "accounts = 0\n"
        "[payment_types.online_purchase]\nshare = -1\nmedian_amount = 100\n"
        "[clusters.sh-small]\nshare = 1\nnodes = 0\ncolour = 'red'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_traffic(path)
    text = str(info.value)
    for where in ("accounts", "payment_types.online_purchase.share", "clusters.sh-small.nodes"):
        assert where in text
    assert "clusters.sh-small.colour: unknown key" in text


def test_traffic_file_without_abuse() -> None:
    model = parse_traffic({"abuse": {}, "testers": {"accounts": []}})
    assert model.abuse is None
    stream = PaymentStream(model, seed=1, payments_per_second=50)
    assert all(c.account.startswith("u-") for _ in range(30) for c in stream.second())


# -- the incident ------------------------------------------------------------------------------------------


def _run(config: Any, **options: Any) -> Simulation:
    options.setdefault("payments_per_second", 100)
    return run_simulation(config, traffic=load_traffic(None), store=MemoryStore(), **options)


def test_guarded_loss_is_at_most_one_percent_of_naive() -> None:
    naive_config, skipped = load_unchecked(NAIVE)
    assert skipped
    naive = _run(naive_config, minutes=3)
    guarded = _run(load_config(GUARDED), minutes=3)
    assert naive.payments == guarded.payments  # the same traffic
    assert naive.grants == naive.payments  # 20% off every single payment
    assert guarded.granted <= naive.granted / 100
    assert guarded.granted > 0  # the canary node and the smoke accounts did get it


def test_guarded_stays_within_its_limits_when_promoted() -> None:
    guarded = _run(load_config(GUARDED), minutes=6, promote_every=1)
    assert guarded.granted <= 2_000_000  # the total budget
    assert any(e.kind == "rate_alarm" for e in guarded.events)


def test_unchecked_load_lifts_guardrails_only(tmp_path: Path) -> None:
    config, skipped = load_unchecked(NAIVE)
    rule = config.rules[0]
    assert rule.discount.max_off == UNCAPPED
    assert "p2p_transfer" in rule.payment_types
    assert any("max_off" in p for p in skipped)
    broken = tmp_path / "broken.toml"
    broken.write_text(Path(NAIVE).read_text().replace('"*" = 100', '"*" = 120'))
    with pytest.raises(ConfigError, match="between 0 and 100"):
        load_unchecked(broken)


def test_limits_reached_show_as_events() -> None:
    config = load_config(_config(per_account={"count": 1, "window": "1d"}))
    sim = _run(config, minutes=1)
    limits = [e for e in sim.events if e.kind == "limit"]
    assert len(limits) == 1 and "per_account" in limits[0].text
    assert sim.refusals["LIMIT_REACHED"] > 0


def test_promote_every_advances_one_stage_at_a_time() -> None:
    sim = _run(load_config(RULES), minutes=4, promote_every=2)
    assert [m.stage for m in sim.minutes] == ["small-cluster", "small-cluster", "big-node", "big-node"]
    assert [e.text for e in sim.events if e.kind == "promoted"] == ["promoted to stage 'big-node'"]


# -- the command ---------------------------------------------------------------------------------------------


def test_naive_needs_unsafe_skip_validation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", NAIVE, "--minutes", "1", "--payments-per-second", "20"]) == 2
    out = capsys.readouterr().out
    assert "INVALID (4 problems)" in out
    assert "'p2p_transfer' is forbidden" in out
    assert "'credit_card_repayment' is forbidden" in out
    assert "max_percent_off = 15 (got 20)" in out
    assert "max_off: required with percent" in out
    assert "--unsafe-skip-validation" in out

    args = ["simulate", NAIVE, "--minutes", "1", "--payments-per-second", "20", "--unsafe-skip-validation"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "UNSAFE" in captured.err and "max_off" in captured.err
    assert "UNSAFE: validation skipped" in captured.out


def test_rate_alarm_kill_shows_in_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", GUARDED, "--minutes", "2"]) == 0
    out = capsys.readouterr().out
    assert "rate alarm tripped, rule killed" in out
    first_minute = next(line for line in out.splitlines() if line.lstrip().startswith("1 "))
    assert "<- rate_alarm" in first_minute
    assert "KILLED 12,006" in out  # every payment of the next minute is refused


def test_no_guardrail_tripped_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "calm.json"
    path.write_text(json.dumps(_config()))
    assert main(["simulate", str(path), "--minutes", "1", "--payments-per-second", "20"]) == 0
    assert "no guardrail tripped" in capsys.readouterr().out


def test_csv_has_one_consistent_row_per_minute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.csv"
    args = ["simulate", RULES, "--minutes", "3", "--payments-per-second", "50", "--csv", str(out)]
    assert main([*args, "--promote-every", "1"]) == 0
    capsys.readouterr()
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["minute"]) for r in rows] == [1, 2, 3]
    assert tuple(rows[0]) == CSV_COLUMNS
    cumulative = 0
    for row in rows:
        refused = [int(v) for k, v in row.items() if k.startswith("refused_")]
        assert int(row["refused"]) == sum(refused)
        assert int(row["payments"]) == int(row["grants"]) + int(row["refused"])
        cumulative += int(row["granted_amount"])
        assert int(row["cumulative_granted"]) == cumulative
    assert rows[1]["stage"] == "big-node" and "promoted" in rows[1]["events"]


def test_compare_prints_both_losses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "both.csv"
    args = ["simulate", GUARDED, "--compare", NAIVE, "--minutes", "2", "--csv", str(out)]
    assert main([*args, "--payments-per-second", "50"]) == 0
    captured = capsys.readouterr()
    assert "comparison baseline" in captured.err and "UNSAFE" in captured.err
    assert "discount given away" in captured.out
    assert "of what naive.toml did" in captured.out
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert all(int(r["compare_granted_amount"]) > 100 * int(r["granted_amount"]) for r in rows)


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", GUARDED, "--compare", NAIVE, "--minutes", "1", "--payments-per-second", "50"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["rule"] == "checkout-coupon"
    assert len(data["minutes"]) == 1
    assert data["compare"]["summary"]["unsafe_skipped_problems"]
    assert data["summary"]["granted_amount"] < data["compare"]["summary"]["granted_amount"]


def test_bad_inputs_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["simulate", GUARDED, "--store", "nosuch://x"]) == 2
    assert main(["simulate", GUARDED, "--rule", "nosuch"]) == 2
    assert main(["simulate", GUARDED, "--traffic", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert "store URL" in err and "no rule 'nosuch'" in err and "cannot read file" in err
    with pytest.raises(SystemExit):
        main(["simulate", GUARDED, "--minutes", "0"])


def test_plot_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "spend.png"
    args = ["simulate", GUARDED, "--compare", NAIVE, "--minutes", "2", "--payments-per-second", "20"]
    assert main([*args, "--plot", str(png)]) == 0
    capsys.readouterr()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import importlib

    def missing(name: str) -> Any:
        raise ImportError(name)

    # graylib._simulate._report imports matplotlib with importlib.import_module, looked up on the module.
    monkeypatch.setattr(importlib, "import_module", missing)
    assert main(["simulate", GUARDED, "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install 'graylib[plot]'" in capsys.readouterr().err


@pytest.mark.slow
def test_ten_minutes_at_200_per_second_is_fast() -> None:
    started = time.perf_counter()
    sim = run_simulation(load_unchecked(NAIVE)[0], traffic=load_traffic(None), store=MemoryStore())
    assert sim.payments >= 120_000
    assert time.perf_counter() - started < 30


def test_a_durable_store_gives_the_same_answer_and_remembers_the_kill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memory = _run(load_config(GUARDED), minutes=2, payments_per_second=200)
    assert any(e.kind == "rate_alarm" for e in memory.events)
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    args = ["simulate", GUARDED, "--minutes", "2", "--store", url, "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["granted_amount"] == memory.granted
    assert main(args) == 2  # the same store again: in use, refused
    assert "refusing to simulate on " in capsys.readouterr().err
    assert main([*args, "--use-existing-store"]) == 0  # the rule is still killed, and it says so
    captured = capsys.readouterr()
    assert "already killed in this store" in captured.err
    assert json.loads(captured.out)["summary"]["granted_amount"] == 0


@pytest.mark.slow
def test_readme_shows_the_measured_losses() -> None:
    naive = run_simulation(load_unchecked(NAIVE)[0], traffic=load_traffic(None), store=MemoryStore())
    guarded = run_simulation(load_config(GUARDED), traffic=load_traffic(None), store=MemoryStore())
    readme = (ROOT / "README.md").read_text()
    assert f"| discount given away | {money(naive.granted)} | {money(guarded.granted)} |" in readme
    assert f"| discounts granted | {naive.grants:,} | {guarded.grants:,} |" in readme
    assert f"(1 : {naive.granted / guarded.granted:,.0f})" in readme


def test_example_traffic_file_is_the_default() -> None:
    assert load_traffic(ROOT / "examples" / "incident" / "traffic.toml") == load_traffic(None)
