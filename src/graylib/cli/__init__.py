"""The ``graylib`` command line: one module per command, each registering its own sub-parser.

Exit codes: 0 success, 1 the thing checked is wrong (invalid config, refused change, failing smoke case),
2 usage or input errors (a file that cannot be read where a config is compared).
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
    "graylib.cli._status",
)
"""Modules that each define ``register(subparsers)``; the order is the order of ``graylib --help``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graylib",
        description="Check, explain and operate staged, budget-limited discount rules.",
    )
    parser.add_argument("--version", action="version", version=f"graylib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
