"""``graylib kill``, ``graylib revive`` and ``graylib switches``: the kill switches in a shared store.

A kill switch lives in the store, not in the rules file, so stopping a rule needs no config deploy: every
client sharing the store refuses the rule (``Reason.KILLED``) within its ``kill_refresh`` (a second by
default). Killing needs no approval, on purpose: the emergency path is never blocked. Reviving only clears
the switch; a rule whose state in the rules file is ``killed`` stays killed.

The store is named by ``--store URL`` (``sqlite:///path.db``, ``redis://host:port/db``) or by the
``GRAYLIB_STORE`` environment variable. Exit codes: 0 done; 1 ``revive`` found no switch to clear; 2 the
store URL is missing or wrong, or the store could not be reached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from ..stores import KillSwitch, Store
from ._output import emit_json
from ._store import add_store_argument, store_url, with_store

__all__ = ["register"]


def register(sub: Any) -> None:
    kill: argparse.ArgumentParser = sub.add_parser(
        "kill", help="stop a rule everywhere: set its kill switch in the shared store"
    )
    kill.add_argument("rule", metavar="RULE")
    kill.add_argument("--reason", required=True, help="why; shown by status and in every refusal's detail")
    add_store_argument(kill)
    kill.add_argument("--json", action="store_true", help="print the kill switch as JSON")
    kill.set_defaults(handler=run_kill)

    revive: argparse.ArgumentParser = sub.add_parser(
        "revive", help="clear a rule's kill switch (the rules file's state still applies)"
    )
    revive.add_argument("rule", metavar="RULE")
    add_store_argument(revive)
    revive.set_defaults(handler=run_revive)

    switches: argparse.ArgumentParser = sub.add_parser(
        "switches", help="list the kill switches set in the shared store, with reason and time"
    )
    add_store_argument(switches)
    switches.add_argument("--json", action="store_true", help="print the switches as JSON")
    switches.set_defaults(handler=run_switches)


def run_kill(args: argparse.Namespace) -> int:
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
    def act(store: Store) -> int:
        if store.revive(args.rule):
            print(f"{args.rule}: kill switch cleared (the rules file's state still applies)")
            return 0
        print(f"{args.rule}: no kill switch was set")
        return 1

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
