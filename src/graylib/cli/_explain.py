"""``graylib explain FILE RULE --account ...``: the decision for one payment and the step that made it."""

from __future__ import annotations

import argparse
from typing import Any

from .._client import Client
from .._config import Stage
from .._errors import ConfigError
from .._evaluate import STEPS
from .._money import money
from .._values import CONTEXT_FIELDS, Context, Decision
from ..stores import Store
from ._output import did_you_mean, emit_json, error
from ._store import STORE_URL_FORMS, with_store

__all__ = ["STEPS", "identity_note", "register"]


_OPTIONAL_FIELDS = tuple(
    f for f in CONTEXT_FIELDS if f not in ("account", "payment_type", "amount", "cluster", "node")
)
"""The ``Context`` fields ``explain`` takes as options (``--payment-id``, ``--region``, ...): every field but
the required ones and the client identity, which ``--cluster``/``--node`` give."""

_FIELD_HELP = {
    "payment_id": "id (default: none)",
    "region": "region, e.g. CN-31 (default: none)",
    "ip": "client IP address (default: none)",
    "device": "device id (default: none)",
    "merchant": "merchant id (default: none)",
}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "explain", help="show the decision for one payment and which evaluation step decided it"
    )
    parser.add_argument("file", metavar="FILE", help="the rules file (TOML, JSON or YAML)")
    parser.add_argument("rule", metavar="RULE", help="the id of the rule to explain")
    parser.add_argument("--account", required=True, help="the payment's account id")
    parser.add_argument("--payment-type", required=True, help="the payment's type, e.g. online_purchase")
    parser.add_argument(
        "--amount", required=True, type=int, help="the payment's amount in minor units (cents, fen)"
    )
    parser.add_argument(
        "--cluster",
        default="",
        help="the cluster of the node in question (without it, only a '*' stage target reaches the payment)",
    )
    parser.add_argument("--node", default="", help="this node's name within its cluster")
    for field in _OPTIONAL_FIELDS:
        what = _FIELD_HELP.get(field, f"{field.replace('_', ' ')} (default: none)")
        parser.add_argument(f"--{field.replace('_', '-')}", default="", help=f"the payment's {what}")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"also obey the kill switches of this shared store (which must exist): {STORE_URL_FORMS}",
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
        **{field: getattr(args, field) for field in _OPTIONAL_FIELDS},
    )
    try:
        ids = [rule.id for rule in client.config.rules]
        if args.rule not in ids:
            hint = did_you_mean(args.rule, ids)
            error(f"no rule {args.rule!r} in {args.file}{hint}; rules there: {', '.join(ids)}")
            return 2
        decision = client.evaluate(args.rule, ctx)
        rule = client.config.rule(args.rule)
        stage = rule.rollout.current if rule is not None else None
    finally:
        client.close()
    if args.json:
        note = identity_note(args.cluster, args.node, stage)
        extra = {"step": STEPS[decision.reason], "cluster": args.cluster, "node": args.node, "note": note}
        emit_json(as_dict(decision) | extra)
    else:
        print(render(decision, args.cluster, args.node, stage))
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


def identity_note(cluster: str, node: str, stage: Stage | None = None) -> str:
    """What running without ``--cluster``/``--node`` means, said plainly; empty when both are given.

    Stage targets name clusters (``sh-small``) and nodes (``sh-small/sh-small-01``); a process without a
    cluster is reached by none of them, only by ``*``. With ``stage`` (the rule's current one) the note says
    whether that stage reaches it at all.
    """
    if cluster and node:
        return ""
    if cluster:
        return (
            f"ran as cluster {cluster!r} with no node: stage targets naming a node of {cluster!r} do not"
            " reach it; pass --node as the node in question"
        )
    what = "no cluster" + (f" (node {node!r} alone names nothing)" if node else " and no node")
    note = f"ran as {what}: no stage target naming a cluster or node reaches it, only a '*' target does"
    if stage is not None:
        star = stage.targets.get("*")
        if star is None:
            note += f"; the current stage {stage.name!r} has none, so only allow-listed accounts can apply"
        else:
            note += f"; the current stage {stage.name!r} has '*' = {float(star):g}%"
    else:
        note += ", and allow-listed accounts apply regardless of the stage"
    return note + "; pass --cluster and --node as the node in question"


def render(decision: Decision, cluster: str, node: str, stage: Stage | None = None) -> str:
    where = f"{cluster or '(no cluster)'}/{node or '(no node)'}"
    lines = [
        f"rule      {decision.rule_id} (config version {decision.rule_version or '-'})",
        f"node      {where}" + (f", stage {decision.stage!r}" if decision.stage else ""),
        f"applies   {'yes' if decision.applies else 'no'}",
        f"discount  {money(decision.discount, exact=True)}",
        f"reason    {decision.reason.value}",
        f"step      {STEPS[decision.reason]}",
    ]
    if decision.bucket >= 0:
        lines.append(f"bucket    {decision.bucket} (of 1,000,000)")
    if decision.detail:
        lines.append(f"detail    {decision.detail}")
    note = identity_note(cluster, node, stage)
    if note:
        lines.append(f"note      {note}")
    return "\n".join(lines)
