"""``graylib kill``, ``graylib revive`` and ``graylib switches``: the kill switches in a shared store.

A kill switch lives in the store, not in the rules file, so stopping a rule needs no config deploy: every
client sharing the store refuses the rule (``Reason.KILLED``) within its ``kill_refresh`` (a second by
default). Killing needs no approval, on purpose: the emergency path is never blocked. Reviving only clears
the switch; a rule whose state in the rules file is ``killed`` stays killed.

A switch is keyed by the rule id as typed, so a mistyped id would stop nothing while the command reported
success. ``kill`` therefore checks the id against ``--rules FILE`` (the rules file in force) and refuses an
id the file does not have, naming the closest ones; ``--force`` sets the switch without the check (loudly).
``kill`` needs one of the two. ``revive`` checks the same way when given ``--rules``; without it, reviving an
id with no switch exits 1 and names the switches that are set.

The store is named by ``--store URL`` or by the ``GRAYLIB_STORE`` environment variable, and must exist.
Exit codes: 0 done; 1 ``revive`` found no switch to clear; 2 invalid input (an id the rules file does not
have, no ``--rules``/``--force`` for ``kill``, an unreadable rules file), a missing or wrong store URL, no
such store, or a store that could not be reached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from .._config import parse_config, read_file
from .._errors import ConfigError
from ..stores import KillSwitch, Store
from ._output import did_you_mean, emit_json, error
from ._store import add_store_argument, store_url, with_store

__all__ = ["register"]

_RULES_HELP = (
    "the rules file in force; RULE must be one of its rule ids (a mistyped id is refused, with the "
    "closest ids named)"
)


def register(sub: Any) -> None:
    kill: argparse.ArgumentParser = sub.add_parser(
        "kill",
        help="stop a rule everywhere: set its kill switch in the shared store",
        description="Set RULE's kill switch in the shared store; every client sharing it refuses the rule "
        "within its kill_refresh. Needs --rules FILE (RULE is checked against it) or --force.",
    )
    kill.add_argument("rule", metavar="RULE", help="the id of the rule to stop")
    kill.add_argument("--reason", required=True, help="why; shown by status and in every refusal's detail")
    kill.add_argument("--rules", metavar="FILE", help=_RULES_HELP + "; needed unless --force")
    kill.add_argument(
        "--force",
        action="store_true",
        help="set the switch even when RULE is not checked (no --rules) or not in the rules file",
    )
    add_store_argument(kill)
    kill.add_argument("--json", action="store_true", help="print the kill switch as JSON")
    kill.set_defaults(handler=run_kill)

    revive: argparse.ArgumentParser = sub.add_parser(
        "revive", help="clear a rule's kill switch (the rules file's state still applies)"
    )
    revive.add_argument("rule", metavar="RULE", help="the id of the rule whose kill switch to clear")
    revive.add_argument("--rules", metavar="FILE", help=_RULES_HELP)
    revive.add_argument(
        "--force", action="store_true", help="clear the switch even when RULE is not in the rules file"
    )
    add_store_argument(revive)
    revive.add_argument("--json", action="store_true", help="print what was cleared as JSON")
    revive.set_defaults(handler=run_revive)

    switches: argparse.ArgumentParser = sub.add_parser(
        "switches", help="list the kill switches set in the shared store, with reason and time"
    )
    add_store_argument(switches)
    switches.add_argument("--json", action="store_true", help="print the switches as JSON")
    switches.set_defaults(handler=run_switches)


def _rule_ids(path: str) -> tuple[str, ...]:
    """The rule ids of a rules file (parsed and checked as a client would, smoke cases aside)."""
    data, _text = read_file(path)
    return tuple(rule.id for rule in parse_config(data, source=path).rules)


def check_rule(args: argparse.Namespace, verb: str) -> bool:
    """True when ``args.rule`` may be acted on; else the refusal is printed (exit 2).

    With ``--rules``, the id must be one of the file's; ``--force`` turns a refusal into a warning.
    """
    if not args.rules:
        if args.force:
            error(f"warning: {args.rule!r} not checked against a rules file (--force)")
        return True
    try:
        ids = _rule_ids(args.rules)
    except ConfigError as exc:
        if args.force:
            error(f"warning: {args.rule!r} not checked: {exc} (--force)")
            return True
        error(f"cannot check {args.rule!r} against {args.rules}: {exc}")
        error(f"nothing changed; to {verb} without the check, add --force")
        return False
    if args.rule in ids:
        return True
    missing = f"no rule {args.rule!r} in {args.rules}{did_you_mean(args.rule, ids)}"
    if args.force:
        error(f"warning: {missing}; switch {verb} anyway (--force)")
        return True
    error(f"{missing}; rules there: {', '.join(ids) or '(none)'}")
    error(f"nothing changed; to {verb} a switch for an id the file does not have, add --force")
    return False


def run_kill(args: argparse.Namespace) -> int:
    if not args.rules and not args.force:
        error(
            f"kill needs --rules FILE (the rules file in force, so that {args.rule!r} is checked: a mistyped"
            " id would stop nothing) or --force to set the switch unchecked"
        )
        return 2
    if not check_rule(args, "set"):
        return 2

    def act(store: Store) -> int:
        store.kill(args.rule, args.reason, time.time())
        switch = store.kill_switches().get(args.rule)
        if args.json:
            emit_json(_as_dict(switch) if switch else {"rule_id": args.rule, "killed": True})
            return 0
        if switch is None:  # revived between the two calls
            print(f"{args.rule}: kill switch set")
        elif switch.reason != args.reason:
            print(
                f"{args.rule}: already killed since {_when(switch.at)}: {switch.reason} (first reason kept)"
            )
        else:
            print(f"{args.rule}: killed at {_when(switch.at)}: {switch.reason}")
        return 0

    return with_store(store_url(args.store), act)


def run_revive(args: argparse.Namespace) -> int:
    if not check_rule(args, "clear"):
        return 2

    def act(store: Store) -> int:
        before = store.kill_switches().get(args.rule)
        cleared = store.revive(args.rule)
        others = [] if cleared else list(store.kill_switches())
        if args.json:
            emit_json(
                {
                    "rule_id": args.rule,
                    "revived": cleared,
                    "switch": _as_dict(before) if cleared and before is not None else None,
                    "switches_set": sorted(others),
                }
            )
        elif cleared:
            print(f"{args.rule}: kill switch cleared (the rules file's state still applies)")
        else:
            print(f"{args.rule}: no kill switch was set{did_you_mean(args.rule, others)}")
        return 0 if cleared else 1

    return with_store(store_url(args.store), act)


def run_switches(args: argparse.Namespace) -> int:
    def act(store: Store) -> int:
        switches = sorted(store.kill_switches().values(), key=lambda s: s.rule_id)
        if args.json:
            emit_json([_as_dict(s) for s in switches])
        elif not switches:
            print("no kill switches set")
        else:
            width = max(len(s.rule_id) for s in switches)
            for s in switches:
                print(f"{s.rule_id:<{width}}  {_when(s.at)}  {s.reason}")
        return 0

    return with_store(store_url(args.store), act)


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_dict(switch: KillSwitch) -> dict[str, Any]:
    return {"rule_id": switch.rule_id, "reason": switch.reason, "at": switch.at, "at_utc": _when(switch.at)}
