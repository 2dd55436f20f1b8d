"""``read_ledger``: every entry of a store's ledger, in order, one page in memory at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from .._config._time import parse_datetime
from ..stores import LedgerEntry, LedgerStore, Store

__all__ = ["PAGE", "ledger_of", "parse_time", "read_ledger", "seconds"]

PAGE = 1000
"""Entries read per store call: what a reader holds at once."""

Moment = float | int | dt.datetime | None
"""A time bound: seconds since the epoch, an aware ``datetime``, or None (unbounded)."""


def ledger_of(store: Store | LedgerStore) -> LedgerStore:
    """``store`` as a ledger, or ``TypeError`` saying it keeps none (a custom store)."""
    if not isinstance(store, LedgerStore):
        msg = f"{store!r} keeps no grant ledger (it lacks ledger_page, ledger_rules...)"
        raise TypeError(msg)
    return store


def seconds(moment: Moment, name: str) -> float | None:
    """A time bound as seconds since the epoch; a naive ``datetime`` is refused (whose time zone?)."""
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            msg = f"{name}: a datetime without a time zone is ambiguous; give one (e.g. tzinfo=timezone.utc)"
            raise ValueError(msg)
        return moment.timestamp()
    if isinstance(moment, bool) or not isinstance(moment, int | float):
        msg = f"{name}: expected seconds since the epoch or a datetime (got {moment!r})"
        raise TypeError(msg)
    return float(moment)


def parse_time(text: str, name: str = "time") -> float:
    """``text`` as seconds since the epoch: a number of seconds, a date ``YYYY-MM-DD`` (midnight UTC) or an
    RFC 3339 date-time with ``Z`` or an offset. ``ValueError`` naming ``name`` otherwise."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        if len(text) == 10:
            return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()
        moment = parse_datetime(text)
    except ValueError as exc:
        msg = f"{name}: {text!r} is not a time: give seconds since the epoch, YYYY-MM-DD or {exc}"
        raise ValueError(msg) from None
    if moment.tzinfo is None:
        msg = f"{name}: {text!r} has no time zone: add Z (UTC) or an offset such as +08:00"
        raise ValueError(msg)
    return moment.timestamp()


def read_ledger(
    store: Store | LedgerStore,
    rule: str | None = None,
    since: Moment = None,
    until: Moment = None,
    *,
    page: int = PAGE,
) -> Iterator[LedgerEntry]:
    """Every ledger entry of ``rule`` (or of every rule, one rule after another by id), in ``seq`` order,
    with ``since <= at < until``; the store is read ``page`` entries at a time, so memory stays bounded.

    ``at`` is the claiming client's clock, so with several clients it may step back a little from one
    ``seq`` to the next: the time bounds select entries, the order stays ``seq``'s.
    """
    ledger = ledger_of(store)
    low, high = seconds(since, "since"), seconds(until, "until")
    if page < 1:
        msg = f"read_ledger: page must be at least 1 (got {page!r})"
        raise ValueError(msg)
    rules = [rule] if rule is not None else list(ledger.ledger_rules())
    for rule_id in rules:
        after = 0
        while True:
            entries = ledger.ledger_page(rule_id, after, page)
            for entry in entries:
                if (low is None or entry.at >= low) and (high is None or entry.at < high):
                    yield entry
            if len(entries) < page:
                break
            after = entries[-1].seq
