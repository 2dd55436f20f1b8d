"""``graylib explain FILE RULE --account ...``: the decision for one payment and the step that made it."""

from __future__ import annotations

import argparse
from typing import Any

from .._client import Client
from .._errors import ConfigError
from .._values import Context, Decision, Reason
from ..stores import Store
from ._output import emit_json, error
from ._store import with_store

__all__ = ["STEPS", "register"]

STEPS: dict[Reason, str] = {
    Reason.UNKNOWN_RULE: "1. rule lookup: no such rule in this config",
    Reason.KILLED: "1. kill: the rule's state is killed or its kill switch is set",
    Reason.NOT_ACTIVE: "2. schedule: outside starts_at/ends_at",
    Reason.DENYLISTED: "3. deny lists",
    Reason.PAYMENT_TYPE: "4. eligibility: payment type not listed by the rule",
    Reason.REGION: "4. eligibility: region not listed by the rule",
    Reason.NOT_ELIGIBLE: "4. eligibility: amount or account",
    Reason.APPLIES_ALLOWLISTED: "5. allow list: smoke-test account, past stage and bucket gates",
    Reason.OUT_OF_STAGE: "6. stage: this cluster/node is not targeted by the current stage",
    Reason.OUT_OF_ROLLOUT: "7. rollout: bucket at or above the stage's threshold at this node",
    Reason.APPLIES_ROLLOUT: "7. rollout: bucket below the stage's threshold at this node",
    Reason.LIMIT_REACHED: "9. limits: a limit refused the claim",
    Reason.SHADOW: "10. shadow: would apply, but the rule is in shadow mode",
    Reason.ERROR: "fail closed: the payment could not be judged",
}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "explain", help="show the decision for one payment and which evaluation step decided it"
    )
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("rule", metavar="RULE")
    parser.add_argument("--account", required=True)
    parser.add_argument("--payment-type", required=True)
    parser.add_argument("--amount", required=True, type=int, help="minor units (cents, fen)")
    parser.add_argument("--cluster", default="", help="this node's cluster (the client identity)")
    parser.add_argument("--node", default="", help="this node's name within its cluster")
    for field in ("payment_id", "region", "ip", "device", "merchant"):
        parser.add_argument(f"--{field.replace('_', '-')}", default="")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="also obey the kill switches of this shared store: sqlite:///PATH or redis://HOST:PORT/DB",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.store:
        return with_store(args.store, lambda store: _explain(args, store))
    return _explain(args, None)


def _explain(args: argparse.Namespace, store: Store | None) -> int:
    if store is not None:
        store.kill_switches()  # a store that cannot be read is an error here, not a silently ignored switch
    try:
        client = Client.from_file(args.file, cluster=args.cluster, node=args.node, store=store)
    except ConfigError as exc:
        error(str(exc))
        return 2
    ctx = Context(
        account=args.account,
        payment_type=args.payment_type,
        amount=args.amount,
        payment_id=args.payment_id,
        region=args.region,
        ip=args.ip,
        device=args.device,
        merchant=args.merchant,
    )
    try:
        decision = client.evaluate(args.rule, ctx)
    finally:
        client.close()
    if args.json:
        emit_json(as_dict(decision) | {"step": STEPS[decision.reason]})
    else:
        print(render(decision, args.cluster, args.node))
    return 0


def as_dict(decision: Decision) -> dict[str, Any]:
    return {
        "applies": decision.applies,
        "discount": decision.discount,
        "reason": decision.reason.value,
        "rule_id": decision.rule_id,
        "rule_version": decision.rule_version,
        "stage": decision.stage,
        "bucket": decision.bucket,
        "detail": decision.detail,
    }


def render(decision: Decision, cluster: str, node: str) -> str:
    where = f"{cluster or '(no cluster)'}/{node or '(no node)'}"
    lines = [
        f"rule      {decision.rule_id} (config version {decision.rule_version or '-'})",
        f"node      {where}" + (f", stage {decision.stage!r}" if decision.stage else ""),
        f"applies   {'yes' if decision.applies else 'no'}",
        f"discount  {decision.discount}",
        f"reason    {decision.reason.value}",
        f"step      {STEPS[decision.reason]}",
    ]
    if decision.bucket >= 0:
        lines.append(f"bucket    {decision.bucket} (of 1,000,000)")
    if decision.detail:
        lines.append(f"detail    {decision.detail}")
    return "\n".join(lines)
