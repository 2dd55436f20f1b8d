"""``graylib publish`` and ``graylib rollback``: make a rules text the fleet's current revision.

``publish FILE`` checks the file as every following client would (validation, smoke cases, the change
policy against the current revision, approvals), prints the plan, and publishes it by compare-and-set: if
another revision was published meanwhile, nothing changes and the command asks to plan again.
``rollback [--to N]`` publishes an earlier revision's text again as a new revision (default: the one before
the current); narrowing needs no approvals, widening needs them.

When the store has a trust file in force (``graylib trust publish``), approvals are signatures checked
against it, and ``--trust`` may be given only if it is that very text (one root of trust). With ``--trust
TRUST`` approvals are signatures: ``publish`` reads FILE once as bytes and counts only the
valid signatures in ``FILE.sig`` (or ``--signatures``) over those bytes, and ``rollback`` counts the
signatures stored with the revision it restores, if they are still valid. The signature file is stored
with the revision in any case, so that following clients with a trust file check it themselves.

Exit codes: 0 published (or the text already is the current revision); 1 refused (policy, approvals, a
publish that lost a race, a version that names another text); 2 invalid input (an unreadable or invalid
file, trust file or signature file, no ``cryptography`` for ``--trust``, a revision that does not exist, a
rollback to the current revision) or a store that is missing or unreachable.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from .._errors import ConfigError, ConflictError, PolicyError
from .._load import load_config
from .._publish import Prepared, commit, prepare, prepare_rollback
from .._trust import SigningUnavailable, Trust, require_signing
from ..stores import Revision, Store
from ._output import emit_json, error
from ._plan import render_plan
from ._signed import SIGNATURES_HELP, TRUST_HELP, InputError, read_trust
from ._store import add_store_argument, store_url, with_store

__all__ = ["register", "when"]


def register(sub: Any) -> None:
    publish: argparse.ArgumentParser = sub.add_parser(
        "publish", help="check a rules file against the published revision and publish it to the fleet"
    )
    publish.add_argument("file", metavar="FILE", help="the rules file to publish (TOML, JSON or YAML)")
    add_store_argument(publish, what="the shared store the fleet follows (must exist: graylib init-store)")
    _common(publish)
    publish.add_argument(
        "--trust",
        metavar="TRUST",
        help=TRUST_HELP + "; only valid signatures of FILE then count as approvals (default: the trust file"
        " in force in the store, if one is published; given too, it must be that one)",
    )
    publish.add_argument(
        "--signatures",
        metavar="SIG",
        help=SIGNATURES_HELP.replace("the file's", "FILE's") + "; stored with the revision",
    )
    publish.add_argument(
        "--running",
        metavar="FILE",
        help="first publish only (nothing published yet): the rules file the fleet runs now, to plan"
        " against instead of against nothing (where every rule counts as new)",
    )
    publish.set_defaults(handler=run_publish)

    rollback: argparse.ArgumentParser = sub.add_parser(
        "rollback", help="publish an earlier revision's text again, as a new revision (a roll-forward)"
    )
    rollback.add_argument(
        "--to",
        metavar="N",
        type=int,
        help="the revision whose text to restore (default: the one before the current revision)",
    )
    add_store_argument(rollback, what="the shared store the fleet follows")
    _common(rollback)
    rollback.add_argument(
        "--trust",
        metavar="TRUST",
        help=TRUST_HELP + "; a widening rollback then needs valid signatures stored with revision N"
        " (default: the trust file in force in the store, if one is published; given too, it must be it)",
    )
    rollback.set_defaults(handler=run_rollback)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", metavar="NAME", default="", help="who publishes (kept in the revision)")
    parser.add_argument(
        "--note", metavar="TEXT", default="", help="why, e.g. a ticket (kept in the revision)"
    )
    parser.add_argument("--json", action="store_true", help="print the plan and the revision as JSON")


def when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _finish(store: Store, prepared: Prepared, args: argparse.Namespace, note: str) -> int:
    """Print the plan, publish unless refused, print the outcome; the exit code."""
    plan = prepared.plan
    if not args.json:
        print(render_plan(plan))
        print()
    try:
        revision: Revision | None = commit(store, prepared, by=args.by, note=note)
        refusal = ""
    except (PolicyError, ConflictError) as exc:
        revision, refusal = None, str(exc)
    unchanged = prepared.unchanged
    if args.json:
        out: dict[str, Any] = {"plan": plan.to_dict(), "published": revision is not None and not unchanged}
        out["revision"] = revision.to_dict(text=False) if revision is not None else None
        out["refused"] = refusal or None
        emit_json(out)
    elif refusal:
        error(f"not published: {refusal}")
    elif revision is not None and unchanged:
        what = f"revision {revision.number} (version {revision.version})"
        print(f"nothing to publish: {what} has exactly this text")
    elif revision is not None:
        restored = f", restoring revision {revision.rollback_of}" if revision.rollback_of else ""
        what = f"revision {revision.number} (version {revision.version}{restored})"
        print(f"published {what} at {when(revision.published_at)}")
        print("watch it reach the fleet: graylib fleet --store URL")
    return 1 if refusal else 0


def _trust(args: argparse.Namespace) -> Trust | None:
    """``--trust``, read and validated, with signing available; ``InputError`` otherwise."""
    if not args.trust:
        return None
    trust = read_trust(args.trust)
    try:
        require_signing()
    except SigningUnavailable as exc:
        raise InputError(str(exc)) from exc
    return trust


def run_publish(args: argparse.Namespace) -> int:
    running = None
    try:
        trust = _trust(args)
        if args.running:
            running = load_config(args.running)
    except InputError as exc:
        error(str(exc))
        return 2
    except ConfigError as exc:
        error(f"--running: {exc}")
        return 2

    def act(store: Store) -> int:
        try:
            prepared = prepare(store, args.file, trust=trust, signatures=args.signatures, running=running)
        except ConfigError as exc:
            error(str(exc))
            return 2
        except PolicyError as exc:  # --trust is not the store's trust file in force
            error(f"not published: {exc}")
            return 1
        return _finish(store, prepared, args, args.note)

    return with_store(store_url(args.store), act)


def run_rollback(args: argparse.Namespace) -> int:
    try:
        trust = _trust(args)
    except InputError as exc:
        error(str(exc))
        return 2

    def act(store: Store) -> int:
        try:
            prepared = prepare_rollback(store, to=args.to, trust=trust)
        except PolicyError as exc:  # --trust is not the store's trust file in force
            error(f"not published: {exc}")
            return 1
        except ValueError as exc:
            error(str(exc))
            return 2
        return _finish(store, prepared, args, args.note or f"rollback to revision {prepared.rollback_of}")

    return with_store(store_url(args.store), act)
