"""Load a rules file *without* its guardrails, so that a simulation can replay a config that must never ship.

``graylib simulate --unsafe-skip-validation`` exists for one purpose: measuring what a mistake would have
cost, such as a percentage discount with no cap on every payment type. The file is first validated as
usual and every problem is kept, so the command can print them loudly. Then the guardrail checks are
lifted, and only those: ``[guardrails]`` is replaced by ceilings nothing reaches and no forbidden payment
type, and a percentage without ``max_off`` gets a cap no payment reaches (``UNCAPPED``). Everything else
(syntax, unknown keys, stages, limits, smoke cases) is still checked, so a file that is broken in other
ways still fails. Nothing here is reachable from ``load_config`` or ``Client``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from .._config import Config, Discount, parse_config, read_file
from .._config._checks import MAX_MONEY
from .._config._document import check_document
from .._errors import ConfigError

__all__ = ["UNCAPPED", "is_uncapped", "load_unchecked"]

UNCAPPED = MAX_MONEY
"""The ``max_off`` given to a percentage discount that has none: the largest amount a config may name, far
above any payment, so no cap."""

_PERMISSIVE_GUARDRAILS = {
    "max_percent_off": 100,
    "max_amount_off": UNCAPPED,
    "forbidden_payment_types": [],
}


def load_unchecked(path: str | os.PathLike[str]) -> tuple[Config, tuple[str, ...]]:
    """The config in ``path`` with guardrail checks lifted, and the problems a normal load reports.

    Raises ``ConfigError`` when the file is wrong in a way that lifting the guardrails does not excuse.
    """
    name = os.fspath(path)
    data, _ = read_file(name)
    unsafe = check_document(data)  # never lifted: the copy below would walk a document too deep to copy
    if unsafe:
        raise ConfigError(unsafe, source=name)
    try:
        return parse_config(data, source=name), ()
    except ConfigError as exc:
        skipped = exc.problems
    return parse_config(_relaxed(data), source=name), skipped


def _relaxed(data: Any) -> Any:
    """A copy of the document with permissive guardrails and a never-binding cap where one is missing."""
    if not isinstance(data, Mapping):
        return data
    doc = copy.deepcopy(dict(data))
    guardrails = doc.get("guardrails")
    if isinstance(guardrails, Mapping):
        doc["guardrails"] = {**guardrails, **_PERMISSIVE_GUARDRAILS}
    else:
        doc["guardrails"] = dict(_PERMISSIVE_GUARDRAILS)
    rules = doc.get("rules")
    if isinstance(rules, list):
        for rule in rules:
            discount = rule.get("discount") if isinstance(rule, dict) else None
            if isinstance(discount, dict) and "percent" in discount and "max_off" not in discount:
                discount["max_off"] = UNCAPPED
    return doc


def is_uncapped(discount: Discount) -> bool:
    """True for a percentage discount whose cap was filled in by ``load_unchecked``."""
    return discount.percent is not None and discount.max_off == UNCAPPED
