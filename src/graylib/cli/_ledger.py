"""``graylib ledger``: export the grant ledger (CSV or JSON lines), and ``graylib ledger trim``.

The export streams: entries are read a page at a time and written as they come, so a ledger of millions of
entries is exported in constant memory. Exit codes: 0 written (an empty ledger is said on stderr), 2 a bad
option, an unknown ``--rule`` or an unusable store.

``trim`` removes the entries older than ``--before`` and keeps their totals, so the ledger still adds up to
the counters. It refuses (exit 1, nothing trimmed) when any rule in scope is still running and ``--before``
falls inside its longest limit window, or is not in ``--rules`` (name it with ``--rule`` once it no longer
runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import operator
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from .._config import Rule
from .._errors import ConfigError
from .._ledger import parse_time, read_ledger, trim_refusal
from .._ledger._trim import utc
from .._load import load_config
from ..stores import LEDGER_FIELDS, LedgerEntry, LedgerStore, Store
from ._output import error
from ._store import STORE_ENV, STORE_URL_FORMS, add_store_argument, store_url, with_store

__all__ = ["register"]

_FLUSH_EVERY = 10_000
_EXPORT_PAGE = 5_000
"""Entries read per store call by the export: a few MB at most in memory."""


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "ledger", help="export the grant ledger (every grant and release), or trim it"
    )
    add_store_argument(parser)
    _bounds(parser)
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="output format (csv)")
    parser.set_defaults(handler=export)
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", help="trim (without an ACTION, the ledger is exported)"
    )
    trim = actions.add_parser("trim", help="remove entries older than --before (their totals are kept)")
    trim.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"the shared store (must exist): {STORE_URL_FORMS} (default: ${STORE_ENV})",
    )
    trim.add_argument("--before", required=True, metavar="T", help="remove entries stamped before T")
    trim.add_argument(
        "--rules",
        required=True,
        metavar="FILE",
        help="the rules file the services run: a running rule is never trimmed inside its limit windows",
    )
    trim.add_argument("--rule", metavar="R", default=argparse.SUPPRESS, help="trim this rule only")
    trim.set_defaults(handler=run_trim)


def _bounds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rule", metavar="R", help="one rule only (default: every rule)")
    when = "seconds since the epoch, YYYY-MM-DD (UTC) or an RFC 3339 time with Z or an offset"
    parser.add_argument("--since", metavar="T", help=f"entries stamped at or after T: {when}")
    parser.add_argument("--until", metavar="T", help="entries stamped before T")


def bounds(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """``--since`` and ``--until`` as seconds (``ValueError`` with the option's name when unreadable)."""
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    return since, until


_fields = operator.attrgetter(*LEDGER_FIELDS)


class _Clock:
    """``at`` as RFC 3339 UTC with microseconds (the ``time`` column people read); the text of the last
    whole second is kept, since consecutive entries mostly share it."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def __call__(self, at: float) -> str:
        second = int(at // 1)
        if second != self.second:
            self.second, self.text = second, utc(second)[:-1]
        micro = min(round((at - second) * 1e6), 999_999)
        return f"{self.text}.{micro:06d}Z"


def write_entries(entries: Iterable[LedgerEntry], out: TextIO, fmt: str) -> int:
    """Write ``entries`` as they come (``csv`` or ``jsonl``); returns how many."""
    count = 0
    clock = _Clock()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*LEDGER_FIELDS, "time"])
        for entry in entries:
            writer.writerow((*_fields(entry), clock(entry.at)))
            count += 1
            if not count % _FLUSH_EVERY:
                out.flush()
    else:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        names = (*LEDGER_FIELDS, "time")
        for entry in entries:
            out.write(dumps(dict(zip(names, (*_fields(entry), clock(entry.at)), strict=True))) + "\n")
            count += 1
            if not count % _FLUSH_EVERY:
                out.flush()
    out.flush()
    return count


def export(args: argparse.Namespace) -> int:
    try:
        since, until = bounds(args)
    except ValueError as exc:
        error(str(exc))
        return 2

    def act(store: Store) -> int:
        if not isinstance(store, LedgerStore):
            error(f"{type(store).__name__} keeps no grant ledger")
            return 2
        known = store.ledger_rules()
        if args.rule is not None and args.rule not in known:
            error(
                f"unknown rule {args.rule!r}: the store has no ledger for it"
                " (no such rule, or it never granted)"
            )
            return 2
        if not known:
            error("the ledger is empty: this store has recorded no grant yet")
        entries = read_ledger(store, args.rule, since, until, page=_EXPORT_PAGE)
        count = write_entries(entries, sys.stdout, args.format)
        if known and not count:
            error("no ledger entries between the given times")
        return 0

    return with_store(store_url(args.store), act)


def run_trim(args: argparse.Namespace) -> int:
    try:
        before = parse_time(args.before, "--before")
        config = load_config(args.rules)
    except (ValueError, ConfigError) as exc:
        error(str(exc))
        return 2
    only: str | None = getattr(args, "rule", None)
    rules = {rule.id: rule for rule in config.rules}

    def act(store: Store) -> int:
        if not isinstance(store, LedgerStore):
            error(f"{type(store).__name__} keeps no grant ledger")
            return 2
        known = store.ledger_rules()
        if only is not None and only not in known:
            error(f"unknown rule {only!r}: the store has no ledger for it")
            return 2
        scope = [only] if only is not None else list(known)
        now = time.time()
        refusals = [
            why for rule_id in scope if (why := _refusal(rules.get(rule_id), rule_id, before, now, only))
        ]
        if refusals:
            for why in refusals:
                error(f"refused: {why}")
            error("nothing trimmed")
            return 1
        for rule_id in scope:
            removed = store.trim_ledger(rule_id, before)
            print(f"rule {rule_id}: {removed} entries before {utc(before)} trimmed (their totals are kept)")
        return 0

    return with_store(store_url(getattr(args, "store", None)), act)


def _refusal(rule: Rule | None, rule_id: str, before: float, now: float, only: str | None) -> str:
    if rule is not None:
        return trim_refusal(rule, before, now)
    if only == rule_id:  # named on purpose: a rule the services no longer run
        return ""
    return (
        f"rule {rule_id!r} is not in the rules file: if it no longer runs anywhere, trim it alone with"
        f" --rule {rule_id}"
    )
