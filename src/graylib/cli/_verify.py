"""``graylib verify FILE --trust TRUST``: which signatures of FILE count, and why each other one does not.

A signature counts when it is a valid signature over FILE's exact bytes and version, by an approver of the
trust file, not expired, not by the change's author (``[change].author``), and the first of its approver.
Exit codes: 0 at least the trust file's threshold count, 1 fewer do, 2 invalid input (FILE, the trust file
or the signature file unreadable or invalid, no ``cryptography`` package).
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from .._trust import SigningUnavailable, check_signatures, counted
from ._output import emit_json, error
from ._signed import (
    SIGNATURES_HELP,
    TRUST_HELP,
    InputError,
    author_of,
    document_of,
    read_signatures,
    read_trust,
    render_checks,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "verify", help="check a file's signatures against a trust file: which count, and why not"
    )
    parser.add_argument("file", metavar="FILE", help="the signed rules file (or trust file)")
    parser.add_argument("--trust", metavar="TRUST", required=True, help=TRUST_HELP)
    parser.add_argument("--signatures", metavar="SIG", help=SIGNATURES_HELP)
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        trust = read_trust(args.trust)
        data, document, version = document_of(args.file)
        sig_path, signatures = read_signatures(args.file, args.signatures)
        author = author_of(document)
        checks = check_signatures(data, signatures, trust, version=version, author=author)
    except (InputError, SigningUnavailable) as exc:
        error(str(exc))
        return 2
    approvers = counted(checks)
    enough = len(approvers) >= trust.threshold
    if args.json:
        emit_json(
            {
                "file": args.file,
                "sha256": hashlib.sha256(data).hexdigest(),
                "version": version,
                "author": author,
                "trust_version": trust.version,
                "threshold": trust.threshold,
                "approvers": list(approvers),
                "enough": enough,
                "signatures": [c.to_dict() for c in checks],
            }
        )
        return 0 if enough else 1
    print(f"{args.file}: version {version}, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"  author {author or '(none named)'}; signatures from {sig_path}")
    print(f"  trust file {args.trust}: version {trust.version}, threshold {trust.threshold}")
    print("\n".join(render_checks(checks)))
    verdict = "ENOUGH" if enough else "NOT ENOUGH"
    print(f"{verdict}: {len(approvers)} of {trust.threshold} needed count ({', '.join(approvers) or 'none'})")
    return 0 if enough else 1
