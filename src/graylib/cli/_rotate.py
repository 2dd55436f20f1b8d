"""``graylib rotate CURRENT NEW``: check that the trust file NEW may replace CURRENT, the one in force.

A trust file change (a rotated key, an added or removed approver, a new threshold) is an approved act: NEW
must be valid, have a higher version, and carry CURRENT's threshold of valid signatures by CURRENT's
approvers over its exact bytes (``graylib approve NEW --key ...``). The command only checks; putting NEW in
place is the operator's step once it says ACCEPTED. Exit codes: 0 accepted, 1 refused, 2 invalid input
(CURRENT invalid or unreadable, NEW unreadable, no ``cryptography`` package).
"""

from __future__ import annotations

import argparse
from typing import Any

from .._errors import ConfigError
from .._trust import SigningUnavailable, check_trust_change, read_bounded
from ._output import emit_json, error
from ._signed import SIGNATURES_HELP, InputError, read_signatures, read_trust, render_checks

__all__ = ["register"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "rotate", help="check a trust file change: a higher version, signed by the approvers in force"
    )
    parser.add_argument("current", metavar="CURRENT", help="the trust file in force")
    parser.add_argument("new", metavar="NEW", help="the trust file to put in its place")
    parser.add_argument("--signatures", metavar="SIG", help=SIGNATURES_HELP.replace("the file's", "NEW's"))
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        current = read_trust(args.current)
        data = read_bounded(args.new)
        sig_path, signatures = read_signatures(args.new, args.signatures)
        change = check_trust_change(current, data, signatures, source=args.new)
    except (InputError, ConfigError, SigningUnavailable) as exc:
        error(str(exc))
        return 2
    if args.json:
        emit_json(change.to_dict())
        return 0 if change.accepted else 1
    new_version = change.new.version if change.new is not None else "?"
    print(f"trust file {args.current} (version {current.version}) -> {args.new} (version {new_version})")
    if change.new is not None:
        print(f"  signatures from {sig_path}, counted against version {current.version}'s approvers:")
        print("\n".join(render_checks(change.checks)))
    for reason in change.reasons:
        print(f"  {'x' if not change.accepted else '='} {reason}")
    print("ACCEPTED" if change.accepted else "REFUSED")
    return 0 if change.accepted else 1
