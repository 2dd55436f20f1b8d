"""``graylib approve FILE --key KEY``: sign FILE's exact bytes and append the signature to ``FILE.sig``.

An approver runs it after reviewing ``graylib plan``: the signature binds the approver, the key, the sha256 of
the bytes, the file's version, the time and an optional expiry. Signing bytes that this key already signed
adds nothing. Exit codes: 0 signed (or already signed), 2 invalid input (unreadable file or key, a damaged
key file, a file without a version, a bad ``--expires``, no ``cryptography`` package).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from typing import Any

from .._errors import ConfigError
from .._trust import (
    SigningUnavailable,
    already_signed,
    append_signature,
    approve,
    person,
    read_private_key,
    read_signature_file,
    signature_path,
)
from ._output import error
from ._signed import InputError, author_of, document_of, parse_expiry

__all__ = ["register"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "approve", help="sign a file's exact bytes with your key (appends a line to FILE.sig)"
    )
    parser.add_argument("file", metavar="FILE", help="the rules file (or trust file) you reviewed")
    parser.add_argument("--key", metavar="KEY", required=True, help="your private key file (graylib keygen)")
    parser.add_argument(
        "--expires",
        metavar="WHEN",
        help="the signature stops counting after this: a duration from now (12h, 7d) or a date-time "
        "with an offset",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        data, document, version = document_of(args.file)
        expires = parse_expiry(args.expires, now) if args.expires else None
        key = read_private_key(args.key)
    except (InputError, ConfigError, SigningUnavailable) as exc:
        error(str(exc))
        return 2
    target = signature_path(args.file)
    try:
        existing = read_signature_file(target)
    except FileNotFoundError:
        existing = b""
    except OSError as exc:
        error(f"{target}: cannot read: {exc}")
        return 2
    digest = hashlib.sha256(data).hexdigest()
    try:
        if already_signed(existing, key, data):
            print(
                f"{key.name} already signed these bytes of {args.file} (sha256 {digest[:12]}...) in {target}"
            )
            return 0
        signature = approve(data, key, version=version, now=now, expires_at=expires)
        written = append_signature(args.file, signature)
    except SigningUnavailable as exc:
        error(str(exc))
        return 2
    except OSError as exc:
        error(f"{target}: cannot write: {exc}")
        return 2
    until = f", expires {signature.expires_at}" if signature.expires_at else ""
    print(f"{key.name} signed {args.file} (version {version}, sha256 {digest[:12]}...{until}) -> {written}")
    author = author_of(document)
    if author and person(author) == person(key.name):
        error(f"warning: {key.name} is this change's author: the signature is recorded but never counts")
    return 0
