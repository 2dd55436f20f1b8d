"""``graylib history`` and ``graylib show``: the revisions published in a store, and one revision's text.

``history`` lists them newest first (number, version, when, by whom, approvers, note, which revision a
rollback restored); ``show`` prints a revision's exact text (default: the current one), so that
``graylib show --store URL > running.toml`` gives the file the fleet runs.

Exit codes: 0 shown; 2 no such revision (or nothing published, for ``show``), or a store that is missing or
unreachable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._publish import running_config
from ..stores import Revision, Store
from ._output import emit_json, error
from ._publish import when
from ._store import add_store_argument, store_url, with_store

__all__ = ["register", "render_history"]


def register(sub: Any) -> None:
    history: argparse.ArgumentParser = sub.add_parser(
        "history", help="list the revisions published in the shared store, newest first"
    )
    add_store_argument(history)
    history.add_argument(
        "--limit", metavar="N", type=int, default=20, help="how many revisions to list (default 20)"
    )
    history.add_argument("--json", action="store_true", help="print the revisions (without text) as JSON")
    history.set_defaults(handler=run_history)

    show: argparse.ArgumentParser = sub.add_parser(
        "show", help="print the exact text of a published revision"
    )
    add_store_argument(show)
    show.add_argument(
        "--revision", metavar="N", type=int, help="the revision to print (default: the current one)"
    )
    show.set_defaults(handler=run_show)


def render_history(revisions: list[Revision]) -> str:
    if not revisions:
        return "nothing published yet"
    lines = []
    for i, rev in enumerate(revisions):
        mark = " (current)" if i == 0 else ""
        restored = f", restores revision {rev.rollback_of}" if rev.rollback_of is not None else ""
        lines.append(f"revision {rev.number}{mark}: version {rev.version}{restored}")
        lines.append(f"  published {when(rev.published_at)} by {rev.published_by or '(not given)'}")
        approvers = ", ".join(rev.approvers) or "none"
        lines.append(f"  author {rev.author or '(none)'}, approvers: {approvers}; digest {rev.digest[:16]}")
        if rev.note:
            lines.append(f"  note: {rev.note}")
    return "\n".join(lines)


def run_history(args: argparse.Namespace) -> int:
    if args.limit < 1:
        error(f"--limit must be at least 1 (got {args.limit})")
        return 2

    def act(store: Store) -> int:
        revisions = store.revisions(args.limit)
        if args.json:
            emit_json([rev.to_dict(text=False) for rev in revisions])
        else:
            print(render_history(revisions))
        return 0

    return with_store(store_url(args.store), act)


def run_show(args: argparse.Namespace) -> int:
    def act(store: Store) -> int:
        if args.revision is None:
            revision = running_config(store)
            if revision is None:
                error("nothing is published in this store yet")
                return 2
        else:
            revision = store.revision(args.revision)
            if revision is None:
                head = store.head_revision()
                error(
                    f"no revision {args.revision} in this store (revisions 1 to {head})"
                    if head
                    else f"no revision {args.revision}: nothing is published in this store yet"
                )
                return 2
        sys.stdout.write(revision.text)
        return 0

    return with_store(store_url(args.store), act)
