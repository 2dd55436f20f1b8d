"""``graylib plan OLD NEW``: what a config change does, how far it reaches, and whether policy allows it.

``graylib plan NEW --store URL`` plans NEW against the revision currently published in the store (what
``graylib publish`` would check; against nothing when nothing is published yet).

With a trust file published in the store (``graylib trust publish``), ``plan NEW --store URL`` counts
signatures against it, as ``publish`` will (``--trust``, if given, must be that text). With ``--trust
TRUST``, approvals are signatures (``NEW.sig``, or ``--signatures``) checked against the
trust file: only valid ones count, against its threshold, and ``[change].approved_by`` is shown as claimed.
Without it, the plan says that the ``approved_by`` names it counts are unauthenticated.

Exit codes: 0 the change is allowed, 1 it violates policy, 2 either config (or the traffic sample, the trust
file, the signature file) is invalid, or the store is missing or unreachable; every problem of both configs
is printed before exiting.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._config import Config
from .._errors import ConfigError
from .._load import RulesText, build, load_config, text_of_bytes
from .._money import money
from .._policy import (
    BlastRadius,
    Plan,
    RuleChange,
    SignedApprovals,
    plan_change,
    read_traffic_sample,
    signed_approvals,
)
from .._publish import running_config
from .._trust import SigningUnavailable, Trust, read_bounded, read_chain
from .._values import Context
from ..stores import Store
from ._output import emit_json, error
from ._signed import SIGNATURES_HELP, TRUST_HELP, InputError, read_signatures, read_trust, render_checks
from ._store import add_store_argument, store_url, with_store

__all__ = ["register", "render_plan"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan", help="compare two rules files: changes, blast radius, policy violations"
    )
    parser.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="OLD NEW: the config running now and the config to ship; with --store, NEW only",
    )
    add_store_argument(
        parser, what="plan NEW against the revision currently published in this store (instead of OLD)"
    )
    parser.add_argument(
        "--traffic",
        metavar="SAMPLE.csv",
        help="recent payments (columns account,payment_type,amount and optionally cluster,node,region,...)"
        " to count the payments each change newly reaches",
    )
    parser.add_argument(
        "--trust",
        metavar="TRUST",
        help=TRUST_HELP + "; only valid signatures of NEW then count as approvals",
    )
    parser.add_argument(
        "--signatures", metavar="SIG", help=SIGNATURES_HELP.replace("the file's", "NEW's") + "; needs --trust"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(handler=run)


def _load(path: str, problems: list[str]) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        problems += [f"{path}: {p}" for p in exc.problems]
        return None


def _load_signed(
    args: argparse.Namespace, path: str, problems: list[str], in_store: Trust | None = None
) -> tuple[Config | None, SignedApprovals | None]:
    """NEW, read once as bytes, and its signatures checked against the trust file (``in_store``: the one
    in force in the store, which ``--trust``, if given, must be)."""
    trust = in_store
    try:
        given = read_trust(args.trust) if args.trust else None
    except InputError as exc:
        problems.append(str(exc))
        trust = given = None
    if given is not None and in_store is not None and given.digest != in_store.digest:
        problems.append(
            f"--trust {args.trust} (version {given.version}) is not the trust file in force in the store "
            f"(version {in_store.version}): give no --trust, or the store's (graylib trust show)"
        )
        trust = None
    elif in_store is None:
        trust = given
    try:
        data = read_bounded(path)
        new = build(text_of_bytes(data, path)).config
    except ConfigError as exc:
        problems += [f"{path}: {p}" for p in exc.problems]
        return None, None
    if trust is None:
        return new, None
    try:
        _, signatures = read_signatures(path, args.signatures)
        return new, signed_approvals(new, data, signatures, trust)
    except (InputError, SigningUnavailable) as exc:
        problems.append(str(exc))
    return new, None


def run(args: argparse.Namespace) -> int:
    if len(args.files) == 2 and not args.store:
        problems: list[str] = []
        old = _load(args.files[0], problems)
        new, approvals = _load_new(args, args.files[1], problems)
        return _report(old, new, approvals, problems, args)
    if len(args.files) != 1:
        error("plan takes OLD NEW, or NEW with --store URL (planned against the published revision)")
        return 2

    def against_store(store: Store) -> int:
        problems: list[str] = []
        try:
            current = running_config(store)
            old = (
                build(RulesText(current.text, current.format, f"revision {current.number}"))
                if current
                else None
            )
        except ConfigError as exc:
            problems += list(exc.problems)
            old = None
        try:
            chain = read_chain(store)
        except ConfigError as exc:
            problems += list(exc.problems)
            chain = None
        if chain is not None:
            new, approvals = _load_signed(args, args.files[0], problems, chain.trust)
        else:
            new, approvals = _load_new(args, args.files[0], problems)
        if current is None and not problems and not args.json:
            print("nothing is published in this store yet: planned against nothing (every rule is new)")
        old_config = old.config if old is not None else None
        return _report(old_config, new, approvals, problems, args, against_nothing=current is None)

    return with_store(store_url(args.store), against_store)


def _load_new(
    args: argparse.Namespace, path: str, problems: list[str]
) -> tuple[Config | None, SignedApprovals | None]:
    """NEW, and with ``--trust`` its signatures checked (read from the same bytes)."""
    if args.trust:
        return _load_signed(args, path, problems)
    if args.signatures:
        problems.append("--signatures needs --trust: signatures are checked against a trust file")
    return _load(path, problems), None


def _report(
    old: Config | None,
    new: Config | None,
    approvals: SignedApprovals | None,
    problems: list[str],
    args: argparse.Namespace,
    *,
    against_nothing: bool = False,
) -> int:
    sample: list[Context] | None = None
    if args.traffic:
        try:
            sample = read_traffic_sample(args.traffic)
        except (OSError, ValueError) as exc:
            problems.append(f"{args.traffic}: {exc}" if isinstance(exc, OSError) else str(exc))
    if (old is None and not against_nothing) or new is None or problems:
        if args.json:
            emit_json({"valid": False, "problems": problems})
        else:
            for problem in problems:
                error(problem)
            error("plan not made: fix the problems above")
        return 2
    plan = plan_change(old, new, traffic_sample=sample, approvals=approvals)
    if args.json:
        emit_json({"valid": True, **plan.to_dict()})
    else:
        print(render_plan(plan))
    return 0 if plan.allowed else 1


def _share(blast: BlastRadius) -> str:
    if blast.newly_exposed_share is None:
        return "share of payments newly exposed: unknown"
    pct = f"{blast.newly_exposed_share * 100:.4g}%"
    if blast.share_source == "sample":
        off = money(blast.sample_new_discount, exact=True)
        return (
            f"{pct} of payments newly exposed ({blast.sample_newly_applying} of {blast.sample_payments}"
            f" sampled payments newly get a discount, {off} off in total)"
        )
    return f"{pct} of payments newly exposed (from [traffic.clusters])"


def _spend(blast: BlastRadius) -> str:
    if blast.spend_per_minute is None:
        return "worst-case spend per minute: UNBOUNDED (nothing limits it)"
    spend = money(blast.spend_per_minute, exact=True)
    return f"worst-case spend per minute: {spend}, bounded by {blast.bounded_by}"


def _render_rule(change: RuleChange) -> list[str]:
    where = ""
    if change.kind == "changed" and (
        change.old_stage != change.new_stage or change.old_state != change.new_state
    ):
        where = f" [{change.old_state}/{change.old_stage} -> {change.new_state}/{change.new_stage}]"
    lines = [f"rule {change.rule_id!r}: {change.kind}, {change.direction}{where}"]
    width = max((len(c.field) for c in change.changes), default=0)
    for c in change.changes:
        mark = {"widening": "+", "narrowing": "-"}.get(c.direction.value, "~")
        lines.append(f"  {mark} {c.field:<{width}}  {c.old} -> {c.new}  ({c.direction.value})")
    if change.blast is not None:
        lines.append(f"  blast radius: {_share(change.blast)}")
        lines.append(f"                {_spend(change.blast)}")
        lines += [f"                note: {note}" for note in change.blast.notes]
    return lines


def _render_approvals(plan: Plan) -> list[str]:
    if plan.approvals is None:
        return [
            "  approvals are unauthenticated: [change].approved_by names are counted as written, not "
            "verified (plan --trust TRUST counts signatures instead)"
        ]
    claimed = ", ".join(plan.claimed_approvers) or "none"
    return [
        f"  approvals are signatures checked against trust file version {plan.approvals.trust_version}"
        f" (threshold {plan.approvals.threshold}); [change].approved_by claims {claimed}, not counted",
        *render_checks(plan.approvals.checks),
    ]


def render_plan(plan: Plan) -> str:
    """The plan as an operator reads it: a diff per rule, blast radius, warnings, violations, verdict."""
    approvers = ", ".join(plan.approvers) or "none"
    lines = [
        f"plan {plan.old_version} -> {plan.new_version}",
        f"  author {plan.author or '(none)'}, ticket {plan.ticket or '(none)'}, approvers: {approvers}"
        f" ({plan.required_approvals} needed to widen)",
        *_render_approvals(plan),
        "",
    ]
    if not plan.changed:
        lines += ["no rule or guardrail changes", ""]
    for change in plan.rules:
        lines += [*_render_rule(change), ""]
    if plan.config_changes:
        lines.append("config:")
        lines += [f"  {c.field}: {c.old} -> {c.new}  ({c.direction.value})" for c in plan.config_changes]
        lines.append("")
    if plan.warnings:
        lines.append("warnings:")
        lines += [f"  ! {w}" for w in plan.warnings]
        lines.append("")
    if plan.violations:
        lines.append("violations:")
        lines += [f"  x [{v.kind.value}] {v}" for v in plan.violations]
        lines.append("")
        count = len(plan.violations)
        lines.append(f"REFUSED: {count} policy violation{'s' if count != 1 else ''}")
    else:
        lines.append("ALLOWED" + (" (widening, approved)" if plan.widens else ""))
    return "\n".join(lines)
