"""``graylib validate FILE...``: every problem of every file, with its path; exit 1 when any is invalid."""

from __future__ import annotations

import argparse
from typing import Any

from .._errors import ConfigError
from .._load import load_config
from ._output import emit_json

__all__ = ["register"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "validate", help="check rules files (syntax, every key, guardrails, stages, smoke cases)"
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="rules files to check (TOML, JSON or YAML)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    for path in args.files:
        try:
            config = load_config(path)
        except ConfigError as exc:
            results.append({"file": path, "valid": False, "problems": list(exc.problems)})
            if not args.json:
                print(f"{path}: INVALID ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''})")
                for problem in exc.problems:
                    print(f"  - {problem}")
            continue
        smoke = sum(len(r.smoke) for r in config.rules)
        results.append({"file": path, "valid": True, "version": config.version, "rules": len(config.rules)})
        if not args.json:
            print(
                f"{path}: OK (version {config.version}, {len(config.rules)} rules,"
                f" {smoke} smoke cases passed)"
            )
    if args.json:
        emit_json(results)
    return 0 if all(r["valid"] for r in results) else 1
