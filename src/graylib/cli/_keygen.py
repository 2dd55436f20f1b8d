"""``graylib keygen NAME --out FILE``: a new ed25519 key pair for an approver.

The private key goes to FILE, created with mode 0600 and never over an existing file; the public key is
printed as the ``[[approvers]]`` entry to add to the trust file (itself an approved change). Exit codes:
0 written, 2 invalid input (FILE exists or cannot be created, a bad name, no ``cryptography`` package).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._trust import SigningUnavailable, encode_key, generate, write_private_key
from ._output import error

__all__ = ["register"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "keygen", help="make an approver's ed25519 key pair; print the trust file entry"
    )
    parser.add_argument("name", metavar="NAME", help="the approver's name, as the trust file will list it")
    parser.add_argument(
        "--out",
        metavar="FILE",
        required=True,
        help="where to write the private key (mode 0600; an existing file is never replaced)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        private, _ = generate()
        key = write_private_key(args.out, args.name, private)
    except SigningUnavailable as exc:
        error(str(exc))
        return 2
    except FileExistsError:
        error(f"{args.out} exists: a key file is never replaced; choose another --out")
        return 2
    except (OSError, ValueError) as exc:
        error(f"cannot write {args.out}: {exc}")
        return 2
    print(f"# {key.name}'s private key is in {args.out} (mode 0600): keep it secret, on this machine only.")
    print("# Add this entry to the trust file (a change of it needs the approvers in force):")
    print("[[approvers]]")
    print(f"name = {json.dumps(key.name, ensure_ascii=False)}")
    print(f'key = "{encode_key(key.public)}"')
    return 0
