"""``graylib reconcile --store URL SETTLEMENTS.csv``: the grant ledger against what the payments settled.

Per rule: payments granted but not settled, settled discounts no grant explains, discounts that differ,
releases whose payment settled anyway, and whether the ledger adds up to the store's counters. Exit codes:
0 clean, 1 a discrepancy (or a settlements row that could not be read: the rest is still reconciled), 2 an
error (no such file, no header, an unknown ``--rule``, an unusable store).
"""

from __future__ import annotations

import argparse
from typing import Any

from .._ledger import Reconciliation, RuleReconciliation, reconcile
from .._money import money
from ..stores import LedgerStore, Store
from ._ledger import _bounds, bounds
from ._output import emit_json, error
from ._store import add_store_argument, store_url, with_store

__all__ = ["register", "render"]

_LISTED = 50


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "reconcile", help="compare the grant ledger with the payment system's settlements (CSV)"
    )
    parser.add_argument(
        "settlements",
        metavar="SETTLEMENTS.csv",
        help="columns payment_id, status (settled|failed|refunded), discount (minor units)[, rule_id]",
    )
    add_store_argument(parser)
    _bounds(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        since, until = bounds(args)
    except ValueError as exc:
        error(str(exc))
        return 2

    def act(store: Store) -> int:
        if not isinstance(store, LedgerStore):
            error(f"{type(store).__name__} keeps no grant ledger")
            return 2
        if args.rule is not None and args.rule not in store.ledger_rules():
            error(
                f"unknown rule {args.rule!r}: the store has no ledger for it"
                " (no such rule, or it never granted)"
            )
            return 2
        try:
            report = reconcile(store, args.settlements, rule=args.rule, since=since, until=until)
        except OSError as exc:
            error(f"{args.settlements}: {exc.strerror or exc}")
            return 2
        except ValueError as exc:  # no header, or not UTF-8: the message names the file
            error(str(exc))
            return 2
        if args.json:
            emit_json(report.to_dict())
        else:
            print(render(report))
        return 0 if report.clean else 1

    return with_store(store_url(args.store), act)


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:_LISTED])
    return shown + (f" ... and {len(ids) - _LISTED} more (--json lists all)" if len(ids) > _LISTED else "")


def _rule_lines(rule: RuleReconciliation) -> list[str]:
    name = rule.rule_id or "(no rule_id)"
    verdict = "clean" if rule.clean else "DISCREPANCIES"
    lines = [
        f"rule {name}: {verdict}: {rule.grants} grants, {rule.releases} releases in the ledger,"
        f" {rule.settlements} settlement rows"
    ]
    if rule.note:
        lines.append(f"  note: {rule.note}")
    for label, ids in (
        ("granted_not_settled", rule.granted_not_settled),
        ("unexplained_discount", rule.unexplained_discount),
        ("released_but_settled", rule.released_but_settled),
    ):
        if ids:
            lines.append(f"  {label} ({len(ids)}): {_ids(ids)}")
    if rule.discount_mismatch:
        shown = [f"{m.payment_id} (granted {m.granted}, settled {m.settled})" for m in rule.discount_mismatch]
        lines.append(f"  discount_mismatch ({len(shown)}): {_ids(tuple(shown))}")
    ledger = f"{rule.ledger_net_count} payments, {money(rule.ledger_net_amount, exact=True)}"
    counters = f"{rule.counters_count} payments, {money(rule.counters_amount, exact=True)}"
    if rule.totals_agree:
        lines.append(f"  ledger net total equals the counters: {ledger}")
    else:
        lines.append(f"  ledger net total DIFFERS from the counters: ledger {ledger}, counters {counters}")
    return lines


def render(report: Reconciliation) -> str:
    lines = [f"settlements: {report.rows} rows, {len(report.malformed)} unreadable"]
    lines += [f"note: {note}" for note in report.notes]
    for row in report.malformed:
        lines.append(f"  line {row.line}: {row.problem}")
    for rule in report.rules:
        lines += ["", *_rule_lines(rule)]
    lines += ["", "clean" if report.clean else "discrepancies found"]
    return "\n".join(lines)
