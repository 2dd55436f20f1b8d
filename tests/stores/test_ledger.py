"""The grant ledger, the same in every store: one entry per real grant and per release, in the atomic step
that moves the counters; nothing for a replay, a refusal or a shadow claim; paging, totals and trimming."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import msgspec
import pytest

from graylib.stores import LedgerEntry, LedgerOrigin, LedgerStore, ReserveStatus, Store
from tests.redis_server import RedisServer
from tests.stores.support import T0, StoreSpec, counter, request


@pytest.fixture(name="store")
def ledger_store(any_store_spec: StoreSpec) -> Iterator[Store]:
    """A fresh, empty store of every kind, sync and async: an async store's claims and releases write the
    same entries (the same scripts and SQL), and its ledger reads are the sync store's."""
    opened = any_store_spec.open()
    yield opened
    opened.close()


GRANTED = ReserveStatus.GRANTED
ORIGIN = LedgerOrigin("v7", "d" * 64, "sh-prod", "node-3")


def _ledger(store: Store) -> LedgerStore:
    assert isinstance(store, LedgerStore)
    return store


def _all(store: Store, rule_id: str = "rule-1") -> list[LedgerEntry]:
    return list(_ledger(store).ledger_page(rule_id, 0, 10_000))


def _claim(
    store: Store, payment: str, *, amount: int = 1_000, now: float = T0, **more: object
) -> ReserveStatus:
    base = request(counter("total", count=100), payment=payment, amount=amount, now=now, **more)  # type: ignore[arg-type]
    req = msgspec.structs.replace(base, account=f"acct-{payment}", payment_amount=amount * 10, origin=ORIGIN)
    return store.reserve(req).status


def test_a_grant_writes_one_entry_with_every_field(store: Store) -> None:
    assert _claim(store, "p-1", amount=1_500) is GRANTED
    assert _all(store) == [
        LedgerEntry(
            seq=1,
            at=T0,
            kind="grant",
            rule_id="rule-1",
            rule_version="v7",
            digest="d" * 64,
            payment_id="p-1",
            account="acct-p-1",
            amount=15_000,
            discount=1_500,
            cluster="sh-prod",
            node="node-3",
        )
    ]


def test_a_release_writes_one_entry_repeating_its_grant(store: Store) -> None:
    assert _claim(store, "p-1", amount=1_500) is GRANTED
    assert store.release("rule-1", "p-1", T0 + 5).released
    assert not store.release("rule-1", "p-1", T0 + 6).released  # the second release gives back nothing
    assert not store.release("rule-1", "unknown", T0 + 6).released
    grant, release = _all(store)
    assert release == attrs.evolve(grant, seq=2, at=T0 + 5, kind="release")


def test_replays_refusals_and_shadow_claims_write_nothing(store: Store) -> None:
    total = counter("total", count=1)
    assert store.reserve(request(total, payment="p-1")).status is GRANTED
    assert store.reserve(request(total, payment="p-1")).status is ReserveStatus.REPLAYED
    assert store.reserve(request(total, payment="p-1", fingerprint="x")).status is ReserveStatus.MISMATCH
    assert store.reserve(request(total, payment="p-2")).status is ReserveStatus.LIMIT_REACHED
    assert store.reserve(request(payment="s-1", shadow=True)).status is GRANTED
    assert store.release("rule-1", "s-1", T0).released  # a shadow release: nothing either
    alarm = request(rule_id="rule-2", amount=5, alarm_amount=1)
    assert store.reserve(alarm).status is ReserveStatus.ALARM_TRIPPED
    assert store.reserve(request(rule_id="rule-2")).status is ReserveStatus.KILLED
    assert [(e.kind, e.payment_id) for e in _all(store)] == [("grant", "p-1")]
    assert _all(store, "rule-2") == []


def test_seq_increases_per_rule_and_pages_follow_it(store: Store) -> None:
    for i in range(7):
        assert _claim(store, f"a-{i}", now=T0 + i) is GRANTED
    assert _claim(store, "a-7", now=T0 + 7) is GRANTED
    assert store.reserve(request(rule_id="rule-2", payment="b-1")).status is GRANTED
    ledger = _ledger(store)
    assert [e.seq for e in ledger.ledger_page("rule-1", 0, 100)] == list(range(1, 9))
    assert [e.seq for e in ledger.ledger_page("rule-1", 3, 2)] == [4, 5]
    assert [e.seq for e in ledger.ledger_page("rule-2", 0, 100)] == [1]
    assert ledger.ledger_page("rule-1", 8, 100) == []
    assert ledger.ledger_page("no-such-rule", 0, 100) == []
    assert list(ledger.ledger_rules()) == ["rule-1", "rule-2"]


def test_a_payment_id_that_looks_like_a_ledger_key_is_no_rule(store: Store) -> None:
    assert _claim(store, "x}:ledger") is GRANTED
    assert list(_ledger(store).ledger_rules()) == ["rule-1"]
    assert _all(store)[0].payment_id == "x}:ledger"


def test_summary_equals_the_counters_and_trim_keeps_the_totals(store: Store) -> None:
    for i in range(10):
        assert _claim(store, f"p-{i}", amount=100 + i, now=T0 + i) is GRANTED
    for i in (1, 5, 8):
        assert store.release("rule-1", f"p-{i}", T0 + 20 + i).released
    ledger = _ledger(store)
    stats = store.stats("rule-1")
    summary = ledger.ledger_summary("rule-1")
    assert (summary.grants, summary.releases) == (10, 3)
    assert (summary.net_count, summary.net_amount) == (stats.granted_count, stats.granted_amount)
    # Remove everything stamped before T0 + 5: grants 0..4 (p-1's release is at T0 + 21, kept).
    assert ledger.trim_ledger("rule-1", T0 + 5) == 5
    assert [e.payment_id for e in _all(store)][:2] == ["p-5", "p-6"]
    trimmed = ledger.ledger_trimmed("rule-1")
    assert (trimmed.grants, trimmed.releases, trimmed.granted_amount) == (5, 0, 100 + 101 + 102 + 103 + 104)
    assert ledger.ledger_summary("rule-1") == attrs.evolve(summary, trimmed=5)
    # Trimming all of it keeps the seq going and the totals whole.
    assert ledger.trim_ledger("rule-1", T0 + 1_000) == 8
    assert _all(store) == []
    assert _claim(store, "p-new") is GRANTED
    assert [e.seq for e in _all(store)] == [14]
    after = ledger.ledger_summary("rule-1")
    stats = store.stats("rule-1")
    assert (after.net_count, after.net_amount) == (stats.granted_count, stats.granted_amount)
    assert list(ledger.ledger_rules()) == ["rule-1"]


def test_a_payment_claimed_again_after_its_release_is_a_new_grant(store: Store) -> None:
    assert _claim(store, "p-1") is GRANTED
    assert store.release("rule-1", "p-1", T0 + 1).released
    assert _claim(store, "p-1", now=T0 + 2) is GRANTED
    assert [(e.seq, e.kind) for e in _all(store)] == [(1, "grant"), (2, "release"), (3, "grant")]


def test_the_release_of_a_trimmed_grant_still_writes_its_entry(store: Store) -> None:
    assert _claim(store, "p-1", amount=700) is GRANTED
    assert _ledger(store).trim_ledger("rule-1", T0 + 1) == 1
    assert store.release("rule-1", "p-1", T0 + 2).released
    (release,) = _all(store)
    assert (release.seq, release.kind, release.payment_id, release.discount) == (2, "release", "p-1", 700)
    assert (release.account, release.digest) == ("", "")  # what only the trimmed grant knew
    summary, stats = _ledger(store).ledger_summary("rule-1"), store.stats("rule-1")
    assert (summary.net_count, summary.net_amount) == (stats.granted_count, stats.granted_amount) == (0, 0)


def test_reconcile_names_each_injected_discrepancy(store: Store) -> None:
    import graylib

    for payment in ("ok", "absent", "failed", "mismatch", "released"):
        assert _claim(store, payment, amount=1_500) is GRANTED
    assert store.release("rule-1", "released", T0 + 1).released
    settlements = [
        "payment_id,status,discount,rule_id",
        "ok,settled,1500,rule-1",
        "failed,failed,0,rule-1",
        "mismatch,settled,1499,rule-1",
        "released,settled,1500,rule-1",
        "ghost,settled,900,rule-1",
        "broken,settled,-5,rule-1",
    ]
    report = graylib.reconcile(store, settlements)
    rule = report.rule("rule-1")
    assert rule is not None
    assert rule.granted_not_settled == ("absent", "failed")
    assert rule.unexplained_discount == ("ghost",)
    assert [(m.payment_id, m.granted, m.settled) for m in rule.discount_mismatch] == [
        ("mismatch", 1500, 1499)
    ]
    assert rule.released_but_settled == ("released",)
    assert rule.totals_agree and (rule.ledger_net_count, rule.ledger_net_amount) == (4, 6_000)
    assert [(row.line, row.problem[:12]) for row in report.malformed] == [(7, "discount '-5")]
    assert not report.clean


@pytest.mark.redis
def test_graylib_ledger_exports_from_redis(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from graylib.cli import main
    from graylib.stores import RedisStore

    url = redis_server.url.rsplit("/", 1)[0] + "/7"  # a database of its own: the CLI uses the default prefix
    store = RedisStore(url, initialise=True)
    store._client().flushdb()
    store = RedisStore(url, initialise=True)
    for i in range(2_345):  # more than one page of the script (1,000)
        claim = msgspec.structs.replace(request(payment=f"p-{i}", now=T0 + i), origin=ORIGIN)
        assert store.reserve(claim).status is GRANTED
    assert main(["ledger", "--store", url, "--format", "jsonl", "--since", str(T0 + 5)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["seq"] for line in lines] == list(range(6, 2_346))
    assert lines[0]["payment_id"] == "p-5" and lines[0]["digest"] == "d" * 64
    store.close()
