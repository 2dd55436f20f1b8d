"""Signing: an approver's signature of a file's exact bytes, appended as one line to its signature file."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os

import attrs

from ._ed25519 import sign
from ._keys import PrivateKey
from ._sigfile import Signature, format_time, parse_signatures, signature_path

__all__ = ["already_signed", "append_signature", "approve"]


def approve(
    data: bytes,
    key: PrivateKey,
    *,
    version: str,
    now: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
) -> Signature:
    """``key``'s signature of ``data`` (the exact bytes) declaring ``version``, valid until ``expires_at``."""
    when = now if now is not None else dt.datetime.now(dt.timezone.utc)
    signed_at = format_time(when)
    expires = format_time(expires_at) if expires_at is not None else None
    unsigned = Signature(
        line=0,
        approver=key.name,
        key_id=key.key_id,
        sha256=hashlib.sha256(data).hexdigest(),
        config_version=version,
        signed_at=signed_at,
        expires_at=expires,
        signature="",
        signed_at_time=when,
        expires_at_time=expires_at,
    )
    raw = sign(key.private, unsigned.message())
    return attrs.evolve(unsigned, signature=base64.b64encode(raw).decode("ascii"))


def already_signed(existing: bytes, key: PrivateKey, data: bytes) -> bool:
    """True when ``existing`` (a signature file's bytes) has a line by ``key`` over exactly ``data``."""
    sha256 = hashlib.sha256(data).hexdigest()
    return any(
        isinstance(item, Signature) and item.key_id == key.key_id and item.sha256 == sha256
        for item in parse_signatures(existing)
    )


def append_signature(path: str | os.PathLike[str], signature: Signature) -> str:
    """Append ``signature`` as one line to ``path``'s signature file (created when absent); its path.

    One ``write`` of a whole line on a file opened for appending: two approvers signing at once each add
    their own line.
    """
    target = signature_path(path)
    line = (signature.to_line() + "\n").encode("ascii")
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(fd):
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return os.fspath(target)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return os.pread(fd, 1, size - 1) == b"\n"
