"""``graylib smoke FILE [--cluster C --node N]``: run the smoke cases as one node, as at each rollout step.

Each case prints PASS or FAIL with the decision it expected and the one it got. Exit codes: 0 every case
passed, 1 a case failed, 2 the file is invalid for another reason.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._config import parse_config, read_file
from .._errors import ConfigError
from .._smoke import SmokeResult, run_smoke
from ._explain import identity_note
from ._output import emit_json, error

__all__ = ["register"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "smoke", help="run a rules file's smoke cases as one cluster/node and show each result"
    )
    parser.add_argument("file", metavar="FILE", help="the rules file whose smoke cases to run")
    parser.add_argument(
        "--cluster",
        default="",
        help="the cluster to run as (without it, only a '*' stage target reaches a case that names none)",
    )
    parser.add_argument("--node", default="", help="the node to run as, within its cluster")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=run)


def _expected(result: SmokeResult) -> str:
    case = result.case
    parts = []
    if case.applies is not None:
        parts.append(f"applies={str(case.applies).lower()}")
    if case.discount is not None:
        parts.append(f"discount={case.discount}")
    if case.reason is not None:
        parts.append(f"reason={case.reason}")
    return ", ".join(parts)


def _actual(result: SmokeResult) -> str:
    d = result.decision
    text = f"applies={str(d.applies).lower()}, discount={d.discount}, reason={d.reason.value}"
    return f"{text} ({d.detail})" if d.detail else text


def _as_dict(result: SmokeResult) -> dict[str, Any]:
    d = result.decision
    return {
        "rule_id": result.rule_id,
        "path": result.path,
        "name": result.case.name,
        "passed": result.passed,
        "expected": {
            k: v
            for k, v in (
                ("applies", result.case.applies),
                ("discount", result.case.discount),
                ("reason", result.case.reason),
            )
            if v is not None
        },
        "actual": {
            "applies": d.applies,
            "discount": d.discount,
            "reason": d.reason.value,
            "detail": d.detail,
        },
        "mismatches": list(result.mismatches),
    }


def run(args: argparse.Namespace) -> int:
    try:
        data, _text = read_file(args.file)
        config = parse_config(data, source=args.file)
    except ConfigError as exc:
        if args.json:
            emit_json({"file": args.file, "valid": False, "problems": list(exc.problems)})
        else:
            error(str(exc))
        return 2
    results = run_smoke(config, cluster=args.cluster, node=args.node)
    note = identity_note(args.cluster, args.node)
    if note:
        note = f"cases whose context names no cluster {note}"
    failed = [r for r in results if not r.passed]
    if args.json:
        emit_json(
            {
                "file": args.file,
                "valid": True,
                "version": config.version,
                "cluster": args.cluster,
                "node": args.node,
                "note": note,
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "cases": [_as_dict(r) for r in results],
            }
        )
        return 1 if failed else 0
    where = f"{args.cluster or '(no cluster)'}/{args.node or '(no node)'}"
    print(f"{args.file}: version {config.version}, smoke cases as {where}")
    if note:
        print(f"  note: {note}")
    for r in results:
        status = "PASS" if r.passed else "FAIL"
        print(f"  {status}  {r.rule_id} {r.path} {r.case.name!r}")
        print(f"        expected {_expected(r)}")
        print(f"        actual   {_actual(r)}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
