"""Mapping (from TOML, JSON or YAML) -> validated ``Config``, reporting every problem with its path."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from .._errors import ConfigError
from .._values import Reason
from ._checks import Problems, describe, join
from ._document import check_document
from ._keys import CONTEXT_FIELDS, KEYS, REQUIRED
from ._model import (
    LIMIT_SUBJECTS,
    Allow,
    Change,
    ClusterTraffic,
    Config,
    Deny,
    Discount,
    Guardrails,
    Limit,
    Limits,
    RateAlarm,
    Rollout,
    Rule,
    SmokeCase,
    Stage,
)
from ._stages import check_widening

__all__ = ["parse_config"]

STATES = ("active", "shadow", "killed")


def _keys(p: Problems, path: str, table: Mapping[str, Any], name: str) -> None:
    """Check a table's keys against the format's table ``name`` (``_keys.KEYS``, ``_keys.REQUIRED``)."""
    p.keys(path, table, KEYS[name], REQUIRED.get(name, ()))


def parse_config(data: Any, *, source: str = "") -> Config:
    """Validate a parsed document and build the frozen model; raise ``ConfigError`` with every problem.

    The document is first checked for what no validation step could read safely (``_document``): text that is
    not text, huge integers, deep nesting, too many values, repeated keys.
    """
    unsafe = check_document(data)
    if unsafe:
        raise ConfigError(unsafe, source=source or None)
    p = Problems()
    config = _config(p, data, source)
    if p or config is None:
        raise ConfigError(p.items, source=source or None)
    return config


def _config(p: Problems, data: Any, source: str) -> Config | None:
    top = p.table("config", data)
    if top is None:
        return None
    _keys(p, "", top, "config")
    version = p.string("version", top["version"]) if "version" in top else None
    guardrails = _guardrails(p, top["guardrails"]) if "guardrails" in top else None
    change = _change(p, top.get("change", {}))
    traffic = _traffic(p, top.get("traffic", {}))
    rules: list[Rule] = []
    raw_rules = top.get("rules", [])
    if not isinstance(raw_rules, list):
        p.add("rules", f"must be an array of tables (got {describe(raw_rules)})")
        raw_rules = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        rule = _rule(p, f"rules[{i}]", raw, guardrails)
        if rule is None:
            continue
        if rule.id in seen:
            p.add(f"rules[{i}].id", f"duplicate rule id {rule.id!r} (also rules[{seen[rule.id]}])")
            continue
        seen[rule.id] = i
        rules.append(rule)
    if p or version is None or guardrails is None or change is None or traffic is None:
        return None
    return Config(
        version=version,
        guardrails=guardrails,
        rules=tuple(rules),
        change=change,
        traffic=traffic,
        source=source,
    )


def _guardrails(p: Problems, raw: Any) -> Guardrails | None:
    path = "guardrails"
    table = p.table(path, raw)
    if table is None:
        return None
    _keys(p, path, table, "guardrails")
    pct = (
        p.percent(join(path, "max_percent_off"), table["max_percent_off"])
        if "max_percent_off" in table
        else None
    )
    amt = (
        p.money(join(path, "max_amount_off"), table["max_amount_off"], minimum=1)
        if "max_amount_off" in table
        else None
    )
    forbidden = p.strings(join(path, "forbidden_payment_types"), table.get("forbidden_payment_types", []))
    approvals = p.integer(join(path, "min_approvals"), table.get("min_approvals", 0), minimum=0)
    if pct is None or amt is None or forbidden is None or approvals is None:
        return None
    return Guardrails(pct, amt, frozenset(forbidden), approvals)


def _change(p: Problems, raw: Any) -> Change | None:
    table = p.table("change", raw)
    if table is None:
        return None
    _keys(p, "change", table, "change")
    author = p.string("change.author", table.get("author", ""), nonempty=False)
    approvers = p.strings("change.approved_by", table.get("approved_by", []))
    ticket = p.string("change.ticket", table.get("ticket", ""), nonempty=False)
    if author is None or approvers is None or ticket is None:
        return None
    return Change(author=author, approved_by=tuple(approvers), ticket=ticket)


def _traffic(p: Problems, raw: Any) -> dict[str, ClusterTraffic] | None:
    table = p.table("traffic", raw)
    if table is None:
        return None
    _keys(p, "traffic", table, "traffic")
    clusters = p.table("traffic.clusters", table.get("clusters", {}))
    if clusters is None:
        return None
    out: dict[str, ClusterTraffic] = {}
    total = 0.0
    for name, entry in clusters.items():
        path = join("traffic.clusters", str(name))
        spec = p.table(path, entry)
        if spec is None:
            continue
        _keys(p, path, spec, "cluster")
        if "share" not in spec or "nodes" not in spec:
            continue
        share = spec["share"]
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            p.add(
                join(path, "share"),
                f"must be a fraction of all payments between 0 and 1 (got {describe(share)})",
            )
            continue
        nodes = p.integer(join(path, "nodes"), spec["nodes"], minimum=1)
        if nodes is None:
            continue
        total += float(share)
        out[str(name)] = ClusterTraffic(float(share), nodes)
    if total > 1.000001:
        p.add("traffic.clusters", f"shares must add up to at most 1 (got {total:g})")
    return out


def _rule(p: Problems, path: str, raw: Any, guardrails: Guardrails | None) -> Rule | None:
    table = p.table(path, raw)
    if table is None:
        return None
    before = len(p.items)
    _keys(p, path, table, "rule")
    rule_id = p.identifier(join(path, "id"), table["id"]) if "id" in table else None
    state = table.get("state", "active")
    if state not in STATES:
        p.add(join(path, "state"), f"must be one of {', '.join(STATES)} (got {describe(state)})")
    payment_types = None
    if "payment_types" in table:
        payment_types = p.strings(join(path, "payment_types"), table["payment_types"], nonempty=True)
        if payment_types is not None and guardrails is not None:
            for i, kind in enumerate(payment_types):
                if kind in guardrails.forbidden_payment_types:
                    p.add(
                        f"{path}.payment_types[{i}]",
                        f"{kind!r} is forbidden by guardrails.forbidden_payment_types",
                    )
                if kind == "*":
                    p.add(
                        f"{path}.payment_types[{i}]",
                        "payment types must be listed one by one; '*' is not allowed",
                    )
    regions = (
        p.strings(join(path, "regions"), table["regions"], nonempty=True) if "regions" in table else None
    )
    min_amount = p.money(join(path, "min_amount"), table["min_amount"]) if "min_amount" in table else None
    max_amount = (
        p.money(join(path, "max_amount"), table["max_amount"], minimum=1) if "max_amount" in table else None
    )
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        p.add(join(path, "min_amount"), f"must not be above max_amount ({min_amount} > {max_amount})")
    starts = p.timestamp(join(path, "starts_at"), table["starts_at"]) if "starts_at" in table else None
    ends = p.timestamp(join(path, "ends_at"), table["ends_at"]) if "ends_at" in table else None
    if starts is not None and ends is not None and starts >= ends:
        p.add(join(path, "starts_at"), f"must be before ends_at ({starts.isoformat()} >= {ends.isoformat()})")
    salt = p.string(join(path, "salt"), table["salt"]) if "salt" in table else ""
    description = p.string(join(path, "description"), table.get("description", ""), nonempty=False)
    discount = (
        _discount(p, join(path, "discount"), table["discount"], guardrails) if "discount" in table else None
    )
    allow = _allow(p, join(path, "allow"), table.get("allow", {}))
    deny = _deny(p, join(path, "deny"), table.get("deny", {}))
    rollout = _rollout(p, join(path, "rollout"), table["rollout"]) if "rollout" in table else None
    limits = _limits(p, join(path, "limits"), table.get("limits", {}))
    smoke = _smoke_cases(p, join(path, "smoke"), table.get("smoke", []))
    if len(p.items) > before:
        return None
    assert rule_id is not None and payment_types is not None and discount is not None
    assert allow is not None and deny is not None and rollout is not None and limits is not None
    assert smoke is not None and salt is not None and description is not None
    return Rule(
        id=rule_id,
        state=state,
        payment_types=frozenset(payment_types),
        discount=discount,
        rollout=rollout,
        regions=frozenset(regions) if regions is not None else None,
        min_amount=min_amount,
        max_amount=max_amount,
        starts_at=starts,
        ends_at=ends,
        allow=allow,
        deny=deny,
        limits=limits,
        smoke=smoke,
        salt=salt,
        description=description,
    )


def _discount(p: Problems, path: str, raw: Any, guardrails: Guardrails | None) -> Discount | None:
    table = p.table(path, raw)
    if table is None:
        return None
    before = len(p.items)
    _keys(p, path, table, "discount")
    has_pct, has_amt = "percent" in table, "amount" in table
    if has_pct == has_amt:
        p.add(path, "must set exactly one of percent (with max_off) or amount")
        return None
    if has_amt:
        if "max_off" in table:
            p.add(join(path, "max_off"), "only goes with percent (a fixed amount is its own cap)")
        amount = p.money(join(path, "amount"), table["amount"], minimum=1)
        if amount is not None and guardrails is not None and amount > guardrails.max_amount_off:
            p.add(
                join(path, "amount"),
                f"must be at most guardrails.max_amount_off = {guardrails.max_amount_off} (got {amount})",
            )
        return Discount(amount=amount) if len(p.items) == before else None
    percent = p.percent(join(path, "percent"), table["percent"], low_open=True)
    if percent is not None and guardrails is not None and percent > guardrails.max_percent_off:
        p.add(
            join(path, "percent"),
            f"must be at most guardrails.max_percent_off = {_num(guardrails.max_percent_off)} "
            f"(got {_num(percent)})",
        )
    if "max_off" not in table:
        p.add(join(path, "max_off"), "required with percent: a percentage discount must have a cap")
        return None
    max_off = p.money(join(path, "max_off"), table["max_off"], minimum=1)
    if max_off is not None and guardrails is not None and max_off > guardrails.max_amount_off:
        p.add(
            join(path, "max_off"),
            f"must be at most guardrails.max_amount_off = {guardrails.max_amount_off} (got {max_off})",
        )
    return Discount(percent=percent, max_off=max_off) if len(p.items) == before else None


def _num(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _allow(p: Problems, path: str, raw: Any) -> Allow | None:
    table = p.table(path, raw)
    if table is None:
        return None
    _keys(p, path, table, "allow")
    accounts = p.strings(join(path, "accounts"), table.get("accounts", []))
    return Allow(frozenset(accounts)) if accounts is not None else None


def _deny(p: Problems, path: str, raw: Any) -> Deny | None:
    table = p.table(path, raw)
    if table is None:
        return None
    fields = KEYS["deny"]
    _keys(p, path, table, "deny")
    lists = {name: p.strings(join(path, name), table.get(name, [])) for name in fields}
    ips = lists["ips"] or []
    for i, text in enumerate(ips):
        try:
            ipaddress.ip_network(text.strip(), strict=True)
        except ValueError as exc:
            p.add(f"{path}.ips[{i}]", f"must be an IP address or CIDR range ({exc})")
    if any(v is None for v in lists.values()):
        return None
    return Deny(
        accounts=frozenset(lists["accounts"] or ()),
        ips=tuple(ip.strip() for ip in ips),
        devices=frozenset(lists["devices"] or ()),
        merchants=frozenset(lists["merchants"] or ()),
        regions=frozenset(lists["regions"] or ()),
    )


def _rollout(p: Problems, path: str, raw: Any) -> Rollout | None:
    table = p.table(path, raw)
    if table is None:
        return None
    before = len(p.items)
    _keys(p, path, table, "rollout")
    raw_stages = table.get("stages", [])
    if not isinstance(raw_stages, list) or not raw_stages:
        p.add(join(path, "stages"), f"must be a non-empty array of stages (got {describe(raw_stages)})")
        raw_stages = []
    stages: list[Stage] = []
    names: dict[str, int] = {}
    for i, raw_stage in enumerate(raw_stages):
        spath = f"{path}.stages[{i}]"
        st = p.table(spath, raw_stage)
        if st is None:
            continue
        _keys(p, spath, st, "stage")
        name = p.string(join(spath, "name"), st["name"]) if "name" in st else None
        targets = _targets(p, join(spath, "targets"), st.get("targets", {}))
        if name is not None and name in names:
            p.add(join(spath, "name"), f"duplicate stage name {name!r} (also stages[{names[name]}])")
            continue
        if name is None or targets is None:
            continue
        names[name] = i
        stages.append(Stage(name, targets))
    current = p.string(join(path, "stage"), table["stage"]) if "stage" in table else None
    if current is not None and raw_stages and current not in names and len(p.items) == before:
        p.add(join(path, "stage"), f"{current!r} is not one of the stages ({', '.join(names)})")
    if len(p.items) > before or current is None:
        return None
    for problem in check_widening(stages):
        p.add(path, problem)
    return Rollout(stage=current, stages=tuple(stages))


def _targets(p: Problems, path: str, raw: Any) -> dict[str, Fraction] | None:
    table = p.table(path, raw)
    if table is None:
        return None
    out: dict[str, Fraction] = {}
    ok = True
    for key, value in table.items():
        tpath = join(path, str(key))
        if key != "*":
            parts = str(key).split("/")
            if len(parts) > 2 or not all(part.strip() for part in parts) or "*" in str(key):
                p.add(tpath, 'target must be "cluster", "cluster/node" or "*"')
                ok = False
                continue
        pct = p.percent(tpath, value, per_million=True)
        if pct is None:
            ok = False
            continue
        out[str(key)] = pct
    return out if ok else None


def _limit(p: Problems, path: str, raw: Any) -> Limit | None:
    table = p.table(path, raw)
    if table is None:
        return None
    _keys(p, path, table, "limit")
    if "count" not in table and "amount" not in table:
        p.add(path, "must set count, amount or both")
        return None
    count = p.count(join(path, "count"), table["count"], minimum=1) if "count" in table else None
    amount = p.money(join(path, "amount"), table["amount"], minimum=1) if "amount" in table else None
    window = p.window(join(path, "window"), table["window"]) if "window" in table else 0
    if ("count" in table and count is None) or ("amount" in table and amount is None) or window is None:
        return None
    return Limit(count=count, amount=amount, window=window, window_text=str(table.get("window", "")))


def _limits(p: Problems, path: str, raw: Any) -> Limits | None:
    table = p.table(path, raw)
    if table is None:
        return None
    before = len(p.items)
    _keys(p, path, table, "limits")
    found: dict[str, Limit | None] = {}
    for kind in LIMIT_SUBJECTS:
        if kind in table:
            found[kind] = _limit(p, join(path, kind), table[kind])
    alarm = None
    if "rate_alarm" in table:
        apath = join(path, "rate_alarm")
        at = p.table(apath, table["rate_alarm"])
        if at is not None:
            _keys(p, apath, at, "rate_alarm")
            amount = p.money(join(apath, "amount"), at["amount"], minimum=1) if "amount" in at else None
            window = p.window(join(apath, "window"), at["window"]) if "window" in at else None
            if amount is not None and window is not None:
                alarm = RateAlarm(amount, window, str(at["window"]))
    if len(p.items) > before:
        return None
    return Limits(rate_alarm=alarm, **found)


def _smoke_cases(p: Problems, path: str, raw: Any) -> tuple[SmokeCase, ...] | None:
    if not isinstance(raw, list):
        p.add(path, f"must be an array of tables (got {describe(raw)})")
        return None
    before = len(p.items)
    cases: list[SmokeCase] = []
    for i, entry in enumerate(raw):
        cpath = f"{path}[{i}]"
        table = p.table(cpath, entry)
        if table is None:
            continue
        _keys(p, cpath, table, "smoke_case")
        name = p.string(join(cpath, "name"), table["name"]) if "name" in table else None
        context = p.table(join(cpath, "context"), table["context"]) if "context" in table else None
        if context is not None:
            _keys(p, join(cpath, "context"), context, "context")
            for key, value in context.items():
                if key == "amount":
                    p.integer(join(join(cpath, "context"), key), value)
                elif key in CONTEXT_FIELDS:
                    p.string(join(join(cpath, "context"), key), value, nonempty=False)
        expect = p.table(join(cpath, "expect"), table["expect"]) if "expect" in table else None
        applies = discount = reason = None
        if expect is not None:
            epath = join(cpath, "expect")
            _keys(p, epath, expect, "expect")
            if not expect:
                p.add(epath, "must expect at least one of applies, discount, reason")
            if "applies" in expect:
                applies = p.boolean(join(epath, "applies"), expect["applies"])
            if "discount" in expect:
                discount = p.money(join(epath, "discount"), expect["discount"])
            if "reason" in expect:
                reason = p.string(join(epath, "reason"), expect["reason"])
                if reason is not None and reason not in Reason.__members__:
                    p.add(
                        join(epath, "reason"),
                        f"unknown reason {reason!r}; one of {', '.join(Reason.__members__)}",
                    )
        at = p.timestamp(join(cpath, "at"), table["at"]) if "at" in table else None
        if name is not None and context is not None:
            cases.append(
                SmokeCase(
                    name=name, context=context, applies=applies, discount=discount, reason=reason, at=at
                )
            )
    return tuple(cases) if len(p.items) == before else None
