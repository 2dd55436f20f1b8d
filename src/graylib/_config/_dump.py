"""``Config`` -> the document it reads from: so that a config built or changed in Python is checked too.

``parse_config`` is the only place that knows the guardrails, the stage rules and every other check. A
``Config`` made in Python (``attrs.evolve`` of a loaded one, or built by hand) skips it, so whatever serves
a ``Config`` first writes it back to a document here and parses that again (``recheck``): the same checks
as ``load_config``, by the same code. A config that passes but does not come back equal held a value the
rules format cannot say (a list where a set belongs, a percentage of infinite decimals); it is refused with
the path of the first difference rather than served in a form no file could have produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

import attrs

from .._errors import ConfigError
from ._model import LIMIT_SUBJECTS, Config, Discount, Limit, Limits, Rollout, Rule, SmokeCase
from ._parse import parse_config

__all__ = ["recheck", "to_document"]


def recheck(config: Config) -> Config:
    """``config`` when it passes every check of ``parse_config`` and survives the round trip unchanged.

    Raises ``ConfigError`` with every problem found (the paths are the document's: ``rules[0].discount``).
    """
    if not isinstance(config, Config):
        msg = f"expected a Config (got {type(config).__name__})"
        raise TypeError(msg)
    source = config.source if isinstance(config.source, str) else ""
    try:
        document = to_document(config)
    except Exception as exc:  # a value of a type the format has no place for
        problem = f"config: cannot be written as a rules document ({exc!r})"
        raise ConfigError([problem], source=source or None) from exc
    checked = parse_config(document, source=source)  # raises ConfigError with every problem
    if checked != config:
        where = _first_difference(config, checked, "") or "config"
        problem = f"{where}: holds a value a rules file cannot express; build the config from a document"
        raise ConfigError([problem], source=source or None)
    return config


def to_document(config: Config) -> dict[str, Any]:
    """The mapping that ``parse_config`` reads back into ``config`` (for a config it built)."""
    guardrails = config.guardrails
    doc: dict[str, Any] = {
        "version": config.version,
        "guardrails": {
            "max_percent_off": _number(guardrails.max_percent_off),
            "max_amount_off": guardrails.max_amount_off,
            "forbidden_payment_types": _texts(guardrails.forbidden_payment_types),
            "min_approvals": guardrails.min_approvals,
        },
        "change": {
            "author": config.change.author,
            "approved_by": list(config.change.approved_by),
            "ticket": config.change.ticket,
        },
        "rules": [_rule(rule) for rule in config.rules],
    }
    if config.traffic:
        doc["traffic"] = {
            "clusters": {
                name: {"share": entry.share, "nodes": entry.nodes} for name, entry in config.traffic.items()
            }
        }
    return doc


def _rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "state": rule.state,
        "description": rule.description,
        "payment_types": _texts(rule.payment_types),
        "discount": _discount(rule.discount),
        "allow": {"accounts": _texts(rule.allow.accounts)},
        "deny": {
            "accounts": _texts(rule.deny.accounts),
            "ips": list(rule.deny.ips),
            "devices": _texts(rule.deny.devices),
            "merchants": _texts(rule.deny.merchants),
            "regions": _texts(rule.deny.regions),
        },
        "rollout": _rollout(rule.rollout),
        "limits": _limits(rule.limits),
        "smoke": [_smoke(case) for case in rule.smoke],
    }
    optional = {
        "regions": None if rule.regions is None else _texts(rule.regions),
        "min_amount": rule.min_amount,
        "max_amount": rule.max_amount,
        "starts_at": rule.starts_at,
        "ends_at": rule.ends_at,
        "salt": rule.salt or None,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    return out


def _discount(discount: Discount) -> dict[str, Any]:
    values = {"percent": discount.percent, "max_off": discount.max_off, "amount": discount.amount}
    return {key: _number(value) for key, value in values.items() if value is not None}


def _rollout(rollout: Rollout) -> dict[str, Any]:
    return {
        "stage": rollout.stage,
        "stages": [
            {"name": stage.name, "targets": {key: _number(pct) for key, pct in stage.targets.items()}}
            for stage in rollout.stages
        ],
    }


def _limit(limit: Limit) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if limit.count is not None:
        out["count"] = limit.count
    if limit.amount is not None:
        out["amount"] = limit.amount
    if limit.window or limit.window_text:
        out["window"] = limit.window_text or f"{limit.window}s"
    return out


def _limits(limits: Limits) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in LIMIT_SUBJECTS:
        limit = getattr(limits, kind)
        if limit is not None:
            out[kind] = _limit(limit)
    alarm = limits.rate_alarm
    if alarm is not None:
        out["rate_alarm"] = {"amount": alarm.amount, "window": alarm.window_text or f"{alarm.window}s"}
    return out


def _smoke(case: SmokeCase) -> dict[str, Any]:
    expect = {"applies": case.applies, "discount": case.discount, "reason": case.reason}
    out: dict[str, Any] = {
        "name": case.name,
        "context": dict(case.context),
        "expect": {key: value for key, value in expect.items() if value is not None},
    }
    if case.at is not None:
        out["at"] = case.at
    return out


def _number(value: object) -> object:
    """A percentage as the document writes it: an int when whole, else its float (read back exactly when it
    has a short decimal form, which every percentage from a file has)."""
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    return value


def _texts(values: Iterable[Any]) -> list[Any]:
    items = list(values)
    try:
        return sorted(items)
    except TypeError:  # mixed types: parse_config reports them
        return items


def _first_difference(given: Any, checked: Any, path: str) -> str:
    """The document path of the first value that differs between two configs (or their parts)."""
    if type(given) is not type(checked) and not (_is_number(given) and _is_number(checked)):
        return path
    if attrs.has(type(given)):
        for field in attrs.fields(type(given)):
            if not field.eq:
                continue
            a, b = getattr(given, field.name), getattr(checked, field.name)
            if a != b:
                return _first_difference(a, b, f"{path}.{field.name}" if path else field.name)
        return path
    if isinstance(given, tuple) and len(given) == len(checked):
        for i, (a, b) in enumerate(zip(given, checked, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    if isinstance(given, Mapping):
        for key in given:
            if key not in checked or given[key] != checked[key]:
                return f"{path}[{key!r}]"
    return path


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Fraction) and not isinstance(value, bool)
