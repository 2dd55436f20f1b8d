"""``graylib trust publish`` and ``graylib trust show``: the trust file published in the shared store.

``trust publish TRUST --store URL`` puts a trust file into the store beside the revisions. Into an empty
store only with ``--root``: the first trust file is the store's root of trust, accepted because whoever may
write to the store says so. Every later one must be a rotation the trust file in force accepts (a higher
version, signed over its exact bytes by the threshold of the approvers in force: ``TRUST.sig`` beside it or
``--signatures``), and is stored by compare-and-set, so of two racing rotations one is stored. From then on
``publish`` and ``rollback`` count signatures against it, and clients made with ``trust="store"`` follow it.

``trust show`` prints the trust file in force (its exact text, or ``--history`` / ``--json``).

Exit codes: 0 published (or the same text already is in force) or shown; 1 refused (no ``--root`` for an
empty store, ``--root`` for a store that has one, too few valid signatures, a version not higher, another
rotation stored meanwhile); 2 invalid input (an unreadable or invalid file, no ``cryptography``, nothing to
show) or a store that is missing or unreachable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._errors import ConfigError, ConflictError, PolicyError
from .._trust import SigningUnavailable, publish_trust, read_chain
from ..stores import Store
from ._output import emit_json, error
from ._publish import when
from ._signed import SIGNATURES_HELP
from ._store import STORE_ENV, STORE_URL_FORMS, store_url, with_store

__all__ = ["register"]


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"the shared store the fleet follows (must exist): {STORE_URL_FORMS} (default: ${STORE_ENV})",
    )


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "trust", help="publish a trust file into the shared store, or show the one in force"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, help="publish or show")
    publish = actions.add_parser(
        "publish", help="publish a trust file: the root of an empty store, or a signed rotation"
    )
    publish.add_argument("file", metavar="TRUST", help="the trust file to publish (TOML)")
    _store_argument(publish)
    publish.add_argument(
        "--signatures",
        metavar="SIG",
        help=SIGNATURES_HELP.replace("the file's", "TRUST's") + "; stored with the trust file",
    )
    publish.add_argument(
        "--root",
        action="store_true",
        help="the store has no trust file yet: make TRUST its root of trust (refused once it has one)",
    )
    publish.add_argument("--by", metavar="NAME", default="", help="who publishes (kept with the trust file)")
    publish.add_argument("--note", metavar="TEXT", default="", help="why, e.g. a ticket (kept with it)")
    publish.add_argument("--json", action="store_true", help="print the stored trust file (no text) as JSON")
    publish.set_defaults(handler=run_publish)

    show = actions.add_parser("show", help="print the trust file in force in the shared store")
    _store_argument(show)
    show.add_argument(
        "--history", action="store_true", help="list every trust file published, and which one is in force"
    )
    show.add_argument("--json", action="store_true", help="print the trust files (no text) as JSON")
    show.set_defaults(handler=run_show)


def run_publish(args: argparse.Namespace) -> int:
    def act(store: Store) -> int:
        try:
            record = publish_trust(
                store, args.file, signatures=args.signatures, root=args.root, by=args.by, note=args.note
            )
        except (ConfigError, SigningUnavailable) as exc:
            error(str(exc))
            return 2
        except (PolicyError, ConflictError) as exc:
            error(f"not published: {exc}")
            return 1
        if args.json:
            emit_json(record.to_dict(text=False))
        else:
            what = "root of trust" if record.number == 1 else "trust file"
            since = when(record.published_at)
            print(f"{what} {record.number} (version {record.version}) in force since {since}")
        return 0

    return with_store(store_url(args.store), act)


def run_show(args: argparse.Namespace) -> int:
    def act(store: Store) -> int:
        try:
            chain = read_chain(store)
        except ConfigError as exc:
            error(str(exc))
            return 2
        if chain is None:
            error("no trust file is published in this store (graylib trust publish TRUST --root)")
            return 2
        if args.json or args.history:
            records = [store.trust_record(n) for n in range(chain.seen, 0, -1)]
            rows = [
                r.to_dict(text=False) | {"in_force": r.number == chain.record.number} for r in records if r
            ]
            if args.json:
                emit_json(
                    {"in_force": chain.record.number, "trust_files": rows, "skipped": list(chain.skipped)}
                )
                return 0
            for row in rows:
                mark = " (in force)" if row["in_force"] else ""
                print(
                    f"trust file {row['number']}{mark}: version {row['version']}, digest {row['digest'][:16]}"
                )
                print(f"  published {when(row['published_at'])} by {row['published_by'] or '(not given)'}")
                if row["note"]:
                    print(f"  note: {row['note']}")
            for reason in chain.skipped:
                print(f"  x {reason}")
            return 0
        sys.stdout.write(chain.record.text)
        return 0

    return with_store(store_url(args.store), act)
