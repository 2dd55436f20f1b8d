"""``reconcile``: the grant ledger against what the payment system settled, rule by rule.

Settlements are a CSV file with the columns ``payment_id``, ``status`` (``settled``, ``failed`` or
``refunded``) and ``discount`` (minor units), and ``rule_id`` when several rules are reconciled at once.
A later row of the same payment (and rule) supersedes an earlier one: a payment settled and then refunded
is refunded. A row that cannot be read is reported with its line number and the rest is reconciled.

Per rule, the ledger's last word on each payment (granted, or released after its grant) is compared with
the payment's last row:

- ``granted_not_settled``: granted and not released, but the payment failed, was refunded or is absent
  (its discount is still counted against the rule's limits: release it);
- ``unexplained_discount``: settled with a discount the rule never granted (the signature of a discount
  given without graylib's say, or with a rule id graylib never saw);
- ``discount_mismatch``: granted one discount, settled with another;
- ``released_but_settled``: released (the budget given back), yet settled with a discount.

Besides, the ledger's net total (grants minus releases, trimmed entries included) must equal the store's
counters (``Store.stats``); ``totals_agree`` says whether it does, over the whole ledger whatever the
time bounds.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..stores import LedgerStore, Store
from ..stores._ledger import GRANT as GRANT_KIND
from ._read import Moment, ledger_of, read_ledger

__all__ = ["MalformedRow", "Mismatch", "Reconciliation", "RuleReconciliation", "reconcile"]

STATUSES = ("settled", "failed", "refunded")
REQUIRED = ("payment_id", "status", "discount")
_SHOWN = 80


@attrs.frozen
class Mismatch:
    payment_id: str
    granted: int
    settled: int


@attrs.frozen
class MalformedRow:
    line: int
    problem: str


@attrs.frozen
class RuleReconciliation:
    """One rule's comparison; payment ids are sorted."""

    rule_id: str
    grants: int
    """Grant entries read (within the time bounds)."""
    releases: int
    settlements: int
    """Settlement rows of this rule."""
    granted_not_settled: tuple[str, ...] = ()
    unexplained_discount: tuple[str, ...] = ()
    discount_mismatch: tuple[Mismatch, ...] = ()
    released_but_settled: tuple[str, ...] = ()
    ledger_net_count: int = 0
    ledger_net_amount: int = 0
    counters_count: int = 0
    counters_amount: int = 0
    note: str = ""
    """Said plainly: a rule with no ledger entries, a ledger trimmed before the bounds..."""

    @property
    def totals_agree(self) -> bool:
        return (self.ledger_net_count, self.ledger_net_amount) == (self.counters_count, self.counters_amount)

    @property
    def clean(self) -> bool:
        return self.totals_agree and not (
            self.granted_not_settled
            or self.unexplained_discount
            or self.discount_mismatch
            or self.released_but_settled
        )

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["totals_agree"] = self.totals_agree
        out["clean"] = self.clean
        return out


@attrs.frozen
class Reconciliation:
    """The whole report: every rule reconciled, the rows that could not be read, plain notes."""

    rules: tuple[RuleReconciliation, ...]
    malformed: tuple[MalformedRow, ...] = ()
    rows: int = 0
    """Settlement rows read (malformed ones included)."""
    notes: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """No discrepancy in any rule and every row read."""
        return not self.malformed and all(rule.clean for rule in self.rules)

    def rule(self, rule_id: str) -> RuleReconciliation | None:
        for rule in self.rules:
            if rule.rule_id == rule_id:
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "rows": self.rows,
            "notes": list(self.notes),
            "malformed": [attrs.asdict(row) for row in self.malformed],
            "rules": [rule.to_dict() for rule in self.rules],
        }


_Row = tuple[str, int]
"""(status, discount) of a payment's last settlement row."""


def _read_settlements(
    settlements: str | os.PathLike[str] | Iterable[str], rule: str | None
) -> tuple[dict[str | None, dict[str, _Row]], list[MalformedRow], int]:
    """Rows by rule id (None: the row names none) and payment id, the malformed rows, the row count.

    ``ValueError`` (a missing header, text that is not UTF-8) names the file, or ``settlements``.
    """
    if isinstance(settlements, str | os.PathLike):
        try:
            with open(settlements, encoding="utf-8-sig", newline="") as handle:
                return _parse(handle, rule)
        except ValueError as exc:
            msg = f"{os.fspath(settlements)}: {exc}"
            raise ValueError(msg) from None
    try:
        return _parse(settlements, rule)
    except ValueError as exc:
        msg = f"settlements: {exc}"
        raise ValueError(msg) from None


def _parse(
    lines: Iterable[str], rule: str | None
) -> tuple[dict[str | None, dict[str, _Row]], list[MalformedRow], int]:
    reader = csv.reader(lines)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        msg = "the file is empty (expected a header: payment_id,status,discount[,rule_id])"
        raise ValueError(msg) from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        msg = f"line 1: the header lacks {', '.join(missing)} (it has {', '.join(header)[:200]})"
        raise ValueError(msg)
    at = {name: header.index(name) for name in (*REQUIRED, "rule_id") if name in header}
    rows: dict[str | None, dict[str, _Row]] = {}
    bad: list[MalformedRow] = []
    count = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            count += 1
            bad.append(MalformedRow(reader.line_num, f"unreadable CSV: {exc}"))
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        count += 1
        problem, row = _row(fields, at)
        if problem:
            bad.append(MalformedRow(reader.line_num, problem))
            continue
        rule_id, payment_id, status, discount = row
        if rule is not None and rule_id is not None and rule_id != rule:
            continue
        rows.setdefault(rule_id, {})[payment_id] = (status, discount)
    return rows, bad, count


def _row(fields: list[str], at: Mapping[str, int]) -> tuple[str, tuple[str | None, str, str, int]]:
    """(problem, (rule id or None, payment id, status, discount)): the problem empty when the row is good."""
    nothing: tuple[str | None, str, str, int] = (None, "", "", 0)
    if len(fields) <= max(at.values()):
        return f"{len(fields)} fields, expected {max(at.values()) + 1} or more", nothing
    payment_id = fields[at["payment_id"]].strip()
    status = fields[at["status"]].strip().lower()
    discount_text = fields[at["discount"]].strip()
    rule_id = fields[at["rule_id"]].strip() or None if "rule_id" in at else None
    if not payment_id:
        return "payment_id is empty", nothing
    if status not in STATUSES:
        return f"status {status[:_SHOWN]!r} is not one of {', '.join(STATUSES)}", nothing
    if not discount_text.isascii() or not discount_text.isdigit():
        shown = discount_text[:_SHOWN]
        return f"discount {shown!r} is not a whole number of minor units (0 or more)", nothing
    return "", (rule_id, payment_id, status, int(discount_text))


@attrs.define
class _State:
    """What one rule's ledger says about each payment: granted (its discount) or released."""

    granted: dict[str, int] = attrs.field(factory=dict)
    released: set[str] = attrs.field(factory=set)
    grants: int = 0
    releases: int = 0


def _states(ledger: LedgerStore, rules: Iterable[str], since: Moment, until: Moment) -> dict[str, _State]:
    states: dict[str, _State] = {}
    for rule_id in rules:
        state = states[rule_id] = _State()
        for entry in read_ledger(ledger, rule_id, since, until):
            if entry.kind == GRANT_KIND:
                state.grants += 1
                state.granted[entry.payment_id] = entry.discount
                state.released.discard(entry.payment_id)
            else:
                state.releases += 1
                state.granted.pop(entry.payment_id, None)
                state.released.add(entry.payment_id)
    return states


def reconcile(
    store: Store | LedgerStore,
    settlements: str | os.PathLike[str] | Iterable[str],
    *,
    rule: str | None = None,
    since: Moment = None,
    until: Moment = None,
) -> Reconciliation:
    """Compare the ledger of ``store`` with ``settlements`` (a CSV path, or its lines) per rule.

    ``rule`` limits the comparison to one rule; ``since``/``until`` to ledger entries with
    ``since <= at < until`` (give the settlements of the same period). Raises ``ValueError`` for a
    settlements file without the needed header, ``OSError`` when it cannot be read, ``StoreError`` when the
    store cannot be; a row that cannot be read is reported (``malformed``) and the rest reconciled.
    """
    ledger = ledger_of(store)
    rows, malformed, count = _read_settlements(settlements, rule)
    known = list(ledger.ledger_rules())
    notes: list[str] = []
    if not known:
        notes.append("the ledger is empty: this store has recorded no grant yet")
    if rule is not None:
        scope = [rule]
        if rule not in known:
            notes.append(f"rule {rule!r} has no ledger in this store (unknown rule, or it never granted)")
    else:
        scope = sorted(set(known) | {r for r in rows if r is not None})
    states = _states(ledger, [r for r in scope if r in known], since, until)
    unnamed = rows.pop(None, {})
    for payment_id, row in unnamed.items():  # rows without a rule id: find the rule that knows the payment
        owner = _owner(payment_id, scope, states)
        rows.setdefault(owner, {})[payment_id] = row
    orphans = rows.pop(None, {})
    reports = [
        _compare(r, states.get(r, _State()), rows.get(r, {}), store=store, ledger=ledger, known=r in known)
        for r in scope
    ]
    if orphans:
        settled = sorted(p for p, (status, discount) in orphans.items() if status == "settled" and discount)
        if settled:
            reports.append(RuleReconciliation("", 0, 0, len(orphans), unexplained_discount=tuple(settled)))
            notes.append(
                "rows without a rule_id whose payment no reconciled rule granted are listed under rule ''"
            )
    return Reconciliation(tuple(reports), tuple(malformed), count, tuple(notes))


def _owner(payment_id: str, scope: list[str], states: Mapping[str, _State]) -> str | None:
    if len(scope) == 1:
        return scope[0]
    for rule_id in scope:
        state = states.get(rule_id)
        if state is not None and (payment_id in state.granted or payment_id in state.released):
            return rule_id
    return None


def _compare(
    rule_id: str,
    state: _State,
    rows: Mapping[str, _Row],
    *,
    store: Store | LedgerStore,
    ledger: LedgerStore,
    known: bool,
) -> RuleReconciliation:
    not_settled, unexplained, released_settled = [], [], []
    mismatches = []
    for payment_id, discount in state.granted.items():
        row = rows.get(payment_id)
        if row is None or row[0] != "settled":
            not_settled.append(payment_id)
        elif row[1] != discount:
            mismatches.append(Mismatch(payment_id, discount, row[1]))
    for payment_id, (status, discount) in rows.items():
        if status != "settled" or not discount or payment_id in state.granted:
            continue
        if payment_id in state.released:
            released_settled.append(payment_id)
        else:
            unexplained.append(payment_id)
    summary = ledger.ledger_summary(rule_id)
    stats = store.stats(rule_id) if isinstance(store, Store) else None
    note = "" if known else "no ledger entries for this rule (unknown rule, or it never granted)"
    if summary.trimmed:
        note = f"{summary.trimmed} older entries were trimmed: payments granted in them are not compared"
    return RuleReconciliation(
        rule_id,
        state.grants,
        state.releases,
        len(rows),
        granted_not_settled=tuple(sorted(not_settled)),
        unexplained_discount=tuple(sorted(unexplained)),
        discount_mismatch=tuple(sorted(mismatches, key=lambda m: m.payment_id)),
        released_but_settled=tuple(sorted(released_settled)),
        ledger_net_count=summary.net_count,
        ledger_net_amount=summary.net_amount,
        counters_count=stats.granted_count if stats is not None else summary.net_count,
        counters_amount=stats.granted_amount if stats is not None else summary.net_amount,
        note=note,
    )
