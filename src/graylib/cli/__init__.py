"""The ``graylib`` command line: one module per command, each registering its own sub-parser.

Exit codes, the same for every command (docs/operations.md lists them per command):

- 0: done (valid, allowed, passed, shown, switch set or cleared);
- 1: refused or a discrepancy: what was checked is wrong (``validate``: an invalid file; ``plan``: a change
  policy refuses; ``smoke``: a failing case; ``revive``: no switch to clear; ``verify``: fewer valid
  signatures than the threshold; ``rotate``, ``trust publish``: a trust file change refused;
  ``publish``/``rollback``: policy, approvals or a conflict refuses; ``fleet``: a node is behind, silent
  or unhealthy);
- 2: invalid input (a usage error, an unreadable or invalid file where one is used rather than checked, a
  rule id the file does not have, a revision the store does not have), or a store that is missing,
  unknown (``no such store``), in use where a fresh one is needed, or unreachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from .._version import __version__

__all__ = ["main"]

COMMANDS = (
    "graylib.cli._validate",
    "graylib.cli._explain",
    "graylib.cli._simulate",
    "graylib.cli._kill",
    "graylib.cli._init_store",
    "graylib.cli._smoke",
    "graylib.cli._plan",
    "graylib.cli._keygen",
    "graylib.cli._approve",
    "graylib.cli._verify",
    "graylib.cli._rotate",
    "graylib.cli._trust_store",
    "graylib.cli._publish",
    "graylib.cli._history",
    "graylib.cli._fleet",
    "graylib.cli._status",
    "graylib.cli._ledger",
    "graylib.cli._reconcile",
    "graylib.cli._schema",
)
"""Modules that each define ``register(subparsers)``; the order is the order of ``graylib --help``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graylib",
        description="Check, explain and operate staged, budget-limited discount rules.",
    )
    parser.add_argument("--version", action="version", version=f"graylib {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        help="one of these (graylib COMMAND --help for more)",
    )
    for name in COMMANDS:
        import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except BrokenPipeError:  # `graylib status | head` must not print a traceback
        return 0
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
