"""``graylib status FILE --store URL``: the rules of a file as the shared store sees them.

For each rule: state and current stage from the file, kill switch (and why, and since when) and grant
statistics (real and shadow) from the store, and the rule's grant ledger added up beside them (grants,
releases, net), saying when the two differ. Decisions by reason are per process: a running client reports
them through ``Client.status()``. Exit codes: 0 shown, 1 a rule's ledger differs from its counters, 2 the
file is invalid or the store unusable or unreadable (what could be read is still printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import attrs

from .._errors import ConfigError
from .._load import load_config
from .._money import money
from .._status import RuleStatus, Status, store_status
from ..stores import Store
from ._output import emit_json, error
from ._store import add_store_argument, scrub, shown_url, store_url, with_store

__all__ = ["register", "render_status", "status_dict"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "status", help="per rule: state, stage, kill switch and what it granted (from the shared store)"
    )
    parser.add_argument("file", metavar="FILE", help="the rules file the services run")
    add_store_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        error(str(exc))
        return 2
    url = store_url(args.store)

    def show(store: Store) -> int:
        status = _scrubbed(store_status(config, store, source=args.file), url)
        if args.json:
            emit_json({"store": shown_url(url), **status_dict(status)})
        else:
            print(render_status(status, store=shown_url(url)))
        # Printed either way; a monitor must still be able to tell an unreadable store from a healthy one.
        unreadable = status.kill_switch_error or any(
            rule.stats_error or rule.ledger_error for rule in status.rules
        )
        if unreadable:
            return 2
        return 1 if any(rule.ledger_agrees is False for rule in status.rules) else 0

    return with_store(url, show)


def _scrubbed(status: Status, url: str) -> Status:
    """``status`` with the store's error messages cleared of the URL's passwords."""
    rules = tuple(
        attrs.evolve(r, stats_error=scrub(r.stats_error, url), ledger_error=scrub(r.ledger_error, url))
        for r in status.rules
    )
    return attrs.evolve(status, kill_switch_error=scrub(status.kill_switch_error, url), rules=rules)


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_dict(status: Status) -> dict[str, Any]:
    """``status`` as JSON; what the store could not tell is ``null``, never a zero or a ``false``."""
    data = status.to_dict()
    for rule, out in zip(status.rules, data["rules"], strict=True):
        if rule.stats_error:
            out.update(granted_count=None, granted_amount=None, shadow_count=None, shadow_amount=None)
        if status.kill_switch_error and not rule.killed:
            out["killed"] = None
    return data


def _ledger_lines(rule: RuleStatus) -> list[str]:
    if rule.ledger_error:
        return [f"  ledger  unavailable: {rule.ledger_error}"]
    if rule.ledger_net_amount is None:
        return []
    net = f"net {rule.ledger_net_count} payments, {money(rule.ledger_net_amount, exact=True)} off"
    line = f"  ledger  {rule.ledger_grants} grants, {rule.ledger_releases} releases: {net}"
    if rule.ledger_agrees is True:
        return [f"{line} (agrees with the counters)"]
    if rule.ledger_agrees is False:
        return [f"{line}", "          the ledger DIFFERS from the counters: run graylib reconcile"]
    return [line]


def _rule_lines(rule: RuleStatus, switches_unknown: bool) -> list[str]:
    head = f"rule {rule.rule_id}: {rule.state}, stage {rule.stage}"
    if rule.killed:
        head += f", KILLED ({rule.kill_reason or 'no reason given'}; since {_when(rule.killed_at)})"
    elif switches_unknown:
        head += ", kill switch unavailable"
    lines = [head]
    if rule.stats_error:
        lines.append(f"  granted unavailable: {rule.stats_error}")
    else:
        lines.append(f"  granted {rule.granted_count} payments, {money(rule.granted_amount, exact=True)} off")
    lines += _ledger_lines(rule)
    if rule.stats_error and rule.state == "shadow":
        lines.append("  shadow  unavailable")
    elif rule.shadow_count or rule.state == "shadow":
        shadow = money(rule.shadow_amount, exact=True)
        lines.append(f"  shadow  {rule.shadow_count} payments, {shadow} off (would have granted)")
    if rule.decisions:
        decisions = ", ".join(f"{reason} {n}" for reason, n in sorted(rule.decisions.items()))
        lines.append(f"  decisions since start: {decisions}")
    return lines


def render_status(status: Status, *, store: str = "") -> str:
    """A status as an operator reads it (also used for a client's ``status()`` in the runbook)."""
    lines = [f"config  version {status.version} from {status.source or '(mapping)'}"]
    if status.served_from == "last_good":
        lines.append("        SERVING THE LAST GOOD COPY: the source file is broken or refused (see error)")
    if status.revision is not None:
        age = "" if status.last_read_age is None else f", store last read {status.last_read_age:.1f}s ago"
        lines.append(f"        revision {status.revision} published in {status.source}{age}")
    if store:
        lines.append(f"store   {store}")
    if status.reload_interval is not None:
        last = _when(status.last_reload_at)
        lines.append(f"reload  every {status.reload_interval:g}s, {status.reloads} reloads, last {last}")
    if status.last_reload_error:
        lines.append(f"error   {_when(status.last_reload_error_at)}: {status.last_reload_error}")
    if status.kill_switch_error:
        lines.append(f"        kill switches unavailable: {status.kill_switch_error}")
    for rule in status.rules:
        lines += ["", *_rule_lines(rule, bool(status.kill_switch_error))]
    return "\n".join(lines)
