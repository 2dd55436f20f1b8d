"""``graylib schema``: print the JSON Schema of the rules format, for editors to complete keys and flag typos.

The schema ships in the package (``graylib/rules.schema.json``). It describes keys, types and single-value
ranges; what depends on other values (guardrail ceilings, stages that only widen, smoke cases) is left to
``graylib validate``. See docs/config.md for pointing Taplo or the YAML language server at it.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from ._output import error

__all__ = ["register", "schema_text"]


def schema_text() -> str:
    """The shipped schema's text (JSON)."""
    return resources.files("graylib").joinpath("rules.schema.json").read_text(encoding="utf-8")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "schema", help="print the JSON Schema of rules files (for editor completion and checks)"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write it to FILE instead of printing it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        error(f"cannot write {args.output}: {exc}")
        return 2
    return 0
