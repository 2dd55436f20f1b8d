"""Decisions by reason, per rule, counted on the payment path for ``status()``.

The counting has to cost next to nothing: each rule gets one ``itertools.count`` per ``Reason`` when its
config is installed, and the payment path does one ``next()`` on the right one (two dict lookups and a C
call, atomic under the GIL, so threads never lose a count).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable

from .._values import Reason

__all__ = ["Tallies", "new_tallies", "prepare_tallies", "read_tallies"]

Tallies = defaultdict[str, dict[Reason, "itertools.count[int]"]]
"""Per rule id, one counter per reason: ``next(tallies[rule_id][decision.reason])`` counts a decision."""


def _rule_counters() -> dict[Reason, itertools.count[int]]:
    return {reason: itertools.count() for reason in Reason}


def new_tallies(rule_ids: Iterable[str] = ()) -> Tallies:
    """Counters for every rule id given; a rule id not prepared gets its counters on first use."""
    tallies: Tallies = defaultdict(_rule_counters)
    prepare_tallies(tallies, rule_ids)
    return tallies


def prepare_tallies(tallies: Tallies, rule_ids: Iterable[str]) -> None:
    """Create the counters of new rule ids before a snapshot that has them goes live (counts never reset)."""
    for rule_id in rule_ids:
        if rule_id not in tallies:
            tallies[rule_id] = _rule_counters()


def _value(counter: itertools.count[int]) -> int:
    # A count's repr is "count(N)": N is the next value, i.e. how many times next() was called.
    return int(repr(counter)[6:-1])


def read_tallies(tallies: Tallies, rule_id: str) -> dict[str, int]:
    """Decisions by reason for one rule, reasons that never happened left out."""
    counters = tallies.get(rule_id)
    if counters is None:
        return {}
    counts = {reason.value: _value(c) for reason, c in counters.items()}
    return {reason: n for reason, n in counts.items() if n}
