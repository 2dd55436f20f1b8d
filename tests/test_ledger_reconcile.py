"""The ledger end to end on a real SQLite file: claims by a client, then ``graylib ledger``, ``reconcile``,
``ledger trim`` and the audit in ``status`` (the same code reads every store; tests/stores/test_ledger.py
shows each store keeps the same ledger)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

import graylib
from graylib import Client, Context, SQLiteStore
from graylib.cli import main
from tests.helpers import make_config

RULE = {
    "rollout": {"stage": "full", "stages": [{"name": "full", "targets": {"*": 100}}]},
    "limits": {"per_account": {"count": 100, "window": "1h"}},
}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str, SQLiteStore]:
    """A store where rule ``subsidy`` granted p-ok, p-absent, p-failed, p-mismatch and p-released (then
    released it); the rules file; the URL."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(make_config(RULE)))
    store = SQLiteStore(tmp_path / "g.db")
    client = Client.from_file(str(rules), store=store, cluster="sh-prod", node="node-7")
    for payment in ("p-ok", "p-absent", "p-failed", "p-mismatch", "p-released"):
        ctx = Context(
            account=f"a-{payment}", payment_type="online_purchase", amount=10_000, payment_id=payment
        )
        assert client.claim("subsidy", ctx).discount == 1_500
    assert client.release("subsidy", "p-released").released
    client.close()
    return f"sqlite:///{tmp_path / 'g.db'}", str(rules), store


def _settlements(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settlements.csv"
    path.write_text(text)
    return str(path)


INJECTED = """payment_id,status,discount
p-ok,settled,1500
p-failed,failed,0
p-mismatch,settled,1400
p-released,settled,1500
p-ghost,settled,2500
p-bad,paid,100
p-frac,settled,12.5
p-nothing,settled,0
"""


def test_reconcile_names_exactly_the_payments_of_each_discrepancy(
    setup: tuple[str, str, SQLiteStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = setup
    path = _settlements(tmp_path, INJECTED)
    assert main(["reconcile", "--store", url, path, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (rule,) = report["rules"]
    assert rule["rule_id"] == "subsidy"
    assert rule["granted_not_settled"] == ["p-absent", "p-failed"]
    assert rule["unexplained_discount"] == ["p-ghost"]
    assert rule["discount_mismatch"] == [{"payment_id": "p-mismatch", "granted": 1500, "settled": 1400}]
    assert rule["released_but_settled"] == ["p-released"]
    assert rule["totals_agree"] is True
    assert (rule["ledger_net_count"], rule["ledger_net_amount"]) == (4, 6_000)
    assert report["malformed"] == [
        {"line": 7, "problem": "status 'paid' is not one of settled, failed, refunded"},
        {"line": 8, "problem": "discount '12.5' is not a whole number of minor units (0 or more)"},
    ]
    assert main(["reconcile", "--store", url, path]) == 1
    text = capsys.readouterr().out
    assert "line 7: status 'paid'" in text and "unexplained_discount (1): p-ghost" in text
    assert "p-mismatch (granted 1500, settled 1400)" in text


def test_a_matching_settlement_file_is_clean(
    setup: tuple[str, str, SQLiteStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = setup
    rows = "".join(f"{p},settled,1500,subsidy\n" for p in ("p-ok", "p-absent", "p-failed", "p-mismatch"))
    path = _settlements(
        tmp_path, "payment_id,status,discount,rule_id\n" + rows + "p-released,refunded,0,subsidy\n"
    )
    assert main(["reconcile", "--store", url, path]) == 0
    assert "ledger net total equals the counters: 4 payments" in capsys.readouterr().out


def test_counters_that_differ_from_the_ledger_are_a_discrepancy(
    setup: tuple[str, str, SQLiteStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, rules, store = setup
    store._transaction(lambda db: db.execute("UPDATE stats SET amount = amount + 1"))  # counted, not booked
    report = graylib.reconcile(store, io.StringIO("payment_id,status,discount\n"))
    (rule,) = report.rules
    assert not rule.totals_agree and not report.clean
    assert (rule.counters_amount, rule.ledger_net_amount) == (6_001, 6_000)
    assert main(["status", rules, "--store", url]) == 1
    assert "ledger DIFFERS from the counters" in capsys.readouterr().out


def test_unknown_rule_empty_ledger_and_bad_files_are_said_plainly(
    setup: tuple[str, str, SQLiteStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = setup
    path = _settlements(tmp_path, "payment_id,status,discount\n")
    assert main(["reconcile", "--store", url, path, "--rule", "nope"]) == 2
    assert "unknown rule 'nope'" in capsys.readouterr().err
    assert main(["reconcile", "--store", url, str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    assert main(["reconcile", "--store", url, _settlements(tmp_path, "id,state\n")]) == 2
    assert "the header lacks payment_id, status, discount" in capsys.readouterr().err
    empty = SQLiteStore(tmp_path / "empty.db")
    report = graylib.reconcile(empty, io.StringIO("payment_id,status,discount\np-1,settled,100\n"))
    assert report.notes[0] == "the ledger is empty: this store has recorded no grant yet"
    assert report.rules[0].unexplained_discount == ("p-1",)
    assert main(["ledger", "--store", f"sqlite:///{tmp_path / 'empty.db'}"]) == 0
    captured = capsys.readouterr()
    assert "the ledger is empty" in captured.err
    assert captured.out.startswith("seq,at,kind,rule_id,")


def test_export_streams_csv_and_jsonl_with_bounds(
    setup: tuple[str, str, SQLiteStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = setup
    assert main(["ledger", "--store", url]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["seq"], r["kind"], r["payment_id"]) for r in rows][-2:] == [
        ("5", "grant", "p-released"),
        ("6", "release", "p-released"),
    ]
    first = rows[0]
    assert (first["rule_version"], first["cluster"], first["node"]) == ("test-1", "sh-prod", "node-7")
    assert (first["account"], first["amount"], first["discount"]) == ("a-p-ok", "10000", "1500")
    assert len(first["digest"]) == 64 and first["time"].endswith("Z")
    assert main(["ledger", "--store", url, "--format", "jsonl", "--rule", "subsidy"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    later = str(time.time() + 3600)
    assert main(["ledger", "--store", url, "--since", later]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and "no ledger entries between the given times" in captured.err
    assert main(["ledger", "--store", url, "--until", "2020-01-01"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    assert main(["ledger", "--store", url, "--since", "yesterday"]) == 2
    assert "--since: 'yesterday' is not a time" in capsys.readouterr().err
    assert main(["ledger", "--store", url, "--rule", "nope"]) == 2
    assert list(graylib.read_ledger(setup[2], "subsidy", since=0, until=time.time() + 60)) == list(
        graylib.read_ledger(setup[2])
    )


def test_trim_refuses_inside_the_longest_window_of_a_running_rule(
    setup: tuple[str, str, SQLiteStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, rules, store = setup
    now = time.time()
    assert main(["ledger", "trim", "--store", url, "--before", str(now), "--rules", rules]) == 1
    err = capsys.readouterr().err
    assert "refused: rule 'subsidy' is still running and its longest limit window is 1h" in err
    assert "nothing trimmed" in err
    assert len(list(graylib.read_ledger(store))) == 6
    before = str(now - 3_700)
    assert main(["ledger", "trim", "--store", url, "--before", before, "--rules", rules]) == 0
    assert "rule subsidy: 0 entries" in capsys.readouterr().out


def test_trim_of_an_ended_rule_keeps_the_totals(
    setup: tuple[str, str, SQLiteStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, store = setup
    ended = tmp_path / "ended.json"
    ended.write_text(json.dumps(make_config({**RULE, "ends_at": "2020-01-01T00:00:00Z"})))
    later = str(time.time() + 10)
    assert main(["ledger", "trim", "--store", url, "--before", later, "--rules", str(ended)]) == 0
    assert "rule subsidy: 6 entries" in capsys.readouterr().out
    assert list(graylib.read_ledger(store)) == []
    (rule,) = graylib.reconcile(store, io.StringIO("payment_id,status,discount\n")).rules
    assert rule.totals_agree and (rule.ledger_net_count, rule.ledger_net_amount) == (4, 6_000)
    assert "6 older entries were trimmed" in rule.note


def test_status_shows_the_ledger_beside_the_counters(
    setup: tuple[str, str, SQLiteStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, rules, _ = setup
    assert main(["status", rules, "--store", url]) == 0
    out = capsys.readouterr().out
    assert "  ledger  5 grants, 1 releases: net 4 payments" in out and "agrees with the counters" in out
    assert main(["status", rules, "--store", url, "--json"]) == 0
    (rule,) = json.loads(capsys.readouterr().out)["rules"]
    assert (rule["ledger_grants"], rule["ledger_releases"], rule["ledger_net_amount"]) == (5, 1, 6_000)
    assert rule["ledger_agrees"] is True


def test_a_settlements_file_that_is_not_text_is_an_error_naming_it(
    setup: tuple[str, str, SQLiteStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = setup
    path = tmp_path / "binary.csv"
    path.write_bytes(b"payment_id,status,discount\n\xff\xfe,settled,1\n")
    assert main(["reconcile", "--store", url, str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "codec can't decode" in err
    assert main(["reconcile", "--store", url, str(tmp_path)]) == 2  # a directory
    assert str(tmp_path) in capsys.readouterr().err


def test_hostile_payment_ids_survive_the_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteStore(tmp_path / "h.db")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(make_config(RULE)))
    client = graylib.Client.from_file(str(rules), store=store)
    hostile = ['=cmd|"/c calc"!A1', "a,b\nc", '{"x": 1}', "\u202eevil", "x}:ledger"]
    for i, payment in enumerate(hostile):
        ctx = Context(account=f"a{i}", payment_type="online_purchase", amount=10_000, payment_id=payment)
        assert client.claim("subsidy", ctx).applies
    client.close()
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert main(["ledger", "--store", url]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["payment_id"] for row in rows] == hostile
    assert main(["ledger", "--store", url, "--format", "jsonl"]) == 0
    assert [json.loads(line)["payment_id"] for line in capsys.readouterr().out.splitlines()] == hostile
    settlements = tmp_path / "s.csv"
    with settlements.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["payment_id", "status", "discount"])
        writer.writerows([payment, "settled", 1_500] for payment in hostile)
    assert main(["reconcile", "--store", url, str(settlements)]) == 0


def test_entries_name_the_config_and_client_that_decided() -> None:
    store = graylib.MemoryStore()
    client = Client(make_config(RULE), store=store, cluster="sh-prod", node="node-2")
    ctx = Context(account="a-1", payment_type="online_purchase", amount=10_000, payment_id="p-1")
    assert client.claim("subsidy", ctx).applies
    (entry,) = graylib.read_ledger(store)
    status = client.status()
    assert (entry.rule_version, entry.digest) == (status.version, status.digest)
    assert (entry.cluster, entry.node, entry.account, entry.amount) == ("sh-prod", "node-2", "a-1", 10_000)
    client.close()


def test_rows_without_a_rule_id_go_to_the_rule_that_granted_the_payment() -> None:
    store = graylib.MemoryStore()
    config = make_config({**RULE, "id": "one"}, {**RULE, "id": "two"})
    client = Client(config, store=store)
    for rule, payment in (("one", "p-1"), ("two", "p-2"), ("two", "p-3")):
        ctx = Context(account=payment, payment_type="online_purchase", amount=10_000, payment_id=payment)
        assert client.claim(rule, ctx).discount == 1_500
    rows = [
        "payment_id,status,discount",
        "p-1,settled,1500",
        "p-2,settled,1400",
        "p-9,settled,100",
        "p-0,failed,0",
    ]
    report = graylib.reconcile(store, rows)
    one, two, orphans = report.rule("one"), report.rule("two"), report.rule("")
    assert one is not None and one.clean
    assert two is not None and two.granted_not_settled == ("p-3",)
    assert [m.payment_id for m in two.discount_mismatch] == ["p-2"]
    assert orphans is not None and orphans.unexplained_discount == ("p-9",)
    only_two = graylib.reconcile(store, rows, rule="two")
    assert [r.rule_id for r in only_two.rules] == ["two"]
    assert only_two.rules[0].unexplained_discount == ("p-1", "p-9")  # one rule reconciled: every row is its
    client.close()
